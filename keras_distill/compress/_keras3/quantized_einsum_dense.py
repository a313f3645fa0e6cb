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

A bias with axes beyond the output columns, as the MNIST-1D Transformer's
patch embedding `EinsumDense("btp,pd->btd", bias_axes="td")` (one vector per
token: a learned positional embedding), cannot be added to the rows. There
the product alone is fake-quantized on the rows (a `product_quantizer`, an
8-bit asymmetric per-tensor `ActivationQuantizer` like the output's), shaped
back, and the bias, fake-quantized as the kernel is (symmetric, narrow range,
one range), is added before the activation and the output quantizer. The
file then has RESHAPE, int8 FULLY_CONNECTED, RESHAPE, int8 ADD (whose int8
bias equals the Keras one exactly); with `einsum + bias`, as before, it had a
float FULLY_CONNECTED on dequantized weights and a float ADD, and with a float
bias the converter chose its own asymmetric bias grid that training did not
see (measured, TF 2.21, docs/compression.md).
"""

import numpy as np

from keras_distill._compat import keras
from keras_distill.compress._keras3.quantizers import ActivationQuantizer
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
    `ActivationQuantizer`, `Q` the symmetric int8 per-tensor fake-quantizer;
    `act(P(einsum(equation, x, Q(w))) + Q(b))`, `P` the `product_quantizer`,
    when the bias has axes beyond the output columns (`bias_reaches_rows`).
    Its input should already be quantized (`quantize` sees to it, and
    `QuantizedMultiHeadAttention` quantizes its inputs).

    Args:
        layer: the `keras.layers.EinsumDense` whose variables are used.
        preserve_sparsity: keep the kernel's zeros zero through training
            (call `reset_sparsity_mask` after setting the kernel). Defaults to
            False.
        quantize_product: give a bias with axes beyond the output columns
            its `product_quantizer` (the int8 FULLY_CONNECTED and ADD);
            False keeps `einsum + bias`, as QAT models saved before it
            existed (their config lacks it) are loaded. Defaults to None:
            whenever `bias_reaches_rows`.
        **kwargs: Layer arguments (`name`, ...).
    """

    def __init__(self, layer, preserve_sparsity=False, quantize_product=None, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.preserve_sparsity = bool(preserve_sparsity)
        self.activation = keras.activations.serialize(layer.activation)
        set_output_quantizers(self, self.activation)
        self.product_quantizer = None
        reaches = bias_reaches_rows(layer.equation, layer.bias_axes)
        if reaches and quantize_product in (None, True):
            self.product_quantizer = ActivationQuantizer(name="product_quantizer")

    def get_config(self):
        config = super().get_config()
        config["quantize_product"] = self.product_quantizer is not None
        return config

    @classmethod
    def from_config(cls, config):
        # Saved before `quantize_product` existed: no product quantizer.
        return super().from_config({"quantize_product": False, **config})

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        for quantizer in (
            self.product_quantizer,
            self.pre_activation_quantizer,
            self.output_quantizer,
        ):
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
        # Without a product quantizer (`quantize_product=False`), a bias per
        # token is added after `einsum`: float FULLY_CONNECTED and ADD.
        unquantized_product = self.product_quantizer is None and bias_reaches_rows(
            self.layer.equation, self.layer.bias_axes
        )
        if axes is None or unquantized_product:
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
        leading = len(inputs.shape) - contracted
        if self.product_quantizer is not None:
            # A bias of one vector per token: the product alone is the
            # FULLY_CONNECTED, its 8-bit output and the bias on its own int8
            # grid make the ADD after the reshape back int8 too.
            y = self.product_quantizer(y, training=training)
            y = restore_rows(y, inputs, leading, columns_shape)
            y = y + fake_quant_weights(bias, None)
            return activate_and_quantize(self, y, self.activation, training)
        if bias is not None:
            y = y + keras.ops.reshape(
                keras.ops.broadcast_to(bias, columns_shape), (-1,)
            )
        y = activate_and_quantize(self, y, self.activation, training)
        return restore_rows(y, inputs, leading, columns_shape)


def bias_reaches_rows(equation: str, bias_axes: str | None) -> bool:
    """Whether an EinsumDense's bias has axes beyond the output columns of
    its matrix product (e.g. `btp,pd->btd` with `bias_axes="td"`: one bias
    vector per token), so that it cannot be added to the rows' product.

    Args:
        equation: an EinsumDense equation.
        bias_axes: its `bias_axes` (None: no bias).

    Returns:
        False for no bias or an equation that is not a matrix product.
    """
    axes = matrix_product_axes(equation)
    if axes is None or not bias_axes:
        return False
    output = equation.replace(" ", "").partition("->")[2].replace("...", "")
    return any(output.find(axis) < len(output) - axes[1] for axis in bias_axes)


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
