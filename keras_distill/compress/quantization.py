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
BatchNormalization, LayerNormalization, Normalization, Rescaling, custom
layers, ...) are an error naming all of them; quantize the rest with
`layers=[...]` to keep them float. A student's input normalization is the usual
case: `layers=` every layer but it.
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
            + `quantize_apply`); the others keep float weights. The output of a
            layer that feeds a selected one is still fake-quantized, so the
            selected layer gets int8 inputs; this includes layers TF-MOT
            cannot quantize, such as an input `Normalization` or `Rescaling`,
            which compute in float and get an 8-bit output quantizer. None
            quantizes every layer (`quantize_annotate_model`). Defaults to
            None.
        preserve: which structure of an already compressed student QAT must not
            undo: `"none"` (plain QAT), `"sparsity"` (pruning-preserving QAT,
            keeps the zeros of a pruned student), `"clusters"`
            (cluster-preserving QAT, keeps the shared values of a clustered
            student) or `"sparse_clusters"` (both). Defaults to `"none"`.

    Returns:
        A new QAT model (layers named `quant_<layer name>`), not compiled. Its
        activation ranges are moving averages of the training batches' ranges
        (TF-MOT: decay 0.999, starting from [-6, 6]), so it predicts nonsense
        before training and needs about 1000 training steps before the ranges
        fit the data: after 100 steps the starting range still weighs 90 %
        (tensorflow/model-optimization#368).

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
    output_only = _output_only_config_class(tfmot)
    feeders = _float_feeders(student, selected, scheme.get_quantize_registry())

    def annotate(layer):
        if layer.name in selected:
            return qkeras.quantize_annotate_layer(layer)
        if layer.name in feeders:
            return qkeras.quantize_annotate_layer(layer, quantize_config=output_only())
        return layer

    if layers is None:
        annotated = qkeras.quantize_annotate_model(student)
    else:
        annotated = keras.models.clone_model(student, clone_function=annotate)
    with qkeras.quantize_scope({output_only.__name__: output_only}):
        return qkeras.quantize_apply(annotated, scheme=scheme)


def _float_feeders(student, selected: set[str], registry) -> set[str]:
    """Unselected layers TF-MOT cannot quantize whose output feeds a selected one.

    TF-MOT fake-quantizes the output of an unselected layer feeding a selected
    one only if its registry supports the layer. It does not support an input
    `Normalization` or `Rescaling`, so the first quantized layer would get float
    inputs, and the converter would leave that layer in float. These layers get
    an output-only 8-bit quantizer instead: they compute in float, and their
    output enters the int8 graph, as the model input of a fully quantized model
    does.
    """
    feeders = set()
    for layer in student.layers:
        if layer.name not in selected:
            continue
        for node in layer.inbound_nodes:
            for inbound in _flatten(node.inbound_layers):
                if (
                    inbound.name not in selected
                    and not isinstance(inbound, keras.layers.InputLayer)
                    and not registry.supports(inbound)
                ):
                    feeders.add(inbound.name)
    return feeders


def _flatten(layers) -> list:
    return list(layers) if isinstance(layers, (list, tuple)) else [layers]


def _output_only_config_class(tfmot):
    """A TF-MOT `QuantizeConfig` that quantizes a layer's output only.

    Built on first use because TF-MOT may only be imported inside functions.
    """
    global _OUTPUT_ONLY_CONFIG
    if _OUTPUT_ONLY_CONFIG is not None:
        return _OUTPUT_ONLY_CONFIG
    qkeras = tfmot.quantization.keras

    class KerasDistillOutputOnlyQuantizeConfig(qkeras.QuantizeConfig):
        """Quantizes the output (8 bit, asymmetric, per tensor), not the weights."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            # The quantizer TF-MOT's default 8-bit scheme puts on activations.
            return [
                qkeras.quantizers.MovingAverageQuantizer(
                    num_bits=8, per_axis=False, symmetric=False, narrow_range=False
                )
            ]

        def get_config(self):
            return {}

    _OUTPUT_ONLY_CONFIG = KerasDistillOutputOnlyQuantizeConfig
    return _OUTPUT_ONLY_CONFIG


_OUTPUT_ONLY_CONFIG = None


def _scheme(tfmot, preserve: str):
    default_8bit = tfmot.quantization.keras.default_8bit
    if preserve == "none":
        return default_8bit.Default8BitQuantizeScheme()
    combine = tfmot.experimental.combine
    if preserve == "sparsity":
        scheme = combine.Default8BitPrunePreserveQuantizeScheme()
    else:
        scheme = combine.Default8BitClusterPreserveQuantizeScheme(
            preserve_sparsity=preserve == "sparse_clusters"
        )
    default_registry = default_8bit.Default8BitQuantizeScheme().get_quantize_registry()
    return _CollaborativeScheme(scheme, default_registry)


class _CollaborativeScheme:
    """A TF-MOT collaborative QAT scheme that claims only layers it can quantize.

    TF-MOT 0.8.1's prune- and cluster-preserving registries say they support
    every layer without trainable weights, but build their configs through the
    default 8-bit registry, which refuses e.g. `Normalization` and `Rescaling`.
    So `quantize_apply` crashes when such a layer feeds a quantized one (it asks
    `supports` before adding an output quantizer), which is exactly where the
    input normalization of a student sits. Asking both registries keeps such a
    layer float, as the plain 8-bit scheme does.
    """

    def __init__(self, scheme, default_registry):
        self._scheme = scheme
        self._registry = _BothRegistries(
            scheme.get_quantize_registry(), default_registry
        )

    def get_layout_transformer(self):
        return self._scheme.get_layout_transformer()

    def get_quantize_registry(self):
        return self._registry


class _BothRegistries:
    """The collaborative registry, supporting what the default one supports too."""

    def __init__(self, registry, default_registry):
        self._registry = registry
        self._default_registry = default_registry

    def supports(self, layer) -> bool:
        return self._registry.supports(layer) and self._default_registry.supports(layer)

    def get_quantize_config(self, layer):
        return self._registry.get_quantize_config(layer)


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
