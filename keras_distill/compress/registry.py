"""Which engine compresses a model, and the checks and layer walks they share.

keras_distill has two compression engines behind one API (`prune`, `quantize`,
`strip_pruning`, ...), picked by the Keras that keras_distill runs on:

- tf_keras (`TF_USE_LEGACY_KERAS=1`): TF-MOT (`compress/_tfmot.py`), which wraps
  layers (`PruneLowMagnitude`, `QuantizeWrapperV2`, ...) and rebuilds the model
  with `clone_model`, so it needs Functional or Sequential models.
- Keras 3: our own engine (`compress/_keras3/`), because TF-MOT rejects Keras 3
  models (tensorflow/model-optimization#1119). Pruning keeps the student's own
  layers and masks their kernels, so it also takes subclassed models;
  quantization-aware training rebuilds the graph with fake-quantized layers.

This module knows both engines' layer policy by class name (it imports neither
TF-MOT nor the engines): which wrappers or state a model still carries, and the
one layer walker that `compress`, `export` and `sparsity_report` use.
"""

from collections.abc import Callable
from collections.abc import Iterable

from keras_distill import _compat
from keras_distill._compat import keras

TFMOT = "tfmot"
NATIVE = "native"

# TF-MOT wrappers, by class name, so that this module never imports TF-MOT.
_OPTIMIZATION_WRAPPERS = {
    "PruneLowMagnitude": "pruning (remove it with `strip_pruning`)",
    "ClusterWeights": "clustering (remove it with `strip_clustering`)",
    "ClusterWeightsRNN": "clustering (remove it with `strip_clustering`)",
    "ClusterWeightsMHA": "clustering (remove it with `strip_clustering`)",
    "QuantizeWrapper": "quantization-aware training",
    "QuantizeWrapperV2": "quantization-aware training",
    "QuantizeAnnotate": "a quantization annotation",
}
_TFMOT_PRUNING = ("PruneLowMagnitude",)
_TFMOT_QAT = ("QuantizeWrapper", "QuantizeWrapperV2", "QuantizeLayer")
_TFMOT_MODULE = "tensorflow_model_optimization"
# Our Keras 3 engine's state, by class name: the constraint that masks a pruned
# kernel, and the module of its quantization-aware layers.
_NATIVE_MASK = "MagnitudeMask"
_NATIVE_MODULE = "keras_distill.compress._keras3"


def engine_name() -> str:
    """`"tfmot"` on tf_keras, `"native"` (our Keras 3 engine) on Keras 3."""
    return TFMOT if _compat.LEGACY_KERAS else NATIVE


def engine():
    """The engine module for the Keras in use (imported on first use).

    Both modules have the same small interface: `schedule_classes`, `prune`,
    `pruning_callbacks`, `strip_pruning`, `is_pruned`, `quantize`,
    `is_qat_model`, and `PRUNES_SUBCLASSED`.
    """
    if _compat.LEGACY_KERAS:
        from keras_distill.compress import _tfmot

        return _tfmot
    from keras_distill.compress import _keras3

    return _keras3


def is_pruned(model) -> bool:
    """Whether `model` still carries pruning state (wrappers or kernel masks)."""
    if any(type(layer).__name__ in _TFMOT_PRUNING for layer in walk_layers(model)):
        return True
    return any(
        type(getattr(variable, "constraint", None)).__name__ == _NATIVE_MASK
        for variable in model.weights
    )


def is_qat_model(model) -> bool:
    """Whether `model` was prepared for quantization-aware training (either engine)."""
    for layer in walk_layers(model):
        module = type(layer).__module__
        if module.startswith(_NATIVE_MODULE):
            return True
        if module.startswith(_TFMOT_MODULE) and type(layer).__name__ in _TFMOT_QAT:
            return True
    return False


def is_graph_model(model) -> bool:
    """Whether `model` is a Functional or Sequential model (not subclassed).

    Unlike `_compat.is_graph_model`, an unbuilt Sequential counts: `check_student`
    then asks for it to be built, which is the fix the user needs.
    """
    return isinstance(model, keras.Sequential) or _compat.is_graph_model(model)


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
    for model in _models(student) if graph_only else ():
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
        f"{layer.name!r} ({_OPTIMIZATION_WRAPPERS[type(layer).__name__]})"
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


def _models(model) -> list:
    """`model` and every model nested in it."""
    found = [model]
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(_models(layer))
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
    return type(layer).__name__ in _OPTIMIZATION_WRAPPERS


def is_fused_quantize(layer) -> bool:
    """Whether `layer` is our Keras 3 engine's quantization-aware Conv/Dense.

    It holds the float layer it computes as `layer.layer` (with the following
    BatchNormalization folded in), like a TF-MOT wrapper.
    """
    if _compat.LEGACY_KERAS:
        return False
    from keras_distill.compress._keras3.quantizers import FusedQuantize

    return isinstance(layer, FusedQuantize)


def native_float_layer(layer) -> tuple[str, list] | None:
    """`(name, weights)` of the float layer that a layer of our Keras 3 QAT
    engine computes, else None.

    Covers every replacement `quantize` makes on Keras 3 (`FusedQuantize`,
    `QuantizedEmbedding`, `QuantizedEinsumDense`,
    `QuantizedMultiHeadAttention`, and the `keras.layers.RNN` of a
    `QuantizedLSTMCell`/`QuantizedGRUCell`): the name is the float layer's
    (not `quant_<name>`), the weights are the float layer's own, without
    sparsity masks or quantizer state. None on tf_keras.
    """
    if _compat.LEGACY_KERAS:
        return None
    from keras_distill.compress._keras3.quantized_layers import float_layer

    return float_layer(layer)


def inner_layer(layer):
    """The layer inside a TF-MOT wrapper, else `layer` itself.

    Other Keras wrappers (TimeDistributed, Bidirectional) are layers in their
    own right and are not unwrapped.
    """
    while is_tfmot_wrapper(layer):
        layer = layer.layer
    return layer


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
