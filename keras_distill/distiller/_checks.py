"""Checks of the models and weights a Distiller is built from."""

import math
import numbers
import warnings

import numpy as np
import tensorflow as tf

from keras_distill import _compat
from keras_distill.distiller._inspect import ends_in_softmax
from keras_distill.distiller._inspect import io_shapes
from keras_distill.teacher_cache import check_cached_teacher


def check_models(
    student, teacher, cached_teacher, augmentation, teacher_input=None
) -> list:
    """Checks the student and teacher(s) and returns the teachers as a list.

    Args:
        student: the `student` argument of the Distiller.
        teacher: the `teacher` argument: a model, a list of models, or None.
        cached_teacher: bool, whether the teacher's logits come with the data.
        augmentation: the checked `augmentation` argument.
        teacher_input: None, or the callable mapping the student's inputs to
            the teacher's. Defaults to None.

    Returns:
        A list of teacher models; empty with `cached_teacher`.

    Raises:
        ValueError, TypeError: for a missing or non-model student or teacher, a
            model of the other Keras flavour, the same model as both, input or
            output shapes that differ (input shapes: after `teacher_input`), a
            teacher, augmentation or `teacher_input` with `cached_teacher`.
    """
    _compat.check_model(student, "student")
    if cached_teacher:
        check_cached_teacher(teacher, augmentation)
        teachers = []
    else:
        teachers = [_compat.check_model(t, "teacher") for t in _as_list(teacher)]
    if any(t is student for t in teachers):
        raise ValueError(
            "`teacher` and `student` are the same model object. Distil into a "
            "separate, usually smaller, student model."
        )
    if teacher_input is not None:
        _check_teacher_input(student, teachers, teacher_input, cached_teacher)
    _check_shapes(student, teachers, check_inputs=teacher_input is None)
    return teachers


def _check_teacher_input(student, teachers, teacher_input, cached_teacher):
    """`teacher_input` is a callable whose outputs the teachers can read."""
    if cached_teacher:
        raise ValueError(
            "`teacher_input` maps the student's inputs for a live teacher, but "
            "`cached_teacher=True` trains on teacher logits computed ahead of "
            "time. Apply the mapping when you compute them (in the inputs you "
            "give `cache_teacher_outputs`'s teacher), and leave teacher_input=None."
        )
    if not callable(teacher_input):
        raise TypeError(
            "`teacher_input` must be a callable (a function or a Keras layer) "
            "that maps a batch of the student's inputs to the teacher's, got "
            f"{type(teacher_input).__name__}: {teacher_input!r}."
        )
    student_in = io_shapes(student, "inputs")
    if len(student_in) != 1 or None in student_in[0][1:]:
        return  # several or free-length inputs: nothing fixed to try it on
    example = np.zeros((1, *student_in[0][1:]), _compat.keras.backend.floatx())
    try:
        mapped = teacher_input(example)
    except Exception as error:
        raise ValueError(
            "`teacher_input` failed on a batch shaped like the student's inputs "
            f"{(None, *student_in[0][1:])}: {type(error).__name__}: {error}"
        ) from error
    got = tuple(mapped.shape)[1:]
    for teacher in teachers:
        (teacher_in, *rest) = io_shapes(teacher, "inputs") or [None]
        if teacher_in is not None and not rest and got != tuple(teacher_in[1:]):
            raise ValueError(
                f"`teacher_input` maps the student's inputs {student_in[0]} to "
                f"{(None, *got)}, but the teacher {teacher.name!r} reads "
                f"{teacher_in}. Make teacher_input return the teacher's input "
                "shape."
            )


def _as_list(teacher):
    if isinstance(teacher, (list, tuple)):
        if not teacher:
            raise ValueError("`teacher` is an empty list: pass at least one model.")
        return list(teacher)
    return [teacher]


def _check_shapes(student, teachers, check_inputs=True):
    student_in = io_shapes(student, "inputs")
    student_out = io_shapes(student, "outputs")
    for teacher in teachers:
        teacher_in = io_shapes(teacher, "inputs")
        if (
            check_inputs
            and student_in
            and teacher_in
            and [s[1:] for s in student_in] != [s[1:] for s in teacher_in]
        ):
            raise ValueError(
                "Teacher and student input shapes differ. Teacher: "
                f"{teacher_in}, Student: {student_in}. Both must read the same "
                "inputs, or pass `teacher_input=`, a callable that maps the "
                "student's inputs to the teacher's (e.g. keras.layers.Resizing)."
            )
        teacher_out = io_shapes(teacher, "outputs")
        if len(teachers) > 1 and teacher_out != io_shapes(teachers[0], "outputs"):
            raise ValueError(
                "The teachers' output shapes differ: "
                f"{[io_shapes(t, 'outputs') for t in teachers]}. Several "
                "teachers must predict the same classes."
            )
        if (
            student_out
            and teacher_out
            and (len(student_out) != 1 or len(teacher_out) != 1)
        ):
            raise ValueError(
                "The Distiller needs models with one output (the logits). "
                f"Teacher outputs: {teacher_out}, Student outputs: {student_out}."
            )


def warn_if_softmax(student, teachers, stacklevel: int) -> None:
    """Warns for each model whose last layer is visibly a softmax.

    Args:
        student: the student model.
        teachers: list of teacher models.
        stacklevel: int, `warnings.warn`'s stacklevel as seen from the caller
            (2 points at the caller's caller).
    """
    models = [("teacher", t) for t in teachers] + [("student", student)]
    for argname, model in models:
        if ends_in_softmax(model):
            warnings.warn(
                f"The {argname} {model.name!r} ends in a softmax. keras_distill "
                "expects logits: softening probabilities by a temperature makes "
                "them nearly uniform and the distillation loss nearly useless. "
                "Build the model without the final softmax (and use losses "
                "with from_logits=True).",
                UserWarning,
                stacklevel=stacklevel + 1,
            )


def normalized_teacher_weights(weights, count: int) -> list:
    """The teachers' weights, scaled to sum to 1.

    Args:
        weights: list of numbers >= 0, one per teacher, or None.
        count: int, the number of teachers.

    Returns:
        A list of `count` floats summing to 1 (equal for None); empty for no
        teachers.

    Raises:
        ValueError: for a count that differs, a negative weight or all zeros.
    """
    if count == 0:
        return []
    if weights is None:
        return [1.0 / count] * count
    weights = [float(w) for w in weights]
    if len(weights) != count or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(
            f"`teacher_weights` must hold one number >= 0 per teacher "
            f"({count}), not all zero; got {weights}."
        )
    total = sum(weights)
    return [w / total for w in weights]


def check_loss_weights(weights, losses) -> list:
    """The weights of the distillation losses, one float per loss.

    Args:
        weights: a number or list of numbers >= 0, or None (1.0 each).
        losses: list of the `DistillationLoss` objects they weight.

    Returns:
        A list of floats, one per loss.

    Raises:
        ValueError: for a count that differs, or a negative or non-finite weight.
    """
    n = len(losses)
    if weights is None:
        return [1.0] * n
    if isinstance(weights, numbers.Real):
        weights = [weights]
    weights = [float(w) for w in weights]
    if len(weights) != n or not all(math.isfinite(w) and w >= 0 for w in weights):
        raise ValueError(
            f"`distillation_loss_weights` must hold one finite number >= 0 per "
            f"distillation loss ({n}: {[loss.name for loss in losses]}); got "
            f"{weights}."
        )
    return weights


def check_logit_classes(losses, teacher, student, cached_teacher) -> None:
    """Refuses, while the first step is traced, logits of different widths.

    Models without an `Input` have no shapes at construction; this is where
    their class counts are first known, before any weight changes.

    Args:
        losses: the Distiller's distillation losses.
        teacher: dict of the teacher's outputs, logits under None.
        student: dict of the student's outputs, logits under None.
        cached_teacher: bool, whether the teacher's logits were cached.

    Raises:
        ValueError: if a loss compares teacher and student logits whose class
            counts differ.
    """
    reads_both_logits = any(
        loss.teacher_layer is None and loss.student_layer is None for loss in losses
    )
    if not reads_both_logits:  # e.g. LwF: the teacher meets the old head only
        return
    cached, own = teacher[None].shape[-1], student[None].shape[-1]
    if cached is not None and own is not None and cached != own:
        source = (
            "The cached teacher logits have"
            if cached_teacher
            else "The teacher outputs"
        )
        raise ValueError(
            f"{source} {cached} classes but the student outputs {own}: both "
            "must predict the same classes."
        )


def refuse_unlabelled_data(alpha, largest_alpha: float) -> None:
    """Refuses a batch without labels when alpha weights the student loss.

    Runs while the step is traced: `largest_alpha` (the current alpha or a
    larger one a schedule will set) > 0 raises at once; the graph also asserts
    that `alpha` is 0 at each step, for an alpha raised later by hand.

    Args:
        alpha: the Distiller's alpha variable.
        largest_alpha: float, the largest alpha this fit will use.

    Raises:
        ValueError: if `largest_alpha` > 0 (and InvalidArgumentError from the
            step if alpha > 0 there).
    """
    if largest_alpha > 0:
        raise ValueError(
            f"The data has no labels but alpha={largest_alpha:.6g} (the current or "
            "a scheduled value) weights the student loss. Set alpha=0 to "
            "distil on unlabelled data."
        )
    tf.debugging.assert_equal(
        alpha,
        0.0,
        message="The data has no labels but alpha > 0 weights the "
        "student loss. Set alpha=0 to distil on unlabelled data.",
    )


def refuse_weights_with_cache(cached_teacher: bool, fit_kwargs: dict) -> None:
    """Refuses `sample_weight`/`class_weight` in `fit`/`evaluate` with cached logits.

    Keras would append the weights to the `(x, y, teacher_logits)` batches, or
    mistake the logits for sample weights: refuse before it does.

    Args:
        cached_teacher: bool, the Distiller's `cached_teacher`.
        fit_kwargs: dict, the keyword arguments of `fit` or `evaluate`.

    Raises:
        ValueError: with `cached_teacher` and sample or class weights.
    """
    if not cached_teacher:
        return
    given = [
        k for k in ("sample_weight", "class_weight") if fit_kwargs.get(k) is not None
    ]
    if given:
        raise ValueError(
            f"A Distiller with cached_teacher=True does not take {given[0]}: "
            "its batches are (x, y, teacher_logits). Weight the examples by "
            "repeating or subsampling them before cache_teacher_outputs, or "
            "distil from the live teacher (cached_teacher=False)."
        )
