"""Decoupled knowledge distillation: target and non-target terms, own weights."""

import tensorflow as tf

from keras_distill._compat import keras
from keras_distill.losses.base import DistillationLoss
from keras_distill.losses.base import check_weight
from keras_distill.losses.registry import register


def _masked_log_softmax(z, mask):
    """log_softmax over the classes where `mask` is False; 0 where it is True."""
    z = tf.where(mask, tf.constant(-float("inf"), z.dtype), z)
    log_probs = z - tf.reduce_logsumexp(z, axis=-1, keepdims=True)
    return tf.where(mask, tf.zeros_like(log_probs), log_probs)


def _target_class(labels, logits):
    """The int target class of each example: from the labels, else the logits."""
    if labels is None:
        return tf.argmax(logits, axis=-1)
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank == logits.shape.rank and labels.shape[-1] not in (None, 1):
        return tf.argmax(labels, axis=-1)  # one-hot (or soft) labels
    return tf.reshape(tf.cast(labels, tf.int64), tf.shape(logits)[:-1])


@register("dkd")
@keras.saving.register_keras_serializable(package="keras_distill")
class DKD(DistillationLoss):
    """Decoupled Knowledge Distillation (Zhao et al., CVPR 2022).

    Splits Hinton's KL into a target-class term (TCKD) and a non-target-class term
    (NCKD) and weights them separately, which lets the "dark knowledge" among the
    wrong classes count even when the teacher is very confident:

        p = softmax(t / T), q = softmax(s / T), g = the target class
        TCKD_i = KL([p_g, 1 - p_g] || [q_g, 1 - q_g])
        NCKD_i = KL(p_hat || q_hat), p_hat = softmax over the classes != g
        loss_i = T^2 * (target_weight * TCKD_i + non_target_weight * NCKD_i)

    (`KLDivergence` is `TCKD + (1 - p_g) * NCKD`.) The paper's alpha and beta are
    `target_weight` and `non_target_weight`; it uses alpha=1, beta=8 and T=4 on
    CIFAR-100, and warms the loss weight up over the first epochs (use a
    `keras_distill.schedules` callback for that).

    The target class g is the ground-truth label, as in the paper: the `Distiller`
    passes the batch's labels (sparse or one-hot; for a Mixup batch, each mixed
    example's dominant label). Without labels (unlabelled data, or calling the
    loss without `labels`), g is the teacher's top class, which on examples the
    teacher classifies correctly is the same class.

    Args:
        target_weight: float >= 0, the weight of TCKD (the paper's alpha).
            Defaults to 1.0.
        non_target_weight: float >= 0, the weight of NCKD (the paper's beta).
            Defaults to 8.0.
        teacher_layer: str or None, see `DistillationLoss`. Defaults to None.
        student_layer: str or None, see `DistillationLoss`. Defaults to None.
        **kwargs: passed to `DistillationLoss`.

    Raises:
        TypeError: if a weight is not a number.
        ValueError: if a weight is negative or not finite.

    Example:
    ```python
    distiller = keras_distill.Distiller(
        student=student, teacher=teacher, temperature=4.0, alpha=0.1,
        distillation_losses=keras_distill.losses.DKD(non_target_weight=8.0))
    ```
    """

    def __init__(self, target_weight=1.0, non_target_weight=8.0, **kwargs):
        super().__init__(**kwargs)
        self.target_weight = check_weight(target_weight, "target_weight")
        self.non_target_weight = check_weight(non_target_weight, "non_target_weight")

    uses_labels = True

    def call(self, teacher_output, student_output, temperature=None, labels=None):
        """Returns the loss of each example, shape `(batch,)`.

        Args:
            teacher_output: tensor `(batch, classes)`, the teacher's logits.
            student_output: tensor `(batch, classes)`, the student's logits.
            temperature: scalar tensor, T.
            labels: the ground-truth classes, sparse `(batch,)`/`(batch, 1)` or
                one-hot `(batch, classes)`, or None to use the teacher's top
                class. Defaults to None.
        """
        temperature = tf.cast(temperature, tf.float32)
        z_t = tf.cast(teacher_output, tf.float32) / temperature
        z_s = tf.cast(student_output, tf.float32) / temperature
        classes = tf.shape(z_t)[-1]
        is_target = tf.one_hot(
            _target_class(labels, z_t), classes, on_value=True, off_value=False
        )
        log_p = tf.nn.log_softmax(z_t, axis=-1)
        log_q = tf.nn.log_softmax(z_s, axis=-1)
        minus_inf = tf.constant(-float("inf"), tf.float32)

        def binary(log_probs):
            target = tf.reduce_sum(tf.where(is_target, log_probs, 0.0), axis=-1)
            other = tf.reduce_logsumexp(
                tf.where(is_target, minus_inf, log_probs), axis=-1
            )
            return tf.stack([target, other], axis=-1)

        log_b_p, log_b_q = binary(log_p), binary(log_q)
        tckd = tf.reduce_sum(tf.exp(log_b_p) * (log_b_p - log_b_q), axis=-1)
        log_p_hat = _masked_log_softmax(z_t, is_target)
        log_q_hat = _masked_log_softmax(z_s, is_target)
        p_hat = tf.where(is_target, 0.0, tf.exp(log_p_hat))
        nckd = tf.reduce_sum(p_hat * (log_p_hat - log_q_hat), axis=-1)
        return (
            self.target_weight * tckd + self.non_target_weight * nckd
        ) * temperature**2

    def get_config(self):
        config = super().get_config()
        config.update(
            target_weight=self.target_weight,
            non_target_weight=self.non_target_weight,
        )
        return config
