"""Response-based distillation: losses on the teacher's and student's logits."""

import tensorflow as tf

from keras_distill._compat import keras
from keras_distill.losses.base import DistillationLoss
from keras_distill.losses.registry import register


def _softened_log_probs(logits, temperature):
    return tf.nn.log_softmax(tf.cast(logits, tf.float32) / temperature, axis=-1)


def kl_divergence_per_example(teacher_logits, student_logits, temperature):
    """Per-example KL(softmax(t/T) || softmax(s/T)) * T^2, computed in log space.

    Args:
        teacher_logits: tensor `(batch, classes)`.
        student_logits: tensor `(batch, classes)`.
        temperature: float or scalar tensor, T > 0.

    Returns:
        Float32 tensor `(batch,)`.
    """
    temperature = tf.cast(temperature, tf.float32)
    log_p_teacher = _softened_log_probs(teacher_logits, temperature)
    log_p_student = _softened_log_probs(student_logits, temperature)
    kl = tf.reduce_sum(tf.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
    return kl * temperature**2


def distillation_loss(teacher_logits, student_logits, temperature):
    """Hinton et al.'s distillation loss: the batch mean of the softened KL times T^2.

    `loss = T^2 * mean_i KL(softmax(t_i / T) || softmax(s_i / T))`
    (Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", 2015).
    The T^2 factor keeps the gradient's scale independent of T: the gradient with
    respect to the student logits is `T * (softmax(s/T) - softmax(t/T)) / batch`.

    Computed with `log_softmax` in float32, with no clipping, so it stays finite and
    exact for logits as large as +/-1e4. Both arguments are logits (pre-softmax).

    Unlike `keras.distillation.LogitsDistillation` in Keras 3.12-3.15, whose default
    applies `keras.losses.KLDivergence` to the raw logits (no softmax, no T^2), this
    is the loss of the paper.

    Args:
        teacher_logits: tensor or array `(batch, classes)`.
        student_logits: tensor or array `(batch, classes)`.
        temperature: float or scalar tensor, T > 0.

    Returns:
        A float32 scalar tensor.

    Example:
    >>> import numpy as np
    >>> t = np.array([[2.0, 0.0, -1.0]], "float32")
    >>> float(distillation_loss(t, t, temperature=3.0))
    0.0
    """
    return tf.reduce_mean(
        kl_divergence_per_example(teacher_logits, student_logits, temperature)
    )


@register("kl")
@keras.saving.register_keras_serializable(package="keras_distill")
class KLDivergence(DistillationLoss):
    """Hinton's distillation loss: softened KL divergence scaled by T^2 (default).

    `loss_i = T^2 * KL(softmax(t_i / T) || softmax(s_i / T))` with T the
    Distiller's temperature (Hinton et al. 2015). Use it when teacher and student
    predict the same classes; it is the `Distiller`'s default loss. See
    `distillation_loss` for the formula's details.

    Args:
        teacher_layer: str or None, see `DistillationLoss`. Defaults to None.
        student_layer: str or None, see `DistillationLoss`. Defaults to None.
        **kwargs: passed to `DistillationLoss`.
    """

    def call(self, teacher_output, student_output, temperature=None):
        return kl_divergence_per_example(teacher_output, student_output, temperature)


@register("soft_ce")
@keras.saving.register_keras_serializable(package="keras_distill")
class SoftTargetCrossEntropy(DistillationLoss):
    """Cross-entropy of the student against the teacher's softened distribution.

    `loss_i = -T^2 * sum_c softmax(t_i / T)_c * log softmax(s_i / T)_c`, the
    "soft targets" objective of Hinton et al. 2015. It equals `KLDivergence` plus the
    teacher's entropy (times T^2), a constant for the student: the gradients are the
    same, only the logged value differs (it does not reach 0). Use it when you want
    the loss as written in papers that report cross-entropy with soft targets.

    Args:
        teacher_layer: str or None, see `DistillationLoss`. Defaults to None.
        student_layer: str or None, see `DistillationLoss`. Defaults to None.
        **kwargs: passed to `DistillationLoss`.
    """

    def call(self, teacher_output, student_output, temperature=None):
        temperature = tf.cast(temperature, tf.float32)
        p_teacher = tf.exp(_softened_log_probs(teacher_output, temperature))
        log_q = _softened_log_probs(student_output, temperature)
        return -tf.reduce_sum(p_teacher * log_q, axis=-1) * temperature**2


@register("mse")
@keras.saving.register_keras_serializable(package="keras_distill")
class LogitMSE(DistillationLoss):
    """Logit matching: mean squared error between teacher and student logits.

    `loss_i = mean_c (s_ic - t_ic)^2` (Ba & Caruana, "Do Deep Nets Really Need to be
    Deep?", NeurIPS 2014). The temperature is not used: matching logits is the
    high-temperature limit of `KLDivergence` (for zero-mean logits). It also keeps
    the teacher's logit scale, which a softmax discards; use it for regression-like
    outputs, or when the teacher's logits themselves carry information.

    Args:
        teacher_layer: str or None, see `DistillationLoss`. Defaults to None.
        student_layer: str or None, see `DistillationLoss`. Defaults to None.
        **kwargs: passed to `DistillationLoss`.
    """

    def call(self, teacher_output, student_output, temperature=None):
        diff = tf.cast(student_output, tf.float32) - tf.cast(teacher_output, tf.float32)
        return tf.reduce_mean(tf.square(diff), axis=-1)


@keras.saving.register_keras_serializable(package="keras_distill")
class ProbabilityLoss(DistillationLoss):
    """Applies a loss on probabilities to temperature-softened distributions.

    This is the keras.io "Knowledge Distillation" example's
    `distillation_loss_fn`: `fn(softmax(t / T), softmax(s / T)) * T^2`, where `fn` is
    for instance `keras.losses.KLDivergence()`. The `Distiller` wraps what
    `compile(distillation_loss_fn=...)` receives in this class. Keras loss objects are
    evaluated per example (their `call`), so sample weights apply per example; a
    plain function that returns a scalar is used as is for the whole batch.

    Note that `keras.losses.KLDivergence` clips probabilities to [1e-7, 1]: prefer
    `KLDivergence` from this module, which is exact.

    Args:
        fn: a `keras.losses.Loss` or a callable `fn(y_true, y_pred)` on probabilities.
        **kwargs: passed to `DistillationLoss`.

    Raises:
        TypeError: if `fn` is not callable.
    """

    def __init__(self, fn, **kwargs):
        if isinstance(fn, dict):
            fn = keras.losses.deserialize(fn)
        if not callable(fn):
            raise TypeError(
                "The distillation loss function must be callable, for example "
                f"keras.losses.KLDivergence(); got {type(fn).__name__}: {fn!r:.80}"
            )
        super().__init__(**kwargs)
        self.fn = fn

    def call(self, teacher_output, student_output, temperature=None):
        temperature = tf.cast(temperature, tf.float32)
        p_teacher = tf.nn.softmax(tf.cast(teacher_output, tf.float32) / temperature)
        p_student = tf.nn.softmax(tf.cast(student_output, tf.float32) / temperature)
        if isinstance(self.fn, keras.losses.Loss):
            values = self.fn.call(p_teacher, p_student)
        else:
            values = self.fn(p_teacher, p_student)
        values = tf.cast(values, tf.float32)
        batch = tf.shape(p_teacher)[:1]
        return tf.broadcast_to(values, batch) * temperature**2

    def get_config(self):
        config = super().get_config()
        config["fn"] = keras.losses.serialize(self.fn)
        return config
