"""`QuantizedEinsumDense`: an EinsumDense with int8 weights and output (QAT).

Like `FusedQuantize` for Dense: the kernel is fake-quantized per tensor,
symmetric and narrow-range, the output per tensor and asymmetric (Jacob et al.
2018, arXiv:1712.05877). TFLite's converter lowers an EinsumDense of a
Transformer (`abc,cde->abde`, `abcd,cde->abe`, `abc,cd->abd`) to RESHAPE and
FULLY_CONNECTED, which it then runs in int8 with these ranges (measured:
equal to Keras to the last bit on the tested equations). Per-channel ranges
do not convert on FULLY_CONNECTED, as for Dense.
"""

from keras_distill._compat import keras
from keras_distill.compress._keras3.quantizers import FUSED_ACTIVATIONS
from keras_distill.compress._keras3.quantizers import ActivationQuantizer
from keras_distill.compress._keras3.quantizers import activate_and_quantize
from keras_distill.compress._keras3.quantizers import add_sparsity_mask
from keras_distill.compress._keras3.quantizers import fake_quant_weights


@keras.saving.register_keras_serializable(package="keras_distill")
class QuantizedEinsumDense(keras.layers.Layer):
    """An `EinsumDense` computed as TFLite's int8 FULLY_CONNECTED, for QAT.

    Computes `act(einsum(equation, x, Q(w)) + b)` then an output
    `ActivationQuantizer`, `Q` the symmetric int8 per-tensor fake-quantizer.
    Its input should already be quantized (`quantize` sees to it, and
    `QuantizedMultiHeadAttention` quantizes its inputs).

    Args:
        layer: the `keras.layers.EinsumDense` whose variables are used.
        preserve_sparsity: keep the kernel's zeros zero through training
            (call `reset_sparsity_mask` after setting the kernel). Defaults to
            False.
        **kwargs: Layer arguments (`name`, ...).
    """

    def __init__(self, layer, preserve_sparsity=False, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.preserve_sparsity = bool(preserve_sparsity)
        self.activation = keras.activations.serialize(layer.activation)
        self.output_quantizer = ActivationQuantizer(name="output_quantizer")
        self.pre_activation_quantizer = None
        if self.activation not in FUSED_ACTIVATIONS:
            self.pre_activation_quantizer = ActivationQuantizer(
                name="pre_activation_quantizer"
            )

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        for quantizer in (self.pre_activation_quantizer, self.output_quantizer):
            if quantizer is not None:
                quantizer.build(())
        self.sparsity_mask = None
        if self.preserve_sparsity:
            self.sparsity_mask = add_sparsity_mask(self, self.layer.kernel)
        self.built = True

    def reset_sparsity_mask(self) -> None:
        """Sets the mask to the kernel's current zeros (after copying weights)."""
        if self.sparsity_mask is not None:
            kernel = self.layer.kernel
            self.sparsity_mask.assign(keras.ops.cast(kernel != 0, kernel.dtype))

    def call(self, inputs, training=None):
        kernel = self.layer.kernel
        if self.sparsity_mask is not None:
            kernel = kernel * self.sparsity_mask
        y = keras.ops.einsum(
            self.layer.equation, inputs, fake_quant_weights(kernel, None)
        )
        if self.layer.bias is not None:
            y = y + self.layer.bias
        return activate_and_quantize(self, y, self.activation, training)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            layer=keras.saving.serialize_keras_object(self.layer),
            preserve_sparsity=self.preserve_sparsity,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)
