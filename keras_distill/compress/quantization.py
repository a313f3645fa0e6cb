"""Quantization-aware training (QAT) of a student while distilling, on either Keras.

QAT puts fake quantization (int8 weights, 8-bit activations) into the student's
forward pass, so it learns weights that survive int8 conversion; the converted
`.tflite` file then runs integer kernels with the ranges learned in training.
One API, two engines, picked by the Keras that keras_distill runs on (see
`compress/_engine.py`):

- Keras 3: our engine (`compress/_keras3/qat.py`): the graph is rebuilt with
  fake-quantized layers, BatchNormalization folded into the Conv or Dense
  before it (batch statistics for `freeze_bn_delay` steps, then the frozen
  moving ones: TF contrib's `fold_batch_norms`), ReLU/ReLU6 fused, activation
  ranges calibrated on the first training batches (Jacob et al. 2018).
- tf_keras (`TF_USE_LEGACY_KERAS=1`): TF-MOT's `quantize_apply` with the default
  8-bit scheme, and TF-MOT's collaborative schemes to keep the zeros of a pruned
  student and/or the shared values of a clustered one (`compress/_tfmot.py`).

Layers: Dense, Conv, DepthwiseConv2D, BatchNormalization after them,
pooling, Add/Concatenate, ReLU and reshaping layers, on both engines; on Keras
3 also Embedding, EinsumDense, MultiHeadAttention, LSTM, GRU, SimpleRNN and
Bidirectional of those three (int8 projections, float gates). An input
`Rescaling` or `Normalization` computes in float and its output is quantized,
as the model input is, so `quantize(student)` works with its defaults on a
student that normalizes its raw input. Other layers with trainable weights
that the engine cannot quantize are an error naming all of them; quantize the
rest with `layers=[...]` to keep them float.
"""

import warnings

import numpy as np

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill._numbers import check_int
from keras_distill.compress import _checks
from keras_distill.compress import _engine
from keras_distill.compress import _layers

PRESERVE = ("none", "sparsity", "clusters", "sparse_clusters")


def quantize(
    student,
    *,
    layers: list[str] | None = None,
    preserve: str = "none",
    freeze_bn_delay: int | None = None,
):
    """Prepares a copy of `student` for quantization-aware training.

    Use it when the distilled student will ship as an int8 `.tflite` file and
    post-training quantization costs too much accuracy: distil (or fine-tune)
    the returned model for a few epochs at a low learning rate, then export it
    with `keras_distill.export.export_and_verify(model, path, "int8")`, which
    needs no representative data for a QAT model. `student` itself is not
    modified.

    Args:
        student: a built Functional or Sequential model without pruning
            wrappers or masks (call `strip_pruning` on a pruned student first).
        layers: names of the layers to quantize; the others keep float weights.
            The output of a layer that feeds a selected one is fake-quantized, so
            the selected layer gets int8 inputs; this includes layers that
            cannot be quantized, such as an input `Normalization` or
            `Rescaling`, which compute in float. None quantizes every layer the
            engine can, leaving weightless layers it cannot (an input
            `Rescaling` or `Normalization`) in float. Defaults to None.
        preserve: which structure of an already compressed student QAT must not
            undo: `"none"` (plain QAT), `"sparsity"` (pruning-preserving QAT,
            keeps the zeros of a pruned student), `"clusters"`
            (cluster-preserving QAT, keeps the shared values of a clustered
            student; tf_keras only) or `"sparse_clusters"` (both; tf_keras
            only). Defaults to `"none"`.
        freeze_bn_delay: Keras 3 only: training steps during which a
            BatchNormalization folded into the Conv or Dense before it uses
            (and updates) its batch statistics, before its moving statistics
            are frozen for the rest of QAT; 0 freezes them from the start.
            None for 300 steps on Keras 3. TF-MOT's default 8-bit scheme has
            no such option (it never folds, BatchNormalization always trains),
            so on tf_keras it must stay None. Defaults to None.

    Returns:
        A new QAT model (layers named `quant_<layer name>`), not compiled.
        Activation ranges come from the training batches. Keras 3: the first
        training batch sets them and a moving average with a warm-up follows,
        so a few dozen steps suffice. tf_keras (TF-MOT): moving averages with
        decay 0.999 starting from [-6, 6], so it needs about 1000 training steps
        before the ranges fit the data: after 100 steps the starting range
        still weighs 90 % (tensorflow/model-optimization#368).

    Raises:
        TypeError: `student` is not a model of the Keras in use, or is
            subclassed (QAT rewrites the layer graph).
        ValueError: an unknown `preserve` (or a clustering one on Keras 3); a
            `freeze_bn_delay` on tf_keras, or one that is not an integer >= 0; a
            name in `layers` that is not a layer (the message lists the
            available names); a nested model; pruning wrappers or masks still
            in `student`; layers the engine cannot quantize (all named).

    Warns:
        UserWarning: a BatchNormalization of `student` has untrained moving
            statistics (mean all 0, variance all 1): QAT would fold those.

    Example:
    ```python
    from keras_distill.compress import quantize
    from keras_distill.export import export_and_verify

    qat_student = quantize(distilled_student)
    distiller = Distiller(student=qat_student, teacher=teacher)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss)
    distiller.fit(x, y, epochs=2)
    # No representative data: the QAT model carries its activation ranges.
    report = export_and_verify(
        distiller.student, "student_int8.tflite", "int8", x_eval=x, y_eval=y
    )
    ```
    """
    engine = _engine.engine()
    _checks.check_student(student, "student", "quantize")
    if preserve not in PRESERVE:
        raise ValueError(
            f"`preserve` must be one of {PRESERVE}, got {preserve!r}: 'sparsity' "
            "for a pruned student, 'clusters' for a clustered one, "
            "'sparse_clusters' for a pruned-then-clustered one."
        )
    if preserve not in engine.PRESERVE:
        raise ValueError(
            f"`preserve={preserve!r}` keeps the values of a clustered student, "
            "and clustering needs TF-MOT, which runs on tf_keras only. On Keras "
            "3 use preserve='sparsity' or 'none'; for clustering set "
            "TF_USE_LEGACY_KERAS=1 before TensorFlow is imported."
        )
    nested = [layer.name for layer in student.layers if isinstance(layer, keras.Model)]
    if nested:
        raise ValueError(
            f"`student` contains the nested models {nested}; quantization-aware "
            "training cannot rewrite a model inside another model. Rebuild the "
            "student as one flat Functional or Sequential model."
        )
    if freeze_bn_delay is not None and _compat.LEGACY_KERAS:
        raise ValueError(
            f"`freeze_bn_delay={freeze_bn_delay!r}` is an option of keras_distill's "
            "Keras 3 engine; TF-MOT's default 8-bit scheme (tf_keras) has none: "
            "it keeps BatchNormalization unfolded and in training mode. Remove "
            "the argument, or run on Keras 3 (without TF_USE_LEGACY_KERAS=1)."
        )
    names = _checks.check_layer_names(student, layers, "layers")
    if layers is not None and not names:
        raise ValueError(
            "`layers` is empty, so nothing would be quantized. Pass None to "
            "quantize every layer, or the names of the layers to quantize."
        )
    _warn_untrained_batch_norm(student, names if layers is not None else None)
    options = {} if freeze_bn_delay is None else {"freeze_bn_delay": freeze_bn_delay}
    return engine.quantize(
        student, layers=None if layers is None else names, preserve=preserve, **options
    )


def _warn_untrained_batch_norm(student, names) -> None:
    """Warns about BatchNormalization layers still at their initial statistics."""
    untrained = [
        layer.name
        for layer in _layers.walk_layers(student)
        if isinstance(layer, keras.layers.BatchNormalization)
        and (names is None or layer.name in names)
        and np.all(layer.moving_mean.numpy() == 0.0)
        and np.all(layer.moving_variance.numpy() == 1.0)
    ]
    if untrained:
        warnings.warn(
            f"BatchNormalization layers {untrained} of `student` have untrained "
            "moving statistics (mean all 0, variance all 1): the student was "
            "never trained, and quantization-aware training would fold these "
            "placeholder statistics into the weights. Train (or distil) the "
            "float student first, then call `quantize` on it.",
            UserWarning,
            stacklevel=3,
        )


def calibrate(model, x, batch_size: int = 32, steps: int | None = None):
    """Sets the activation ranges of a Keras 3 QAT model from data, without training.

    Runs batches of `x` through `model` in inference mode (BatchNormalization
    statistics and Dropout untouched) while every activation quantizer updates
    its range as in training. Use it before evaluating or exporting a model
    from `quantize` that has not been trained yet: its ranges start at
    [-6, 6], TF-MOT's initial range.

    Args:
        model: a Keras 3 model returned by `quantize`.
        x: raw inputs, a NumPy array (or anything `np.asarray` takes).
        batch_size: int >= 1, examples per batch. Defaults to 32.
        steps: int >= 1, how many batches; None for all of `x`. Defaults to
            None.

    Returns:
        `model`, its ranges updated.

    Raises:
        RuntimeError: on tf_keras, where TF-MOT learns its ranges in training
            only.
        ValueError: `model` is not a QAT model, `x` is empty, or a bad
            `batch_size`/`steps`.

    Example:
    ```python
    qat = calibrate(quantize(student), x_train[:512])
    ```
    """
    if _compat.LEGACY_KERAS:
        raise RuntimeError(
            "`calibrate` sets the activation ranges of our Keras 3 QAT engine; on "
            "tf_keras, TF-MOT learns its ranges during training only. Train the "
            "model from `quantize` (a few hundred steps), or run on Keras 3."
        )
    if not _engine.is_qat_model(model):
        raise ValueError(
            f"`calibrate` takes a model returned by `quantize`, but {model.name!r} "
            "has no quantization-aware layers. Call `quantize(student)` first."
        )
    batch_size = check_int("batch_size", batch_size, 1)
    if steps is not None:
        steps = check_int("steps", steps, 1)
    x = np.asarray(x)
    if len(x) == 0:
        raise ValueError("`x` is empty: give calibrate some examples of the inputs.")
    from keras_distill.compress._keras3.qat import calibrate as calibrate_ranges

    return calibrate_ranges(model, x, batch_size=batch_size, steps=steps)
