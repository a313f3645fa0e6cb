"""The fake-quantization layers of our Keras 3 QAT engine (see `qat.py`).

Two registered layers, following TF-MOT's default 8-bit scheme (Jacob et al.
2018, arXiv:1712.05877, as TFLite executes it):

- `ActivationQuantizer`: 8-bit, asymmetric, per tensor, the range kept in two
  non-trainable variables and always containing 0.
- `FusedQuantize`: a Conv1D, Conv2D, DepthwiseConv2D or Dense, with the
  BatchNormalization after it folded in and its ReLU/ReLU6 fused, computed as
  TFLite will compute it: int8 symmetric narrow-range weights (per output
  channel for convolutions, per tensor for Dense), float bias, then the
  activation and an `ActivationQuantizer` on the output.

Both lower, on the TensorFlow backend, to TF's FakeQuant ops, which
`tf.lite.TFLiteConverter` (with `Optimize.DEFAULT`, no representative data)
turns into int8 kernels with exactly the ranges trained.
"""

from keras_distill._compat import keras

_INT8_WEIGHT_FLOOR = 1e-8  # an all-zero (pruned) channel still needs a scale > 0


def fake_quant_weights(kernel, axis: int | None):
    """Symmetric narrow-range 8-bit fake quantization, range = current max|w|.

    The int8 values are [-127, 127] times `max|w| / 127`, so 0 stays exactly 0
    (a pruned weight stays pruned). The range is not trained and gets no
    gradient: it is the last value of max|w|, as TF-MOT's `LastValueQuantizer`.

    Args:
        kernel: the float weights.
        axis: the output-channel axis for per-channel ranges, or None for one
            range over the whole tensor (required, no default).

    Returns:
        The weights rounded to the int8 grid, as floats.
    """
    ops = keras.ops
    if axis is None:
        max_abs = ops.max(ops.abs(kernel))
    else:
        axis = axis % len(kernel.shape)
        others = tuple(i for i in range(len(kernel.shape)) if i != axis)
        max_abs = ops.max(ops.abs(kernel), axis=others)
    max_abs = ops.stop_gradient(ops.maximum(max_abs, _INT8_WEIGHT_FLOOR))
    return keras.quantizers.fake_quant_with_min_max_vars(
        kernel, -max_abs, max_abs, num_bits=8, narrow_range=True, axis=axis
    )


@keras.saving.register_keras_serializable(package="keras_distill")
class ActivationQuantizer(keras.layers.Layer):
    """Fake-quantizes a tensor to 8 bits (asymmetric, per tensor).

    In training, each batch's range [min(x, 0), max(x, 0)] updates the stored
    range: the first batch sets it (calibration), then an exponential moving
    average with decay `min(0.999, (1 + n) / (10 + n))` after n updates (the
    `num_updates` rule of `tf.train.ExponentialMovingAverage`). TF-MOT instead
    starts at [-6, 6] with decay 0.999 and needs ~1000 steps to forget it
    (tensorflow/model-optimization#368); this one fits the data within a few
    dozen steps. In inference the stored range is used, as the `.tflite` file
    does. Before any training batch the range is TF-MOT's [-6, 6].

    Args:
        **kwargs: Layer arguments (`name`, ...).

    Example:
    >>> import numpy as np
    >>> q = ActivationQuantizer()
    >>> y = q(np.array([[-1.0, 2.0]], "float32"), training=True)
    >>> float(q.range_min.numpy()), float(q.range_max.numpy())
    (-1.0, 2.0)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calibrating = False  # set by qat.calibrate, never saved
        self.supports_masking = True  # an Embedding's padding mask passes

    def build(self, input_shape):
        self.range_min = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(-6.0),
            trainable=False,
            name="range_min",
        )
        self.range_max = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(6.0),
            trainable=False,
            name="range_max",
        )
        self.num_updates = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="num_updates"
        )
        self.built = True

    def call(self, inputs, training=None):
        ops = keras.ops
        range_min, range_max = self.range_min, self.range_max
        if training or self.calibrating:
            x = ops.stop_gradient(ops.cast(inputs, "float32"))
            batch_min = ops.minimum(ops.min(x), 0.0)
            batch_max = ops.maximum(ops.max(x), 0.0)
            n = self.num_updates
            decay = ops.where(n > 0, ops.minimum(0.999, (1.0 + n) / (10.0 + n)), 0.0)
            range_min = decay * self.range_min + (1.0 - decay) * batch_min
            range_max = decay * self.range_max + (1.0 - decay) * batch_max
            self.range_min.assign(range_min)
            self.range_max.assign(range_max)
            self.num_updates.assign(n + 1.0)
        return keras.quantizers.fake_quant_with_min_max_vars(
            inputs, range_min, range_max, num_bits=8, narrow_range=False
        )

    def compute_output_shape(self, input_shape):
        return input_shape


# Activations after which one output quantizer suffices: TFLite fuses them into
# the int8 kernel (the output range then starts at 0 or is unbounded).
FUSED_ACTIVATIONS = ("linear", "relu", "relu6")


@keras.saving.register_keras_serializable(package="keras_distill")
class FusedQuantize(keras.layers.Layer):
    """A convolution or Dense (+ folded BatchNormalization, + activation), QAT.

    Computes `act(op(x, Q(w')) + b')` then an output `ActivationQuantizer`, with
    `w' = w * gamma / sqrt(var + eps)` and `b' = beta + (b - mean) * gamma /
    sqrt(var + eps)` when `batch_norm` is given, and `Q` the symmetric int8
    fake-quantizer (per output channel for convolutions, per tensor for Dense:
    TFLite's converter rejects per-channel Dense). The BatchNormalization
    statistics are frozen (the moving ones, as in inference) while gamma and
    beta train: the "freeze BN statistics" phase of Jacob et al. 2018 §3.2 and
    Krishnamoorthi 2018 (arXiv:1806.08342) §3.6, here from the first step
    (the student is already trained), so that the folded weights and their
    ranges trained are exactly those the converter writes to the file, and
    small QAT batches cannot disturb the statistics. An activation other
    than linear/ReLU/ReLU6 gets a quantizer before it too (TF-MOT does the
    same), since TFLite computes it as a separate int8 op.

    Args:
        layer: the Conv1D, Conv2D, DepthwiseConv2D or Dense whose variables
            are used (its own `call` and activation are not).
        batch_norm: the BatchNormalization that followed it, or None. Defaults
            to None.
        activation: the activation to apply (a Keras activation name or
            config). Defaults to `"linear"`.
        preserve_sparsity: keep the kernel's zeros at build time zero: a mask
            weight multiplies the kernel in the forward pass and, through the
            kernel variable's constraint, after each optimizer update.
            Defaults to False.
        **kwargs: Layer arguments (`name`, ...).
    """

    def __init__(
        self,
        layer,
        batch_norm=None,
        activation="linear",
        preserve_sparsity=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.layer = layer
        self.batch_norm = batch_norm
        self.activation = keras.activations.serialize(keras.activations.get(activation))
        self.preserve_sparsity = bool(preserve_sparsity)
        self.output_quantizer = ActivationQuantizer(name="output_quantizer")
        self.pre_activation_quantizer = None
        if self.activation not in FUSED_ACTIVATIONS:
            self.pre_activation_quantizer = ActivationQuantizer(
                name="pre_activation_quantizer"
            )

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        output_shape = self.layer.compute_output_shape(input_shape)
        if self.batch_norm is not None and not self.batch_norm.built:
            self.batch_norm.build(output_shape)
        for quantizer in (self.pre_activation_quantizer, self.output_quantizer):
            if quantizer is not None:
                quantizer.build(output_shape)
        self.sparsity_mask = None
        if self.preserve_sparsity:
            self.sparsity_mask = add_sparsity_mask(self, self.layer.kernel)
        self.built = True

    def channel_axis(self) -> int | None:
        """The kernel axis of the per-channel weight ranges (None: per tensor).

        Conv1D's is that of its kernel; `call` quantizes it as the 4-D kernel
        of the height-1 Conv2D TFLite runs, on axis 3.
        """
        if isinstance(self.layer, keras.layers.Dense):
            return None
        if isinstance(self.layer, keras.layers.DepthwiseConv2D):
            # (h, w, in, multiplier): one range per output channel needs a
            # single channel axis, i.e. multiplier 1.
            return 2 if self.layer.depth_multiplier == 1 else None
        return len(self.layer.kernel.shape) - 1

    def folded_kernel_and_bias(self):
        """The float kernel and bias with BatchNormalization folded in."""
        ops = keras.ops
        kernel = self.layer.kernel
        if self.sparsity_mask is not None:
            kernel = kernel * self.sparsity_mask
        if self.layer.use_bias:
            bias = self.layer.bias
        else:
            bias = ops.zeros(_output_channels(self.layer), dtype=kernel.dtype)
        bn = self.batch_norm
        if bn is None:
            return kernel, bias
        scale = 1.0 / ops.sqrt(bn.moving_variance + bn.epsilon)
        if bn.gamma is not None:
            scale = bn.gamma * scale
        shift = -bn.moving_mean * scale
        if bn.beta is not None:
            shift = shift + bn.beta
        if isinstance(self.layer, keras.layers.DepthwiseConv2D):
            kernel = kernel * ops.reshape(scale, kernel.shape[2:])
        else:
            kernel = kernel * scale
        return kernel, bias * scale + shift

    def call(self, inputs, training=None):
        ops = keras.ops
        kernel, bias = self.folded_kernel_and_bias()
        layer = self.layer
        if isinstance(layer, keras.layers.Conv1D):
            return self._conv1d(inputs, kernel, bias, training)
        kernel = fake_quant_weights(kernel, self.channel_axis())
        if isinstance(layer, keras.layers.Dense):
            y = ops.matmul(inputs, kernel)
        else:
            depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
            convolve = ops.depthwise_conv if depthwise else ops.conv
            y = convolve(
                inputs,
                kernel,
                strides=layer.strides,
                padding=layer.padding,
                data_format=layer.data_format,
                dilation_rate=layer.dilation_rate,
            )
        return self._activate(y + bias, training)

    def _conv1d(self, inputs, kernel, bias, training):
        """Conv1D as TFLite runs it, a Conv2D of height 1: the per-channel
        ranges must be on the 4-D kernel's last axis for the converter."""
        ops, layer = keras.ops, self.layer
        kernel = fake_quant_weights(ops.expand_dims(kernel, 0), 3)
        y = ops.conv(
            ops.expand_dims(inputs, 1),
            kernel,
            strides=(1, layer.strides[0]),
            padding=layer.padding,
            dilation_rate=(1, layer.dilation_rate[0]),
        )
        return self._activate(ops.squeeze(y, 1) + bias, training)

    def _activate(self, y, training):
        return activate_and_quantize(self, y, self.activation, training)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        serialize = keras.saving.serialize_keras_object
        config.update(
            layer=serialize(self.layer),
            batch_norm=None if self.batch_norm is None else serialize(self.batch_norm),
            activation=self.activation,
            preserve_sparsity=self.preserve_sparsity,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        config["layer"] = deserialize(config["layer"])
        if config.get("batch_norm") is not None:
            config["batch_norm"] = deserialize(config["batch_norm"])
        return cls(**config)


def add_sparsity_mask(owner, variable, name: str = "sparsity_mask"):
    """A non-trainable mask weight of `owner`, 1 where `variable` is non-zero,
    that `variable`'s constraint re-applies after each optimizer update.

    The mask is a weight, so it is saved; the constraint is not, so the
    owner's `build` calls this again when a saved model is loaded (the loaded
    mask then overwrites the one computed here).

    Args:
        owner: the layer that owns the mask weight.
        variable: the kernel to keep sparse.
        name: the mask weight's name. Defaults to `"sparsity_mask"`.

    Returns:
        The mask variable.
    """
    mask = owner.add_weight(
        shape=variable.shape, initializer="ones", trainable=False, name=name
    )
    mask.assign(keras.ops.cast(variable != 0, variable.dtype))
    variable.constraint = _MaskConstraint(mask, variable.constraint)
    return mask


def activate_and_quantize(layer, y, activation: str, training):
    """`y` through `activation` and `layer.output_quantizer`, with
    `layer.pre_activation_quantizer` first when it is not None (an activation
    TFLite does not fuse into the int8 kernel runs as its own int8 op)."""
    if layer.pre_activation_quantizer is not None:
        y = layer.pre_activation_quantizer(y, training=training)
    y = keras.activations.get(activation)(y)
    return layer.output_quantizer(y, training=training)


def _output_channels(layer) -> int:
    if isinstance(layer, keras.layers.Dense):
        return layer.units
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return layer.kernel.shape[2] * layer.depth_multiplier
    return layer.filters


class _MaskConstraint:
    """Re-applies the sparsity mask after each optimizer update (not saved:
    `FusedQuantize.build` sets it again when a saved model is loaded)."""

    def __init__(self, mask, inner=None):
        self.mask = mask
        self.inner = inner

    def __call__(self, kernel):
        if self.inner is not None:
            kernel = self.inner(kernel)
        return kernel * keras.ops.cast(self.mask, kernel.dtype)
