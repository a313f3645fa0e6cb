"""`QuantizedEinsumDense`: an EinsumDense with int8 weights and output (QAT).

Like `FusedQuantize` for Dense: the kernel is fake-quantized per tensor,
symmetric and narrow-range, the output per tensor and asymmetric (Jacob et al.
2018, arXiv:1712.05877). An equation that is a matrix product, as those of
a Transformer (`abc,cde->abde`, `abcd,cde->abe`, `abc,cd->abd`: the input's
last axes contracted with the kernel's first), is computed on the input
flattened to a matrix, with the bias, activation and output quantizer before
the reshape back (`quantizers.matrix_rows`), and with a free batch size
TFLite's converter runs it as one int8 FULLY_CONNECTED (with the bias added
after the reshape back it stayed float on dequantized weights; measured,
docs/compression.md). Other equations keep `einsum`. Per-channel ranges do
not convert on FULLY_CONNECTED, as for Dense.
"""

import numpy as np

from keras_distill._compat import keras
from keras_distill.compress._keras3.quantizers import WrapsFloatLayer
from keras_distill.compress._keras3.quantizers import activate_and_quantize
from keras_distill.compress._keras3.quantizers import add_sparsity_mask
from keras_distill.compress._keras3.quantizers import fake_quant_weights
from keras_distill.compress._keras3.quantizers import matrix_rows
from keras_distill.compress._keras3.quantizers import restore_rows
from keras_distill.compress._keras3.quantizers import set_output_quantizers


@keras.saving.register_keras_serializable(package="keras_distill")
class QuantizedEinsumDense(WrapsFloatLayer, keras.layers.Layer):
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
        set_output_quantizers(self, self.activation)

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
        bias = self.layer.bias
        axes = matrix_product_axes(self.layer.equation)
        if axes is None or (bias is not None and len(bias.shape) > axes[1]):
            y = keras.ops.einsum(
                self.layer.equation, inputs, fake_quant_weights(kernel, None)
            )
            if bias is not None:
                y = y + bias
            return activate_and_quantize(self, y, self.activation, training)
        contracted = axes[0]
        columns_shape = tuple(kernel.shape[contracted:])
        rows = int(np.prod(kernel.shape[:contracted]))
        # Flattened first, then fake-quantized: the same per-tensor grid.
        kernel = keras.ops.reshape(kernel, (rows, -1))
        y = keras.ops.matmul(
            matrix_rows(inputs, contracted), fake_quant_weights(kernel, None)
        )
        if bias is not None:
            y = y + keras.ops.reshape(
                keras.ops.broadcast_to(bias, columns_shape), (-1,)
            )
        y = activate_and_quantize(self, y, self.activation, training)
        leading = len(inputs.shape) - contracted
        return restore_rows(y, inputs, leading, columns_shape)


def matrix_product_axes(equation: str) -> tuple[int, int] | None:
    """`(contracted, free)` axis counts if `equation` is a matrix product of
    the input's last axes with the kernel's first, else None.

    The input is `leading + contracted` axes, the kernel `contracted + free`
    (in the same order), the output `leading + free`: e.g. `abc,cde->abde`
    gives (1, 2), `abcd,cde->abe` (2, 1), `...b,bc->...c` (1, 1).

    Args:
        equation: an EinsumDense equation.

    Returns:
        The two counts, or None for any other equation.
    """
    operands, _, output = equation.replace(" ", "").partition("->")
    x, _, k = operands.partition(",")
    if x.startswith("...") and output.startswith("..."):
        x, output = x[3:], output[3:]
    if "." in x + k + output:
        return None
    contracted = sum(1 for axis in x if axis in k)
    lead, free = x[: len(x) - contracted], k[contracted:]
    if (
        contracted == 0
        or k[:contracted] != x[len(x) - contracted :]
        or output != lead + free
        or len(set(x + k)) != len(x) + len(free)
    ):
        return None
    return contracted, len(free)
