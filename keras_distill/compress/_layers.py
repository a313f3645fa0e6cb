"""Layer helpers both compression engines use: walks, copies, names.

A leaf module: it imports neither engine nor TF-MOT, so the engines, the
shared checks (`_checks.py`), `export` and `sparsity_report` can all use it.
TF-MOT's wrappers are recognised by class name here, so that this module
never imports TF-MOT (importing it sets `TF_USE_LEGACY_KERAS=1`).
"""

from collections.abc import Callable

from keras_distill import _compat
from keras_distill._compat import keras

# TF-MOT wrappers, by class name, so that this module never imports TF-MOT.
TFMOT_WRAPPERS = {
    "PruneLowMagnitude": "pruning (remove it with `strip_pruning`)",
    "ClusterWeights": "clustering (remove it with `strip_clustering`)",
    "ClusterWeightsRNN": "clustering (remove it with `strip_clustering`)",
    "ClusterWeightsMHA": "clustering (remove it with `strip_clustering`)",
    "QuantizeWrapper": "quantization-aware training",
    "QuantizeWrapperV2": "quantization-aware training",
    "QuantizeAnnotate": "a quantization annotation",
}


def is_graph_model(model) -> bool:
    """Whether `model` is a Functional or Sequential model (not subclassed).

    Unlike `_compat.is_graph_model`, an unbuilt Sequential counts: `check_student`
    then asks for it to be built, which is the fix the user needs.
    """
    return isinstance(model, keras.Sequential) or _compat.is_graph_model(model)


def nested_models(model) -> list:
    """`model` and every model nested in it."""
    found = [model]
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(nested_models(layer))
    return found


def walk_layers(model) -> list:
    """Every layer of `model`, descending into nested models (not into wrappers)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(walk_layers(layer))
        else:
            found.append(layer)
    return found


def is_tfmot_wrapper(layer) -> bool:
    """Whether `layer` is a TF-MOT pruning, clustering or quantization wrapper."""
    return type(layer).__name__ in TFMOT_WRAPPERS


def inner_layer(layer):
    """The layer inside a TF-MOT wrapper, else `layer` itself.

    Other Keras wrappers (TimeDistributed, Bidirectional) are layers in their
    own right and are not unwrapped.
    """
    while is_tfmot_wrapper(layer):
        layer = layer.layer
    return layer


def describe(layer) -> str:
    """`'name' (ClassName)`, for messages that list layers."""
    return f"{layer.name!r} ({type(layer).__name__})"


def copy_model(model):
    """A new model with the same architecture and weights as `model`.

    TF-MOT's `prune_low_magnitude` and `cluster_weights` wrap the caller's own
    layer objects, so training the result would silently change the original
    model too; wrapping a copy keeps the caller's student intact.
    """
    copy = keras.models.clone_model(model)
    set_weights(copy, model.get_weights())
    return copy


def set_weights(model, values) -> None:
    """`model.set_weights(values)`, then what Keras' own loaders do after it.

    An adapted `Normalization` computes with tensors that `finalize_state`
    makes from its weights, and `set_weights` does not call it: without this,
    a copied student would not normalize its inputs (Keras 3).
    """
    model.set_weights(values)
    for layer in walk_layers(model):
        if hasattr(layer, "finalize_state"):
            layer.finalize_state()


def wrap_layers(model, wrap: Callable, skip_layers: list[str], action: str, fix: str):
    """Rebuilds `model` with `wrap(layer)` applied to every layer that has weights.

    Layers without weights have nothing to compress and are kept as they are;
    so are layers named in `skip_layers`. TF-MOT raises ValueError for a layer
    it does not support: such layers are collected and named in one error,
    unless all their weights are non-trainable statistics (e.g.
    `Normalization`), which are kept as they are.

    Args:
        model: a Functional or Sequential model (a private copy: its layers are
            reused).
        wrap: `layer -> wrapped layer`; raises ValueError for unsupported layers.
        skip_layers: names of layers to keep as they are.
        action: what is being done ("prune", "cluster"), for the message.
        fix: how to deal with an unsupported layer, for the message.

    Returns:
        The rebuilt model.

    Raises:
        ValueError: naming every layer TF-MOT cannot `action`.
    """
    skip = set(skip_layers)
    unsupported = []

    def clone_function(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=clone_function)
        if layer.name in skip or not layer.weights:
            return layer
        try:
            return wrap(layer)
        except ValueError as error:
            if layer.trainable_weights:
                unsupported.append((layer, error))
            return layer

    rebuilt = keras.models.clone_model(model, clone_function=clone_function)
    if unsupported:
        names = ", ".join(describe(layer) for layer, _ in unsupported)
        raise ValueError(
            f"TF-MOT cannot {action} these layers: {names}. {fix} "
            f"(TF-MOT says: {unsupported[0][1]})"
        )
    return rebuilt
