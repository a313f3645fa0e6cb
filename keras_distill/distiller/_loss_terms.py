"""The terms of the Distiller's loss, from a batch and the models' outputs.

The training and test steps feed a batch through `augment` (training only), the
teachers (`teacher_outputs`) and the student; `example_weights`,
`student_loss_term` and `distillation_terms` then give the terms the Distiller
blends with alpha and the loss weights.
"""

import math

import tensorflow as tf

from keras_distill._compat import keras
from keras_distill.distiller._reduction import per_example_loss
from keras_distill.distiller._reduction import per_example_weights
from keras_distill.distiller._reduction import weighted_mean

# Key of the teachers' weighted mean logits in the teacher outputs (several
# teachers only); an object, so that no layer name can collide with it.
MEAN_LOGITS = object()


def as_list(outputs) -> list:
    """`outputs` as a list: a list or tuple's items, else `[outputs]`."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def augment(augmentation, x):
    """The augmented batch and, for Mixup, its `(partner, lam)`.

    Args:
        augmentation: the Distiller's augmentation (one or a list).
        x: the batch's inputs.

    Returns:
        `(x, mixing)`: the augmented inputs, and `(partner, lam)` if a Mixup
        mixed them, else None.
    """
    from keras_distill.augmentation import Mixup

    mixing = None
    for step in as_list(augmentation):
        if isinstance(step, Mixup):
            x, partner, lam = step.mix(x)
            mixing = (partner, lam)
        elif isinstance(step, keras.layers.Layer):
            x = step(x, training=True)
        else:
            x = step(x)
    return x, mixing


def teacher_outputs(taps, teacher_layers, teacher_weights, temperature, x) -> dict:
    """Teacher features by layer name, and the (combined) logits under None.

    With several teachers, None holds logits whose softened distribution is the
    teachers' weighted mean, and `MEAN_LOGITS` their weighted mean logits (for
    losses with `combines == "logits"`). No gradient flows into any of them.

    Args:
        taps: list of the teachers' tap models (`keras_distill._taps.tap`).
        teacher_layers: list of str, the layers the taps return before the logits.
        teacher_weights: list of float, one per teacher, summing to 1.
        temperature: scalar variable, T.
        x: the batch's inputs.

    Returns:
        A dict of tensors.
    """
    outputs = [as_list(tap(x, training=False)) for tap in taps]
    features = dict(zip([*teacher_layers, None], outputs[0]))
    if len(outputs) > 1:
        logits = [out[-1] for out in outputs]
        features[None] = combine_teachers(logits, teacher_weights, temperature)
        features[MEAN_LOGITS] = tf.add_n(
            [
                w * tf.cast(t, tf.float32)
                for t, w in zip(logits, teacher_weights)
                if w > 0
            ]
        )
    return {k: tf.stop_gradient(v) for k, v in features.items()}


def combine_teachers(logits, teacher_weights, temperature):
    """Logits whose softened distribution is the teachers' weighted mean.

    `T * log(sum_i w_i softmax(t_i / T))`, so `softmax(result / T)` is exactly
    the weighted mean of the teachers' softened distributions.

    Args:
        logits: list of the teachers' logits.
        teacher_weights: list of float, one per teacher, summing to 1.
        temperature: scalar, T.

    Returns:
        A float32 tensor shaped like one teacher's logits.
    """
    temperature = tf.cast(temperature, tf.float32)
    log_probs = tf.stack(
        [
            tf.nn.log_softmax(tf.cast(t, tf.float32) / temperature) + math.log(w)
            for t, w in zip(logits, teacher_weights)
            if w > 0
        ]
    )
    return temperature * tf.reduce_logsumexp(log_probs, axis=0)


def example_weights(sample_weight, batch, mixing):
    """One float32 weight per example, `(batch,)`, or None.

    A mixed example is lam parts itself and 1 - lam parts its partner, so it
    carries that blend of their sample/class weights.
    """
    weights = per_example_weights(sample_weight, batch)
    if mixing is not None and weights is not None:
        partner, lam = mixing
        weights = lam * weights + (1.0 - lam) * tf.gather(weights, partner)
    return weights


def student_loss_term(loss_fn, y, logits, weights, batch, mixing):
    """The weighted batch mean of the student (label) loss, float32.

    Args:
        loss_fn: the compiled student loss, or None (then 0).
        y: the labels.
        logits: the student's logits.
        weights: per-example weights from `example_weights`, or None.
        batch: scalar tensor, the batch size.
        mixing: `(partner, lam)` of a Mixup, or None. A mixed example's loss
            is lam times that on its label plus 1 - lam times its partner's.

    Returns:
        A float32 scalar tensor.
    """
    if loss_fn is None:
        return tf.zeros((), tf.float32)
    values = per_example_loss(loss_fn, y, logits, batch)
    if mixing is not None:
        partner, lam = mixing
        other = per_example_loss(loss_fn, tf.gather(y, partner), logits, batch)
        values = lam * values + (1.0 - lam) * other
    return weighted_mean(values, weights, batch)


def distillation_terms(losses, teacher, student, labels, temperature, weights, batch):
    """The weighted batch mean of each distillation loss.

    Args:
        losses: list of `DistillationLoss`.
        teacher: dict of teacher outputs from `teacher_outputs`.
        student: dict of student outputs by layer name, logits under None.
        labels: the labels losses with `uses_labels` get, or None.
        temperature: scalar variable, T.
        weights: per-example weights, or None.
        batch: scalar tensor, the batch size.

    Returns:
        A list of float32 scalar tensors, one per loss.
    """
    terms = []
    for loss in losses:
        extra = {"labels": labels} if loss.uses_labels else {}
        values = loss(
            _teacher_input(loss, teacher),
            student[loss.student_layer],
            temperature=temperature,
            **extra,
        )
        terms.append(weighted_mean(values, weights, batch))
    return terms


def _teacher_input(loss, teacher):
    """The teacher output `loss` reads, combined over teachers as it declares."""
    if loss.teacher_layer is None and loss.combines == "logits":
        return teacher.get(MEAN_LOGITS, teacher[None])
    return teacher[loss.teacher_layer]


def dominant_labels(y, mixing):
    """Each mixed example's dominant label: its own for lam >= 0.5, else its
    partner's."""
    partner, lam = mixing
    return tf.where(
        tf.reshape(lam >= 0.5, [-1] + [1] * (len(y.shape) - 1)),
        y,
        tf.gather(y, partner),
    )
