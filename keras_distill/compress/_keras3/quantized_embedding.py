"""`QuantizedEmbedding`: an Embedding whose table trains on its int8 grid (QAT).

The table is fake-quantized per tensor, symmetric and narrow-range (as Dense
kernels in Jacob et al. 2018, arXiv:1712.05877), and the rows are then
looked up. TFLite's converter (`Optimize.DEFAULT`, no representative data)
turns this into an int8 table and an int8 GATHER whose output keeps the
table's scale (measured: the file's lookups equal the Keras ones exactly).
One range for the whole table, not one per row: GATHER's output has one scale,
so per-row ranges would not convert to an int8 lookup. TF-MOT leaves Embedding
unquantized ("Enable once verified with TFLite behavior" in its
`default_8bit_quantize_registry.py`); this is that verification.
"""

from keras_distill._compat import keras
from keras_distill.compress._keras3.quantizers import WrapsFloatLayer
from keras_distill.compress._keras3.quantizers import add_sparsity_mask
from keras_distill.compress._keras3.quantizers import fake_quant_weights


@keras.saving.register_keras_serializable(package="keras_distill")
class QuantizedEmbedding(WrapsFloatLayer, keras.layers.Layer):
    """An `Embedding` with an int8 (fake-quantized) table, for QAT.

    Computes `take(Q(E), ids)` with `Q` the symmetric narrow-range int8
    fake-quantizer over the whole table `E`: the looked-up vectors are already
    on the int8 grid, so no output quantizer is needed. The padding mask of
    `mask_zero=True` is the wrapped layer's.

    Args:
        layer: the `keras.layers.Embedding` whose table is used.
        preserve_sparsity: keep the table's zeros at build time zero through
            training. Defaults to False.
        **kwargs: Layer arguments (`name`, ...).
    """

    def __init__(self, layer, preserve_sparsity=False, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.preserve_sparsity = bool(preserve_sparsity)
        self.supports_masking = True

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.sparsity_mask = None
        if self.preserve_sparsity:
            self.sparsity_mask = add_sparsity_mask(self, self.layer.embeddings)
        self.built = True

    def call(self, inputs):
        table = self.layer.embeddings
        if self.sparsity_mask is not None:
            table = table * self.sparsity_mask
        ids = inputs if "int" in str(inputs.dtype) else keras.ops.cast(inputs, "int32")
        return keras.ops.take(fake_quant_weights(table, None), ids, axis=0)

    def compute_mask(self, inputs, mask=None):
        return self.layer.compute_mask(inputs, mask)
