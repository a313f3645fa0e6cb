"""Text classification: Transformer and CNN students of a Transformer teacher.

Writes a folder of real human-written text, one `.txt` file per entry of
Debian's fortune databases under one sub-folder per category
(`keras_distill.data.make_fortunes_folder`), loads it as `keras-distill demo
--dataset FOLDER` does (tokenized in tf.data with a vocabulary of the
training texts only; unseen test texts) and runs, with the demo's own
building blocks (`keras_distill.demo`):

1. the demo's text teacher preset (a Transformer encoder), trained on labels
   once, seed 0, cached in `--out`;
2. for each seed and student preset (`transformer`, `cnn1d`), from the same
   initial weights: the student on labels and distilled from the teacher
   with the `text-kd` recipe;
3. the distilled student pruned to 50 % and trained quantization-aware while
   distilling; the float32 and int8 files (they take int32 token ids)
   verified in LiteRT on the test texts: accuracy, size, MACs, median latency
   of one text at 1 thread.

    python3 benchmarks/text.py --json benchmarks/results/text.jsonl
    python3 benchmarks/text.py --seeds 0 --epochs 2 --teacher-epochs 2 \
        --compress-epochs 1 --students cnn1d   # a quick check
    python3 benchmarks/text.py --report benchmarks/results/text.jsonl

Prints Markdown tables (mean ± standard deviation over seeds) and the targets
of issue 20 with a verdict.
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _students  # noqa: E402

from keras_distill._compat import keras  # noqa: E402
from keras_distill.data import make_fortunes_folder  # noqa: E402
from keras_distill.demo import dataset  # noqa: E402
from keras_distill.demo import methods  # noqa: E402
from keras_distill.demo import teacher as teacher_stage  # noqa: E402
from keras_distill.demo.exporting import export  # noqa: E402

STUDENTS = ("transformer", "cnn1d")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--students", nargs="+", default=list(STUDENTS), choices=STUDENTS
    )
    parser.add_argument("--method", default="text-kd", choices=list(methods.METHODS))
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: the method's"
    )
    parser.add_argument(
        "--teacher-epochs", type=int, default=teacher_stage.TEACHER_EPOCHS["text"]
    )
    parser.add_argument(
        "--compress-epochs", type=int, default=None, help="default: the method's"
    )
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--out", default=None, help="folder; a temp dir if unset")
    parser.add_argument("--json", default=None, help="append the rows here")
    parser.add_argument(
        "--report", default=None, help="print the tables of a --json log, run nothing"
    )
    args = parser.parse_args(argv)
    if args.report:
        teacher, rows = _students.read_log(args.report)
        return print_tables(teacher, rows, teacher["settings"])
    method = methods.get_method(args.method, "text")
    args.epochs = args.epochs or method.epochs
    args.compress_epochs = args.compress_epochs or method.compress_epochs
    out = args.out or tempfile.mkdtemp(prefix="kd_text_")
    folder = make_fortunes_folder(os.path.join(out, "fortunes"))
    data = dataset.load_data(str(folder), seed=0)
    print(data.description, flush=True)
    keras.utils.set_random_seed(0)
    (teacher, source), seconds = _students.timed(
        teacher_stage.get_teacher, data, cache_dir=out, epochs=args.teacher_epochs
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
    teacher_row = _students.teacher_row(teacher, report, seconds, settings)
    print(f"teacher ({source}): {teacher_row['keras_accuracy']:.3f}", flush=True)
    _students.append_row(args.json, teacher_row)
    rows = []
    for seed in args.seeds:
        for name in args.students:
            for row in _students.run_student(
                seed, name, data, teacher, method, args, out
            ):
                rows.append({"seed": seed, **row})
                _students.append_row(args.json, rows[-1])
    print_tables(teacher_row, rows, settings)


def print_tables(teacher, rows, settings):
    seeds = sorted({row["seed"] for row in rows})
    title = (
        f"{settings['data']}\n\nSeeds {seeds}, Keras {settings['keras']}, method "
        f"{settings['method']}, {settings['epochs']} epochs, pruning and QAT "
        f"{settings['compress_epochs']} epochs each; teacher "
        f"{settings['teacher_epochs']} epochs"
    )
    _students.print_family_tables(title, teacher, rows, STUDENTS)


if __name__ == "__main__":
    main()
