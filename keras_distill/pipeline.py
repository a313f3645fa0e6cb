"""The demo's stages as plain functions: the CLI and the notebooks call these.

`run_demo(config)` runs them in order and writes the output folder:

1. `load_data`: a `DataBundle` (MNIST-1D by default, offline).
2. `get_teacher`: load `--teacher`, reuse a cached teacher, or train the preset.
3. `train_student` with alpha=1 and no teacher: the label-only baseline.
4. `distil`: the same student architecture, distilled with the chosen method.
5. `compress`: the distilled student pruned while distilling, then trained
   quantization-aware while distilling (TF-MOT, tf_keras).
6. `export`: float32 `.tflite` of the distilled student, int8 of the compressed
   one, each verified in LiteRT; `labels.txt` for the app.
7. report.json, plots and the table.

Each stage prints one line; training shows one Keras progress bar per stage.
"""

import dataclasses
import hashlib
import json
import math
import os
import pathlib
import re
import tempfile

import numpy as np
import tensorflow as tf

from keras_distill import _compat
from keras_distill import demo_methods
from keras_distill import presets
from keras_distill._compat import keras
from keras_distill.demo_config import DemoConfig
from keras_distill.demo_config import UsageError
from keras_distill.distiller import Distiller

FAST_EPOCHS = {"teacher": 2, "student": 2, "compress": 1}
FAST_TRAIN_BATCHES = 20
FAST_EVAL_EXAMPLES = 300
# Teacher epochs by dataset kind; the MNIST-1D CNN reaches ~94 % in these.
TEACHER_EPOCHS = {"vector": 100, "image": 30}
COMPRESS_EPOCHS = 20
STAGES = ("data", "teacher", "baseline", "distil", "compress", "export", "report")


def _loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _metrics():
    return ["sparse_categorical_accuracy"]


PROGRESS_KEYS = (
    "loss",
    "student_loss",
    "distillation_loss",
    "sparse_categorical_accuracy",
    "val_sparse_categorical_accuracy",
)


class EpochProgress(keras.callbacks.Callback):
    """One Keras progress bar over a stage's epochs, with the latest metrics.

    Args:
        epochs: int, the stage's epochs.
        keys: the log keys to show. Defaults to None (`PROGRESS_KEYS`).
    """

    def __init__(self, epochs: int, keys=None):
        super().__init__()
        self.epochs = epochs
        self.keys = PROGRESS_KEYS if keys is None else keys
        self.bar = None

    def on_train_begin(self, logs=None):
        self.bar = keras.utils.Progbar(self.epochs, unit_name="epoch")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        values = [
            (key.replace("sparse_categorical_", ""), float(value))
            for key, value in logs.items()
            if key in self.keys
        ]
        self.bar.update(epoch + 1, values=values, finalize=epoch + 1 >= self.epochs)


def _stage_line(index: int, stage: str, text: str, seconds: float) -> None:
    print(f"[{index}/{len(STAGES)}] {stage}: {text} ({seconds:.1f} s)", flush=True)


# --------------------------------------------------------------------- stage 1
def load_data(
    dataset: str = "mnist1d",
    *,
    batch_size: int = 128,
    seed: int = 0,
    data_dir=None,
):
    """Loads a dataset for the demo.

    Args:
        dataset: str, `"mnist1d"`, `"digits"`, `"tfds:<name>"` or an image folder
            path. Defaults to "mnist1d".
        batch_size: int. Defaults to 128.
        seed: int. Defaults to 0.
        data_dir: str, the TFDS data folder for `"tfds:<name>"`. Defaults to
            None (TFDS's default).

    Returns:
        A `keras_distill.data.DataBundle`.

    Raises:
        UsageError: an unknown name (listing the choices), a TFDS dataset that is
            not prepared offline (saying how to prepare it), a bad folder.
    """
    from keras_distill.data import load_dataset

    options = {}
    if data_dir is not None and dataset.startswith("tfds:"):
        options["data_dir"] = data_dir
    try:
        return load_dataset(dataset, batch_size=batch_size, seed=seed, **options)
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise UsageError(_one_line(err)) from None


def _one_line(err) -> str:
    return " ".join(str(err).split())


def _train_split(data, fast: bool):
    return data.train.take(FAST_TRAIN_BATCHES) if fast else data.train


def _steps_per_epoch(data, fast: bool) -> int:
    steps = int(tf.data.experimental.cardinality(_train_split(data, fast)))
    if steps > 0:
        return steps
    count = data.num_examples.get("train") or data.batch_size
    return max(1, math.ceil(count / data.batch_size))


def _test_split(data, fast: bool):
    if not fast:
        return data.test
    return data.test.take(max(1, FAST_EVAL_EXAMPLES // data.batch_size))


def evaluate(model, data, fast: bool = False) -> float:
    """Top-1 accuracy of a Keras model on the test split, in [0, 1]."""
    correct = total = 0
    for x, y in _test_split(data, fast):
        logits = model(x, training=False)
        predictions = np.argmax(np.asarray(logits), axis=-1)
        correct += int(np.sum(predictions == np.asarray(y).reshape(-1)))
        total += len(predictions)
    return correct / max(total, 1)


# --------------------------------------------------------------------- stage 2
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "data"


def check_fits(model, data, argname: str) -> None:
    """Raises UsageError unless `model` reads `data`'s inputs and classes."""
    try:
        input_shape = tuple(model.inputs[0].shape[1:])
        output_shape = tuple(model.outputs[0].shape)
    except (AttributeError, IndexError, TypeError, ValueError):
        raise UsageError(
            f"{argname} {model.name!r} has no known input/output shape; save a "
            "Functional or Sequential model built on its input"
        ) from None
    expected = tuple(data.input_shape)
    if input_shape != expected or output_shape[-1] != data.num_classes:
        raise UsageError(
            f"{argname} {model.name!r} takes inputs {input_shape} and predicts "
            f"{output_shape[-1]} classes, but dataset {data.name!r} has inputs "
            f"{expected} and {data.num_classes} classes"
        )


def load_model_file(path, data, argname: str):
    """Loads a `.keras` file given on the command line, checked against the data."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"{argname} file {str(path)!r} does not exist")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001 - any load failure is a bad file
        raise UsageError(
            f"{argname} file {str(path)!r} does not load as a {_compat.flavour_name()} "
            f"model: {_one_line(err)[:300]}"
        ) from None
    if not isinstance(model, keras.Model):
        raise UsageError(f"{argname} file {str(path)!r} holds no Keras model")
    check_fits(model, data, argname)
    return model


def _architecture_key(model) -> str:
    """A short hash of a model's layers and their settings (names left out).

    The preset's normalization statistics are part of its settings, so the key
    also changes with the data.
    """
    layers = [
        (
            type(layer).__name__,
            {k: v for k, v in layer.get_config().items() if k != "name"},
        )
        for layer in model.layers
    ]
    text = json.dumps(layers, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def teacher_cache_path(cache_dir, data, teacher, epochs: int) -> pathlib.Path:
    """Where the preset `teacher` for `data` trained `epochs` epochs is cached."""
    key = _architecture_key(teacher)
    name = f"teacher_{_slug(data.name)}_{_compat.FLAVOUR}_{epochs}ep_{key}.keras"
    return pathlib.Path(cache_dir).expanduser() / name


def train_teacher(data, *, epochs: int, teacher=None, fast: bool = False):
    """Trains a teacher (default: the preset for `data`) on labels.

    Returns:
        `(teacher, history)`.
    """
    teacher = presets.teacher_preset(data) if teacher is None else teacher
    steps = _steps_per_epoch(data, fast) * epochs
    teacher.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(3e-3, steps)
        ),
        loss=_loss(),
        metrics=_metrics(),
    )
    history = teacher.fit(
        _train_split(data, fast),
        epochs=epochs,
        verbose=0,
        callbacks=[EpochProgress(epochs)],
    )
    return teacher, history.history


def get_teacher(
    data,
    *,
    path=None,
    cache_dir="saved_models",
    epochs: int | None = None,
    retrain: bool = False,
    fast: bool = False,
):
    """The teacher: loaded from `path`, reused from the cache, or trained.

    Returns:
        `(teacher, source)` where source is "file", "cache" or "trained".

    Raises:
        UsageError: a teacher file that does not load or does not fit the data.
    """
    if path is not None:
        return load_model_file(path, data, "teacher"), "file"
    if epochs is None:
        kind = "image" if len(data.input_shape) == 3 else "vector"
        epochs = FAST_EPOCHS["teacher"] if fast else TEACHER_EPOCHS[kind]
    teacher = presets.teacher_preset(data)
    cached = teacher_cache_path(cache_dir, data, teacher, epochs)
    if cached.is_file() and not retrain:
        try:
            return load_model_file(cached, data, "cached teacher"), "cache"
        except UsageError as err:
            print(f"  {err}; training a new one", flush=True)
    teacher, _ = train_teacher(data, epochs=epochs, teacher=teacher, fast=fast)
    _save_model_atomic(teacher, cached)
    return teacher, "trained"


def _save_model_atomic(model, path: pathlib.Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.", suffix=".keras"
        )
    except OSError as err:
        print(f"  (teacher not cached: {err.strerror} for {str(path.parent)!r})")
        return
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        pathlib.Path(tmp).unlink(missing_ok=True)


# ----------------------------------------------------------------- stages 3, 4
def make_student(data, student=None):
    """A fresh student: a preset name, a `.keras` file, or the data's default."""
    if student is None:
        student = presets.default_student_preset(data.input_shape)
    if student in presets.STUDENT_PRESETS:
        return presets.student_preset(student, data)
    if not str(student).endswith(".keras"):
        raise UsageError(
            f"student {student!r} is neither a preset "
            f"({', '.join(presets.STUDENT_PRESETS)}) nor a .keras file"
        )
    model = load_model_file(student, data, "student")
    if not _compat.is_graph_model(model):
        raise UsageError(
            f"student file {student!r} holds a subclassed model; pruning and "
            "quantization need a Functional or Sequential model"
        )
    return model


def _fit(model, data, *, epochs, learning_rate, fast, callbacks=()):
    steps = _steps_per_epoch(data, fast) * epochs
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(learning_rate, steps)
        ),
        loss=_loss(),
        metrics=_metrics(),
    )
    history = model.fit(
        _train_split(data, fast),
        validation_data=_test_split(data, fast),
        epochs=epochs,
        verbose=0,
        callbacks=[*callbacks, EpochProgress(epochs)],
    )
    return history.history


def train_student(data, *, student=None, epochs=100, learning_rate=1e-3, fast=False):
    """The label-only baseline: the student trained without a teacher.

    Returns:
        `(student, history)`.
    """
    model = make_student(data, student)
    history = _fit(model, data, epochs=epochs, learning_rate=learning_rate, fast=fast)
    return model, history


def make_distiller(student, teacher, method, *, temperature=None, alpha=None):
    """A Distiller configured by a `DemoMethod` (and optional overrides)."""
    kwargs = {}
    if method.mixup_alpha is not None:
        from keras_distill.augmentation import Mixup

        kwargs["augmentation"] = Mixup(alpha=method.mixup_alpha)
    return Distiller(
        student=student,
        teacher=teacher,
        temperature=method.temperature if temperature is None else temperature,
        alpha=method.alpha if alpha is None else alpha,
        distillation_losses=method.loss,
        **kwargs,
    )


def distil(
    data,
    teacher,
    *,
    student=None,
    method=None,
    temperature=None,
    alpha=None,
    epochs=None,
    fast=False,
    callbacks=(),
    learning_rate=None,
):
    """Distils a fresh student from `teacher` with a method of `demo_methods`.

    Args:
        data: the `DataBundle`.
        teacher: the trained teacher.
        student: a preset name, `.keras` path or model. Defaults to None (the
            data's default preset).
        method: a method name or `DemoMethod`. Defaults to None (the best).
        temperature, alpha, epochs, learning_rate: override the method's.
        fast: bool, a few batches per epoch. Defaults to False.
        callbacks: extra Keras callbacks (e.g. TF-MOT's pruning callbacks).

    Returns:
        `(distiller, history)`; `distiller.student` is the trained student.
    """
    if not isinstance(method, demo_methods.DemoMethod):
        method = demo_methods.get_method(method)
    if not isinstance(student, keras.Model):
        student = make_student(data, student)
    distiller = make_distiller(
        student, teacher, method, temperature=temperature, alpha=alpha
    )
    history = _fit(
        distiller,
        data,
        epochs=epochs or method.epochs,
        learning_rate=learning_rate or method.learning_rate,
        fast=fast,
        callbacks=callbacks,
    )
    return distiller, history


# --------------------------------------------------------------------- stage 5
def _normalization_layers():
    return (
        keras.layers.InputLayer,
        keras.layers.Normalization,
        keras.layers.Rescaling,
    )


class KeepZeros(keras.callbacks.Callback):
    """Keeps pruned weights at zero while a stripped student trains with QAT.

    TF-MOT's pruning-preserving QAT scheme
    (`Default8BitPrunePreserveQuantizeScheme`) fails on a model whose first
    layer is a Normalization or Rescaling layer (its registry claims to support
    the layer, then raises in `get_quantize_config`), and the demo's models all
    start with one. So the demo uses plain QAT and re-applies the pruning mask
    after every batch, which is what the scheme's weight quantizer achieves.

    Args:
        pairs: list of `(variable, mask)`; the mask is 0 where the weight must
            stay 0.
    """

    def __init__(self, pairs):
        super().__init__()
        self.pairs = pairs

    @classmethod
    def from_models(cls, stripped, qat_model) -> "KeepZeros":
        """Pairs each kernel of `qat_model` with the zeros of `stripped`'s."""
        masks = {
            layer.name: [
                (np.asarray(w.numpy()) != 0).astype("float32")
                for w in layer.trainable_weights
                if len(w.shape) >= 2
            ]
            for layer in stripped.layers
        }
        pairs = []
        for layer in qat_model.layers:
            # A QuantizeWrapper owns its layer's kernel; its own quantizer
            # variables are scalars or per-channel vectors.
            name = getattr(layer, "layer", layer).name
            kernels = [w for w in layer.trainable_weights if len(w.shape) >= 2]
            for variable, mask in zip(kernels, masks.get(name, [])):
                if tuple(variable.shape) == mask.shape:
                    pairs.append((variable, tf.constant(mask)))
        expected = sum(len(m) for m in masks.values())
        if len(pairs) != expected:
            raise RuntimeError(
                f"KeepZeros matched {len(pairs)} of {expected} pruned kernels "
                "in the QAT model; the pruning zeros would be lost."
            )
        return cls(pairs)

    def _apply(self):
        for variable, mask in self.pairs:
            variable.assign(variable * mask)

    def on_train_begin(self, logs=None):
        self._apply()

    def on_train_batch_end(self, batch, logs=None):
        self._apply()


def compress(
    student,
    teacher,
    data,
    *,
    method=None,
    sparsity=0.5,
    quantization="int8",
    epochs=COMPRESS_EPOCHS,
    fast=False,
):
    """Prunes, then trains quantization-aware, a distilled student while distilling.

    On tf_keras: `keras_distill.compress.prune` to `sparsity`, distilled for
    `epochs` with TF-MOT's pruning callbacks, stripped; then for
    `quantization="int8"`, `quantize` (QAT) and `epochs` more of distillation
    with the zeros kept (`KeepZeros`), so int8 conversion keeps both the zeros
    and the accuracy. On Keras 3
    (no TF-MOT) both are skipped and the export quantizes after training.

    Returns:
        `(model, info, histories)`: the model to export (a QAT model or a plain
        one), a dict saying what was done, and the Keras histories by stage.
    """
    from keras_distill.compress import prune
    from keras_distill.compress import pruning_callbacks
    from keras_distill.compress import pruning_end_step
    from keras_distill.compress import quantize
    from keras_distill.compress import strip_pruning

    skip_types = _normalization_layers()

    if not isinstance(method, demo_methods.DemoMethod):
        method = demo_methods.get_method(method)
    info = {"pruned": False, "qat": False, "target_sparsity": 0.0}
    histories = {}
    if not _compat.LEGACY_KERAS:
        info["note"] = "Keras 3: pruning and QAT skipped (TF-MOT needs tf_keras)"
        return student, info, histories
    model = student
    steps = _steps_per_epoch(data, fast)
    if sparsity > 0:
        frequency = max(1, min(50, steps * epochs // 10))
        end_step = pruning_end_step(epochs, steps, frequency=frequency)
        pruned = prune(
            student, target_sparsity=sparsity, end_step=end_step, frequency=frequency
        )
        distiller, histories["prune"] = distil(
            data,
            teacher,
            student=pruned,
            method=method,
            epochs=epochs,
            learning_rate=method.learning_rate / 2,
            fast=fast,
            callbacks=pruning_callbacks(),
        )
        model = strip_pruning(distiller.student)
        info.update(pruned=True, target_sparsity=sparsity)
    if quantization == "int8":
        layers = [
            layer.name for layer in model.layers if not isinstance(layer, skip_types)
        ]
        qat = quantize(model, layers=layers)
        callbacks = [KeepZeros.from_models(model, qat)] if info["pruned"] else []
        distiller, histories["qat"] = distil(
            data,
            teacher,
            student=qat,
            method=method,
            epochs=epochs,
            learning_rate=method.learning_rate / 10,
            fast=fast,
            callbacks=callbacks,
        )
        model = distiller.student
        info["qat"] = True
    return model, info, histories


# --------------------------------------------------------------------- stage 6
def export(
    model,
    data,
    output_dir,
    name: str,
    quantization: str,
    *,
    fast: bool = False,
    calibration_examples: int = 500,
):
    """Writes `<name>_<quantization>.tflite`, verified in LiteRT, and labels.txt.

    Returns:
        The export helper's `TFLiteReport` (accuracy, bytes, gzip bytes,
        latency), also saved as `<name>_<quantization>.json`.
    """
    from keras_distill.export import export_and_verify
    from keras_distill.export import is_qat_model

    x_test, y_test = data.arrays("test", FAST_EVAL_EXAMPLES if fast else None)
    representative = None
    if quantization == "int8" and not is_qat_model(model):
        representative, _ = data.arrays("train", calibration_examples)
    path = pathlib.Path(output_dir) / f"{name}_{quantization}.tflite"
    return export_and_verify(
        model,
        path,
        quantization,
        representative_data=representative,
        x_eval=x_test,
        y_eval=y_test,
        class_names=list(data.class_names),
        latency_runs=20 if fast else 100,
    )


def nonzero_fraction(model) -> float:
    """The fraction of exact zeros in the model's kernels (rank >= 2 weights)."""
    from keras_distill.compress import sparsity_report

    entries = sparsity_report(model).values()
    params = sum(entry["params"] for entry in entries)
    return sum(entry["zeros"] for entry in entries) / params if params else 0.0


def model_entry(name: str, model, accuracy: float, output_dir, tflite=None) -> dict:
    """One entry of report.json's `models` list."""
    entry = {"name": name, "accuracy": float(accuracy), "params": model.count_params()}
    if tflite is not None:
        entry.update(
            tflite=str(pathlib.Path(tflite.path).relative_to(pathlib.Path(output_dir))),
            tflite_bytes=tflite.file_bytes,
            gzip_bytes=tflite.gzip_bytes,
            latency_ms=tflite.latency_ms_median,
            quantization=tflite.quantization,
            keras_accuracy=tflite.keras_accuracy,
        )
    return entry


def _as_dict(config: DemoConfig) -> dict:
    return dataclasses.asdict(config)
