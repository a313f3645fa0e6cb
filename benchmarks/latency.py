"""LiteRT latency, MACs and file size of an image teacher and students, float and int8.

Builds, offline and untrained (`weights=None`: this measures speed, not
accuracy), 32x32x3 (or `--size`) classifiers that take raw pixels 0..255:

- `teacher`: a ResNet-style CNN (3 stages of 2 residual blocks, 32/64/128
  filters, batch norm, ReLU);
- students: the demo's MobileNet presets (`keras_distill.demo.presets`,
  `keras.applications` without the ImageNet top, average pooled, then
  `Dense(10)`), by default `mobilenet_v2` (width 0.35, the demo's image
  student), `mobilenet_v3_small` (0.75) and `mobilenet_v3_small_minimalistic`
  (1.0); `--students mobilenet_v2:1.0 ...` picks others (`name:width`).

Each is converted to float32 and to int8 (post-training, calibrated on random
pixels), and every file is verified in LiteRT with
`keras_distill.export.verify_tflite_content`, which counts the Keras model's
MACs and times single-example `invoke()` calls at 1 and 4 threads (XNNPACK).

    python3 benchmarks/latency.py                    # Keras 3, ~1 min
    TF_USE_LEGACY_KERAS=1 python3 benchmarks/latency.py
    python3 benchmarks/latency.py --runs 200 --json latency.json
    python3 benchmarks/latency.py --size 96       # the same models at 96x96x3
    python3 benchmarks/latency.py --students mobilenet_v2:0.5 mobilenet_v2:1.0
"""

import argparse
import functools
import json
import os
import platform
import sys
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_distill import _compat  # noqa: E402
from keras_distill import keras  # noqa: E402
from keras_distill.demo import presets  # noqa: E402
from keras_distill.export import convert_tflite  # noqa: E402
from keras_distill.export import verify_tflite_content  # noqa: E402
from keras_distill.export.report import format_count  # noqa: E402

DEFAULT_SIZE = 32
NUM_CLASSES = 10
DEFAULT_STUDENTS = (
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_small_minimalistic",
)
# The targets for the int8 student at 1 thread.
TARGET_VS_FLOAT_STUDENT = 1 / 2
TARGET_VS_FLOAT_TEACHER = 1 / 3


def residual_block(x, filters: int, strides: int):
    shortcut = x
    y = keras.layers.Conv2D(filters, 3, strides, padding="same", use_bias=False)(x)
    y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization()(y)
    if strides != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides, use_bias=False)(shortcut)
        shortcut = keras.layers.BatchNormalization()(shortcut)
    return keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))


def build_teacher(size: int = DEFAULT_SIZE):
    """A ResNet-style CNN: stem, 3 stages x 2 residual blocks, 32/64/128."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    for stage, filters in enumerate((32, 64, 128)):
        x = residual_block(x, filters, 1 if stage == 0 else 2)
        x = residual_block(x, filters, 1)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES)(x), name="teacher")


def build_student(spec: str, size: int = DEFAULT_SIZE):
    """The demo's student preset `spec` ("name" or "name:width") for raw pixels."""
    name, _, width = spec.partition(":")
    images = types.SimpleNamespace(  # what a preset reads of a DataBundle
        input_shape=(size, size, 3),
        modality="image",
        num_classes=NUM_CLASSES,
        preprocessing_layer=lambda name=None: keras.layers.Rescaling(
            1 / 255, name=name
        ),
    )
    return presets.student_preset(name, images, alpha=float(width) if width else None)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="timed calls")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls")
    parser.add_argument("--threads", default="1,4", help="thread counts, with 1")
    parser.add_argument("--calibration-samples", type=int, default=100)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="input side")
    parser.add_argument(
        "--students",
        nargs="+",
        default=list(DEFAULT_STUDENTS),
        help="student presets, each 'name' or 'name:width'",
    )
    parser.add_argument("--json", help="also write the reports to this file")
    return parser.parse_args(argv)


def measure(args):
    rng = np.random.default_rng(0)
    count = max(args.calibration_samples, 64)
    pixels = rng.uniform(0, 255, (count, args.size, args.size, 3))
    pixels = pixels.astype("float32")
    threads = tuple(int(n) for n in args.threads.split(","))
    reports = []
    builds = [("teacher", build_teacher)]
    builds += [
        (spec.replace(":", "_"), functools.partial(build_student, spec))
        for spec in args.students
    ]
    for label, build in builds:
        keras.utils.set_random_seed(0)
        model = build(size=args.size)
        for mode in ("float32", "int8"):
            content = convert_tflite(
                model,
                quantization=mode,
                representative_data=pixels if mode == "int8" else None,
                calibration_samples=args.calibration_samples,
            )
            report = verify_tflite_content(
                content,
                pixels[:64],
                path=f"{label}_{mode}.tflite",
                keras_model=model,
                quantization=mode,
                latency_runs=args.runs,
                warmup_runs=args.warmup,
                latency_threads=threads,
            )
            reports.append(report)
            print(f"  measured {report.path}", file=sys.stderr, flush=True)
    return reports, threads


def print_table(reports, threads):
    width = max(len(r.path) for r in reports) + 2
    header = f"{'file':<{width}}{'MACs':>8}{'KiB':>9}"
    for n in threads:
        header += f"{f'{n}t med ms':>12}{f'{n}t p90 ms':>12}"
    print(header + f"{'XNNPACK':>9}")
    for r in reports:
        row = f"{r.path:<{width}}{format_count(r.macs):>8}{r.file_bytes / 1024:>9.1f}"
        for n in threads:
            row += f"{r.latency_ms(n):>12.3f}{r.latency_ms(n, 'p90'):>12.3f}"
        print(row + f"{str(r.xnnpack):>9}")
    by_path = {r.path: r.latency_ms(1) for r in reports}
    teacher = by_path["teacher_float32.tflite"]
    print("\nint8 student at 1 thread, median, against:")
    for path in by_path:
        if path.startswith("teacher") or not path.endswith("_int8.tflite"):
            continue
        student = path.removesuffix("_int8.tflite")
        int8 = by_path[path]
        ratios = (
            (
                "its float32 file",
                int8 / by_path[f"{student}_float32.tflite"],
                TARGET_VS_FLOAT_STUDENT,
            ),
            ("the float32 teacher", int8 / teacher, TARGET_VS_FLOAT_TEACHER),
        )
        verdicts = "; ".join(
            f"{ratio:.2f} of {what} (target <= {target:.2f}: "
            f"{'met' if ratio <= target else 'NOT met'})"
            for what, ratio, target in ratios
        )
        print(f"  {student}: {verdicts}")


def main(argv=None):
    args = parse_args(argv)
    print(
        f"Keras flavour: {_compat.flavour_name()}; {args.size}x{args.size}x3 "
        f"input; {platform.processor() or '?'}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"{args.runs} timed runs after {args.warmup} warm-up, median and p90"
    )
    reports, threads = measure(args)
    print_table(reports, threads)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump([r.to_dict() for r in reports], file, indent=2)


if __name__ == "__main__":
    main()
