"""The demo's compression stage: prune, then train quantization-aware, while distilling.

Thin over `keras_distill.compress` (TF-MOT): `prune` + `pruning_callbacks` +
`strip_pruning`, then `quantize`, each followed by distillation from the same
teacher so the student recovers what compression cost. TF-MOT needs tf_keras;
on Keras 3 the stage is skipped and the export quantizes after training.
"""

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.demo import dataset
from keras_distill.demo import methods
from keras_distill.demo.training import distil

COMPRESS_EPOCHS = 20
FAST_COMPRESS_EPOCHS = 1


def _input_layers():
    # The normalization layer stays float: int8 would destroy raw-input scales
    # (keras_distill.export refuses it), and TF-MOT cannot quantize it.
    return (keras.layers.InputLayer, keras.layers.Normalization, keras.layers.Rescaling)


def compress(
    student,
    teacher,
    data,
    *,
    method=None,
    sparsity: float = 0.5,
    quantization: str = "int8",
    epochs: int = COMPRESS_EPOCHS,
    fast: bool = False,
):
    """Prunes, then trains quantization-aware, a distilled student while distilling.

    On tf_keras: `keras_distill.compress.prune` to `sparsity` (polynomial
    schedule over `epochs`) while distilling, `strip_pruning`; then, for
    `quantization="int8"`, `quantize` and `epochs` more of distillation with the
    zeros kept (TF-MOT's pruning-preserving QAT, `preserve="sparsity"`), so the
    int8 file keeps both the zeros and the accuracy. On Keras 3 (no TF-MOT) both
    are skipped and the export quantizes after training.

    Args:
        student: the distilled student (Functional or Sequential).
        teacher: the teacher it was distilled from.
        data: the `DataBundle`.
        method: str or `DemoMethod`, how to distil meanwhile. Defaults to None
            (the best method).
        sparsity: float in [0, 1), the fraction of zeros; 0 skips pruning.
            Defaults to 0.5.
        quantization: str, "int8" trains quantization-aware; others skip QAT.
            Defaults to "int8".
        epochs: int, epochs of each of the two steps. Defaults to 20.
        fast: bool, `--fast`. Defaults to False.

    Returns:
        `(model, info, histories)`: the model to export, a dict saying what was
        done (`pruned`, `qat`, `target_sparsity`, maybe `note`), and the Keras
        histories by step (`"prune"`, `"qat"`).
    """
    from keras_distill.compress import prune
    from keras_distill.compress import pruning_callbacks
    from keras_distill.compress import pruning_end_step
    from keras_distill.compress import quantize
    from keras_distill.compress import strip_pruning

    if not isinstance(method, methods.DemoMethod):
        method = methods.get_method(method)
    info = {"pruned": False, "qat": False, "target_sparsity": 0.0}
    histories = {}
    if not _compat.LEGACY_KERAS:
        info["note"] = "Keras 3: pruning and QAT skipped (TF-MOT needs tf_keras)"
        return student, info, histories
    model = student
    if sparsity > 0:
        steps = dataset.steps_per_epoch(data, fast)
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
        skip = _input_layers()
        layers = [layer.name for layer in model.layers if not isinstance(layer, skip)]
        qat = quantize(
            model, layers=layers, preserve="sparsity" if info["pruned"] else "none"
        )
        distiller, histories["qat"] = distil(
            data,
            teacher,
            student=qat,
            method=method,
            epochs=epochs,
            learning_rate=method.learning_rate / 10,
            fast=fast,
        )
        model = distiller.student
        info["qat"] = True
    return model, info, histories


def zero_fraction(model) -> float:
    """The fraction of exact zeros in a model's kernels (from `sparsity_report`)."""
    from keras_distill.compress import sparsity_report

    entries = sparsity_report(model).values()
    params = sum(entry["params"] for entry in entries)
    return sum(entry["zeros"] for entry in entries) / params if params else 0.0
