"""DIST: distillation by inter-class and intra-class Pearson correlation."""

import tensorflow as tf

from keras_distill._compat import keras
from keras_distill.losses.base import DistillationLoss
from keras_distill.losses.base import check_weight
from keras_distill.losses.registry import register


def _pearson(a, b, axis, eps=1e-8):
    """Pearson correlation of a and b along `axis` (eps as in the authors' code)."""
    a = a - tf.reduce_mean(a, axis=axis, keepdims=True)
    b = b - tf.reduce_mean(b, axis=axis, keepdims=True)
    dot = tf.reduce_sum(a * b, axis=axis)
    return dot / (tf.norm(a, axis=axis) * tf.norm(b, axis=axis) + eps)


@register("dist")
@keras.saving.register_keras_serializable(package="keras_distill")
class DIST(DistillationLoss):
    """DIST: match the teacher's class relations, not its exact probabilities.

    Huang et al., "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022.
    With p = softmax(t / T) and q = softmax(s / T) over a batch of B examples and
    C classes, and rho the Pearson correlation:

        inter_i = 1 - rho(q_i, p_i)                    (over the C classes of i)
        intra   = 1 - mean_c rho(q[:, c], p[:, c])     (over the B examples)
        loss_i  = T^2 * (inter_weight * inter_i + intra_weight * intra)

    Correlation is invariant to shifts and scales, so the student may be less
    confident than a much stronger teacher as long as it ranks classes (inter) and
    examples (intra) the same way. Use it when the teacher is far stronger than
    the student. The intra-class term is a statistic of the whole batch: it is
    added equally to every example's loss (use batches of 32 or more). The paper
    uses T=1 and both weights 1 on ImageNet.

    Args:
        inter_weight: float >= 0, weight of the inter-class term (beta in the
            paper). Defaults to 1.0.
        intra_weight: float >= 0, weight of the intra-class term (gamma in the
            paper). Defaults to 1.0.
        teacher_layer: str or None, see `DistillationLoss`. Defaults to None.
        student_layer: str or None, see `DistillationLoss`. Defaults to None.
        **kwargs: passed to `DistillationLoss`.

    Raises:
        TypeError: if a weight is not a number.
        ValueError: if a weight is negative or not finite.

    Example:
    ```python
    distiller = keras_distill.Distiller(
        student=student, teacher=teacher, temperature=1.0,
        distillation_losses="dist")
    ```
    """

    def __init__(self, inter_weight=1.0, intra_weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.inter_weight = check_weight(inter_weight, "inter_weight")
        self.intra_weight = check_weight(intra_weight, "intra_weight")

    def call(self, teacher_output, student_output, temperature=None):
        temperature = tf.cast(temperature, tf.float32)
        p = tf.nn.softmax(tf.cast(teacher_output, tf.float32) / temperature, axis=-1)
        q = tf.nn.softmax(tf.cast(student_output, tf.float32) / temperature, axis=-1)
        inter = 1.0 - _pearson(q, p, axis=-1)
        intra = 1.0 - tf.reduce_mean(_pearson(q, p, axis=0))
        return (self.inter_weight * inter + self.intra_weight * intra) * temperature**2

    def get_config(self):
        config = super().get_config()
        config.update(inter_weight=self.inter_weight, intra_weight=self.intra_weight)
        return config
