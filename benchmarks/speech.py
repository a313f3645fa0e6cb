"""Keyword spotting: DS-CNN and GRU students of a CNN teacher, on unseen speakers.

Writes a Speech-Commands-style folder of one-second clips spoken by espeak-ng
(`keras_distill.data.make_spoken_words_folder`: ten command words, accents and
voice variants as speakers, random speed, pitch, onset and background noise),
loads it as `keras-distill demo --dataset FOLDER` does (16 kHz, split by
speaker: no test speaker is heard in training) and runs, with the demo's own
building blocks (`keras_distill.demo`):

1. the demo's speech teacher preset (log-mel front end inside the model),
   trained on labels with the speech recipe's augmentation (time shift,
   background noise, SpecAugment masks), once, seed 0, cached in `--out`;
2. for each seed and student preset (`ds-cnn`, `gru`), from the same initial
   weights: the student on labels, on labels with the same augmentation, and
   distilled from the teacher with the `speech-kd` recipe;
3. the distilled student pruned to 50 % and trained quantization-aware while
   distilling; the float32 and int8 files (they take the raw waveform)
   verified in LiteRT on the unseen speakers: accuracy, size, MACs, median
   latency of one clip at 1 thread.

    python3 benchmarks/speech.py --json benchmarks/results/speech.jsonl
    python3 benchmarks/speech.py --seeds 0 --epochs 2 --teacher-epochs 2 \
        --compress-epochs 1 --students ds-cnn   # a quick check
    python3 benchmarks/speech.py --report benchmarks/results/speech.jsonl

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
from keras_distill.data import make_spoken_words_folder  # noqa: E402
from keras_distill.demo import dataset  # noqa: E402
from keras_distill.demo import methods  # noqa: E402
from keras_distill.demo import teacher as teacher_stage  # noqa: E402
from keras_distill.demo.exporting import export  # noqa: E402

STUDENTS = ("ds-cnn", "gru")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--students", nargs="+", default=list(STUDENTS), choices=STUDENTS
    )
    parser.add_argument("--method", default="speech-kd", choices=list(methods.METHODS))
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: the method's"
    )
    parser.add_argument(
        "--teacher-epochs", type=int, default=teacher_stage.TEACHER_EPOCHS["audio"]
    )
    parser.add_argument(
        "--compress-epochs", type=int, default=None, help="default: the method's"
    )
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument(
        "--clips-per-voice", type=int, default=None, help="default: the generator's"
    )
    parser.add_argument("--out", default=None, help="folder; a temp dir if unset")
    parser.add_argument("--json", default=None, help="append the rows here")
    parser.add_argument(
        "--report", default=None, help="print the tables of a --json log, run nothing"
    )
    args = parser.parse_args(argv)
    if args.report:
        teacher, rows = _students.read_log(args.report)
        return print_tables(teacher, rows, teacher["settings"])
    method = methods.get_method(args.method, "audio")
    args.epochs = args.epochs or method.epochs
    args.compress_epochs = args.compress_epochs or method.compress_epochs
    out = args.out or tempfile.mkdtemp(prefix="kd_speech_")
    options = {}
    if args.clips_per_voice:
        options["clips_per_voice"] = args.clips_per_voice
    folder, seconds = _students.timed(
        make_spoken_words_folder, os.path.join(out, "spoken_words"), **options
    )
    print(f"spoken words folder: {folder} ({seconds:.0f} s)", flush=True)
    data = dataset.load_data(str(folder), seed=0)
    print(data.description, flush=True)
    augmentation = method.teacher_augmentation("audio")
    keras.utils.set_random_seed(0)
    (teacher, source), seconds = _students.timed(
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
    teacher_row = _students.teacher_row(teacher, report, seconds, settings)
    print(f"teacher ({source}): {teacher_row['keras_accuracy']:.3f}", flush=True)
    _students.append_row(args.json, teacher_row)
    rows = []
    for seed in args.seeds:
        for name in args.students:
            for row in _students.run_student(
                seed, name, data, teacher, method, args, out, augmentation
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
    _students.print_family_tables(
        title, teacher, rows, STUDENTS, baseline="labels + augmentation"
    )


if __name__ == "__main__":
    main()
