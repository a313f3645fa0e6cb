"""The TF-MOT engine: pruning and quantization-aware training on tf_keras.

Thin over the TensorFlow Model Optimization Toolkit, which wraps layers
(`PruneLowMagnitude`, `QuantizeWrapperV2`) and rebuilds Functional and
Sequential tf_keras models with `clone_model`. The public functions in
`compress/pruning.py` and `compress/quantization.py` validate their arguments
once and call this module on tf_keras; `compress/_keras3/` has the same
interface for Keras 3. TF-MOT is imported inside the functions only: importing
it sets `TF_USE_LEGACY_KERAS=1` as a side effect.
"""

from keras_distill._compat import import_tfmot
from keras_distill._compat import keras
from keras_distill.compress import _layers

# TF-MOT rebuilds models from their layer graph.
PRUNES_SUBCLASSED = False


def schedule_classes() -> tuple:
    """TF-MOT's `(ConstantSparsity, PolynomialDecay)`."""
    sparsity = import_tfmot().sparsity.keras
    return sparsity.ConstantSparsity, sparsity.PolynomialDecay


def prune(student, schedule, *, m_by_n=None, skip_layers=()):
    """`prune_low_magnitude` on every prunable layer of a copy of `student`."""
    tfmot = import_tfmot()

    def wrap(layer):
        return tfmot.sparsity.keras.prune_low_magnitude(
            layer, pruning_schedule=schedule, sparsity_m_by_n=m_by_n
        )

    pruned = _layers.wrap_layers(
        _layers.copy_model(student),
        wrap,
        list(skip_layers),
        action="prune",
        fix="Pass their names in `skip_layers` to keep them dense, or implement "
        "`tfmot.sparsity.keras.PrunableLayer` in your layer class.",
    )
    if m_by_n:
        _check_2_by_4_layers(pruned)
    return pruned


def pruning_callbacks(log_dir: str | None = None) -> list:
    """`[UpdatePruningStep()]`, plus `PruningSummaries(log_dir)` if `log_dir`."""
    tfmot = import_tfmot()
    callbacks = [tfmot.sparsity.keras.UpdatePruningStep()]
    if log_dir is not None:
        callbacks.append(tfmot.sparsity.keras.PruningSummaries(log_dir=log_dir))
    return callbacks


def strip_pruning(model):
    """TF-MOT's `strip_pruning`: the wrapped layers, with their sparse kernels."""
    return import_tfmot().sparsity.keras.strip_pruning(model)


def is_pruned(model) -> bool:
    """Whether `model` still has `PruneLowMagnitude` wrappers."""
    import_tfmot()
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    return any(
        isinstance(layer, pruning_wrapper.PruneLowMagnitude)
        for layer in _layers.walk_layers(model)
    )


def _check_2_by_4_layers(pruned) -> None:
    """TF-MOT's 2:4 masks handle rank-2 and rank-4 kernels only (Dense, Conv2D)."""
    bad = [
        f"{layer.layer.name!r} ({type(layer.layer).__name__}, kernel shape "
        f"{tuple(weight.shape)})"
        for layer in _layers.walk_layers(pruned)
        if type(layer).__name__ == "PruneLowMagnitude"
        for weight in layer.prunable_weights
        if weight.shape.rank not in (2, 4)
    ]
    if bad:
        raise ValueError(
            f"TF-MOT's 2:4 sparsity supports Dense and Conv2D kernels only, not "
            f"{', '.join(bad)}. Pass their names in `skip_layers` to keep them "
            "dense, or use structure=None."
        )


# Everything but clustering-preserving schemes.
PRESERVE = ("none", "sparsity", "clusters", "sparse_clusters")


def quantize(student, *, layers=None, preserve="none"):
    """`quantize_apply` on a copy of `student` with the default 8-bit scheme.

    `layers=None` quantizes every layer but the input and Lambda layers; the
    output of an unquantized layer that feeds a quantized one gets an 8-bit
    output quantizer (`_float_feeders`), so the first quantized layer has
    int8 inputs.
    """
    tfmot = import_tfmot()
    qkeras = tfmot.quantization.keras
    scheme = _scheme(tfmot, preserve)
    quantize_registry = scheme.get_quantize_registry()
    if layers is None:
        # Weightless layers TF-MOT cannot quantize (an input Rescaling or
        # Normalization: its statistics are not trained) stay float, and their
        # output gets an 8-bit quantizer below, as the model input would.
        selected = {
            layer.name
            for layer in student.layers
            if not isinstance(layer, (keras.layers.InputLayer, keras.layers.Lambda))
            and (layer.trainable_weights or quantize_registry.supports(layer))
        }
    else:
        selected = set(layers)
    _check_supported(student, selected, scheme)
    output_only = _output_only_config_class(tfmot)
    feeders = _float_feeders(student, selected, quantize_registry)

    def annotate(layer):
        if layer.name in selected:
            return qkeras.quantize_annotate_layer(layer)
        if layer.name in feeders:
            return qkeras.quantize_annotate_layer(layer, quantize_config=output_only())
        return layer

    annotated = keras.models.clone_model(student, clone_function=annotate)
    with qkeras.quantize_scope({output_only.__name__: output_only}):
        return qkeras.quantize_apply(annotated, scheme=scheme)


def is_qat_model(model) -> bool:
    """Whether `model` has TF-MOT quantization wrappers or quantize layers."""
    tfmot = import_tfmot()
    from tensorflow_model_optimization.python.core.quantization.keras import (
        quantize_layer,
    )

    classes = (tfmot.quantization.keras.QuantizeWrapper, quantize_layer.QuantizeLayer)
    return any(isinstance(layer, classes) for layer in _layers.walk_layers(model))


def _float_feeders(student, selected: set[str], quantize_registry) -> set[str]:
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
                    and not quantize_registry.supports(inbound)
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

    def __init__(self, quantize_registry, default_registry):
        self._registry = quantize_registry
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
    quantize_registry = scheme.get_quantize_registry()
    unsupported = [
        layer
        for layer in transformed.layers
        if layer.name in layer_quantize_map
        and not layer_quantize_map[layer.name].get("quantize_config")
        and not isinstance(layer, keras.layers.InputLayer)
        and not quantize_registry.supports(layer)
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
