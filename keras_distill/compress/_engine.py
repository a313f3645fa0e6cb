"""Which engine compresses a model: the one module that imports the engines.

keras_distill has two compression engines behind one API (`prune`, `quantize`,
`strip_pruning`, ...), picked by the Keras that keras_distill runs on:

- tf_keras (`TF_USE_LEGACY_KERAS=1`): TF-MOT (`compress/_tfmot.py`), which wraps
  layers (`PruneLowMagnitude`, `QuantizeWrapperV2`, ...) and rebuilds the model
  with `clone_model`, so it needs Functional or Sequential models.
- Keras 3: our own engine (`compress/_keras3/`), because TF-MOT rejects Keras 3
  models (tensorflow/model-optimization#1119). Pruning keeps the student's own
  layers and masks their kernels, so it also takes subclassed models;
  quantization-aware training rebuilds the graph with fake-quantized layers.

Each engine answers `is_pruned` and `is_qat_model` itself, finding its own
state by class. Engines are imported on first use.
"""

from keras_distill import _compat

TFMOT = "tfmot"
NATIVE = "native"


def engine_name() -> str:
    """`"tfmot"` on tf_keras, `"native"` (our Keras 3 engine) on Keras 3."""
    return TFMOT if _compat.LEGACY_KERAS else NATIVE


def engine():
    """The engine module for the Keras in use (imported on first use).

    Both modules have the same small interface: `schedule_classes`, `prune`,
    `pruning_callbacks`, `strip_pruning`, `is_pruned`, `quantize`,
    `is_qat_model`, and `PRUNES_SUBCLASSED`.
    """
    if _compat.LEGACY_KERAS:
        from keras_distill.compress import _tfmot

        return _tfmot
    from keras_distill.compress import _keras3

    return _keras3


def is_pruned(model) -> bool:
    """Whether `model` still carries the engine's pruning state."""
    return engine().is_pruned(model)


def is_qat_model(model) -> bool:
    """Whether `model` was prepared for quantization-aware training."""
    return engine().is_qat_model(model)


def is_fused_quantize(layer) -> bool:
    """Whether `layer` is our Keras 3 engine's quantization-aware Conv/Dense.

    It holds the float layer it computes as `layer.layer` (with the following
    BatchNormalization folded in), like a TF-MOT wrapper.
    """
    if _compat.LEGACY_KERAS:
        return False
    from keras_distill.compress._keras3.quantizers import FusedQuantize

    return isinstance(layer, FusedQuantize)


def native_float_layer(layer) -> tuple[str, list] | None:
    """`(name, weights)` of the float layer that a layer of our Keras 3 QAT
    engine computes, else None.

    Covers every replacement `quantize` makes on Keras 3 (`FusedQuantize`,
    `QuantizedEmbedding`, `QuantizedEinsumDense`,
    `QuantizedMultiHeadAttention`, the `keras.layers.RNN` of a
    `QuantizedLSTMCell`/`QuantizedGRUCell`/`QuantizedSimpleRNNCell`, and a
    `Bidirectional` of two such RNNs): the name is the float layer's
    (not `quant_<name>`), the weights are the float layer's own, without
    sparsity masks or quantizer state. None on tf_keras.
    """
    if _compat.LEGACY_KERAS:
        return None
    from keras_distill.compress._keras3.quantized_layers import float_layer

    return float_layer(layer)
