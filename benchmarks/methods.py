"""Measures each distillation method on MNIST-1D and scikit-learn digits.

Trains one CNN teacher per dataset (cached), then an MLP student (two hidden layers
of 100 units) with every method and several seeds, and writes a Markdown table of
mean +/- std test accuracy and training time. Baselines in the same table: the
student trained on labels only, and on labels with mixup.

    python3 benchmarks/methods.py                       # the full run (long)
    python3 benchmarks/methods.py --epochs 5 --seeds 1 --datasets digits \
        --methods labels,kl                             # a quick check

Results go to benchmarks/results/methods.md (table) and methods.jsonl (one line per
run, appended as runs finish, so a long run can be inspected while it goes).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_distill  # noqa: E402
from keras_distill._compat import keras  # noqa: E402
from keras_distill.augmentation import Mixup  # noqa: E402
from keras_distill.losses import DIST  # noqa: E402
from keras_distill.losses import DKD  # noqa: E402
from keras_distill.losses import Hint  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


# ---------------------------------------------------------------------- data
def load(name):
    """Float32 (x, y, x_test, y_test) of a dataset."""
    if name == "mnist1d":
        from mnist1d.data import get_dataset_args
        from mnist1d.data import make_dataset

        d = make_dataset(get_dataset_args())  # 4000 train / 1000 test, seed 42
        x, y, xt, yt = d["x"], d["y"], d["x_test"], d["y_test"]
    elif name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        x, xt, y, yt = train_test_split(
            digits.data / 16.0,
            digits.target,
            test_size=0.25,
            random_state=0,
            stratify=digits.target,
        )
    else:
        raise ValueError(f"Unknown dataset {name!r}: use mnist1d or digits.")
    cast = np.asarray
    return (
        cast(x, "float32"),
        cast(y, "int64"),
        cast(xt, "float32"),
        cast(yt, "int64"),
    )


# -------------------------------------------------------------------- models
def teacher_model(dataset, features, seed):
    """A small CNN over the 1D signal (mnist1d) or the 8x8 image (digits)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((features,))
    if dataset == "mnist1d":
        h = keras.layers.Reshape((features, 1))(inputs)
        for i in range(3):
            h = keras.layers.Conv1D(
                64, 5, strides=2 if i else 1, padding="same", activation="relu"
            )(h)
    else:
        h = keras.layers.Reshape((8, 8, 1))(inputs)
        for _ in range(2):
            h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = keras.layers.Flatten(name="teacher_features")(h)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(h))


def student_model(features, seed):
    """The student: an MLP with two hidden layers of 100 units, logits out."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(100, activation="relu", name="hidden0"),
            keras.layers.Dense(100, activation="relu", name="hidden1"),
            keras.layers.Dense(10, name="logits"),
        ]
    )


def _optimizer(epochs, steps):
    schedule = keras.optimizers.schedules.CosineDecay(3e-3, epochs * steps)
    return keras.optimizers.Adam(schedule)


def _sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def trained_teacher(dataset, data, index=0, epochs=150):
    """The dataset's CNN teacher, trained once and cached under results/cache."""
    path = os.path.join(RESULTS, "cache", f"teacher_{dataset}_{index}.keras")
    x, y, xt, yt = data
    if os.path.exists(path):
        teacher = keras.models.load_model(path)
    else:
        teacher = teacher_model(dataset, x.shape[1], seed=1000 + index)
        steps = -(-len(x) // 100)
        teacher.compile(
            _optimizer(epochs, steps),
            _sparse_ce(),
            metrics=["sparse_categorical_accuracy"],
            jit_compile=True,
        )
        teacher.fit(x, y, batch_size=100, epochs=epochs, verbose=0)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".keras", dir=os.path.dirname(path))
        os.close(fd)
        teacher.save(tmp)
        os.replace(tmp, path)
    accuracy = float((teacher.predict(xt, verbose=0).argmax(-1) == yt).mean())
    return teacher, accuracy


# ------------------------------------------------------------------- methods
# Each method: (distiller keyword arguments, temperature, alpha), or None for a
# plain Keras fit on labels. "teachers" > 1 uses an ensemble of CNN teachers.
METHODS = {
    "labels": dict(plain=True),
    "labels_mixup": dict(alpha=1.0, augmentation=lambda: Mixup(0.4)),
    "kl": dict(temperature=4.0, alpha=0.1),
    "soft_ce": dict(temperature=4.0, alpha=0.1, losses=lambda: ["soft_ce"]),
    "mse": dict(temperature=1.0, alpha=0.1, losses=lambda: ["mse"]),
    "dkd": dict(temperature=4.0, alpha=0.1, losses=lambda: [DKD(1.0, 8.0)]),
    "dist": dict(temperature=4.0, alpha=0.1, losses=lambda: [DIST()]),
    "hint": dict(
        temperature=4.0,
        alpha=0.1,
        losses=lambda: ["kl", Hint("teacher_features", "hidden1")],
        weights=[1.0, 1.0],
    ),
    "kl_mixup": dict(temperature=2.0, alpha=0.0, augmentation=lambda: Mixup(1.0)),
    "dist_mixup": dict(
        temperature=2.0,
        alpha=0.0,
        losses=lambda: [DIST()],
        augmentation=lambda: Mixup(1.0),
    ),
    "dkd_mixup": dict(
        temperature=2.0,
        alpha=0.0,
        losses=lambda: [DKD(1.0, 2.0)],
        augmentation=lambda: Mixup(1.0),
    ),
    "kl_mixup_ensemble": dict(
        temperature=2.0, alpha=0.0, augmentation=lambda: Mixup(1.0), teachers=3
    ),
}


def run(method, dataset, data, teachers, seed, epochs, batch_size):
    spec = METHODS[method]
    x, y, xt, yt = data
    student = student_model(x.shape[1], seed)
    steps = -(-len(x) // batch_size)
    keras.utils.set_random_seed(seed)
    if spec.get("plain"):
        model = student
        model.compile(
            _optimizer(epochs, steps),
            _sparse_ce(),
            metrics=["sparse_categorical_accuracy"],
            jit_compile=True,
            steps_per_execution=steps,
        )
    else:
        model = keras_distill.Distiller(
            student=student,
            teacher=teachers[: spec.get("teachers", 1)],
            temperature=spec["temperature"],
            alpha=spec["alpha"],
            distillation_losses=spec["losses"]() if "losses" in spec else None,
            distillation_loss_weights=spec.get("weights"),
            augmentation=spec["augmentation"]() if "augmentation" in spec else None,
        )
        model.compile(
            _optimizer(epochs, steps),
            loss=_sparse_ce(),
            metrics=["sparse_categorical_accuracy"],
            jit_compile=True,
            steps_per_execution=steps,
        )
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    accuracy = float((student.predict(xt, verbose=0).argmax(-1) == yt).mean())
    return accuracy, seconds


def table(rows, teacher_accuracy, epochs, command):
    """Markdown table: one line per (dataset, method), mean +/- std over seeds."""
    lines = [
        f"Command: `{command}`",
        "",
        "| dataset | method | test accuracy (%) | train time (s) | seeds |",
        "|---|---|---|---|---|",
    ]
    for (dataset, method), runs in rows.items():
        acc = [100 * r["accuracy"] for r in runs]
        sec = [r["seconds"] for r in runs]
        std = statistics.stdev(acc) if len(acc) > 1 else 0.0
        lines.append(
            f"| {dataset} | {method} | {statistics.mean(acc):.1f} +/- {std:.1f} "
            f"| {statistics.mean(sec):.0f} | {len(acc)} |"
        )
    lines.append("")
    lines.append(
        "Teachers (CNN, test accuracy): "
        + ", ".join(f"{d}: {a}" for d, a in teacher_accuracy.items())
        + f". Student: MLP 100-100. {epochs} epochs, Adam, cosine-decayed LR."
    )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default="mnist1d,digits")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--output", default=os.path.join(RESULTS, "methods.md"))
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {list(METHODS)}")
    os.makedirs(RESULTS, exist_ok=True)
    log_path = os.path.splitext(args.output)[0] + ".jsonl"
    rows, teacher_accuracy = {}, {}
    for dataset in args.datasets.split(","):
        data = load(dataset)
        n_teachers = max(METHODS[m].get("teachers", 1) for m in methods)
        teachers, accs = zip(
            *[trained_teacher(dataset, data, i) for i in range(n_teachers)]
        )
        teacher_accuracy[dataset] = " / ".join(f"{100 * a:.1f} %" for a in accs)
        print(f"{dataset}: teachers {teacher_accuracy[dataset]}", flush=True)
        for method in methods:
            for seed in range(args.seeds):
                accuracy, seconds = run(
                    method,
                    dataset,
                    data,
                    list(teachers),
                    seed,
                    args.epochs,
                    args.batch_size,
                )
                record = dict(
                    dataset=dataset,
                    method=method,
                    seed=seed,
                    epochs=args.epochs,
                    accuracy=accuracy,
                    seconds=seconds,
                )
                rows.setdefault((dataset, method), []).append(record)
                with open(log_path, "a") as f:
                    f.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)
    command = "python3 benchmarks/methods.py " + " ".join(argv or sys.argv[1:])
    text = table(rows, teacher_accuracy, args.epochs, command.strip())
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(args.output))
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, args.output)
    print(text)


if __name__ == "__main__":
    main()
