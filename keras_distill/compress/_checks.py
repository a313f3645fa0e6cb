"""Argument and model checks shared by `prune`, `quantize` and `cluster`.

They run once, before an engine builds anything, and name the argument, the
value and the fix.
"""

from collections.abc import Iterable

from keras_distill import _compat
from keras_distill.compress._engine import is_pruned
from keras_distill.compress._engine import is_qat_model
from keras_distill.compress._layers import TFMOT_WRAPPERS
from keras_distill.compress._layers import inner_layer
from keras_distill.compress._layers import is_graph_model
from keras_distill.compress._layers import is_tfmot_wrapper
from keras_distill.compress._layers import nested_models
from keras_distill.compress._layers import walk_layers


def check_student(
    student, argname: str, action: str, allow=(), graph_only: bool = True
) -> None:
    """Validates a model once, before an engine rebuilds or masks it.

    Args:
        student: the model to check.
        argname: the argument's name, for the messages.
        action: what is about to happen ("prune", "quantize", ...).
        allow: what may stay in the model: TF-MOT wrapper class names, or
            `"pruning"` for our Keras 3 engine's kernel masks. Defaults to ().
        graph_only: bool, refuse subclassed models (the engine rebuilds the
            model from its layer graph). Defaults to True.

    Raises:
        TypeError: not a model of the Keras flavour in use, or a subclassed model
            where the engine needs the layer graph.
        ValueError: the model is not built, or still carries the wrappers or
            masks of another compression step.
    """
    _compat.check_model(student, argname)
    who = "TF-MOT" if _compat.LEGACY_KERAS else "keras_distill"
    if graph_only and not is_graph_model(student):
        raise TypeError(
            f"`{argname}` is a subclassed model ({type(student).__name__}); {who} "
            f"can only {action} Functional or Sequential models, because it "
            "rebuilds the model from its layer graph. Rebuild the student with "
            "`keras.Input(...)` and the functional API, or as `keras.Sequential`."
        )
    for model in nested_models(student) if graph_only else ():
        if model is not student and not is_graph_model(model):
            raise TypeError(
                f"`{argname}` contains the subclassed model {model.name!r}; {who} "
                f"can only {action} Functional or Sequential models. Rebuild it "
                "with the functional API or as `keras.Sequential`."
            )
    if not student.built:
        raise ValueError(
            f"`{argname}` is not built, so its weights do not exist yet. Give it "
            "an input shape (`keras.Input(shape)` as the first layer) or call "
            f"`{argname}.build(input_shape)` before you {action} it."
        )
    wrapped = [
        f"{layer.name!r} ({TFMOT_WRAPPERS[type(layer).__name__]})"
        for layer in walk_layers(student)
        if is_tfmot_wrapper(layer) and type(layer).__name__ not in allow
    ]
    if wrapped:
        raise ValueError(
            f"`{argname}` still has TF-MOT wrappers: {', '.join(wrapped)}. Strip "
            f"them before you {action} it, so that only the trained weights are "
            "carried over."
        )
    if "pruning" not in allow and not _compat.LEGACY_KERAS and is_pruned(student):
        raise ValueError(
            f"`{argname}` still has pruning masks on its kernels. Call "
            f"`strip_pruning({argname})` before you {action} it, so that only the "
            "trained (sparse) weights are carried over."
        )
    if not _compat.LEGACY_KERAS and is_qat_model(student):
        raise ValueError(
            f"`{argname}` was already prepared for quantization-aware training. "
            f"{action.capitalize()} the float student before `quantize`, not "
            "after."
        )


def check_layer_names(model, names, argname: str) -> list[str]:
    """Validates a list of layer names against the layers of `model`.

    Args:
        model: the model whose layers are named.
        names: an iterable of layer names, or None.
        argname: the argument's name, for the messages.

    Returns:
        The names as a list (empty for None).

    Raises:
        TypeError: `names` is a single string or holds non-strings.
        ValueError: a name is not a layer of `model`; the message lists the
            available names.
    """
    if names is None:
        return []
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise TypeError(
            f"`{argname}` must be a list of layer names, e.g. [{names!r}], got "
            f"{type(names).__name__}: {names!r}."
        )
    names = list(names)
    bad_types = [n for n in names if not isinstance(n, str)]
    if bad_types:
        raise TypeError(f"`{argname}` must hold layer names (str), got {bad_types!r}.")
    available = [inner_layer(layer).name for layer in walk_layers(model)]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"`{argname}` names layers that are not in the model: {unknown}. "
            f"Available layer names: {available}."
        )
    return names
