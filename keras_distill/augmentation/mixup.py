"""Mixup for distillation: the same mixed batch for teacher and student."""

import tensorflow as tf

from keras_distill._compat import keras
from keras_distill._numbers import check_real


def sample_gamma(n, concentration: float, proposals: int = 16):
    """`n` draws of Gamma(concentration, 1), with ops that XLA compiles.

    `tf.random.gamma` has no XLA kernel, so `jit_compile=True` training could not
    mix batches. This is Marsaglia & Tsang's method (2000) with a fixed number of
    vectorised proposals, each accepted with probability > 0.95: the first
    accepted one is returned (all rejected, p < 1e-20: the last proposal). Shapes
    below 1 use Gamma(a) = Gamma(a + 1) * U^(1/a).
    """
    boost = concentration < 1.0
    d = (concentration + 1.0 if boost else concentration) - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    z = tf.random.normal([proposals, n])
    u = tf.random.uniform([proposals, n], minval=1e-12)
    v = (1.0 + c * z) ** 3
    accept = (v > 0) & (
        tf.math.log(u) < 0.5 * z**2 + d - d * v + d * tf.math.log(tf.maximum(v, 1e-12))
    )
    accept = tf.concat([accept[:-1], tf.ones([1, n], tf.bool)], axis=0)
    first = tf.argmax(tf.cast(accept, tf.int32), axis=0)
    samples = d * tf.gather(tf.transpose(v), first, batch_dims=1)
    if boost:
        samples *= tf.random.uniform([n], minval=1e-12) ** (1.0 / concentration)
    return samples


@keras.saving.register_keras_serializable(package="keras_distill")
class Mixup:
    """Mixes each example with another one of the batch (Zhang et al., ICLR 2018).

    `x'_i = lam_i * x_i + (1 - lam_i) * x_partner(i)`, with `lam_i ~ Beta(alpha,
    alpha)` drawn per example and `partner` a random permutation of the batch.

    Pass it as `Distiller(..., augmentation=Mixup())`: the Distiller mixes the
    batch inside `train_step` (never in `evaluate`), and runs teacher and student on
    the same mixed inputs, which is "consistent teaching" / function matching
    (Beyer et al., "Knowledge distillation: A good teacher is patient and
    consistent", CVPR 2022). The teacher labels every new point, so with alpha=0 no
    labels are needed at all. With alpha > 0 the student loss is mixed the same
    way: `lam_i * L(y_i, s_i) + (1 - lam_i) * L(y_partner(i), s_i)`, which for
    cross-entropy equals the loss on the mixed (soft) label and works unchanged
    with sparse integer labels, one-hot labels and any per-example Keras loss.
    Training metrics are computed against each example's dominant label.

    Works for inputs of any rank (vectors, sequences, images) and for nested inputs
    (all mixed with the same lam and partner). Unlike `keras.layers.MixUp` (Keras 3
    only, images and labels in a dict), it returns the partner and weights so the
    Distiller can mix losses.

    Args:
        alpha: float > 0, the Beta distribution's concentration. 1.0 draws lam
            uniformly in [0, 1], the strong mixing function matching wants; 0.2 is
            the usual value for training on labels only. Defaults to 1.0.

    Raises:
        TypeError: if alpha is not a number.
        ValueError: if alpha is not finite and > 0.

    Example:
    ```python
    distiller = keras_distill.Distiller(
        student=student, teacher=teacher, alpha=0.0, temperature=2.0,
        augmentation=keras_distill.augmentation.Mixup(alpha=1.0))
    distiller.compile(optimizer="adam")
    distiller.fit(x_unlabelled, epochs=100, batch_size=128)
    ```
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = check_real(
            "alpha",
            alpha,
            low=0,
            low_inclusive=False,
            hint="In Mixup it is the concentration of Beta(alpha, alpha): use "
            "1.0 for uniform mixing weights, 0.2 for mild mixing.",
        )

    def mix(self, x):
        """Mixes a batch.

        Args:
            x: tensor or nested structure of tensors with the batch first.

        Returns:
            `(mixed_x, partner, lam)`: the mixed inputs (float inputs keep their
            dtype, integer inputs such as uint8 images become float32), the int32
            index `(batch,)` of each example's partner, and the float32 weight
            `(batch,)` of the example itself.
        """
        first = tf.nest.flatten(x)[0]
        batch = tf.shape(first)[0]
        g1 = sample_gamma(batch, self.alpha)
        g2 = sample_gamma(batch, self.alpha)
        lam = g1 / tf.maximum(g1 + g2, 1e-12)
        partner = tf.argsort(tf.random.uniform([batch]))

        def mix_one(t):
            # Integer inputs (uint8 images) would truncate lam to 0 or 1: mix them
            # in float32 so the inputs carry the same lam as the mixed loss.
            if not t.dtype.is_floating:
                t = tf.cast(t, tf.float32)
            weight = tf.reshape(
                tf.cast(lam, t.dtype),
                tf.concat([[batch], tf.ones([tf.rank(t) - 1], tf.int32)], 0),
            )
            return weight * t + (1 - weight) * tf.gather(t, partner)

        return tf.nest.map_structure(mix_one, x), partner, lam

    def __call__(self, x):
        """Returns the mixed batch only (usable as a plain augmentation)."""
        return self.mix(x)[0]

    def get_config(self) -> dict:
        return {"alpha": self.alpha}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
