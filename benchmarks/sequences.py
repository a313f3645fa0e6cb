"""MNIST-1D as sequences: MLP, CNN, GRU, LSTM and Transformer students of a CNN.

Loads MNIST-1D as the demo does (4,000 training and 1,000 test signals of 40
values) and runs, with the demo's own building blocks (`keras_distill.demo`):

1. the demo's CNN teacher preset, trained on labels with random shifts and
   noise (`signal_augmentation`; once, seed 0, cached in `--out` as the demo
   caches it);
2. for each seed and each student preset (`mlp`, `cnn1d`, `gru`, `lstm`,
   `transformer`; the last four read the 40 values as 40 steps of one
   feature), from the same initial weights: the student trained on labels,
   on labels with the method's augmentation (when it has one: the shifts and
   noise of `signal-kd`, the default), and distilled from the teacher with
   `--method` for as many epochs;
3. the distilled student pruned to 50 % and trained quantization-aware while
   distilling (`demo.compression.compress`; where the engine refuses QAT, the
   int8 file is post-training quantized and the table says so);
4. the distilled float32, the pruned float32 (the int8 file's float twin:
   the same zeros, before QAT) and the compressed int8 files verified in LiteRT
   (`export_and_verify`): accuracy in LiteRT, size, MACs and the median
   latency of one example at 1 thread (XNNPACK) on this CPU.

MACs are counted from the float32 file's ops (`count_tflite_macs`:
FULLY_CONNECTED and CONV_2D, so the unrolled GRU and LSTM steps count), plus
its BATCH_MATMUL ops (the attention scores and the weighted sum of the
values), which `count_tflite_macs` leaves out.

    python3 benchmarks/sequences.py                    # the docs' run, 3 seeds
    python3 benchmarks/sequences.py --seeds 0 --epochs 2 --teacher-epochs 2 \
        --compress-epochs 1 --students gru transformer  # a quick check

Prints Markdown tables (mean ± standard deviation over seeds), the MNIST-1D
paper's own accuracies beside them, and the targets of issue 19 with a
verdict; `--json FILE` appends every measured row, and `--report FILE` prints
the tables of such a log.
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _students import add_output_options  # noqa: E402
from _students import file_row  # noqa: E402
from _students import mean_std  # noqa: E402
from _students import pct  # noqa: E402
from _students import run_student  # noqa: E402
from _students import timed  # noqa: E402

from keras_distill._compat import keras  # noqa: E402
from keras_distill.demo import dataset  # noqa: E402
from keras_distill.demo import methods  # noqa: E402
from keras_distill.demo import teacher as teacher_stage  # noqa: E402
from keras_distill.demo.exporting import export  # noqa: E402
from keras_distill.export.macs import count_tflite_macs  # noqa: E402

STUDENTS = ("mlp", "cnn1d", "gru", "lstm", "transformer")
# Greydanus 2020, "Scaling down deep learning" (arXiv:2011.14439), Table 1:
# test accuracy on MNIST-1D of models trained on labels.
PAPER = {"logistic regression": 32, "mlp": 68, "cnn": 94, "gru": 91}
PAPER_ROW = {"mlp": "mlp", "cnn1d": "cnn", "gru": "gru"}


def print_tables(teacher_row, rows, args):
    """The results table, the paper's table and the targets, from all rows."""
    seeds = sorted({row["seed"] for row in rows})
    students = [s for s in STUDENTS if any(r["student"] == s for r in rows)]

    def pick(student, model):
        return [r for r in rows if r["student"] == student and r["model"] == model]

    def float_twin(student):
        # Logs before the "pruned float32" row compared with the distilled file.
        return pick(student, "pruned float32") or pick(student, "distilled float32")

    print(
        f"\nMNIST-1D (4,000 train / 1,000 test), seeds {seeds}, Keras "
        f"{keras.__version__}, method {args.method}, {args.epochs} epochs, "
        f"pruning and QAT {args.compress_epochs} epochs each\n"
    )
    print(
        "| student | params | labels % | labels + augmentation % | "
        "distilled % (LiteRT float32) | "
        "pruned % (LiteRT float32) | pruned + int8 % (LiteRT) | MACs | "
        "float32 KiB | int8 KiB | float32 ms | int8 ms | int8 ops in float |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| teacher (CNN preset) | {teacher_row['params']:,} | "
        f"{pct([teacher_row['keras_accuracy']])} | - | - | - | - | "
        f"{teacher_row['macs']:,} | {teacher_row['file_bytes'] / 1024:.1f} | - | "
        f"{teacher_row['latency_1_median']:.3g} | - | - |"
    )
    for student in students:
        labels = pick(student, "labels")
        augmented = pick(student, "labels + augmentation")
        distilled = pick(student, "distilled float32")
        int8 = [r for r in rows if r["student"] == student and "int8" in r["model"]]
        how = {r["model"] for r in int8}
        print(
            f"| {student} | {labels[0]['params']:,} | "
            f"{pct([r['keras_accuracy'] for r in labels])} | "
            f"{pct([r['keras_accuracy'] for r in augmented]) if augmented else '-'} | "
            f"{pct([r['litert_accuracy'] for r in distilled])} | "
            f"{pct([r['litert_accuracy'] for r in float_twin(student)])} | "
            f"{pct([r['litert_accuracy'] for r in int8])}"
            f"{'' if how == {'pruned + QAT int8'} else ' (' + ', '.join(how) + ')'} | "
            f"{distilled[0]['macs']:,} | "
            f"{mean_std([r['file_bytes'] for r in distilled], 1 / 1024)} | "
            f"{mean_std([r['file_bytes'] for r in int8], 1 / 1024)} | "
            f"{mean_std([r['latency_1_median'] for r in distilled])} | "
            f"{mean_std([r['latency_1_median'] for r in int8])} | "
            f"{mean_std([r['float_ops'] for r in int8])} |"
        )
    print("\nThe MNIST-1D paper's table (Greydanus 2020, labels only):\n")
    print("| model | paper % | ours, labels % | ours, distilled % |")
    print("|---|---|---|---|")
    for model, accuracy in PAPER.items():
        ours = [s for s, p in PAPER_ROW.items() if p == model and s in students]
        labels = (
            pct([r["keras_accuracy"] for r in pick(ours[0], "labels")]) if ours else "-"
        )
        distilled = (
            pct([r["litert_accuracy"] for r in pick(ours[0], "distilled float32")])
            if ours
            else "-"
        )
        print(f"| {model} | {accuracy} | {labels} | {distilled} |")
    targets = []
    for student in ("gru", "transformer"):
        if student in students:
            beat = all(
                d["keras_accuracy"] > b["keras_accuracy"]
                for b, d in zip(
                    pick(student, "labels"), pick(student, "distilled float32")
                )
            )
            targets.append((f"distilled {student} > labels, every seed", beat))
            augmented = pick(student, "labels + augmentation")
            if augmented:
                beat = all(
                    d["keras_accuracy"] > b["keras_accuracy"]
                    for b, d in zip(augmented, pick(student, "distilled float32"))
                )
                targets.append(
                    (
                        f"distilled {student} > labels + augmentation, every seed",
                        beat,
                    )
                )
    for student in students:
        distilled = pick(student, "distilled float32")
        int8 = [r for r in rows if r["student"] == student and "int8" in r["model"]]
        # 1 point is 10 of the 1,000 test signals; the tolerance absorbs the
        # float rounding of the two fractions. The float file is the int8
        # file's twin (the same pruned weights before QAT).
        close = all(
            f["litert_accuracy"] - q["litert_accuracy"] <= 0.01 + 1e-9
            for f, q in zip(float_twin(student), int8)
        )
        faster = all(
            q["latency_1_median"] < f["latency_1_median"]
            for f, q in zip(distilled, int8)
        )
        targets.append((f"{student}: int8 within 1 point of float, every seed", close))
        targets.append(
            (f"{student}: int8 faster than float (1 thread), every seed", faster)
        )
    print(
        "\nPer seed, accuracy % (labels in Keras; distilled float32 and int8 "
        "in LiteRT):\n"
    )
    print(
        "| student | seed | labels | distilled | pruned | int8 | float32 ms | int8 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for student in students:
        int8 = [r for r in rows if r["student"] == student and "int8" in r["model"]]
        for b, d, f, q in zip(
            pick(student, "labels"),
            pick(student, "distilled float32"),
            float_twin(student),
            int8,
        ):
            print(
                f"| {student} | {b['seed']} | {100 * b['keras_accuracy']:.1f} | "
                f"{100 * d['litert_accuracy']:.1f} | "
                f"{100 * f['litert_accuracy']:.1f} | "
                f"{100 * q['litert_accuracy']:.1f} | "
                f"{d['latency_1_median']:.3g} | {q['latency_1_median']:.3g} |"
            )
    print("\n| target | met |\n|---|---|")
    for target, met in targets:
        print(f"| {target} | {'yes' if met else '**no**'} |")
    notes = {r["note"] for r in rows if r.get("note")}
    for note in sorted(notes):
        print(f"\nQAT refused: {note}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--students", nargs="+", default=list(STUDENTS), choices=STUDENTS
    )
    parser.add_argument("--method", default="signal-kd", choices=list(methods.METHODS))
    parser.add_argument("--epochs", type=int, default=40, help="student epochs")
    parser.add_argument(
        "--teacher-epochs",
        type=int,
        default=teacher_stage.TEACHER_EPOCHS["vector"],
        help="default: the demo's for vectors",
    )
    parser.add_argument(
        "--compress-epochs",
        type=int,
        default=None,
        help="epochs of pruning, and of QAT (default: the method's)",
    )
    parser.add_argument("--sparsity", type=float, default=0.5)
    add_output_options(parser)
    args = parser.parse_args(argv)
    if args.report:
        return report(args.report, args)
    method = methods.get_method(args.method)
    args.compress_epochs = args.compress_epochs or method.compress_epochs
    out = args.out or tempfile.mkdtemp(prefix="kd_sequences_")
    data = dataset.load_data("mnist1d", seed=0)
    keras.utils.set_random_seed(0)
    (teacher, source), seconds = timed(
        teacher_stage.get_teacher,
        data,
        cache_dir=out,
        epochs=args.teacher_epochs,
        augmentation=method.teacher_augmentation(data.modality, data.signal),
    )
    teacher_report = export(
        teacher, data, out, "teacher", "float32", latency_runs=args.latency_runs
    )
    teacher_row = {
        **file_row("teacher", "teacher", teacher_report, seconds),
        "params": teacher.count_params(),
        "macs": count_tflite_macs(pathlib.Path(teacher_report.path).read_bytes()),
        "seed": None,
    }
    print(f"teacher ({source}): {teacher_row['keras_accuracy']:.3f}", flush=True)
    if args.json:
        with open(args.json, "a") as log:
            log.write(json.dumps({**teacher_row, "settings": settings(args)}) + "\n")
    rows = []
    for seed in args.seeds:
        for name in args.students:
            for row in run_student(
                seed,
                name,
                data,
                teacher,
                method,
                args,
                out,
                augmentation=method.make_augmentation(data.modality, data.signal),
            ):
                rows.append({"seed": seed, **row})
                if args.json:
                    with open(args.json, "a") as log:
                        log.write(json.dumps(rows[-1]) + "\n")
    print_tables(teacher_row, rows, args)


def settings(args) -> dict:
    """The options the tables name, saved with the teacher's row of a log."""
    return {
        "method": args.method,
        "epochs": args.epochs,
        "compress_epochs": args.compress_epochs,
    }


def report(path, args):
    """The tables of every row in a `--json` log, with the log's own settings."""
    rows, teacher_row = [], None
    with open(path) as log:
        for line in log:
            entry = json.loads(line)
            if entry["model"] == "teacher":
                teacher_row = entry
                vars(args).update(entry.get("settings", {}))
            else:
                rows.append(entry)
    print_tables(teacher_row, rows, args)


if __name__ == "__main__":
    main()
