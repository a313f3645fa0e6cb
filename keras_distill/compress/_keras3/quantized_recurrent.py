"""LSTM, GRU and SimpleRNN cells with int8 weights and 8-bit matrix products
(QAT).

Keras 3's LSTM, GRU and SimpleRNN convert to a TFLite WHILE loop whose body computes
one step with FULLY_CONNECTED ops and float gate arithmetic (TFLite's fused
UNIDIRECTIONAL_SEQUENCE_LSTM is only emitted for tf_keras' LSTM). These cells
fake-quantize what that body can run in integer: the kernel and recurrent
kernel (int8, symmetric, per tensor), the step input and previous output
(8-bit), and the two projections `x W + b` and `h U` (8-bit), so both
FULLY_CONNECTED ops of the loop body are int8 (keras_distill's export unrolls
the loop: two int8 FULLY_CONNECTED ops per time step). The gates (sigmoid, tanh),
their products and the cell state stay float: the LiteRT int8 LSTM
specification (https://ai.google.dev/edge/litert/models/quantization_spec,
"LSTM") keeps the cell state in 16 bits, which a fake 8-bit quantizer would
not model, so here it is float as in the file. SimpleRNN's activation is float
in the file as well. Each step updates the activation ranges, so a sequence of
T steps counts as T range updates. A `Bidirectional` layer holds two RNNs of
these cells, one per direction (see `qat`); their merge stays float.
"""

from keras_distill._compat import keras
from keras_distill.compress._keras3.quantizers import ActivationQuantizer
from keras_distill.compress._keras3.quantizers import add_sparsity_mask
from keras_distill.compress._keras3.quantizers import fake_quant_weights

_QUANTIZERS = (
    "input_quantizer",
    "state_quantizer",
    "input_projection_quantizer",
    "recurrent_projection_quantizer",
)


class _QuantizedCellMixin:
    """The quantizers, sparsity masks, weight copy and config the cells share
    (put it before the Keras cell class it extends)."""

    def __init__(self, units, preserve_sparsity=False, **kwargs):
        super().__init__(units, **kwargs)
        self.preserve_sparsity = bool(preserve_sparsity)
        for name in _QUANTIZERS:
            setattr(self, name, ActivationQuantizer(name=name))

    def build(self, input_shape):
        super().build(input_shape)
        for name in _QUANTIZERS:
            getattr(self, name).build(())
        self.kernel_mask = self.recurrent_kernel_mask = None
        if self.preserve_sparsity:
            self.kernel_mask = add_sparsity_mask(self, self.kernel, "kernel_mask")
            self.recurrent_kernel_mask = add_sparsity_mask(
                self, self.recurrent_kernel, "recurrent_kernel_mask"
            )

    def copy_weights(self, cell) -> None:
        """Sets kernel, recurrent kernel and bias to those of the float `cell`."""
        self.kernel.assign(cell.kernel)
        self.recurrent_kernel.assign(cell.recurrent_kernel)
        if self.use_bias:
            self.bias.assign(cell.bias)
        for variable, mask in (
            (self.kernel, self.kernel_mask),
            (self.recurrent_kernel, self.recurrent_kernel_mask),
        ):
            if mask is not None:
                mask.assign(keras.ops.cast(variable != 0, variable.dtype))

    def float_weights(self) -> list:
        """The weights the float cell has (kernel, recurrent kernel, bias),
        without the sparsity masks and activation ranges."""
        bias = [self.bias] if self.use_bias else []
        return [self.kernel, self.recurrent_kernel, *bias]

    def _projections(self, inputs, h_tm1, input_bias, recurrent_bias, training):
        """`Q(Q(x) Q(W) + b_x)` and `Q(Q(h) Q(U) + b_h)`, the int8 FCs."""
        ops = keras.ops
        kernel, recurrent = self.kernel, self.recurrent_kernel
        if self.kernel_mask is not None:
            kernel = kernel * self.kernel_mask
            recurrent = recurrent * self.recurrent_kernel_mask
        x = self.input_quantizer(inputs, training=training)
        h = self.state_quantizer(h_tm1, training=training)
        matrix_x = ops.matmul(x, fake_quant_weights(kernel, None))
        if input_bias is not None:
            matrix_x = matrix_x + input_bias
        matrix_h = ops.matmul(h, fake_quant_weights(recurrent, None))
        if recurrent_bias is not None:
            matrix_h = matrix_h + recurrent_bias
        return (
            self.input_projection_quantizer(matrix_x, training=training),
            self.recurrent_projection_quantizer(matrix_h, training=training),
        )

    def get_config(self):
        return {**super().get_config(), "preserve_sparsity": self.preserve_sparsity}


@keras.saving.register_keras_serializable(package="keras_distill")
class QuantizedLSTMCell(_QuantizedCellMixin, keras.layers.LSTMCell):
    """An `LSTMCell` with int8 weights and 8-bit projections, for QAT.

    Computes Keras' LSTM step (the fused `implementation=2` form, which gives
    the same numbers as `implementation=1`) with `z = Q(Q(x) Q(W) + b) +
    Q(Q(h) Q(U))`; wrap it in `keras.layers.RNN`.

    Args:
        preserve_sparsity: keep the kernels' zeros zero through training.
            Defaults to False.
        **kwargs: `keras.layers.LSTMCell` arguments.
    """

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        bias = self.bias if self.use_bias else None
        matrix_x, matrix_h = self._projections(inputs, h_tm1, bias, None, training)
        z = keras.ops.split(matrix_x + matrix_h, 4, axis=1)
        c, o = self._compute_carry_and_output_fused(z, c_tm1)
        h = o * self.activation(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="keras_distill")
class QuantizedGRUCell(_QuantizedCellMixin, keras.layers.GRUCell):
    """A `GRUCell` (`reset_after=True`) with int8 weights, 8-bit projections.

    Computes Keras' GRU step with `x W + b_x` and `h U + b_h` each
    fake-quantized as int8 FULLY_CONNECTED ops; wrap it in `keras.layers.RNN`.
    `reset_after=False` multiplies the reset gate into `h` before the
    recurrent product and is not supported.

    Args:
        preserve_sparsity: keep the kernels' zeros zero through training.
            Defaults to False.
        **kwargs: `keras.layers.GRUCell` arguments.

    Raises:
        ValueError: `reset_after=False`.
    """

    def __init__(self, units, preserve_sparsity=False, **kwargs):
        super().__init__(units, preserve_sparsity, **kwargs)
        if not self.reset_after:
            raise ValueError(
                "QuantizedGRUCell needs `reset_after=True` (the Keras default), "
                "got reset_after=False."
            )

    def call(self, inputs, states, training=False):
        ops = keras.ops
        nested = keras.tree.is_nested(states)
        h_tm1 = states[0] if nested else states
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        h_in = h_tm1
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_in = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        input_bias = recurrent_bias = None
        if self.use_bias:
            input_bias, recurrent_bias = self.bias[0], self.bias[1]
        matrix_x, matrix_h = self._projections(
            inputs, h_in, input_bias, recurrent_bias, training
        )
        x_z, x_r, x_h = ops.split(matrix_x, 3, axis=-1)
        h_z, h_r, h_h = ops.split(matrix_h, 3, axis=-1)
        z = self.recurrent_activation(x_z + h_z)
        r = self.recurrent_activation(x_r + h_r)
        hh = self.activation(x_h + r * h_h)
        h = z * h_tm1 + (1 - z) * hh
        return h, ([h] if nested else h)


@keras.saving.register_keras_serializable(package="keras_distill")
class QuantizedSimpleRNNCell(_QuantizedCellMixin, keras.layers.SimpleRNNCell):
    """A `SimpleRNNCell` with int8 weights and 8-bit projections, for QAT.

    Computes Keras' SimpleRNN step `h = activation(x W + b + h U)` with
    `x W + b` and `h U` each fake-quantized as int8 FULLY_CONNECTED ops (the
    activation, e.g. tanh or relu, stays float); wrap it in
    `keras.layers.RNN`.

    Args:
        preserve_sparsity: keep the kernels' zeros zero through training.
            Defaults to False.
        **kwargs: `keras.layers.SimpleRNNCell` arguments.
    """

    def call(self, sequence, states, training=False):
        nested = isinstance(states, (list, tuple))
        h_tm1 = states[0] if nested else states
        if training and 0.0 < self.dropout < 1.0:
            sequence = sequence * self.get_dropout_mask(sequence)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        bias = self.bias if self.use_bias else None
        matrix_x, matrix_h = self._projections(sequence, h_tm1, bias, None, training)
        output = matrix_x + matrix_h
        if self.activation is not None:
            output = self.activation(output)
        return output, ([output] if nested else output)
