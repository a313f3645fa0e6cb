"""Feature taps: models that expose intermediate layers for feature distillation."""

from keras_distill import _compat
from keras_distill._compat import keras


def tap(model, layer_names, argname):
    """A model returning `[outputs of layer_names..., final output]` of `model`.

    It shares `model`'s layers and weights, so training it trains `model`.
    """
    if not layer_names:
        return model
    if not _compat.is_graph_model(model):
        raise TypeError(
            f"Feature distillation reads intermediate layers of `{argname}`, which "
            "needs a Functional or Sequential model; got a subclassed "
            f"{type(model).__name__}. Rebuild it with the Functional API."
        )
    available = [layer.name for layer in model.layers]
    missing = [name for name in layer_names if name not in available]
    if missing:
        raise ValueError(
            f"`{argname}` has no layer named {missing}. Available layers: {available}."
        )
    outputs = [model.get_layer(name).output for name in layer_names]
    return keras.Model(model.inputs, [*outputs, model.outputs[0]])


class Taps:
    """Holds the feature-tap models, out of reach of Keras' layer tracking."""

    def __init__(self, teachers, student):
        self.teachers = teachers
        self.student = student
