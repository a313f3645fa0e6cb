"""Checks of models and of the Distiller's settings, naming the fix.

Used at construction and compile, so that a bad setting is refused before a
step runs. Checks of plain numbers are in `keras_distill._numbers`.
"""

from keras_distill._compat import keras


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
