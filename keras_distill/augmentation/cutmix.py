"""CutMix for distillation: the same pasted batch for teacher and student."""

import tensorflow as tf

from keras_distill._compat import keras
from keras_distill._numbers import check_real
from keras_distill.augmentation.mixup import Mixup
from keras_distill.augmentation.mixup import sample_gamma


@keras.saving.register_keras_serializable(package="keras_distill")
class CutMix(Mixup):
    """Pastes a box of another image of the batch into each image (Yun et al. 2019).

    For each image `i` a box covering about `1 - lam_i` of the image is cut from
    its partner (a random permutation of the batch) and pasted at a random place:
    `x'_i = M_i * x_partner(i) + (1 - M_i) * x_i`, with `M_i` the box's 0/1 mask,
    `lam_i ~ Beta(alpha, alpha)` for the box size, and the box clipped at the image
    border. The weight returned is the exact share of pixels the image keeps,
    `lam_i = 1 - area(M_i) / (height * width)`, so clipped boxes mix the labels by
    what is really visible.

    It is a `Mixup` to the Distiller: pass `Distiller(augmentation=CutMix())` (or
    in a list after crops and flips) and teacher and student see the same pasted
    images, the student loss is mixed as
    `lam_i * L(y_i, s_i) + (1 - lam_i) * L(y_partner(i), s_i)`, sample weights are
    blended with the same weights and training metrics count each image's
    dominant label. As for Mixup, the Distiller takes at most one of them per
    batch. Never applied in `evaluate`. Pixels are copied, not blended, so the
    input dtype (uint8 included) is kept.

    Args:
        alpha: float > 0, the concentration of Beta(alpha, alpha) for the kept
            share before clipping. 1.0 (uniform box areas) is the paper's value.
            Defaults to 1.0.

    Raises:
        TypeError: if alpha is not a number.
        ValueError: if alpha is not finite and > 0; when called, if the inputs
            are not one batch of images `(batch, height, width, channels)`.

    Example:
    ```python
    distiller = keras_distill.Distiller(
        student=student, teacher=teacher, alpha=0.0,
        augmentation=keras_distill.augmentation.CutMix(alpha=1.0))
    distiller.compile(optimizer="adam", loss=loss)
    distiller.fit(images, labels, epochs=2, batch_size=32)
    ```
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = check_real(
            "alpha",
            alpha,
            low=0.0,
            low_inclusive=False,
            hint="It is the concentration of Beta(alpha, alpha) for the box "
            "area; use 1.0 for uniform box areas.",
        )

    def mix(self, x):
        """Pastes a box of each image's partner into it.

        Args:
            x: tensor of images `(batch, height, width, channels)`.

        Returns:
            `(mixed_x, partner, lam)`: the images (same shape and dtype), the int32
            index `(batch,)` of each image's partner, and the float32 share
            `(batch,)` of each image's own pixels.

        Raises:
            ValueError: if `x` is nested or not of rank 4.
        """
        if not tf.is_tensor(x) and len(tf.nest.flatten(x)) != 1:
            raise ValueError(
                "CutMix mixes one batch of images (batch, height, width, channels); "
                "got nested inputs. Use Mixup for several inputs."
            )
        x = tf.convert_to_tensor(tf.nest.flatten(x)[0])
        if x.shape.rank != 4:
            raise ValueError(
                "CutMix mixes images (batch, height, width, channels); got inputs "
                f"of shape {tuple(x.shape)}. Use Mixup for other inputs."
            )
        shape = tf.shape(x)
        batch, height, width = shape[0], shape[1], shape[2]
        g1 = sample_gamma(batch, self.alpha)
        g2 = sample_gamma(batch, self.alpha)
        target = g1 / tf.maximum(g1 + g2, 1e-12)
        partner = tf.argsort(tf.random.uniform([batch]))
        side = tf.sqrt(1.0 - target)
        h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
        half_h = tf.cast(tf.round(side * h / 2.0), tf.int32)
        half_w = tf.cast(tf.round(side * w / 2.0), tf.int32)
        cy = tf.random.uniform([batch], 0, height, dtype=tf.int32)
        cx = tf.random.uniform([batch], 0, width, dtype=tf.int32)
        y1, y2 = tf.maximum(cy - half_h, 0), tf.minimum(cy + half_h, height)
        x1, x2 = tf.maximum(cx - half_w, 0), tf.minimum(cx + half_w, width)
        rows = tf.range(height)[None, :, None]
        cols = tf.range(width)[None, None, :]
        inside = (
            (rows >= y1[:, None, None])
            & (rows < y2[:, None, None])
            & (cols >= x1[:, None, None])
            & (cols < x2[:, None, None])
        )
        mixed = tf.where(inside[..., None], tf.gather(x, partner), x)
        lam = 1.0 - tf.reduce_mean(tf.cast(inside, tf.float32), axis=[1, 2])
        return mixed, partner, lam

    def get_config(self) -> dict:
        return {"alpha": self.alpha}
