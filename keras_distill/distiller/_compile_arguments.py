"""What the Distiller's compile arguments resolve to, checked before any applies."""

from keras_distill._compat import keras
from keras_distill.distiller._inspect import ends_in_softmax
from keras_distill.distiller._inspect import expects_probabilities
from keras_distill.losses.response import KLDivergence
from keras_distill.losses.response import ProbabilityLoss


def resolve_student_loss(loss, student_loss_fn, alpha: float, student):
    """The student (label) loss `compile` sets, checked against alpha and model.

    Args:
        loss: Keras' name for the student loss, or None.
        student_loss_fn: the keras.io example's name for it, or None.
        alpha: float, the alpha the Distiller will have after compiling.
        student: the student model.

    Returns:
        The loss (names and configs resolved by `keras.losses.get`), or None.

    Raises:
        ValueError, TypeError: for both `loss` and `student_loss_fn`, a loss that
            is not callable, alpha > 0 without a loss, or a loss on
            probabilities for a student that outputs logits.
    """
    if loss is not None and student_loss_fn is not None:
        raise ValueError(
            "Pass the student loss once: as `loss` or as `student_loss_fn`."
        )
    student_loss = loss if loss is not None else student_loss_fn
    if isinstance(student_loss, (str, dict)):
        student_loss = keras.losses.get(student_loss)
    if student_loss is not None and not callable(student_loss):
        raise TypeError(
            "The student loss must be a Keras loss or a callable "
            f"loss(y_true, y_pred); got {type(student_loss).__name__}."
        )
    if student_loss is None and alpha > 0:
        raise ValueError(
            f"alpha={float(alpha):.6g} weights a student loss, but none was "
            "given. Pass "
            "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True) "
            "(or another loss on the student's logits), or set alpha=0 to "
            "distil from the teacher alone."
        )
    if (
        student_loss is not None
        and not ends_in_softmax(student)
        and expects_probabilities(student_loss)
    ):
        raise ValueError(
            "The student outputs logits, but the student loss expects "
            "probabilities (from_logits=False). Use for example "
            "keras.losses.SparseCategoricalCrossentropy(from_logits=True)."
        )
    return student_loss


def keras_io_loss(fn, current, set_by_compile: bool):
    """The loss `compile(distillation_loss_fn=fn)` puts in place, or None.

    None when the Distiller already has that loss (a compile run again); the new
    `ProbabilityLoss(fn)` when it replaces the default `KLDivergence()` or a loss
    an earlier compile set. Losses chosen in the constructor are refused: they
    would be dropped silently.

    Args:
        fn: the `distillation_loss_fn` argument, a loss on probabilities.
        current: list of the Distiller's distillation losses.
        set_by_compile: bool, whether an earlier compile set `current`.

    Returns:
        A `ProbabilityLoss`, or None to keep `current`.

    Raises:
        TypeError: if `fn` is not callable.
        ValueError: if it would replace losses given to the constructor.
    """
    new = ProbabilityLoss(fn)
    if len(current) == 1 and same_loss(current[0], new):
        return None
    if set_by_compile or (len(current) == 1 and same_loss(current[0], KLDivergence())):
        return new
    raise ValueError(
        "`distillation_loss_fn` would replace the distillation losses given to "
        f"the Distiller ({', '.join(type(loss).__name__ for loss in current)}). "
        "Pass the losses in one place: `Distiller(distillation_losses=[...])`, or "
        "`distillation_loss_fn` with the default losses."
    )


def same_loss(a, b) -> bool:
    """Whether two distillation losses compute the same thing (names aside).

    Args:
        a: a `DistillationLoss`.
        b: a `DistillationLoss`.

    Returns:
        True for losses of one class whose configs are equal but for the name.
    """
    if type(a) is not type(b):
        return False
    configs = [dict(loss.get_config()) for loss in (a, b)]
    for config in configs:
        config.pop("name", None)
    return configs[0] == configs[1]
