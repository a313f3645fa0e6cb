"""Checks of the Distiller's settings: each returns the value or raises, naming the fix.

Used at construction and compile, and by the schedules that change the settings
during training, so that a bad value is refused before a step runs.
"""

import math
import numbers

from keras_distill._compat import keras


def check_temperature(value, argname: str = "temperature") -> float:
    """Returns `value` as a float if it is a finite number > 0, else raises."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{argname}` must be a number > 0 (typically 1 to 20), got "
            f"{type(value).__name__}: {value!r}"
        )
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"`{argname}` must be a finite number > 0 (typically 1 to 20), got "
            f"{value!r}. It divides the logits before the softmax."
        )
    return float(value)


def check_int(name: str, value, low: int, hint: str = "") -> int:
    """Returns `value` as an int if it is an integer >= `low`, else raises.

    TypeError for a non-integer (a bool included), ValueError for one below
    `low`. `hint` (e.g. "Defaults to 256.") ends both messages.
    """
    suffix = f" {hint}" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an int >= {low}, got {type(value).__name__}: "
            f"{value!r}.{suffix}"
        )
    if value < low:
        raise ValueError(f"`{name}` must be an int >= {low}, got {value!r}.{suffix}")
    return int(value)


def check_alpha(value, argname: str = "alpha") -> float:
    """Returns `value` as a float if it is a number in [0, 1], else raises."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{argname}` must be a number in [0, 1], got {type(value).__name__}: "
            f"{value!r}"
        )
    if not 0.0 <= value <= 1.0:  # also False for NaN
        raise ValueError(
            f"`{argname}` must be in [0, 1], got {value!r}. It weights the student "
            "(label) loss; 1 - alpha weights the distillation loss."
        )
    return float(value)


def ends_in_softmax(model) -> bool:
    """Whether the last layer of a Functional/Sequential model applies a softmax."""
    layers = getattr(model, "layers", None)
    if not layers:
        return False
    last = layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def _static_shapes(tensors):
    try:
        return [tuple(t.shape) for t in tensors]
    except (AttributeError, TypeError, ValueError):
        return None


def io_shapes(model, attr):
    """Static input or output shapes of a built model, or None if unknown."""
    try:
        tensors = getattr(model, attr)
    except (AttributeError, ValueError):
        return None
    return _static_shapes(tensors) if tensors else None


def check_augmentation(augmentation):
    """Returns `augmentation` if it is None, a callable or a non-empty list of them."""
    if augmentation is None:
        return None
    from keras_distill.augmentation import Mixup

    steps = (
        list(augmentation)
        if isinstance(augmentation, (list, tuple))
        else [augmentation]
    )
    for step in steps:
        if not callable(step):
            raise TypeError(
                "`augmentation` must be a keras_distill.augmentation.Mixup, a Keras "
                "preprocessing layer, a callable x -> x, or a list of them; got "
                f"{type(step).__name__}: {step!r:.80}"
            )
    if sum(isinstance(step, Mixup) for step in steps) > 1:
        raise ValueError(
            "`augmentation` holds more than one Mixup; the student loss can follow "
            "one mixing of the labels. Use a single Mixup."
        )
    if not steps:
        raise ValueError("`augmentation` is an empty list: pass None instead.")
    return augmentation


def expects_probabilities(loss) -> bool:
    """True for a Keras cross-entropy configured with from_logits=False."""
    fn_kwargs = getattr(loss, "_fn_kwargs", None)
    if isinstance(fn_kwargs, dict) and "from_logits" in fn_kwargs:
        return not fn_kwargs["from_logits"]
    name = getattr(loss, "__name__", "")
    return name.endswith("crossentropy")
