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

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _students  # noqa: E402

from keras_distill.data import make_fortunes_folder  # noqa: E402

STUDENTS = ("transformer", "cnn1d")


def main(argv=None):
    _students.family_main(
        __doc__,
        "text",
        STUDENTS,
        lambda out: make_fortunes_folder(os.path.join(out, "fortunes")),
        argv,
        baseline="labels",
    )


if __name__ == "__main__":
    main()
