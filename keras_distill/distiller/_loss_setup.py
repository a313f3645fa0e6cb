"""A Distiller's distillation losses made ready: unique names, feature taps, shapes."""

import dataclasses

from keras_distill import _compat
from keras_distill.distiller._checks import check_loss_weights
from keras_distill.distiller._inspect import io_shapes
from keras_distill.distiller._taps import Taps
from keras_distill.distiller._taps import tap
from keras_distill.losses import registry
from keras_distill.losses.response import KLDivergence


@dataclasses.dataclass(frozen=True)
class LossSetup:
    """The losses and what the training step needs to feed them.

    Attributes:
        losses: list of `DistillationLoss`, with unique names, set up.
        weights: list of float, the weight of each loss.
        teacher_layers: list of str, the teacher layers the losses read.
        student_layers: list of str, the student layers the losses read.
        taps: `Taps`, the models returning those layers' outputs and the logits.
    """

    losses: list
    weights: list
    teacher_layers: list
    student_layers: list
    taps: Taps


def set_up_losses(losses, weights, teachers, student, cached_teacher) -> LossSetup:
    """Resolves the `distillation_losses` argument and prepares the losses.

    Args:
        losses: a `DistillationLoss`, a registered name, a list of them, or None
            (`KLDivergence()`).
        weights: the `distillation_loss_weights` argument, see
            `check_loss_weights`.
        teachers: list of teacher models (empty with `cached_teacher`).
        student: the student model.
        cached_teacher: bool, whether only the teacher's logits are available.

    Returns:
        A `LossSetup`. The losses are renamed where names repeat ("kl", "kl_2")
        and set up (`loss.setup`) for the feature shapes known now.

    Raises:
        ValueError, TypeError: for an unknown loss name, no losses, weights
            that do not match the losses, feature
            losses with `cached_teacher` or several teachers, a missing layer, or
            shapes a loss cannot compare.
    """
    if losses is None:
        losses = [KLDivergence()]
    elif not isinstance(losses, (list, tuple)):
        losses = [losses]
    losses = [registry.get(loss) for loss in losses]
    if not losses:
        raise ValueError(
            "`distillation_losses` is empty: pass at least one loss, or use "
            "alpha=1 to train on labels only."
        )
    _make_names_unique(losses)
    weights = check_loss_weights(weights, losses)
    teacher_layers = [ls.teacher_layer for ls in losses if ls.teacher_layer]
    student_layers = [ls.student_layer for ls in losses if ls.student_layer]
    _check_teacher_layers(teacher_layers, len(teachers), cached_teacher)
    teacher_layers = list(dict.fromkeys(teacher_layers))
    student_layers = list(dict.fromkeys(student_layers))
    taps = Taps(
        teachers=[tap(t, teacher_layers, "teacher") for t in teachers],
        student=tap(student, student_layers, "student"),
    )
    student_shapes = _feature_shapes(taps.student, student_layers)
    # Cached logits have the student's shape: the step checks that they do.
    teacher_shapes = (
        _feature_shapes(taps.teachers[0], teacher_layers)
        if taps.teachers
        else {None: student_shapes.get(None)}
    )
    for loss in losses:
        t_shape = teacher_shapes.get(loss.teacher_layer)
        s_shape = student_shapes.get(loss.student_layer)
        if t_shape is not None and s_shape is not None:
            loss.setup(t_shape, s_shape)
    return LossSetup(losses, weights, teacher_layers, student_layers, taps)


def _check_teacher_layers(teacher_layers, teacher_count, cached_teacher):
    if teacher_layers and cached_teacher:
        raise ValueError(
            "cached_teacher=True stores only the teacher's logits, but the "
            f"distillation losses read the teacher layers {teacher_layers}. Use "
            "losses on the logits (e.g. 'kl'), or a live teacher for feature "
            "losses."
        )
    if teacher_layers and teacher_count > 1:
        raise ValueError(
            "Feature losses read intermediate teacher layers, which is defined "
            f"for one teacher; got {teacher_count} teachers. Use one teacher for "
            "feature losses."
        )


def _feature_shapes(model, layer_names):
    shapes = io_shapes(model, "outputs")
    if shapes is None:
        return {}
    return dict(zip([*layer_names, None], shapes))


def _make_names_unique(losses):
    """Renames repeated loss names in place: "kl", "kl" -> "kl", "kl_2".

    The names key the per-loss logs (`kl_loss`) and the DistillationScheduler's
    dict of weights, so they must be unique within a Distiller.
    """
    seen = set()
    for loss in losses:
        name, count = loss.name, 1
        while name in seen:
            count += 1
            name = f"{loss.name}_{count}"
        if name != loss.name:
            _compat.rename_layer(loss, name)
        seen.add(name)
