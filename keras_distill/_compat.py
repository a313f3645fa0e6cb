"""Which Keras keras_distill runs on, and lazy access to TF-MOT.

keras_distill follows TensorFlow's own switch: when `TF_USE_LEGACY_KERAS=1` is set
before import, `tf.keras` is tf_keras (Keras 2) and so is keras_distill; otherwise
both are Keras 3. TF-MOT (pruning, QAT, clustering) only works with tf_keras, so it
is imported inside the tf_keras compression engine only (compress/_tfmot.py and
clustering), never when keras_distill is imported: importing TF-MOT sets
`TF_USE_LEGACY_KERAS=1` as a side effect. On Keras 3, pruning and QAT use our
own engine (compress/_keras3/).

This is the only module that imports `keras`, `tf_keras` or TF-MOT.
"""

import os
import sys

# Read the switch exactly as TensorFlow's lazy `tf.keras` loader does.
LEGACY_KERAS = os.environ.get("TF_USE_LEGACY_KERAS", "") in ("true", "True", "1")

if LEGACY_KERAS:
    try:
        import tf_keras as keras
    except ModuleNotFoundError as error:
        raise ImportError(
            "TF_USE_LEGACY_KERAS=1 is set, so keras_distill runs on tf_keras, "
            "which is not installed. Install it with TF-MOT: `pip install "
            "'keras-distill[tfmot]'`, or unset TF_USE_LEGACY_KERAS to use Keras 3."
        ) from error

    FLAVOUR = "tf_keras"
else:
    import keras

    FLAVOUR = "keras3"
    if keras.backend.backend() != "tensorflow":
        raise ImportError(
            "keras_distill needs the TensorFlow backend of Keras 3, but "
            f"KERAS_BACKEND is {keras.backend.backend()!r}. Set "
            "KERAS_BACKEND=tensorflow before importing keras."
        )

SWITCH_HINT = (
    "keras_distill uses the Keras that `tf.keras` is: Keras 3 by default, tf_keras "
    "(Keras 2) when the environment variable TF_USE_LEGACY_KERAS=1 is set before "
    "TensorFlow or keras_distill is imported (for example `TF_USE_LEGACY_KERAS=1 "
    "python train.py`, or `os.environ['TF_USE_LEGACY_KERAS'] = '1'` at the very top "
    "of a notebook). Build every model with that same Keras."
)


def _other_flavour_model_class():
    """The Model class of the Keras flavour we are *not* using, if it is loaded."""
    if LEGACY_KERAS:
        other = sys.modules.get("keras")
        if other is not None and str(getattr(other, "__version__", "")).startswith(
            "3."
        ):
            return other.Model, "Keras 3"
    else:
        other = sys.modules.get("tf_keras")
        if other is not None:
            return other.Model, "tf_keras (Keras 2)"
    return None, None


def flavour_name() -> str:
    """A human name of the Keras flavour in use."""
    return "tf_keras (Keras 2)" if LEGACY_KERAS else "Keras 3"


def check_model(obj, argname: str):
    """Checks that `obj` is a model of the Keras flavour keras_distill uses.

    Args:
        obj: the object to check.
        argname: the argument's name, for the error message.

    Returns:
        `obj`, unchanged.

    Raises:
        ValueError: if `obj` is None.
        TypeError: if `obj` is not a Keras model, or is a model of the other
            Keras flavour (the message says how to switch).
    """
    if obj is None:
        raise ValueError(f"`{argname}` is required: pass a Keras model.")
    if isinstance(obj, keras.Model):
        return obj
    other_cls, other_name = _other_flavour_model_class()
    if other_cls is not None and isinstance(obj, other_cls):
        raise TypeError(
            f"`{argname}` is a {other_name} model, but keras_distill is running on "
            f"{flavour_name()}. {SWITCH_HINT}"
        )
    raise TypeError(
        f"`{argname}` must be a Keras model ({flavour_name()}), got "
        f"{type(obj).__name__}: {obj!r:.80}"
    )


def import_tfmot():
    """Imports TF-MOT, which works only with tf_keras.

    Returns:
        The `tensorflow_model_optimization` module.

    Raises:
        RuntimeError: when keras_distill runs on Keras 3 (TF-MOT rejects Keras 3
            models); the message says how to switch to tf_keras.
    """
    if not LEGACY_KERAS:
        raise RuntimeError(
            "Clustering uses the TensorFlow Model Optimization Toolkit, which only "
            "works with tf_keras (Keras 2), but keras_distill is running on Keras "
            "3. Pruning and quantization-aware training work on Keras 3 (our own "
            "engine); for clustering, restart Python with TF_USE_LEGACY_KERAS=1 "
            "set before anything imports TensorFlow and build your models with "
            "`tf.keras` (or `import tf_keras`)."
        )
    from keras_distill._optional import require

    return require("tensorflow_model_optimization", "Compression on tf_keras (TF-MOT)")


def compiled_metrics(model) -> list:
    """The metric objects `model.compile(metrics=...)` created, in either flavour.

    Keras 3 keeps them in one `CompileMetrics` object whose result is a dict;
    tf_keras in a `MetricsContainer` whose `.metrics` exist once it is built.
    """
    if LEGACY_KERAS:
        container = getattr(model, "compiled_metrics", None)
        return list(container.metrics) if container is not None else []
    container = getattr(model, "_compile_metrics", None)
    return [container] if container is not None else []


def rename_layer(layer, name: str) -> None:
    """Sets a layer's name: Keras 3 keeps it in an attribute, tf_keras behind a
    read-only property over `_name`."""
    if LEGACY_KERAS:
        layer._name = name
    else:
        layer.name = name


def is_graph_model(model) -> bool:
    """Whether `model` is a Functional or built Sequential model (not subclassed).

    TF-MOT and feature distillation need its graph of layers.
    """
    if LEGACY_KERAS:
        return bool(getattr(model, "_is_graph_network", False))
    from keras.src.models.functional import Functional

    if isinstance(model, Functional):
        return True
    if isinstance(model, keras.Sequential):
        try:
            return bool(model.inputs)
        except (AttributeError, ValueError):
            return False
    return False


# Keras has no public API for a layer's sublayers or a Functional model's
# graph; these are the only places keras_distill reads Keras' private
# attributes for them (tests/test_compat.py pins what they return).
def sublayers(layer, recursive: bool = True) -> list:
    """The layers inside `layer` (not `layer` itself), nested ones too if `recursive`.

    Keras' own `_flatten_layers`: tracked sublayers, in the order they were
    set, each once.
    """
    return list(layer._flatten_layers(include_self=False, recursive=recursive))


def nodes_by_depth(model) -> dict:
    """A Functional model's call nodes by depth (Keras' `_nodes_by_depth`)."""
    return model._nodes_by_depth


def inbound_nodes(layer) -> list:
    """The nodes where `layer` was called in model graphs (`_inbound_nodes`)."""
    return list(getattr(layer, "_inbound_nodes", []))


def attention_calls(layer) -> list[tuple[tuple, tuple]]:
    """`(query shape, value shape)` of every call of a `MultiHeadAttention`.

    Keras 3 keeps a node's call arguments (`node.arguments`); tf_keras records
    only the query as the node's input, so the value's shape is the one the
    layer was built for (`_value_shape`), the same for every call.
    """
    calls = []
    for node in inbound_nodes(layer):
        if LEGACY_KERAS:
            query, value = layer._query_shape, layer._value_shape
        else:
            args, kwargs = node.arguments.args, node.arguments.kwargs
            query = (args[0] if args else kwargs["query"]).shape
            value = (args[1] if len(args) > 1 else kwargs["value"]).shape
        calls.append((tuple(query), tuple(value)))
    return calls


def attention_projections(layer) -> dict:
    """The `EinsumDense` projections of a `MultiHeadAttention` (its `_query_dense`,
    `_key_dense`, `_value_dense`, `_output_dense` and, gated, `_gate_dense`),
    by those names without the underscore; the ones it lacks are left out."""
    names = ("query_dense", "key_dense", "value_dense", "output_dense", "gate_dense")
    found = {name: getattr(layer, f"_{name}", None) for name in names}
    return {name: dense for name, dense in found.items() if dense is not None}


def scale_loss(optimizer, loss):
    """The loss a mixed_float16 `LossScaleOptimizer` differentiates (else `loss`).

    Keras 3 optimizers scale in `scale_loss` and unscale in `apply_gradients`;
    tf_keras' `LossScaleOptimizer` needs `get_scaled_loss` and
    `get_unscaled_gradients` around a custom step.
    """
    if LEGACY_KERAS:
        if isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer):
            return optimizer.get_scaled_loss(loss)
        return loss
    return optimizer.scale_loss(loss)


def unscale_gradients(optimizer, gradients):
    """Undoes `scale_loss` on gradients where the optimizer does not (tf_keras)."""
    if LEGACY_KERAS and isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer):
        return optimizer.get_unscaled_gradients(gradients)
    return gradients
