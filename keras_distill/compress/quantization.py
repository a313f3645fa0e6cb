"""Quantization-aware training (QAT) of a student while distilling, on either Keras.

QAT puts fake quantization (int8 weights, 8-bit activations) into the student's
forward pass, so it learns weights that survive int8 conversion; the converted
`.tflite` file then runs integer kernels with the ranges learned in training.
One API, two engines, picked by the Keras that keras_distill runs on (see
`compress/registry.py`):

- Keras 3: our engine (`compress/_keras3/qat.py`): the graph is rebuilt with
  fake-quantized layers, BatchNormalization folded into the convolution before
  it, ReLU/ReLU6 fused, activation ranges calibrated on the first training
  batches (Jacob et al. 2018; TF-MOT's default 8-bit scheme).
- tf_keras (`TF_USE_LEGACY_KERAS=1`): TF-MOT's `quantize_apply` with the default
  8-bit scheme, and TF-MOT's collaborative schemes to keep the zeros of a pruned
  student and/or the shared values of a clustered one (`compress/_tfmot.py`).

Layers: Dense, Conv, DepthwiseConv2D, BatchNormalization after a convolution,
pooling, Add/Concatenate, ReLU and reshaping layers, on both engines. An input
`Rescaling` or `Normalization` computes in float and its output is quantized,
as the model input is, so `quantize(student)` works with its defaults on a
student that normalizes its raw input. Other layers with trainable weights
that the engine cannot quantize are an error naming all of them; quantize the
rest with `layers=[...]` to keep them float.
"""

from keras_distill._compat import keras
from keras_distill.compress import registry

PRESERVE = ("none", "sparsity", "clusters", "sparse_clusters")


def quantize(student, *, layers: list[str] | None = None, preserve: str = "none"):
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
            name in `layers` that is not a layer (the message lists the
            available names); a nested model; pruning wrappers or masks still
            in `student`; layers the engine cannot quantize (all named).

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
    engine = registry.engine()
    registry.check_student(student, "student", "quantize")
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
    names = registry.check_layer_names(student, layers, "layers")
    if layers is not None and not names:
        raise ValueError(
            "`layers` is empty, so nothing would be quantized. Pass None to "
            "quantize every layer, or the names of the layers to quantize."
        )
    return engine.quantize(
        student, layers=None if layers is None else names, preserve=preserve
    )
