"""Measures each distillation method on MNIST-1D and scikit-learn digits.

Trains one CNN teacher per dataset (cached), then an MLP student (two hidden layers
of 100 units) with every method and several seeds, and writes a Markdown table of
mean +/- std test accuracy and training time. Baselines in the same table: the
student trained on labels only, and on labels with mixup.

    python3 benchmarks/methods.py                       # the full run (long)
    python3 benchmarks/methods.py --epochs 5 --seeds 1 --datasets digits \
        --methods labels,kl                             # a quick check

Results go to benchmarks/results/methods.jsonl (one line per run, appended as runs
finish, so a long run can be inspected while it goes, and several invocations, e.g.
with different --epochs, add to one log) and benchmarks/results/methods.md (the
table over every run in the log; `--report` rebuilds it without training).
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
from keras_distill import _compat  # noqa: E402
from keras_distill import keras  # noqa: E402
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


def _optimizer(epochs, steps, learning_rate=3e-3):
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps)
    return keras.optimizers.Adam(schedule)


def _sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def trained_teacher(dataset, data, index=0, epochs=150):
    """The dataset's CNN teacher, trained once and cached under results/cache.

    One cache per Keras flavour: a Keras 3 `.keras` file does not load in
    tf_keras.
    """
    flavour = "_tf_keras" if _compat.LEGACY_KERAS else ""
    path = os.path.join(RESULTS, "cache", f"teacher_{dataset}_{index}{flavour}.keras")
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
def random_shift(max_shift):
    """A callable augmentation: rolls each 1D signal by up to `max_shift` steps.

    MNIST-1D's own generator translates its patterns, so shifted inputs stay
    close to the data; the teacher labels them (consistent teaching).
    """
    import tensorflow as tf

    def shift(x):
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        steps = tf.random.uniform([batch], -max_shift, max_shift + 1, tf.int32)
        index = (tf.range(length)[tf.newaxis, :] - steps[:, tf.newaxis]) % length
        return tf.gather(x, index, batch_dims=1)

    return shift


# Each method: (distiller keyword arguments, temperature, alpha), or None for a
# plain Keras fit on labels. "teachers" > 1 uses an ensemble of CNN teachers.
METHODS = {
    "labels": dict(plain=True),
    # alpha=1: the labels alone; the Distiller only applies the mixup, the same
    # Mixup(1.0) as the function-matching rows, so the two differ only by the
    # teacher. (Mixup(0.2), (0.4) and (2.0) did no better here.) Its teacher is
    # a linear stand-in (its outputs get weight 0) so the time is mixup's own.
    "labels_mixup": dict(
        alpha=1.0, temperature=1.0, augmentation=lambda: Mixup(1.0), dummy_teacher=True
    ),
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
    # Function matching with two augmentations: Gaussian noise, then mixup.
    "kl_mixup_noise": dict(
        temperature=2.0,
        alpha=0.0,
        augmentation=lambda: [keras.layers.GaussianNoise(0.1), Mixup(1.0)],
    ),
    # MNIST-1D only: the shift suits 1D signals, not flattened images.
    "kl_mixup_shift": dict(
        only=("mnist1d",),
        temperature=2.0,
        alpha=0.0,
        augmentation=lambda: [
            random_shift(2),
            keras.layers.GaussianNoise(0.05),
            Mixup(1.0),
        ],
    ),
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


def run(method, dataset, data, teachers, seed, epochs, batch_size, learning_rate):
    spec = METHODS[method]
    x, y, xt, yt = data
    student = student_model(x.shape[1], seed)
    steps = -(-len(x) // batch_size)
    keras.utils.set_random_seed(seed)
    if spec.get("plain"):
        model = student
        model.compile(
            _optimizer(epochs, steps, learning_rate),
            _sparse_ce(),
            metrics=["sparse_categorical_accuracy"],
            jit_compile=True,
            steps_per_execution=steps,
        )
    else:
        if spec.get("dummy_teacher"):
            teachers = [
                keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(10)])
            ]
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
            _optimizer(epochs, steps, learning_rate),
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


def machine():
    """One line naming the CPU, its core count and the library versions."""
    import platform

    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if "model name" in ln]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPU cores (shared), no GPU; Python "
        f"{platform.python_version()}, TensorFlow {tf.__version__}, Keras "
        f"{keras.__version__}"
    )


def table(records):
    """Markdown table: one line per (dataset, method, epochs), mean +/- std."""
    rows = {}
    for r in records:
        key = (r["dataset"], r["method"], r["epochs"], r.get("learning_rate", 3e-3))
        rows.setdefault(key, []).append(r)
    lines = [
        "| dataset | method | epochs | peak LR | test accuracy (%) | train time (s) "
        "| seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    datasets = ["mnist1d", "digits"]
    methods = list(METHODS)

    def order(key):
        dataset, method, epochs, lr = key
        return (
            datasets.index(dataset) if dataset in datasets else len(datasets),
            methods.index(method) if method in methods else len(methods),
            epochs,
            lr,
        )

    for (dataset, method, epochs, lr), runs in sorted(
        rows.items(), key=lambda kv: order(kv[0])
    ):
        acc = [100 * r["accuracy"] for r in runs]
        sec = [r["seconds"] for r in runs]
        std = statistics.stdev(acc) if len(acc) > 1 else 0.0
        mean = statistics.mean(acc)
        lines.append(
            f"| {dataset} | {method} | {epochs} | {lr:g} | {mean:.1f} +/- {std:.1f} "
            f"| {statistics.mean(sec):.0f} | {len(acc)} |"
        )
    teachers = {}
    for r in records:
        teachers.setdefault(r["dataset"], r.get("teachers", "?"))
    commands = list(dict.fromkeys(r.get("command", "?") for r in records))
    machines = list(dict.fromkeys(r.get("machine", "?") for r in records))
    lines += [
        "",
        "Teachers (CNN, test accuracy): "
        + ", ".join(f"{d}: {a}" for d, a in teachers.items())
        + ". Student: MLP 100-100, Adam with a cosine-decayed learning rate "
        "(peak and batch size: see the commands; defaults 1e-2 and 128).",
        "",
        "Commands:",
        "",
        *[f"    {c}" for c in commands],
        "",
        "Machine: " + "; ".join(machines),
    ]
    return "\n".join(lines) + "\n"


def write_table(records, path):
    text = table(records)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)))
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default="mnist1d,digits")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=1e-2,
        help="peak of the students' cosine-decayed Adam learning rate",
    )
    parser.add_argument("--output", default=os.path.join(RESULTS, "methods.md"))
    parser.add_argument(
        "--report",
        action="store_true",
        help="train nothing: rebuild the table from every run in the .jsonl log "
        "(several invocations, e.g. with different --epochs, share one log)",
    )
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {list(METHODS)}")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    log_path = os.path.splitext(args.output)[0] + ".jsonl"
    if args.report:
        with open(log_path) as f:
            print(write_table([json.loads(line) for line in f], args.output))
        return
    command = "python3 benchmarks/methods.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    host = machine()
    records = []
    for dataset in args.datasets.split(","):
        data = load(dataset)
        n_teachers = max(METHODS[m].get("teachers", 1) for m in methods)
        teachers, accs = zip(
            *[trained_teacher(dataset, data, i) for i in range(n_teachers)]
        )
        teacher_accuracy = " / ".join(f"{100 * a:.1f} %" for a in accs)
        print(f"{dataset}: teachers {teacher_accuracy}", flush=True)
        for method in methods:
            if dataset not in METHODS[method].get("only", (dataset,)):
                print(f"{dataset}: {method} skipped (not meant for it)", flush=True)
                continue
            for seed in range(args.seeds):
                accuracy, seconds = run(
                    method,
                    dataset,
                    data,
                    list(teachers),
                    seed,
                    args.epochs,
                    args.batch_size,
                    args.learning_rate,
                )
                record = dict(
                    dataset=dataset,
                    method=method,
                    seed=seed,
                    epochs=args.epochs,
                    learning_rate=args.learning_rate,
                    batch_size=args.batch_size,
                    accuracy=accuracy,
                    seconds=seconds,
                    teachers=teacher_accuracy,
                    command=command.strip(),
                    machine=host,
                )
                records.append(record)
                with open(log_path, "a") as f:
                    f.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)
    # The table covers every run in the log, this invocation's and earlier ones.
    with open(log_path) as f:
        print(write_table([json.loads(line) for line in f], args.output))


if __name__ == "__main__":
    main()
