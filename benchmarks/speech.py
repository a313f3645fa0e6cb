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

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _students  # noqa: E402

from keras_distill.data import make_spoken_words_folder  # noqa: E402

STUDENTS = ("ds-cnn", "gru")


def main(argv=None):
    _students.family_main(
        __doc__,
        "audio",
        STUDENTS,
        lambda out: make_spoken_words_folder(os.path.join(out, "spoken_words")),
        argv,
        baseline="labels + augmentation",
    )


if __name__ == "__main__":
    main()
