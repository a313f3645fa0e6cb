"""What the family benchmarks share: one seed of one student, rows, logs, cells.

`benchmarks/sequences.py`, `speech.py` and `text.py` each train a teacher, then
for every seed and student preset call `run_student`: the student on labels
(and, given an augmentation, on labels with it), distilled from the teacher
with the demo's method, then pruned and trained quantization-aware while
distilling (`demo.compression.compress`), the float32 and int8 files verified
in LiteRT (`export_and_verify`). Each returns rows (dicts) that the script
appends to its `--json` log and prints as tables; `read_log` reads such a log
back, so `--report` prints the tables of a committed run.
"""

import json
import math
import pathlib
import statistics
import time

from keras_distill._compat import keras
from keras_distill.demo import compression
from keras_distill.demo import dataset
from keras_distill.demo import presets
from keras_distill.demo import training
from keras_distill.demo.exporting import export
from keras_distill.export.macs import count_tflite_macs


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def batch_matmul_macs(content: bytes) -> int:
    """MACs of the BATCH_MATMUL ops of a `.tflite` file, for one example.

    An `(..., m, k) x (..., k, n)` product does `m * k * n` per batch entry,
    whichever operand is transposed: the size of the first operand times the
    output's last axis.
    """
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.interpreter import OpResolverType

    interpreter = Interpreter(
        model_content=content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(
        detail["index"], [1, *detail["shape_signature"][1:]]
    )
    interpreter.allocate_tensors()
    shapes = {t["index"]: tuple(t["shape"]) for t in interpreter.get_tensor_details()}
    total = 0
    for op in interpreter._get_ops_details():
        if op["op_name"] == "BATCH_MATMUL":
            first = shapes[op["inputs"][0]]
            output = shapes[op["outputs"][0]]
            total += math.prod(int(d) for d in first) * int(output[-1])
    return total


def file_macs(path) -> int:
    """MACs of one example through a `.tflite` file: FULLY_CONNECTED, CONV_2D,
    DEPTHWISE_CONV_2D (`count_tflite_macs`) and BATCH_MATMUL ops."""
    content = pathlib.Path(path).read_bytes()
    return count_tflite_macs(content) + batch_matmul_macs(content)


def file_row(student, name, report, seconds=None, macs=None, note=None):
    """One model's figures from its LiteRT report."""
    return {
        "student": student,
        "model": name,
        "keras_accuracy": report.keras_accuracy,
        "litert_accuracy": report.accuracy,
        "file_bytes": report.file_bytes,
        "macs": macs,
        "latency_1_median": report.latency_ms(1),
        "float_ops": len(report.float_ops or []),
        "seconds": seconds,
        "note": note,
    }


def teacher_row(teacher, report, seconds, settings) -> dict:
    """The teacher's row of a log; it carries the run's `settings` too."""
    return {
        **file_row("teacher", "teacher", report, seconds),
        "params": teacher.count_params(),
        "macs": file_macs(report.path),
        "seed": None,
        "settings": settings,
    }


def run_student(seed, name, data, teacher, method, args, out, augmentation=None):
    """One seed of student preset `name`: its rows, from the same initial weights.

    Rows: "labels" (and "labels + augmentation" when `augmentation` is given:
    the steps the distilled student sees, without a teacher), "distilled
    float32", "pruned float32" (the pruned student before QAT, in LiteRT) and
    "pruned + QAT int8" (or "pruned + post-training int8" where the engine
    refuses QAT; `note` says why). `args` gives `epochs`,
    `compress_epochs`, `sparsity` and `latency_runs`.
    """
    keras.utils.set_random_seed(seed)
    weights = presets.student_preset(name, data).get_weights()

    def fresh():
        model = presets.student_preset(name, data)
        model.set_weights(weights)
        return model

    rows = []
    baselines = [("labels", None)]
    if augmentation is not None:
        baselines.append(("labels + augmentation", augmentation))
    for label, steps in baselines:
        keras.utils.set_random_seed(seed)
        model = fresh()
        _, seconds = timed(
            training.fit,
            model,
            data,
            epochs=args.epochs,
            learning_rate=method.learning_rate,
            validate=False,
            augmentation=steps,
        )
        rows.append(
            {
                "student": name,
                "model": label,
                "params": model.count_params(),
                "keras_accuracy": dataset.evaluate(model, data),
                "seconds": seconds,
            }
        )
        print(f"  seed {seed} {name} {label}: {rows[-1]['keras_accuracy']:.3f}")
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
    report = export(
        student, data, out, f"{name}_{seed}", "float32", latency_runs=args.latency_runs
    )
    macs = file_macs(report.path)
    rows.append(file_row(name, "distilled float32", report, seconds, macs))
    print(f"  seed {seed} {name} distilled: {report.keras_accuracy:.3f}", flush=True)
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
    if compressed.pruned_model is not None:
        # The int8 file's float twin: the same pruned weights before QAT, so
        # the int8 row's gap to it is what quantization costs.
        report = export(
            compressed.pruned_model,
            data,
            out,
            f"{name}_{seed}_pruned",
            "float32",
            latency_runs=args.latency_runs,
        )
        rows.append(file_row(name, "pruned float32", report, None, macs))
        print(f"  seed {seed} {name} pruned: {report.accuracy:.3f}", flush=True)
    report = export(
        compressed.model,
        data,
        out,
        f"{name}_{seed}",
        "int8",
        latency_runs=args.latency_runs,
    )
    how = "QAT" if compressed.qat else "post-training"
    rows.append(
        file_row(
            name,
            f"pruned + {how} int8",
            report,
            seconds,
            macs,
            note=compressed.qat_error,
        )
    )
    print(
        f"  seed {seed} {name} int8: {report.accuracy:.3f} "
        f"({compressed.sparsity:.0%} zeros, {how})",
        flush=True,
    )
    return rows


def append_row(path, row) -> None:
    """Appends `row` to the JSON-lines log at `path` (None: no log)."""
    if path:
        with open(path, "a") as log:
            log.write(json.dumps(row) + "\n")


def read_log(path) -> tuple[dict, list]:
    """`(teacher_row, rows)` of a `--json` log (the last teacher row wins)."""
    rows, teacher = [], None
    with open(path) as log:
        for line in log:
            entry = json.loads(line)
            if entry["model"] == "teacher":
                teacher = entry
            else:
                rows.append(entry)
    return teacher, rows


def mean_std(values, scale=1.0, digits=3):
    values = [scale * v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}g}"
    return f"{statistics.mean(values):.{digits}g} ± {statistics.stdev(values):.2g}"


def pct(values):
    values = [100 * v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def float_twin(rows, student):
    """The float32 rows the int8 rows are measured against: the pruned files
    (the same zeros before QAT), or the distilled ones in logs without them."""
    return pick(rows, student, "pruned float32") or pick(
        rows, student, "distilled float32"
    )


def pick(rows, student, model):
    """The rows of `student` whose model is `model` ("int8": any int8 row)."""
    if model == "int8":
        return [r for r in rows if r["student"] == student and "int8" in r["model"]]
    return [r for r in rows if r["student"] == student and r["model"] == model]


def print_family_tables(title, teacher, rows, students, baseline="labels") -> list:
    """The results table, the per-seed table and the targets; returns the targets.

    Targets: distilled beats `baseline` on every seed; the int8 file within 1
    point of the float32 file on every seed (1 point of the test split, with a
    tolerance for float rounding); int8 faster than float32 at 1 thread.
    """
    students = [s for s in students if pick(rows, s, "labels")]
    print(f"\n{title}\n")
    print(
        "| model | params | labels % | labels + augmentation % | distilled % "
        "(LiteRT float32) | pruned % (LiteRT float32) | pruned + int8 % (LiteRT) "
        "| MACs | float32 KiB | "
        "int8 KiB | float32 ms | int8 ms | int8 ops in float |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| teacher | {teacher['params']:,} | "
        f"{pct([teacher['keras_accuracy']])} | - | - | - | - | {teacher['macs']:,} | "
        f"{teacher['file_bytes'] / 1024:.1f} | - | "
        f"{teacher['latency_1_median']:.3g} | - | - |"
    )
    for student in students:
        labels = pick(rows, student, "labels")
        augmented = pick(rows, student, "labels + augmentation")
        distilled = pick(rows, student, "distilled float32")
        int8 = pick(rows, student, "int8")
        how = {r["model"] for r in int8}
        print(
            f"| {student} | {labels[0]['params']:,} | "
            f"{pct([r['keras_accuracy'] for r in labels])} | "
            f"{pct([r['keras_accuracy'] for r in augmented])} | "
            f"{pct([r['litert_accuracy'] for r in distilled])} | "
            f"{pct([r['litert_accuracy'] for r in float_twin(rows, student)])} | "
            f"{pct([r['litert_accuracy'] for r in int8])}"
            f"{'' if how == {'pruned + QAT int8'} else ' (' + ', '.join(how) + ')'} | "
            f"{distilled[0]['macs']:,} | "
            f"{mean_std([r['file_bytes'] for r in distilled], 1 / 1024)} | "
            f"{mean_std([r['file_bytes'] for r in int8], 1 / 1024)} | "
            f"{mean_std([r['latency_1_median'] for r in distilled])} | "
            f"{mean_std([r['latency_1_median'] for r in int8])} | "
            f"{mean_std([r['float_ops'] for r in int8])} |"
        )
    print("\nPer seed, accuracy % (labels in Keras; distilled and int8 in LiteRT):\n")
    print(
        "| student | seed | labels | labels + augmentation | distilled | pruned | "
        "int8 | float32 ms | int8 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for student in students:
        augmented = {r["seed"]: r for r in pick(rows, student, "labels + augmentation")}
        for b, d, f, q in zip(
            pick(rows, student, "labels"),
            pick(rows, student, "distilled float32"),
            float_twin(rows, student),
            pick(rows, student, "int8"),
        ):
            aug = augmented.get(b["seed"])
            aug = "-" if aug is None else f"{100 * aug['keras_accuracy']:.1f}"
            print(
                f"| {student} | {b['seed']} | {100 * b['keras_accuracy']:.1f} | "
                f"{aug} | "
                f"{100 * d['litert_accuracy']:.1f} | "
                f"{100 * f['litert_accuracy']:.1f} | "
                f"{100 * q['litert_accuracy']:.1f} | "
                f"{d['latency_1_median']:.3g} | {q['latency_1_median']:.3g} |"
            )
    targets = []
    for student in students:
        distilled = pick(rows, student, "distilled float32")
        int8 = pick(rows, student, "int8")
        for name in dict.fromkeys(("labels", baseline)):
            beaten = pick(rows, student, name)
            beat = bool(beaten) and all(
                d["keras_accuracy"] > b["keras_accuracy"]
                for b, d in zip(beaten, distilled)
            )
            targets.append((f"{student}: distilled > {name}, every seed", beat))
        close = all(
            f["litert_accuracy"] - q["litert_accuracy"] <= 0.01 + 1e-9
            for f, q in zip(float_twin(rows, student), int8)
        )
        faster = all(
            q["latency_1_median"] < f["latency_1_median"]
            for f, q in zip(distilled, int8)
        )
        targets.append((f"{student}: int8 within 1 point of float, every seed", close))
        targets.append(
            (f"{student}: int8 faster than float (1 thread), every seed", faster)
        )
    print("\n| target | met |\n|---|---|")
    for target, met in targets:
        print(f"| {target} | {'yes' if met else '**no**'} |")
    for note in sorted({r["note"] for r in rows if r.get("note")}):
        print(f"\nQAT refused: {note}")
    return targets


def add_output_options(parser) -> None:
    """The options every family benchmark shares: `--latency-runs`, `--out`,
    `--json` (append the rows) and `--report` (print a log's tables)."""
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--out", default=None, help="folder; a temp dir if unset")
    parser.add_argument("--json", default=None, help="append the rows here")
    parser.add_argument(
        "--report", default=None, help="print the tables of a --json log, run nothing"
    )


def family_main(doc, modality, students, make_folder, argv=None, baseline="labels"):
    """The whole of `speech.py` / `text.py`: options, teacher, seeds, tables.

    Args:
        doc: the script's docstring (its first line is `--help`'s).
        modality: "audio" or "text": the default method and teacher epochs.
        students: tuple of student preset names.
        make_folder: `make_folder(out, args) -> folder` writes the dataset.
        argv: the command line. Defaults to None (sys.argv).
        baseline: the row the distilled student must beat besides "labels";
            "labels + augmentation" also trains that row (with the teacher's
            augmentation). Defaults to "labels".

    With `--report FILE` it prints the tables of a `--json` log and runs
    nothing.
    """
    import argparse
    import tempfile

    from keras_distill.demo import methods
    from keras_distill.demo import teacher as teacher_stage

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--students", nargs="+", default=list(students), choices=students
    )
    parser.add_argument(
        "--method",
        default=methods.DEFAULT_METHODS[modality],
        choices=list(methods.METHODS),
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: the method's"
    )
    parser.add_argument(
        "--teacher-epochs", type=int, default=teacher_stage.TEACHER_EPOCHS[modality]
    )
    parser.add_argument(
        "--compress-epochs", type=int, default=None, help="default: the method's"
    )
    parser.add_argument("--sparsity", type=float, default=0.5)
    add_output_options(parser)
    args = parser.parse_args(argv)
    if args.report:
        teacher, rows = read_log(args.report)
        return _print_run(teacher, rows, teacher["settings"], students, baseline)
    method = methods.get_method(args.method, modality)
    args.epochs = args.epochs or method.epochs
    args.compress_epochs = args.compress_epochs or method.compress_epochs
    out = args.out or tempfile.mkdtemp(prefix=f"kd_{modality}_")
    folder = make_folder(out)
    data = dataset.load_data(str(folder), seed=0)
    print(data.description, flush=True)
    augmentation = method.teacher_augmentation(modality)
    keras.utils.set_random_seed(0)
    (teacher, source), seconds = timed(
        teacher_stage.get_teacher,
        data,
        cache_dir=out,
        epochs=args.teacher_epochs,
        augmentation=augmentation,
    )
    report = export(
        teacher, data, out, "teacher", "float32", latency_runs=args.latency_runs
    )
    settings = {
        "method": args.method,
        "epochs": args.epochs,
        "compress_epochs": args.compress_epochs,
        "teacher_epochs": args.teacher_epochs,
        "data": data.description,
        "keras": keras.__version__,
    }
    row = teacher_row(teacher, report, seconds, settings)
    print(f"teacher ({source}): {row['keras_accuracy']:.3f}", flush=True)
    append_row(args.json, row)
    rows = []
    extra = augmentation if baseline == "labels + augmentation" else None
    for seed in args.seeds:
        for name in args.students:
            for result in run_student(
                seed, name, data, teacher, method, args, out, extra
            ):
                rows.append({"seed": seed, **result})
                append_row(args.json, rows[-1])
    _print_run(row, rows, settings, students, baseline)


def _print_run(teacher, rows, settings, students, baseline):
    seeds = sorted({row["seed"] for row in rows})
    title = (
        f"{settings['data']}\n\nSeeds {seeds}, Keras {settings['keras']}, method "
        f"{settings['method']}, {settings['epochs']} epochs, pruning and QAT "
        f"{settings['compress_epochs']} epochs each; teacher "
        f"{settings['teacher_epochs']} epochs"
    )
    print_family_tables(title, teacher, rows, students, baseline=baseline)
