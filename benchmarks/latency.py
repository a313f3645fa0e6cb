"""LiteRT latency, MACs and file size of an image teacher and student, float and int8.

Builds, offline and untrained (`weights=None`: this measures speed, not
accuracy), two 32x32x3 (or `--size`) classifiers that take raw pixels 0..255:

- `teacher`: a ResNet-style CNN (3 stages of 2 residual blocks, 32/64/128
  filters, batch norm, ReLU);
- `student`: `keras.applications.MobileNetV2(alpha=0.35)` without its top,
  average pooled, then `Dense(10)`.

Each is converted to float32 and to int8 (post-training, calibrated on random
pixels), and every file is verified in LiteRT with
`keras_distill.export.verify_tflite_content`, which counts the Keras model's
MACs and times single-example `invoke()` calls at 1 and 4 threads (XNNPACK).

    python3 benchmarks/latency.py                    # Keras 3, ~1 min
    TF_USE_LEGACY_KERAS=1 python3 benchmarks/latency.py
    python3 benchmarks/latency.py --runs 200 --json latency.json
    python3 benchmarks/latency.py --size 96       # the same models at 96x96x3
"""

import argparse
import json
import os
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_distill import _compat  # noqa: E402
from keras_distill._compat import keras  # noqa: E402
from keras_distill.export import convert_tflite  # noqa: E402
from keras_distill.export import verify_tflite_content  # noqa: E402
from keras_distill.export.report import format_count  # noqa: E402

DEFAULT_SIZE = 32
NUM_CLASSES = 10
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


def build_student(size: int = DEFAULT_SIZE):
    """keras.applications.MobileNetV2 (alpha 0.35) inside a raw-pixel model."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # MobileNet's [-1, 1]
    backbone = keras.applications.MobileNetV2(
        input_shape=(size, size, 3),
        alpha=0.35,
        include_top=False,
        weights=None,
        pooling="avg",
    )
    outputs = keras.layers.Dense(NUM_CLASSES)(backbone(x))
    return keras.Model(inputs, outputs, name="student")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="timed calls")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls")
    parser.add_argument("--threads", default="1,4", help="thread counts, with 1")
    parser.add_argument("--calibration-samples", type=int, default=100)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="input side")
    parser.add_argument("--json", help="also write the reports to this file")
    return parser.parse_args(argv)


def measure(args):
    rng = np.random.default_rng(0)
    count = max(args.calibration_samples, 64)
    pixels = rng.uniform(0, 255, (count, args.size, args.size, 3))
    pixels = pixels.astype("float32")
    threads = tuple(int(n) for n in args.threads.split(","))
    reports = []
    for build in (build_teacher, build_student):
        keras.utils.set_random_seed(0)
        model = build(args.size)
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
                path=f"{model.name}_{mode}.tflite",
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
    header = f"{'file':<22}{'MACs':>8}{'KiB':>9}"
    for n in threads:
        header += f"{f'{n}t med ms':>12}{f'{n}t p90 ms':>12}"
    print(header + f"{'XNNPACK':>9}")
    for r in reports:
        row = f"{r.path:<22}{format_count(r.macs):>8}{r.file_bytes / 1024:>9.1f}"
        for n in threads:
            row += f"{r.latency_ms(n):>12.3f}{r.latency_ms(n, 'p90'):>12.3f}"
        print(row + f"{str(r.xnnpack):>9}")
    by_path = {r.path: r for r in reports}
    student_int8 = by_path["student_int8.tflite"].latency_ms(1)
    for name, target in (
        ("student_float32.tflite", TARGET_VS_FLOAT_STUDENT),
        ("teacher_float32.tflite", TARGET_VS_FLOAT_TEACHER),
    ):
        ratio = student_int8 / by_path[name].latency_ms(1)
        verdict = "met" if ratio <= target else "NOT met"
        print(
            f"int8 student / {name.removesuffix('.tflite')} at 1 thread, median: "
            f"{ratio:.2f} (target <= {target:.2f}: {verdict})"
        )


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
