"""Images as users deploy them: a MobileNet student of a ResNet teacher, on a folder.

Writes a folder of 32x32 colour digits (`make_digits_image_folder`, 300 images
per class, 10 classes: one sub-folder per class, PNG files), loads it as the
demo does (`keras-distill demo --dataset FOLDER --image-size 32`: a stratified,
seeded 80/20 split by file, decoded images cached), then runs the demo's image
recipe with its own building blocks (`keras_distill.demo`):

1. the ResNet-style teacher preset, trained on labels with the recipe's crops
   and rotations (once, seed 0, and cached in `--out` as the demo caches it);
2. for each seed, from the same initial weights: the student preset (the
   demo's, `mobilenet_v3_small_minimalistic`, or `--student`; random
   initialization) trained on labels for as long as it is distilled, on clean
   images and on the same crops and rotations; and distilled with the recipe
   (`augmented-kd`: teacher and student see the same cropped and rotated
   batch; T=2, alpha=0);
3. the distilled student pruned to 50 % and trained quantization-aware while
   distilling, for the recipe's epochs (`demo.compression.compress`), exported
   to a full-integer file;
4. every model that ships exported to `.tflite` and verified in LiteRT
   (`export_and_verify`): accuracy in LiteRT, size, MACs, median and p90
   latency at 1 and 4 threads (XNNPACK) on this CPU;
5. the input pipeline alone (`pipeline_throughput`, first pass and cached)
   against the distillation's training images per second.

    python3 benchmarks/images.py                       # the docs' run, 3 seeds
    python3 benchmarks/images.py --seeds 0 --epochs 2 --teacher-epochs 2 \
        --compress-epochs 1 --per-class 30             # a quick check

Prints Markdown tables (mean ± standard deviation over seeds) and the targets
of issue 12 with a verdict; `--json FILE` appends every measured row, and
`--report FILE` prints the tables of such a log (e.g. of seeds run apart with
the same `--out`, which share the cached teacher).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _students import add_output_options  # noqa: E402

from keras_distill import keras  # noqa: E402
from keras_distill.data import make_digits_image_folder  # noqa: E402
from keras_distill.data import pipeline_throughput  # noqa: E402
from keras_distill.demo import compression  # noqa: E402
from keras_distill.demo import dataset  # noqa: E402
from keras_distill.demo import methods  # noqa: E402
from keras_distill.demo import presets  # noqa: E402
from keras_distill.demo import teacher as teacher_stage  # noqa: E402
from keras_distill.demo import training  # noqa: E402
from keras_distill.demo.exporting import export  # noqa: E402


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def file_row(name, report, seconds=None):
    """One model's figures from its LiteRT report."""
    return {
        "model": name,
        "keras_accuracy": report.keras_accuracy,
        "litert_accuracy": report.accuracy,
        "file_bytes": report.file_bytes,
        "macs": report.macs,
        "latency_1_median": report.latency_ms(1),
        "latency_1_p90": report.latency_ms(1, "p90"),
        "latency_4_median": report.latency_ms(4),
        "latency_4_p90": report.latency_ms(4, "p90"),
        "seconds": seconds,
    }


def run_seed(seed, data, teacher, method, args, out):
    """Labels, labels + augmentation, distilled and compressed students of one seed."""
    rows = []
    keras.utils.set_random_seed(seed)
    initial = presets.student_preset(args.student, data, alpha=args.width)
    weights = initial.get_weights()

    def fresh():
        model = presets.student_preset(args.student, data, alpha=args.width)
        model.set_weights(weights)
        return model

    for name, augmentation in (
        ("labels", None),
        ("labels, same crops and rotations", method.teacher_augmentation("image")),
    ):
        keras.utils.set_random_seed(seed)
        model = fresh()
        _, seconds = timed(
            training.fit,
            model,
            data,
            epochs=args.epochs,
            learning_rate=method.learning_rate,
            validate=False,
            augmentation=augmentation,
        )
        rows.append(
            {
                "model": name,
                "keras_accuracy": dataset.evaluate(model, data),
                "seconds": seconds,
            }
        )
        print(f"  seed {seed} {name}: {rows[-1]['keras_accuracy']:.3f}", flush=True)
    keras.utils.set_random_seed(seed)
    (distiller, _), seconds = timed(
        training.distil,
        data,
        teacher,
        student=fresh(),
        method=method,
        epochs=args.epochs,
    )
    student = distiller.student
    distil_seconds = seconds
    report = export(
        student,
        data,
        out,
        f"{args.student}_{seed}",
        "float32",
        latency_runs=args.latency_runs,
    )
    rows.append(file_row(f"distilled ({method.name})", report, seconds))
    print(f"  seed {seed} distilled: {report.keras_accuracy:.3f}", flush=True)
    keras.utils.set_random_seed(seed)
    compressed, seconds = timed(
        compression.compress,
        student,
        teacher,
        data,
        method=method,
        sparsity=args.sparsity,
        quantization="int8",
        epochs=args.compress_epochs,
    )
    report = export(
        compressed.model,
        data,
        out,
        f"{args.student}_{seed}",
        "int8",
        latency_runs=args.latency_runs,
    )
    rows.append(
        file_row(
            f"pruned {args.sparsity:.0%} + QAT int8 ({compressed.sparsity:.0%} zeros)",
            report,
            seconds,
        )
    )
    print(f"  seed {seed} int8: {report.accuracy:.3f}", flush=True)
    train_images = data.num_examples["train"] * args.epochs / distil_seconds
    return rows, train_images


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{statistics.mean(values):.3g} ± {statistics.stdev(values):.2g}"


def pct(values):
    values = [100 * v for v in values if v is not None]
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def print_tables(teacher_row, by_seed, throughput, args):
    names = [row["model"] for row in by_seed[0]]
    print(
        f"\n32x32 colour digits folder, {args.per_class * 10} images, "
        f"{len(by_seed)} seed(s), Keras {keras.__version__}, student "
        f"{args.student} (width {args.width or 'default'}), "
        f"{args.epochs} epochs\n"
    )
    print(
        "| model | accuracy % (Keras) | accuracy % (LiteRT) | .tflite KiB | MACs "
        "| 1 thread ms median / p90 | 4 threads ms median / p90 | train s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in [(teacher_row["model"], [teacher_row])] + [
        (name, [seed[i] for seed in by_seed]) for i, name in enumerate(names)
    ]:

        def col(key, rows=rows):
            return [row.get(key) for row in rows]

        kib = [b / 1024 for b in col("file_bytes") if b is not None]
        print(
            f"| {name} | {pct(col('keras_accuracy'))} | "
            f"{pct(col('litert_accuracy')) if kib else '-'} | "
            f"{mean_std(kib)} | {mean_std(col('macs'))} | "
            f"{mean_std(col('latency_1_median'))} / {mean_std(col('latency_1_p90'))} | "
            f"{mean_std(col('latency_4_median'))} / {mean_std(col('latency_4_p90'))} | "
            f"{mean_std(col('seconds'))} |"
        )
    first, cached, training_rate = throughput
    print(
        f"\nInput pipeline alone: {first:,.0f} images/s on its first pass "
        f"(reading and decoding), {cached:,.0f} images/s cached; the "
        f"distillation trained at {training_rate:,.0f} images/s: "
        f"{cached / training_rate:.0f}x (target >= 5x)."
    )
    labels = [seed[0]["keras_accuracy"] for seed in by_seed]
    distilled = [seed[2]["keras_accuracy"] for seed in by_seed]
    int8 = [seed[3]["litert_accuracy"] for seed in by_seed]
    float_lite = [seed[2]["litert_accuracy"] for seed in by_seed]
    teacher_ms = teacher_row["latency_1_median"]
    targets = [
        ("teacher >= 97 %", teacher_row["keras_accuracy"] >= 0.97),
        (
            "distilled >= labels, every seed",
            all(d >= b for d, b in zip(distilled, labels)),
        ),
        (
            "int8 within 1 point of the float student (LiteRT), mean",
            statistics.mean(float_lite) - statistics.mean(int8) <= 0.01,
        ),
        (
            "int8 latency <= 1/3 of the float teacher's (1 thread)",
            max(s[3]["latency_1_median"] for s in by_seed) <= teacher_ms / 3,
        ),
        (
            "int8 latency <= 1/2 of the float student's (1 thread)",
            all(
                s[3]["latency_1_median"] <= s[2]["latency_1_median"] / 2
                for s in by_seed
            ),
        ),
        ("data loading >= 5x training", cached >= 5 * training_rate),
    ]
    print("\n| target | met |\n|---|---|")
    for target, met in targets:
        print(f"| {target} | {'yes' if met else '**no**'} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="student epochs (default: the recipe's)",
    )
    parser.add_argument(
        "--teacher-epochs",
        type=int,
        default=None,
        help="default: the demo's for images",
    )
    parser.add_argument(
        "--compress-epochs",
        type=int,
        default=None,
        help="epochs of pruning, and of QAT (default: the recipe's)",
    )
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument(
        "--student",
        default=presets.default_student_preset((32, 32, 3)),
        choices=[p for p in presets.STUDENT_PRESETS if p.startswith("mobilenet")],
    )
    parser.add_argument(
        "--width",
        type=float,
        default=None,
        help="width multiplier (default: the preset's)",
    )
    add_output_options(parser)
    args = parser.parse_args(argv)
    method = methods.get_method(None, "image")
    args.epochs = args.epochs or method.epochs
    args.compress_epochs = args.compress_epochs or method.compress_epochs
    if args.report:
        return report(args.report, args)
    args.teacher_epochs = args.teacher_epochs or teacher_stage.TEACHER_EPOCHS["image"]
    out = args.out or tempfile.mkdtemp(prefix="kd_images_")
    folder = os.path.join(out, "digits32")
    if not os.path.isdir(folder):
        make_digits_image_folder(folder, n_per_class=args.per_class, seed=0)
    data = dataset.load_data(folder, image_size=32, seed=0)
    first = pipeline_throughput(data.train)
    cached = pipeline_throughput(data.train)
    keras.utils.set_random_seed(0)
    # Cached in --out as the demo caches it: runs of other seeds reuse it.
    (teacher, source), seconds = timed(
        teacher_stage.get_teacher,
        data,
        cache_dir=out,
        epochs=args.teacher_epochs,
        augmentation=method.teacher_augmentation("image"),
    )
    teacher_row = file_row(
        f"teacher (ResNet preset, {args.teacher_epochs} epochs)",
        export(
            teacher, data, out, "teacher", "float32", latency_runs=args.latency_runs
        ),
        seconds,
    )
    if source != "trained":
        teacher_row["seconds"] = None
    print(
        f"teacher ({source}): {teacher_row['keras_accuracy']:.3f} in {seconds:.0f} s",
        flush=True,
    )
    by_seed, rates = [], []
    for seed in args.seeds:
        rows, rate = run_seed(seed, data, teacher, method, args, out)
        by_seed.append(rows)
        rates.append(rate)
    throughput = (first, cached, statistics.mean(rates))
    if args.json:
        with open(args.json, "a") as log:
            for seed, rows in zip(args.seeds, by_seed):
                for row in [teacher_row, *rows]:
                    log.write(json.dumps({"seed": seed, **row}) + "\n")
            log.write(json.dumps({"throughput": throughput}) + "\n")
    print_tables(teacher_row, by_seed, throughput, args)


def report(path, args):
    """The tables of every seed in a `--json` log (runs of single seeds joined)."""
    by_seed, teacher_row, throughputs = {}, None, []
    with open(path) as log:
        for line in log:
            entry = json.loads(line)
            if "throughput" in entry:
                throughputs.append(entry["throughput"])
            elif entry["model"].startswith("teacher"):
                teacher_row = teacher_row or entry
            else:
                by_seed.setdefault(entry["seed"], []).append(entry)
    throughput = [statistics.mean(values) for values in zip(*throughputs)]
    print_tables(teacher_row, list(by_seed.values()), throughput, args)


if __name__ == "__main__":
    main()
