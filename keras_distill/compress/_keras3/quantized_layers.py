"""The float layer that each layer of our Keras 3 QAT engine stands for.

`quantize` replaces a layer `<name>` with one named `quant_<name>`:
`FusedQuantize`, `QuantizedEmbedding` and `QuantizedEinsumDense` hold the
float layer as `.layer`; `QuantizedMultiHeadAttention` holds its projections
as `QuantizedEinsumDense` layers; an LSTM, GRU or SimpleRNN becomes a
`keras.layers.RNN` of a `QuantizedLSTMCell`, `QuantizedGRUCell` or
`QuantizedSimpleRNNCell`, which holds the weights itself, and a Bidirectional
one a `Bidirectional` of two such RNNs. `float_layer` maps each back to the
float layer's name and weights, without the engine's own state (sparsity
masks, activation ranges, the BatchNormalization step), so that a report of a
QAT model (e.g. `sparsity_report`) has the keys and numbers of its float
student.
"""

from keras_distill._compat import keras
from keras_distill.compress._keras3.quantized_einsum_dense import QuantizedEinsumDense
from keras_distill.compress._keras3.quantized_embedding import QuantizedEmbedding
from keras_distill.compress._keras3.quantized_multi_head_attention import (
    QuantizedMultiHeadAttention,
)
from keras_distill.compress._keras3.quantized_recurrent import QuantizedGRUCell
from keras_distill.compress._keras3.quantized_recurrent import QuantizedLSTMCell
from keras_distill.compress._keras3.quantized_recurrent import QuantizedSimpleRNNCell
from keras_distill.compress._keras3.quantizers import FusedQuantize

QAT_PREFIX = "quant_"  # `quantize` names each replacement `quant_<name>`

# Layers that compute their float layer `.layer` with quantized weights.
WRAPPING_LAYERS = (FusedQuantize, QuantizedEmbedding, QuantizedEinsumDense)
QUANTIZED_CELLS = (QuantizedLSTMCell, QuantizedGRUCell, QuantizedSimpleRNNCell)


def float_layer(layer) -> tuple[str, list] | None:
    """`(name, weights)` of the float layer that a QAT `layer` computes.

    Args:
        layer: a layer of a model from `quantize`.

    Returns:
        The float layer's name and its weights, in the float layer's order
        (a `FusedQuantize`'s folded BatchNormalization is not included); None
        if `layer` is not one of the engine's replacements of a weighted
        layer (an `ActivationQuantizer`, or a layer left float).
    """
    if isinstance(layer, WRAPPING_LAYERS):
        return layer.layer.name, list(layer.layer.weights)
    if isinstance(layer, QuantizedMultiHeadAttention):
        weights = [w for dense in layer.projections() for w in dense.layer.weights]
        return _float_name(layer.name), weights
    if _is_quantized_rnn(layer):
        return _float_name(layer.name), layer.cell.float_weights()
    if isinstance(layer, keras.layers.Bidirectional) and all(
        _is_quantized_rnn(rnn) for rnn in (layer.forward_layer, layer.backward_layer)
    ):  # the float Bidirectional's order: forward, then backward weights
        weights = layer.forward_layer.cell.float_weights()
        weights += layer.backward_layer.cell.float_weights()
        return _float_name(layer.name), weights
    return None


def _is_quantized_rnn(layer) -> bool:
    return isinstance(layer, keras.layers.RNN) and isinstance(
        layer.cell, QUANTIZED_CELLS
    )


def _float_name(name: str) -> str:
    return name[len(QAT_PREFIX) :] if name.startswith(QAT_PREFIX) else name
