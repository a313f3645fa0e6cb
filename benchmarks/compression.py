"""Benchmark: int8 export and 80 % pruning (+ int8) while distilling, in LiteRT.

For MNIST-1D (mnist1d default arguments, 40 features) and scikit-learn digits
(8x8), loaded with `keras_distill.data` (raw inputs; normalization is the first
layer of every model, so the exported files take raw data), with a CNN teacher
and a student of more than 50k parameters (`--student cnn`: a convolutional
student distilled with Hinton's KD; `--student mlp`: a 512-256 MLP distilled by
function matching, teacher and student sharing Mixup, alpha=0), per seed:

1. the dense student trained on labels, and distilled from the teacher (same
   initial weights);
2. the distilled student pruned to 80 % sparsity (TF-MOT polynomial schedule,
   via `keras_distill.compress.prune`; 30 epochs, cosine learning rate from
   1e-3, 80 % reached after 20), fine-tuned (a) while distilling and (b) on
   labels alone, from the same weights with the same schedule, then stripped;
   plus the plain TF-MOT pipeline (the labels-trained student pruned on
   labels);
3. the pruned-while-distilling student through pruning-preserving QAT
   (`quantize(..., layers=..., preserve="sparsity")`), distilled for
   `--pqat-epochs` (20) at 1e-4;
4. every model exported with `keras_distill.export.export_and_verify`
   (float32, and full-integer int8 calibrated on training data, float
   input/output) and measured in the LiteRT interpreter: test accuracy, file
   size and gzip -9 size. Sparsity is measured from the weights
   (`sparsity_report`).

The issue's targets, checked at the end of each table (means over seeds):
the dense distilled student's int8 file <= 0.3x its float32 file with LiteRT
accuracy within 0.5 points of the Keras float student; the 80 %-pruned-while-
distilling int8 file's gzip size <= 0.15x the float32 file's gzip size, its
accuracy within 1.5 points of the unpruned distilled (Keras float) student and
better than the same pruning fine-tuned on labels alone.

`--engine` picks the compression engine, and with it the Keras: `native`
(Keras 3, keras_distill's own pruning and QAT) or `tfmot` (tf_keras, TF-MOT);
the script sets TF_USE_LEGACY_KERAS before TensorFlow is imported. Every run
also measures what the engines are compared on: PQAT stopped after 100 steps
(how quickly the activation ranges fit the data), and the median step time of
a pruned and of a QAT Distiller; `--step-times` runs only those two trainings
(from the untrained student, no export), the quick way to compare engines.
`--json FILE` appends each seed's rows to a JSON-lines log; `--compare
NATIVE.jsonl TFMOT.jsonl` prints the engines side by side with the issue's
targets. Run from the repository root (PYTHONPATH=. is
not needed once keras_distill is installed, e.g. `pip install -e .`):

    PYTHONPATH=. python3 benchmarks/compression.py   # both datasets, 3 seeds
    PYTHONPATH=. python3 benchmarks/compression.py --datasets digits --seeds 0
    PYTHONPATH=. python3 benchmarks/compression.py --student mlp --datasets mnist1d
    PYTHONPATH=. python3 benchmarks/compression.py --engine tfmot --json t.jsonl
    PYTHONPATH=. python3 benchmarks/compression.py --engine tfmot --step-times \
        --student mobilenet --datasets digits --seeds 0 --teacher-epochs 1 \
        --prune-epochs 4 --recovery-epochs 1 --pqat-epochs 2

On 2 shared CPU cores, the CNN runs took about 9-14 minutes (MNIST-1D) and 2-6
(digits), the MLP runs about 5 (MNIST-1D) and 3 (digits).
"""

import os
import sys

ENGINES = {"native": "0", "tfmot": "1"}


def _engine_from_argv(argv) -> str:
    """`--engine` read before TensorFlow is imported (it picks the Keras)."""
    for i, arg in enumerate(argv):
        if arg == "--engine" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--engine="):
            return arg.split("=", 1)[1]
    return "native"


# The engine picks the Keras: the switch must be set before TF is imported.
os.environ["TF_USE_LEGACY_KERAS"] = ENGINES.get(_engine_from_argv(sys.argv), "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_distill import Distiller  # noqa: E402
from keras_distill import keras  # noqa: E402
from keras_distill.augmentation import Mixup  # noqa: E402
from keras_distill.compress import engine_name  # noqa: E402
from keras_distill.compress import prune  # noqa: E402
from keras_distill.compress import pruning_callbacks  # noqa: E402
from keras_distill.compress import pruning_end_step  # noqa: E402
from keras_distill.compress import quantize  # noqa: E402
from keras_distill.compress import sparsity_report  # noqa: E402
from keras_distill.compress import strip_pruning  # noqa: E402
from keras_distill.data import load_dataset  # noqa: E402
from keras_distill.export import export_and_verify  # noqa: E402

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
TEACHER_BATCH = 64
SPARSITY = 0.8
FREQUENCY = 20

DENSE_KD = "dense, distilled"
PRUNED_KD = "80% pruned while distilling"
PRUNED_LABELS = "distilled, then 80% pruned on labels"
TFMOT_PIPELINE = "80% pruned on labels (labels-trained start)"
PQAT = "80% pruned while distilling + PQAT"
PQAT_100 = "80% pruned while distilling + PQAT, 100 steps"
QAT_CHECK_STEPS = 100


def teacher_model(data):
    """A CNN teacher, trained on labels once per dataset."""
    x = keras.Input(data.input_shape)
    h = data.preprocessing_layer(name="normalize")(x)
    if data.name == "mnist1d":
        h = keras.layers.Reshape((40, 1))(h)
        for strides in (1, 2, 2):
            h = keras.layers.Conv1D(64, 5, strides, "same", activation="relu")(h)
    else:
        h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
        h = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(h)
        h = keras.layers.MaxPooling2D()(h)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(128, activation="relu")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(x, keras.layers.Dense(10)(h), name="teacher")


def cnn_student(data):
    """More than 50k parameters.

    Convolutions: on MNIST-1D, Conv2D with (k, 1) kernels rather than Conv1D,
    which TF-MOT cannot quantize. Conv kernels also have many weights per output
    channel, so the per-channel scales of an int8 file cost little.
    """
    x = keras.Input(data.input_shape)
    h = data.preprocessing_layer(name="normalize")(x)
    if data.name == "mnist1d":
        h = keras.layers.Reshape((40, 1, 1))(h)
        for i, (filters, strides) in enumerate([(32, 1), (64, 2), (64, 2)]):
            h = keras.layers.Conv2D(
                filters,
                (5, 1),
                (strides, 1),
                "same",
                activation="relu",
                name=f"conv_{i + 1}",
            )(h)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(64, activation="relu", name="dense_1")(h)
    else:
        for i, filters in enumerate([16, 32]):
            h = keras.layers.Conv2D(
                filters, 3, padding="same", activation="relu", name=f"conv_{i + 1}"
            )(h)
        h = keras.layers.MaxPooling2D()(h)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(96, activation="relu", name="dense_1")(h)
    return keras.Model(x, keras.layers.Dense(10, name="logits")(h), name="student")


def mlp_student(data):
    """An MLP of two hidden layers, 512 and 256 units (154k parameters on MNIST-1D).

    On MNIST-1D an MLP trained on labels stays near 70 % however wide it is,
    far below the CNN teacher: the setting where the teacher has something to
    give, before and during pruning.
    """
    x = keras.Input(data.input_shape)
    h = data.preprocessing_layer(name="normalize")(x)
    h = keras.layers.Flatten()(h)
    for i, units in enumerate([512, 256]):
        h = keras.layers.Dense(units, activation="relu", name=f"dense_{i + 1}")(h)
    return keras.Model(x, keras.layers.Dense(10, name="logits")(h), name="student")


def mobilenet_student(data):
    """A MobileNetV2-style CNN: Conv+BN+ReLU6 stem, two inverted residual blocks
    (1x1 expand, 3x3 depthwise, 1x1 project, Add), global pooling, Dense.

    On MNIST-1D the signal is a (40, 1, 1) image and kernels are (3, 1), so
    both engines see the same Conv2D and DepthwiseConv2D layers as on images.
    """
    x = keras.Input(data.input_shape)
    h = data.preprocessing_layer(name="normalize")(x)
    if data.name == "mnist1d":
        h = keras.layers.Reshape((40, 1, 1))(h)
        k = (3, 1)
    else:
        k = (3, 3)

    def conv_bn(h, filters, kernel, name, relu=True, strides=1):
        h = keras.layers.Conv2D(
            filters, kernel, strides, "same", use_bias=False, name=name
        )(h)
        h = keras.layers.BatchNormalization(name=f"{name}_bn")(h)
        return keras.layers.ReLU(6.0, name=f"{name}_relu")(h) if relu else h

    h = conv_bn(h, 32, k, "stem")
    for i in range(2):
        block = f"block{i + 1}"
        e = conv_bn(h, 96, 1, f"{block}_expand")
        e = keras.layers.DepthwiseConv2D(
            k, padding="same", use_bias=False, name=f"{block}_dw"
        )(e)
        e = keras.layers.BatchNormalization(name=f"{block}_dw_bn")(e)
        e = keras.layers.ReLU(6.0, name=f"{block}_dw_relu")(e)
        e = conv_bn(e, 32, 1, f"{block}_project", relu=False)
        h = keras.layers.Add(name=f"{block}_add")([h, e])
    h = conv_bn(h, 128, 1, "head")
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(10, name="logits")(h), name="student")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A student and how it is distilled and trained.

    `mixup` is the Beta concentration of a `Mixup` that teacher and student
    share inside the Distiller (function matching, Beyer et al. 2022), or None.
    Training on labels never uses it: that is plain fine-tuning.
    """

    student: Callable
    temperature: float
    alpha: float
    mixup: float | None
    batch: int
    learning_rate: float
    epochs: int

    def describe(self):
        mixup = f", Mixup({self.mixup}) shared" if self.mixup else ""
        return f"T={self.temperature}, alpha={self.alpha}{mixup}, batch {self.batch}"


RECIPES = {
    # Hinton's KD on the training batches; the CNN student is about as good
    # as its teacher on labels alone.
    "cnn": Recipe(cnn_student, 4.0, 0.1, None, 64, 3e-3, 40),
    # The methods benchmark's best method (docs/choosing_a_method.md).
    "mlp": Recipe(mlp_student, 2.0, 0.0, 1.0, 128, 1e-2, 200),
    # What Android apps ship; Hinton's KD as for the CNN.
    "mobilenet": Recipe(mobilenet_student, 4.0, 0.1, None, 64, 3e-3, 40),
}


def distil(student, teacher, data, recipe, epochs, lr, callbacks=None):
    distiller = Distiller(
        student=student,
        teacher=teacher,
        temperature=recipe.temperature,
        alpha=recipe.alpha,
        augmentation=Mixup(recipe.mixup) if recipe.mixup else None,
    )
    distiller.compile(optimizer=keras.optimizers.Adam(lr), loss=LOSS)
    distiller.fit(
        data.x_train,
        data.y_train,
        batch_size=recipe.batch,
        epochs=epochs,
        verbose=0,
        callbacks=callbacks,
    )
    return distiller.student


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training step (batch), for the median step time.

    Put it first in the callbacks: its batch time then includes the other
    callbacks' `on_train_batch_begin` (the native engine updates the pruning
    masks there), as it includes TF-MOT's in-graph updates.
    """

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

    def median_ms(self) -> float:
        # The first steps trace and compile the train function.
        steady = self.seconds[10:] or self.seconds
        return 1000 * statistics.median(steady)


class StopAfter(keras.callbacks.Callback):
    """Stops training after `steps` batches."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def on_train_begin(self, logs=None):
        self.done = 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done >= self.steps:
            self.model.stop_training = True


def cosine(lr, epochs, data, batch):
    steps = epochs * math.ceil(len(data.x_train) / batch)
    return keras.optimizers.schedules.CosineDecay(lr, steps)


def fit_labels(model, data, batch, epochs, lr, callbacks=None):
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=LOSS)
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=batch,
        epochs=epochs,
        verbose=0,
        callbacks=callbacks,
    )
    return model


def overall_sparsity(model):
    report = sparsity_report(model)
    return sum(r["zeros"] for r in report.values()) / sum(
        r["params"] for r in report.values()
    )


def export(model, data, out, tag, quantization):
    """Export with `export_and_verify`; returns its LiteRT report."""
    return export_and_verify(
        model,
        os.path.join(out, f"{tag}_{quantization}.tflite"),
        quantization,
        # A QAT model carries its learned ranges; the others are calibrated.
        representative_data=(
            data.x_train if quantization == "int8" and "pqat" not in tag else None
        ),
        x_eval=data.x_test,
        y_eval=data.y_test,
        class_names=data.class_names,
        latency_runs=20,
    )


def run_seed(
    data, teacher, recipe, seed, epochs, prune_epochs, recovery_epochs, pqat_epochs, out
):
    """{row label: (LiteRT accuracy, Keras accuracy, bytes, gzip bytes, sparsity)}."""
    keras.utils.set_random_seed(seed)
    batch = recipe.batch
    steps = math.ceil(len(data.x_train) / batch)
    init = recipe.student(data)

    def fresh():
        model = keras.models.clone_model(init)
        model.set_weights(init.get_weights())
        return model

    lr = cosine(recipe.learning_rate, epochs, data, batch)
    dense_labels = fit_labels(fresh(), data, batch, epochs, lr)
    dense_kd = distil(fresh(), teacher, data, recipe, epochs, lr)

    # Reach 80 % with `recovery_epochs` left to recover at full sparsity.
    end = pruning_end_step(prune_epochs - recovery_epochs, steps, frequency=FREQUENCY)
    prune_lr = cosine(1e-3, prune_epochs, data, batch)

    def pruned(start):
        return prune(start, target_sparsity=SPARSITY, end_step=end, frequency=FREQUENCY)

    prune_timer = StepTimer()
    prune_kd = strip_pruning(
        distil(
            pruned(dense_kd),
            teacher,
            data,
            recipe,
            prune_epochs,
            prune_lr,
            [prune_timer, *pruning_callbacks()],
        )
    )
    prune_lab = strip_pruning(
        fit_labels(
            pruned(dense_kd), data, batch, prune_epochs, prune_lr, pruning_callbacks()
        )
    )
    tfmot_pipeline = strip_pruning(
        fit_labels(
            pruned(dense_labels),
            data,
            batch,
            prune_epochs,
            prune_lr,
            pruning_callbacks(),
        )
    )
    # The input normalization stays float (both engines), the rest is int8.
    qat_timer = StepTimer()
    pqat = distil(
        quantize(prune_kd, preserve="sparsity"),
        teacher,
        data,
        recipe,
        pqat_epochs,
        1e-4,
        [qat_timer],
    )
    pqat_100 = distil(
        quantize(prune_kd, preserve="sparsity"),
        teacher,
        data,
        recipe,
        math.ceil(QAT_CHECK_STEPS / steps),
        1e-4,
        [StopAfter(QAT_CHECK_STEPS)],
    )
    step_ms = {"prune": prune_timer.median_ms(), "qat": qat_timer.median_ms()}

    rows = {}
    for label, tag, model, quantizations in [
        ("dense, labels", "labels", dense_labels, ["float32"]),
        (DENSE_KD, "kd", dense_kd, ["float32", "int8"]),
        (TFMOT_PIPELINE, "tfmot", tfmot_pipeline, ["int8"]),
        (PRUNED_LABELS, "kd_prune_labels", prune_lab, ["float32", "int8"]),
        (PRUNED_KD, "kd_prune_kd", prune_kd, ["float32", "int8"]),
        (PQAT, "kd_prune_kd_pqat", pqat, ["int8"]),
        (PQAT_100, "kd_prune_kd_pqat100", pqat_100, ["int8"]),
    ]:
        sparsity = overall_sparsity(model)
        for quantization in quantizations:
            tag_seed = f"{data.name}_s{seed}_{tag}"
            report = export(model, data, out, tag_seed, quantization)
            rows[(label, quantization)] = (
                report.accuracy,
                report.keras_accuracy,
                report.file_bytes,
                report.gzip_bytes,
                sparsity,
            )
    return rows, init.count_params(), step_ms


def time_steps(data, teacher, recipe, seed, prune_epochs, recovery_epochs, pqat_epochs):
    """`--step-times`: only the two timed trainings of `run_seed`, from the
    untrained student (the step time does not depend on the weights)."""
    keras.utils.set_random_seed(seed)
    steps = math.ceil(len(data.x_train) / recipe.batch)
    end = pruning_end_step(prune_epochs - recovery_epochs, steps, frequency=FREQUENCY)
    student = prune(
        recipe.student(data),
        target_sparsity=SPARSITY,
        end_step=end,
        frequency=FREQUENCY,
    )
    prune_timer, qat_timer = StepTimer(), StepTimer()
    lr = cosine(1e-3, prune_epochs, data, recipe.batch)
    callbacks = [prune_timer, *pruning_callbacks()]
    pruned = distil(student, teacher, data, recipe, prune_epochs, lr, callbacks)
    qat = quantize(strip_pruning(pruned), preserve="sparsity")
    distil(qat, teacher, data, recipe, pqat_epochs, 1e-4, [qat_timer])
    return {"prune": prune_timer.median_ms(), "qat": qat_timer.median_ms()}


def print_table(name, results, params, teacher_params, teacher_acc, seconds, step_ms):
    seeds = len(results)
    float_row = (DENSE_KD, "float32")
    float_bytes = np.mean([r[float_row][2] for r in results])
    float_gzip = np.mean([r[float_row][3] for r in results])
    print(
        f"\n## {name}: teacher {teacher_params:,} parameters, test accuracy "
        f"{100 * teacher_acc:.1f} %; student {params:,} parameters; {seeds} "
        f"seeds, {seconds:.0f} s\n"
    )
    print(
        "| student | .tflite | LiteRT accuracy % | Keras accuracy % | bytes "
        "| x float32 | gzip bytes | gzip x float32 | sparsity |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for key in results[0]:
        acc = np.array([r[key][0] for r in results]) * 100
        keras_acc = np.array([r[key][1] for r in results]) * 100
        size = np.mean([r[key][2] for r in results])
        gz = np.mean([r[key][3] for r in results])
        sparsity = np.mean([r[key][4] for r in results])
        print(
            f"| {key[0]} | {key[1]} | {acc.mean():.1f} ± {acc.std():.1f} "
            f"| {keras_acc.mean():.1f} | {size:,.0f} | {size / float_bytes:.3f} "
            f"| {gz:,.0f} | {gz / float_gzip:.3f} | {sparsity:.3f} |"
        )

    def acc(key, keras_side=False):
        return np.array([r[key][1 if keras_side else 0] for r in results]) * 100

    def verdict(ok):
        return "met" if ok else "MISSED"

    print(f"\nTargets ({name}; means over {seeds} seeds, ± std of paired differences):")
    int8 = (DENSE_KD, "int8")
    ratio = np.mean([r[int8][2] / r[float_row][2] for r in results])
    print(
        f"- dense distilled int8 file {ratio:.3f}x float32 file (target <= 0.3): "
        f"{verdict(ratio <= 0.3)}"
    )
    diff = acc(int8) - acc(float_row, keras_side=True)
    print(
        f"- dense distilled int8 LiteRT accuracy vs Keras float student: "
        f"{diff.mean():+.2f} ± {diff.std():.2f} points (target within 0.5): "
        f"{verdict(abs(diff.mean()) <= 0.5)}"
    )
    ours = (PRUNED_KD, "int8")
    gz_ratio = np.mean([r[ours][3] / r[float_row][3] for r in results])
    print(
        f"- 80% pruned while distilling, int8: gzip {gz_ratio:.3f}x the float32 "
        f"file's gzip (target <= 0.15): {verdict(gz_ratio <= 0.15)}"
    )
    diff = acc(ours) - acc(float_row, keras_side=True)
    print(
        f"- its accuracy vs the unpruned distilled Keras float student: "
        f"{diff.mean():+.2f} ± {diff.std():.2f} points (target >= -1.5): "
        f"{verdict(diff.mean() >= -1.5)}"
    )
    for other in [(PRUNED_LABELS, "int8"), (TFMOT_PIPELINE, "int8")]:
        diff = acc(ours) - acc(other)
        print(
            f"- its accuracy vs {other[0]} (int8): {diff.mean():+.2f} ± "
            f"{diff.std():.2f} points (target > 0): {verdict(diff.mean() > 0.005)}"
        )
    diff = acc((PQAT_100, "int8")) - acc((PQAT, "int8"))
    print(
        f"- PQAT after {QAT_CHECK_STEPS} steps vs after all its epochs (int8): "
        f"{diff.mean():+.2f} ± {diff.std():.2f} points (target within 1): "
        f"{verdict(diff.mean() >= -1.0)}"
    )
    for stage in ("prune", "qat"):
        ms = [seed[stage] for seed in step_ms]
        print(f"- median step time, {stage} Distiller: {np.mean(ms):.2f} ms")
    sys.stdout.flush()


def _row_key(key) -> str:
    return f"{key[0]} | {key[1]}"


def compare(native_path, tfmot_path):
    """The engines side by side (means over seeds), with the issue's targets."""
    runs = {}
    for path in (native_path, tfmot_path):
        with open(path) as file:
            for line in file:
                run = json.loads(line)
                key = (run["engine"], run["dataset"], run["student"])
                runs.setdefault(key, []).append(run)
    cases = sorted({(d, s) for _, d, s in runs})
    print("| data | student | row | native % | tfmot % | native - tfmot |")
    print("|---|---|---|---|---|---|")
    verdicts = []
    for dataset, student in cases:
        native = runs.get(("native", dataset, student))
        tfmot = runs.get(("tfmot", dataset, student))
        if not native or not tfmot:
            continue

        def mean(engine_runs, row, field=0):
            return float(np.mean([r["rows"][row][field] for r in engine_runs]))

        for row in (_row_key((PQAT, "int8")), _row_key((PQAT_100, "int8"))):
            a, b = 100 * mean(native, row), 100 * mean(tfmot, row)
            print(
                f"| {dataset} | {student} | {row} | {a:.1f} | {b:.1f} | {a - b:+.1f} |"
            )
        row = _row_key((PQAT, "int8"))
        a, b = 100 * mean(native, row), 100 * mean(tfmot, row)
        verdicts.append(
            (f"{dataset}/{student}: 80 % + int8, native >= tfmot - 0.3", a >= b - 0.3)
        )
        size = mean(native, row, 2) / mean(tfmot, row, 2)
        verdicts.append(
            (
                f"{dataset}/{student}: int8 file native/tfmot {size:.3f}",
                abs(size - 1) <= 0.05,
            )
        )
        for stage in ("prune", "qat"):
            ratio = np.mean([r["step_ms"][stage] for r in native]) / np.mean(
                [r["step_ms"][stage] for r in tfmot]
            )
            verdicts.append(
                (
                    f"{dataset}/{student}: {stage} step time native/tfmot {ratio:.2f}",
                    ratio <= 1.2,
                )
            )
    print()
    for text, ok in verdicts:
        print(f"- {text}: {'met' if ok else 'MISSED'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist1d", "digits"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--student",
        choices=sorted(RECIPES),
        default="cnn",
        help="cnn: convolutional student, Hinton KD; mlp: 512-256 MLP, function "
        "matching (shared Mixup, alpha=0)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="dense epochs (cnn 40, mlp 200)"
    )
    parser.add_argument("--prune-epochs", type=int, default=30)
    parser.add_argument("--recovery-epochs", type=int, default=10)
    parser.add_argument("--teacher-epochs", type=int, default=100)
    parser.add_argument(
        "--pqat-epochs",
        type=int,
        default=20,
        help="TF-MOT's activation ranges are moving averages (decay 0.999) "
        "from [-6, 6]: QAT needs about 1000 steps before they fit the data",
    )
    parser.add_argument("--out", default=None, help="folder; a temp dir if unset")
    parser.add_argument(
        "--engine",
        choices=sorted(ENGINES),
        default="native",
        help="native: Keras 3 with keras_distill's engine; tfmot: tf_keras with "
        "TF-MOT (read before TensorFlow is imported)",
    )
    parser.add_argument("--json", default=None, help="append each seed's rows here")
    parser.add_argument(
        "--step-times",
        action="store_true",
        help="only time the pruned and the QAT Distiller (--prune-epochs, "
        "--pqat-epochs) and print the median step times; no export",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("NATIVE_JSONL", "TFMOT_JSONL"),
        help="print the two engines' logs side by side and exit",
    )
    args = parser.parse_args(argv)
    if args.compare:
        compare(*args.compare)
        return
    if engine_name() != args.engine:
        parser.error(
            f"--engine {args.engine} was given after TensorFlow was imported on "
            f"the other Keras; run the script directly"
        )
    if args.prune_epochs <= args.recovery_epochs:
        parser.error("--prune-epochs must be > --recovery-epochs")
    recipe = RECIPES[args.student]
    epochs = args.epochs or recipe.epochs
    out = args.out
    if out is None and not args.step_times:
        out = tempfile.mkdtemp(prefix="keras_distill_compression_")
    print(
        f"TF {tf.__version__}, {args.engine} engine on Keras {keras.__version__}; "
        f"seeds {args.seeds}; "
        f"teacher {args.teacher_epochs} epochs; {args.student} student, "
        f"{epochs} dense epochs (Adam, cosine from {recipe.learning_rate:g}), "
        f"{args.prune_epochs} pruning epochs "
        f"(cosine from 1e-3; {args.recovery_epochs} at full sparsity), "
        f"{args.pqat_epochs} PQAT epochs (1e-4); {recipe.describe()}"
    )
    for name in args.datasets:
        start = time.time()
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        data = load_dataset(name, batch_size=TEACHER_BATCH)
        teacher = teacher_model(data)
        fit_labels(
            teacher,
            data,
            TEACHER_BATCH,
            args.teacher_epochs,
            cosine(3e-3, args.teacher_epochs, data, TEACHER_BATCH),
        )
        teacher_acc = float(
            np.mean(
                np.argmax(teacher.predict(data.x_test, verbose=0), -1) == data.y_test
            )
        )
        if args.step_times:
            for seed in args.seeds:
                ms = time_steps(
                    data,
                    teacher,
                    recipe,
                    seed,
                    args.prune_epochs,
                    args.recovery_epochs,
                    args.pqat_epochs,
                )
                print(
                    f"{name} seed {seed} {args.engine}: median step "
                    f"pruned Distiller {ms['prune']:.1f} ms, "
                    f"QAT Distiller {ms['qat']:.1f} ms",
                    flush=True,
                )
            continue
        results = []
        step_ms = []
        for seed in args.seeds:
            rows, params, seed_ms = run_seed(
                data,
                teacher,
                recipe,
                seed,
                epochs,
                args.prune_epochs,
                args.recovery_epochs,
                args.pqat_epochs,
                out,
            )
            results.append(rows)
            step_ms.append(seed_ms)
            if args.json:
                record = {
                    "engine": args.engine,
                    "dataset": name,
                    "student": args.student,
                    "seed": seed,
                    "rows": {_row_key(k): list(v) for k, v in rows.items()},
                    "step_ms": seed_ms,
                }
                with open(args.json, "a") as file:
                    file.write(json.dumps(record) + "\n")
            kd = rows[(DENSE_KD, "float32")][0]
            ours = rows[(PRUNED_KD, "int8")][0]
            labels = rows[(PRUNED_LABELS, "int8")][0]
            print(
                f"{name} seed {seed}: teacher {100 * teacher_acc:.1f}, dense distilled "
                f"{100 * kd:.1f}, pruned while distilling int8 {100 * ours:.1f}, "
                f"pruned on labels int8 {100 * labels:.1f} "
                f"({time.time() - start:.0f} s)",
                flush=True,
            )
        print_table(
            name,
            results,
            params,
            teacher.count_params(),
            teacher_acc,
            time.time() - start,
            step_ms,
        )
    if not args.step_times:
        print(f"\nfiles and JSON reports in {out}")


if __name__ == "__main__":
    main()
