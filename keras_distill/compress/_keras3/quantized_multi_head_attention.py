"""`QuantizedMultiHeadAttention`: Keras' MultiHeadAttention for QAT.

The recipe is I-BERT's (Kim et al. 2021, arXiv:2101.01321, section 3) with
TFLite's integer kernels in place of I-BERT's polynomial approximations: int8
per-tensor weights for the query, key, value (and gate) and output
projections, 8-bit activations on their inputs and outputs, on the attention
scores, on the softmax probabilities and on the attention context, so that
each matrix product (projections: FULLY_CONNECTED; QK^T and PV: BATCH_MATMUL)
takes int8 operands and SOFTMAX runs in int8 (TFLite writes its output on a
fixed 1/256 grid). A subclass rather than a wrapper, so that Keras' own
`call` (masks, causal masks, sliding windows, gating) is kept: `build` wraps
each projection in a `QuantizedEinsumDense` and `_compute_attention` (the
override point Keras documents) adds the quantizers (the query is requantized
after its 1/sqrt(d) scaling, which TFLite runs as an int8 MUL).
"""

from keras_distill._compat import keras
from keras_distill.compress._keras3.quantized_einsum_dense import QuantizedEinsumDense
from keras_distill.compress._keras3.quantizers import ActivationQuantizer

_PROJECTIONS = ("_query_dense", "_key_dense", "_value_dense", "_gate_dense")
_OUTPUT = "_output_dense"


@keras.saving.register_keras_serializable(package="keras_distill")
class QuantizedMultiHeadAttention(keras.layers.MultiHeadAttention):
    """`MultiHeadAttention` with int8 weights and 8-bit activations (QAT).

    Takes the arguments of `keras.layers.MultiHeadAttention`, plus
    `preserve_sparsity`. Build it from a trained layer with `from_layer`.

    Args:
        preserve_sparsity: keep the projection kernels' zeros zero through
            training. Defaults to False.
        **kwargs: `keras.layers.MultiHeadAttention` arguments.
    """

    def __init__(self, *args, preserve_sparsity=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.preserve_sparsity = bool(preserve_sparsity)
        self.query_quantizer = ActivationQuantizer(name="query_quantizer")
        self.scores_quantizer = ActivationQuantizer(name="scores_quantizer")
        self.probabilities_quantizer = ActivationQuantizer(
            name="probabilities_quantizer"
        )
        self.context_quantizer = ActivationQuantizer(name="context_quantizer")

    @classmethod
    def from_layer(cls, layer, preserve_sparsity=False, name=None):
        """An unbuilt copy of `layer`'s configuration (weights: `copy_weights`)."""
        config = layer.get_config()
        config["name"] = name or layer.name
        return cls(preserve_sparsity=preserve_sparsity, **config)

    def build(self, query_shape, value_shape, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        for attr in (*_PROJECTIONS, _OUTPUT):
            dense = getattr(self, attr, None)
            if dense is None:
                continue
            wrapped = QuantizedEinsumDense(
                dense,
                preserve_sparsity=self.preserve_sparsity,
                name=f"quant_{dense.name}",
            )
            wrapped.build(None)
            self._layers.remove(dense)  # now tracked through its wrapper
            setattr(self, attr, wrapped)
        for quantizer in (
            self.query_quantizer,
            self.scores_quantizer,
            self.probabilities_quantizer,
            self.context_quantizer,
        ):
            quantizer.build(())

    def projections(self) -> list:
        """The `QuantizedEinsumDense` projections: query, key, value, the
        gate if any, then output."""
        attrs = (*_PROJECTIONS, _OUTPUT)
        return [getattr(self, a) for a in attrs if getattr(self, a, None) is not None]

    def copy_weights(self, layer) -> None:
        """Sets the projections' weights to those of the float `layer`."""
        for attr in (*_PROJECTIONS, _OUTPUT):
            wrapped = getattr(self, attr, None)
            if wrapped is not None:
                wrapped.layer.set_weights(getattr(layer, attr).get_weights())
                wrapped.reset_sparsity_mask()

    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        ops = keras.ops
        # Scaled by 1/sqrt(d) then requantized: QK^T then takes int8 operands.
        query = ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype))
        query = self.query_quantizer(query, training=training)
        scores = ops.einsum(self._dot_product_equation, key, query)
        scores = self.scores_quantizer(scores, training=training)
        probabilities = self._masked_softmax(scores, attention_mask)
        probabilities = self.probabilities_quantizer(probabilities, training=training)
        if self._dropout > 0.0:
            dropped = self._dropout_layer(probabilities, training=training)
        else:
            dropped = probabilities
        context = ops.einsum(self._combine_equation, dropped, value)
        return self.context_quantizer(context, training=training), probabilities

    def get_config(self):
        return {**super().get_config(), "preserve_sparsity": self.preserve_sparsity}
