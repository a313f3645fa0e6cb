"""Quantization-aware training (QAT) of a student while it is distilled.

Thin over TF-MOT: `quantize_annotate_*` marks the layers, `quantize_apply`
inserts fake-quantization (int8 weights per channel, int8 activations) so the
student learns weights that survive int8 conversion. The collaborative schemes
of `tfmot.experimental.combine` keep the zeros of a pruned student and/or the
shared values of a clustered one while QAT trains. TF-MOT needs tf_keras: run
with `TF_USE_LEGACY_KERAS=1`.

Layers: TF-MOT's default 8-bit registry covers Dense, Conv2D, DepthwiseConv2D,
Conv2DTranspose, pooling, Add/Concatenate, ReLU, reshaping layers and
BatchNormalization that follows a convolution. Others (Conv1D, a lone
BatchNormalization, LayerNormalization, custom layers, ...) are an error naming
all of them; quantize the rest with `layers=[...]` to keep them float.
"""

from keras_distill._compat import import_tfmot
from keras_distill._compat import keras
from keras_distill.compress import _layers

PRESERVE = ("none", "sparsity", "clusters", "sparse_clusters")


def quantize(student, *, layers: list[str] | None = None, preserve: str = "none"):
    """Prepares a copy of `student` for quantization-aware training.

    Use it when the distilled student will ship as an int8 `.tflite` file and
    post-training quantization costs too much accuracy: distil (or fine-tune)
    the returned model, then convert it with `TFLiteConverter` and
    `tf.lite.Optimize.DEFAULT`. `student` itself is not modified.

    Args:
        student: a built Functional or Sequential tf_keras model without
            TF-MOT wrappers (strip a pruned or clustered student first).
        layers: names of the layers to quantize (TF-MOT `quantize_annotate_layer`
            + `quantize_apply`); the others keep float weights (TF-MOT still
            fake-quantizes the output of a layer that feeds a selected one, so
            the int8 layer gets int8 inputs). None quantizes every layer
            (`quantize_annotate_model`). Defaults to None.
        preserve: which structure of an already compressed student QAT must not
            undo: `"none"` (plain QAT), `"sparsity"` (pruning-preserving QAT,
            keeps the zeros of a pruned student), `"clusters"`
            (cluster-preserving QAT, keeps the shared values of a clustered
            student) or `"sparse_clusters"` (both). Defaults to `"none"`.

    Returns:
        A new QAT model (layers named `quant_<layer name>`), not compiled. Its
        activation ranges are learnt from training batches, so it predicts
        nonsense (zeros) until it has been trained for a few steps.

    Raises:
        RuntimeError: on Keras 3 (TF-MOT needs tf_keras; the message says how to
            switch).
        TypeError: `student` is not a tf_keras model, or is subclassed.
        ValueError: an unknown `preserve`; a name in `layers` that is not a layer
            (the message lists the available names); a nested model; TF-MOT
            wrappers still in `student`; layers TF-MOT cannot quantize (all
            named).

    Example:
    ```python
    from keras_distill.compress import quantize

    qat_student = quantize(distilled_student)
    distiller = Distiller(student=qat_student, teacher=teacher)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss)
    distiller.fit(x, y, epochs=2)
    converter = tf.lite.TFLiteConverter.from_keras_model(distiller.student)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    tflite_bytes = converter.convert()
    ```
    """
    tfmot = import_tfmot()
    _layers.check_student(student, "student", "quantize")
    if preserve not in PRESERVE:
        raise ValueError(
            f"`preserve` must be one of {PRESERVE}, got {preserve!r}: 'sparsity' "
            "for a pruned student, 'clusters' for a clustered one, "
            "'sparse_clusters' for a pruned-then-clustered one."
        )
    nested = [layer.name for layer in student.layers if isinstance(layer, keras.Model)]
    if nested:
        raise ValueError(
            f"`student` contains the nested models {nested}; TF-MOT cannot quantize "
            "a model inside another model. Rebuild the student as one flat "
            "Functional or Sequential model."
        )
    names = _layers.check_layer_names(student, layers, "layers")
    if layers is not None and not names:
        raise ValueError(
            "`layers` is empty, so nothing would be quantized. Pass None to "
            "quantize every layer, or the names of the layers to quantize."
        )
    qkeras = tfmot.quantization.keras
    scheme = _scheme(tfmot, preserve)
    if layers is None:
        selected = {
            layer.name
            for layer in student.layers
            if not isinstance(layer, (keras.layers.InputLayer, keras.layers.Lambda))
        }
    else:
        selected = set(names)
    _check_supported(student, selected, scheme)
    if layers is None:
        annotated = qkeras.quantize_annotate_model(student)
    else:
        annotated = keras.models.clone_model(
            student,
            clone_function=lambda layer: (
                qkeras.quantize_annotate_layer(layer)
                if layer.name in selected
                else layer
            ),
        )
    with qkeras.quantize_scope():
        return qkeras.quantize_apply(annotated, scheme=scheme)


def _scheme(tfmot, preserve: str):
    combine = tfmot.experimental.combine
    if preserve == "sparsity":
        return combine.Default8BitPrunePreserveQuantizeScheme()
    if preserve == "clusters":
        return combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=False)
    if preserve == "sparse_clusters":
        return combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)
    return tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()


def _check_supported(student, selected: set[str], scheme) -> None:
    """Names every selected layer the scheme cannot quantize, before QAT starts.

    TF-MOT's `quantize_apply` stops at the first unsupported layer. Doing its
    layout step here (which e.g. folds BatchNormalization into the preceding
    convolution) and asking the scheme's registry about each selected layer
    that remains finds all of them at once.
    """
    layer_quantize_map = {name: {} for name in selected}
    transformed, layer_quantize_map = scheme.get_layout_transformer().apply(
        student, layer_quantize_map
    )
    registry = scheme.get_quantize_registry()
    unsupported = [
        layer
        for layer in transformed.layers
        if layer.name in layer_quantize_map
        and not layer_quantize_map[layer.name].get("quantize_config")
        and not isinstance(layer, keras.layers.InputLayer)
        and not registry.supports(layer)
    ]
    if unsupported:
        names = ", ".join(_layers.describe(layer) for layer in unsupported)
        supported = sorted(selected - {layer.name for layer in unsupported})
        raise ValueError(
            f"TF-MOT cannot quantize these layers: {names}. Quantize the others "
            f"only with `layers={supported}` (the unsupported layers stay float), "
            "replace them with supported layers (e.g. Conv2D for Conv1D), or "
            "annotate them yourself with `tfmot.quantization.keras."
            "quantize_annotate_layer(layer, quantize_config=...)`."
        )
