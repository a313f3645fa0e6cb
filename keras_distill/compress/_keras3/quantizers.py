"""The fake-quantization layers of our Keras 3 QAT engine (see `qat.py`).

Two registered layers, computing what TFLite's int8 kernels compute (Jacob et
al. 2018, arXiv:1712.05877):

- `ActivationQuantizer`: 8-bit, asymmetric, per tensor, the range kept in two
  non-trainable variables and always containing 0 (TF-MOT's default 8-bit
  activation quantizer, with a faster start).
- `FusedQuantize`: a Conv1D, Conv2D, DepthwiseConv2D or Dense, with the
  BatchNormalization after it folded in and its ReLU/ReLU6 fused: int8
  symmetric narrow-range weights (per output channel for convolutions, per
  tensor for Dense), float bias, then the activation and an
  `ActivationQuantizer` on the output. The folding is TF contrib's
  `fold_batch_norms` (batch statistics, then frozen moving ones after
  `freeze_bn_delay` steps), not TF-MOT's default 8-bit scheme, which does
  not fold BatchNormalization during training.

Both lower, on the TensorFlow backend, to TF's FakeQuant ops, which
`tf.lite.TFLiteConverter` (with `Optimize.DEFAULT`, no representative data)
turns into int8 kernels with exactly the ranges trained.
"""

import numpy as np

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


def set_output_quantizers(layer, activation: str) -> None:
    """Gives `layer` its `output_quantizer`, and a `pre_activation_quantizer`
    where TFLite does not fuse `activation` into the kernel (else None)."""
    layer.output_quantizer = ActivationQuantizer(name="output_quantizer")
    layer.pre_activation_quantizer = None
    if activation not in FUSED_ACTIVATIONS:
        layer.pre_activation_quantizer = ActivationQuantizer(
            name="pre_activation_quantizer"
        )


class WrapsFloatLayer:
    """Saving for a quantization-aware layer that holds its float layer as
    `self.layer` (with `preserve_sparsity`): a mixin before keras.layers.Layer."""

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


# TF contrib's `create_training_graph` froze after 2e5 steps, a value it said
# was "hardcoded for mobilenetV1 on imagenet" (later None: never). A QAT
# fine-tune here runs hundreds of steps, not 2e5; 300 steps are 3 time
# constants of Keras' default BatchNormalization momentum 0.99, after which
# the moving statistics weigh the QAT batches 95 % (1 - 0.99**300).
FREEZE_BN_DELAY = 300


@keras.saving.register_keras_serializable(package="keras_distill")
class FusedQuantize(keras.layers.Layer):
    """A convolution or Dense (+ folded BatchNormalization, + activation), QAT.

    Computes `act(op(x, Q(w')) + b')` then an output `ActivationQuantizer`,
    `Q` the symmetric int8 fake-quantizer (per output channel for
    convolutions, per tensor for Dense: TFLite's converter rejects per-channel
    Dense). With a `batch_norm`, `w' = w * gamma / sigma` and `b' = beta + (b -
    mean) * gamma / sigma`, `sigma = sqrt(var + eps)`: in inference, and in
    training after `freeze_bn_delay` training calls, with the moving `mean`
    and `var` (frozen from then on), so the weights trained are those the
    converter writes to the file. Before that, in training, the batch
    statistics `mean_B`, `sigma_B` of `op(x, w) + b` (computed in float) are
    used and update the moving ones with BatchNormalization's momentum, and
    the output is corrected to equal conv + BatchNormalization in training
    mode: `op(x, Q(w')) * sigma / sigma_B + beta + (b - mean_B) * gamma /
    sigma_B`. The weights are quantized with the moving `sigma` throughout,
    so their grid does not jump from batch to batch. This is TF contrib's
    `fold_batch_norms` with `freeze_batch_norm_delay` (Jacob et al. 2018,
    arXiv:1712.05877, section 3.2; Krishnamoorthi 2018, arXiv:1806.08342,
    section 3.6). TF-MOT's default 8-bit scheme does not fold: it quantizes
    the unfolded kernel and keeps BatchNormalization float in training mode,
    so the converter's folded int8 weights are not those trained.

    An activation other than linear/ReLU/ReLU6 gets a quantizer before it too
    (TF-MOT does the same), since TFLite computes it as a separate int8 op.

    Args:
        layer: the Conv1D, Conv2D, DepthwiseConv2D or Dense whose variables
            are used (its own `call` and activation are not).
        batch_norm: the BatchNormalization that followed it (on the last
            axis), or None. Defaults to None.
        activation: the activation to apply (a Keras activation name or
            config). Defaults to `"linear"`.
        preserve_sparsity: keep the kernel's zeros at build time zero: a mask
            weight multiplies the kernel in the forward pass and, through the
            kernel variable's constraint, after each optimizer update.
            Defaults to False.
        freeze_bn_delay: int, training calls that use the batch statistics
            before the moving ones are frozen; 0 freezes them from the start.
            Counted in the `batch_norm_step` weight, so a checkpoint keeps it.
            A non-trainable `batch_norm` is always frozen, as Keras runs it in
            inference mode. Defaults to 300.
        **kwargs: Layer arguments (`name`, ...).

    Raises:
        ValueError: `freeze_bn_delay` is negative or not an integer.
    """

    def __init__(
        self,
        layer,
        batch_norm=None,
        activation="linear",
        preserve_sparsity=False,
        freeze_bn_delay=FREEZE_BN_DELAY,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_freeze_bn_delay(freeze_bn_delay)
        self.layer = layer
        self.batch_norm = batch_norm
        self.activation = keras.activations.serialize(keras.activations.get(activation))
        self.preserve_sparsity = bool(preserve_sparsity)
        self.freeze_bn_delay = int(freeze_bn_delay)
        set_output_quantizers(self, self.activation)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        output_shape = self.layer.compute_output_shape(input_shape)
        self.batch_norm_step = None
        if self.batch_norm is not None:
            if not self.batch_norm.built:
                self.batch_norm.build(output_shape)
            self.batch_norm_step = self.add_weight(
                shape=(),
                dtype="int64",
                initializer="zeros",
                trainable=False,
                name="batch_norm_step",
            )
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

    def _kernel_and_bias(self):
        """The float kernel (masked) and bias, before any folding."""
        kernel = self.layer.kernel
        if self.sparsity_mask is not None:
            kernel = kernel * self.sparsity_mask
        if self.layer.use_bias:
            return kernel, self.layer.bias
        zeros = keras.ops.zeros(_output_channels(self.layer), dtype=kernel.dtype)
        return kernel, zeros

    def _moving_fold(self):
        """`(gamma / sigma, sigma, gamma)` with the moving variance."""
        bn, ops = self.batch_norm, keras.ops
        sigma = ops.sqrt(ops.convert_to_tensor(bn.moving_variance) + bn.epsilon)
        gamma = ops.ones_like(sigma) if bn.gamma is None else bn.gamma
        return gamma / sigma, sigma, gamma

    def _scale_kernel(self, kernel, scale):
        if isinstance(self.layer, keras.layers.DepthwiseConv2D):
            return kernel * keras.ops.reshape(scale, kernel.shape[2:])
        return kernel * scale

    def folded_kernel_and_bias(self):
        """The float kernel and bias with BatchNormalization folded in, with
        its moving statistics (as inference and the `.tflite` file use)."""
        kernel, bias = self._kernel_and_bias()
        if self.batch_norm is None:
            return kernel, bias
        bn = self.batch_norm
        scale = self._moving_fold()[0]
        shift = (bias - bn.moving_mean) * scale
        if bn.beta is not None:
            shift = shift + bn.beta
        return self._scale_kernel(kernel, scale), shift

    def call(self, inputs, training=None):
        if isinstance(self.layer, keras.layers.Dense) and len(inputs.shape) > 2:
            # A Dense on (batch, ..., features) runs as one on
            # (batch * ..., features) (see `matrix_rows`); BatchNormalization
            # statistics over all axes but the last are the same.
            y = self._compute(matrix_rows(inputs, 1), training)
            return restore_rows(y, inputs, len(inputs.shape) - 1)
        return self._compute(inputs, training)

    def _compute(self, inputs, training):
        bn = self.batch_norm
        kernel, bias = self.folded_kernel_and_bias()
        y = self._op(inputs, kernel, quantized=True)
        if bn is not None and training and bn.trainable and self.freeze_bn_delay > 0:
            y, bias = self._batch_statistics(inputs, y, bias)
        return activate_and_quantize(self, y + bias, self.activation, training)

    def _batch_statistics(self, inputs, y, frozen_bias):
        """Before the freeze: `y` and the bias corrected to training-mode
        BatchNormalization, and the moving statistics updated (TF contrib's
        `_ComputeBatchNormCorrections`). After it: `y`, `frozen_bias`."""
        ops, bn = keras.ops, self.batch_norm
        kernel, bias = self._kernel_and_bias()
        raw = self._op(inputs, kernel, quantized=False) + bias
        axes = tuple(range(len(raw.shape) - 1))
        mean, variance = ops.moments(ops.cast(raw, "float32"), axes)
        batch_sigma = ops.sqrt(variance + bn.epsilon)
        _, sigma, gamma = self._moving_fold()
        batch_bias = (bias - mean) * gamma / batch_sigma
        if bn.beta is not None:
            batch_bias = batch_bias + bn.beta
        frozen = self.batch_norm_step >= self.freeze_bn_delay
        momentum = ops.where(frozen, 1.0, bn.momentum)
        bn.moving_mean.assign(bn.moving_mean * momentum + mean * (1.0 - momentum))
        bn.moving_variance.assign(
            bn.moving_variance * momentum + variance * (1.0 - momentum)
        )
        self.batch_norm_step.assign(self.batch_norm_step + 1)
        correction = ops.where(frozen, 1.0, sigma / batch_sigma)
        return y * correction, ops.where(frozen, frozen_bias, batch_bias)

    def _op(self, inputs, kernel, quantized: bool):
        """The layer's convolution or matrix product, without bias, with
        `kernel` fake-quantized to int8 if `quantized`."""
        ops, layer = keras.ops, self.layer
        if isinstance(layer, keras.layers.Conv1D):
            # As TFLite runs it, a Conv2D of height 1: the per-channel ranges
            # must be on the 4-D kernel's last axis for the converter.
            kernel = ops.expand_dims(kernel, 0)
            if quantized:
                kernel = fake_quant_weights(kernel, 3)
            y = ops.conv(
                ops.expand_dims(inputs, 1),
                kernel,
                strides=(1, layer.strides[0]),
                padding=layer.padding,
                dilation_rate=(1, layer.dilation_rate[0]),
            )
            return ops.squeeze(y, 1)
        if quantized:
            kernel = fake_quant_weights(kernel, self.channel_axis())
        if isinstance(layer, keras.layers.Dense):
            return ops.matmul(inputs, kernel)
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        convolve = ops.depthwise_conv if depthwise else ops.conv
        return convolve(
            inputs,
            kernel,
            strides=layer.strides,
            padding=layer.padding,
            data_format=layer.data_format,
            dilation_rate=layer.dilation_rate,
        )

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
            freeze_bn_delay=self.freeze_bn_delay,
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


def check_freeze_bn_delay(freeze_bn_delay) -> None:
    """Raises ValueError unless `freeze_bn_delay` is an integer >= 0."""
    if (
        isinstance(freeze_bn_delay, bool)
        or not isinstance(freeze_bn_delay, (int, np.integer))
        or freeze_bn_delay < 0
    ):
        raise ValueError(
            "`freeze_bn_delay` must be an integer >= 0 (training steps before "
            "the BatchNormalization statistics are frozen; 0 freezes them from "
            f"the start), got {freeze_bn_delay!r}."
        )


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


def matrix_rows(x, trailing: int):
    """`x` as a matrix: its last `trailing` axes flattened into the columns,
    the others into the rows.

    Why: TFLite's converter makes a FULLY_CONNECTED int8 only when the bias
    ADD and the output FakeQuant follow the matrix product directly. A Dense
    or EinsumDense on (batch, tokens, features) with a free batch size lowers
    to RESHAPE, FULLY_CONNECTED, RESHAPE back, then the bias ADD, which the
    converter cannot fold: it ran in float on dequantized weights (measured,
    TF 2.21, docs/compression.md). Computed on the rows of this matrix, with
    bias, activation and output quantizer before `restore_rows`, the file
    gets RESHAPE, int8 FULLY_CONNECTED, RESHAPE, the values being the same.

    Args:
        x: a tensor of rank > `trailing`.
        trailing: how many of the last axes are the columns.

    Returns:
        A rank-2 tensor of shape (rows, product of the last `trailing` axes).
    """
    columns = int(np.prod(x.shape[len(x.shape) - trailing :]))
    return keras.ops.reshape(x, (-1, columns))


def restore_rows(y, like, leading: int, columns_shape=None):
    """`y`, the matrix of a `matrix_rows(like, ...)` product, shaped back:
    `like`'s first `leading` axes, then `columns_shape` (None: `y`'s columns).
    Lengths unknown when traced (the batch, a free sequence length) are read
    from `like` at run time."""
    if columns_shape is None:
        columns_shape = (y.shape[-1],)
    lead = like.shape[:leading]
    if all(d is not None for d in lead[1:]):
        lead = (-1, *lead[1:])
    else:
        lead = keras.ops.shape(like)[:leading]
    return keras.ops.reshape(y, (*lead, *columns_shape))


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
