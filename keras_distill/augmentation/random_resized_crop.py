"""Random resized crop ("Inception crop") as a Keras layer for both flavours."""

import math

import tensorflow as tf

from keras_distill._compat import keras


def _check_range(name, value, low, high):
    message = (
        f"`{name}` of RandomResizedCrop must be two numbers (min, max) with "
        f"{low} < min <= max <= {high}; got {value!r}."
    )
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not low < lo <= hi <= high:
        raise ValueError(message)
    return lo, hi


@keras.saving.register_keras_serializable(package="keras_distill")
class RandomResizedCrop(keras.layers.Layer):
    """Crops a random box of each image and resizes it back to the image size.

    The "Inception crop" (Szegedy et al. 2015) that Beyer et al. (CVPR 2022)
    use for function matching: each image gets its own box covering a random
    share of its area (uniform in `scale`) with a random aspect ratio
    (log-uniform in `ratio`), resized bilinearly to the input's height and width.
    Keras has no such layer in both flavours; this one is.

    Active only with `training=True`, as Keras preprocessing layers are: the
    Distiller calls augmentation layers that way in `train_step` and never in
    `evaluate`, and a model containing the layer passes images through at
    inference.

    Args:
        scale: pair of floats `(min, max)` in (0, 1], the share of the image area
            a crop covers. Defaults to (0.25, 1.0): on small images (32x32) the
            ImageNet value 0.08 often crops the object away.
        ratio: pair of floats `(min, max)` > 0, the crop's width / height.
            Defaults to (3/4, 4/3).
        **kwargs: passed to `keras.layers.Layer` (`name`, ...).

    Returns:
        Called on `(batch, height, width, channels)` images: images of the same
        shape in the layer's dtype (float32 by default, as Keras layers cast
        their inputs); integer images (uint8) become float32 too, since
        bilinear resizing interpolates.

    Raises:
        ValueError: for a `scale` or `ratio` out of range.

    Example:
    ```python
    crop = RandomResizedCrop(scale=(0.25, 1.0))
    crops = crop(images, training=True)  # same shape as images
    ```
    """

    def __init__(self, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3), **kwargs):
        super().__init__(**kwargs)
        self.scale = _check_range("scale", scale, 0.0, 1.0)
        self.ratio = _check_range("ratio", ratio, 0.0, float("inf"))

    def call(self, inputs, training=None):
        if not training:
            return inputs
        images = inputs if inputs.dtype.is_floating else tf.cast(inputs, tf.float32)
        shape = tf.shape(images)
        batch = shape[0]
        h = tf.cast(shape[1], tf.float32)
        w = tf.cast(shape[2], tf.float32)
        area = tf.random.uniform([batch], self.scale[0], self.scale[1])
        log_ratio = tf.random.uniform(
            [batch], math.log(self.ratio[0]), math.log(self.ratio[1])
        )
        aspect = tf.exp(log_ratio)  # crop width / crop height in pixels
        # Shares of the height and width: (ch * h) * (cw * w) = area * h * w.
        ch = tf.minimum(tf.sqrt(area / aspect * w / h), 1.0)
        cw = tf.minimum(tf.sqrt(area * aspect * h / w), 1.0)
        y0 = tf.random.uniform([batch]) * (1.0 - ch)
        x0 = tf.random.uniform([batch]) * (1.0 - cw)
        boxes = tf.stack([y0, x0, y0 + ch, x0 + cw], axis=1)
        crops = tf.image.crop_and_resize(
            tf.cast(images, tf.float32),
            boxes,
            tf.range(batch),
            crop_size=shape[1:3],
        )
        crops = tf.cast(crops, images.dtype)
        return tf.ensure_shape(crops, images.shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"scale": list(self.scale), "ratio": list(self.ratio)})
        return config
