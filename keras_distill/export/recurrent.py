"""Recurrent students (LSTM, GRU, SimpleRNN, Bidirectional) for the converter.

A Keras recurrent layer runs a `tf.while_loop` over TensorLists whose element
shape holds the free batch axis, and the converter refuses it
("'tf.TensorListReserve' op requires element_shape to be static"). Two ways
out were measured on TF 2.21 with both Keras flavours (see docs/export.md):

- a concrete function with a fixed batch of 1: tf_keras' LSTM then becomes
  LiteRT's fused UNIDIRECTIONAL_SEQUENCE_LSTM, whose state lives in variable
  tensors that carry over from one `invoke()` to the next (wrong outputs
  unless the app resets them before every call); GRU, SimpleRNN and every
  Keras 3 layer become a WHILE loop, which the int8 converter could not
  quantize (the Keras 3 LSTM crashed the process with a segmentation fault);
- unrolling (`unroll=True`), chosen here: each time step becomes plain
  FULLY_CONNECTED, LOGISTIC, TANH, MUL and ADD ops, which convert in all four
  modes on both flavours, keep the free batch axis and carry no state between
  calls. The file grows with the number of time steps, which must be fixed.

The student itself is not changed: conversion runs on a copy of every layer,
the recurrent ones rebuilt from their config with `unroll=True`, with the
same weights.
"""

from keras_distill._compat import keras
from keras_distill.compress import _layers


def _recurrent_layers(model) -> list:
    """`(layer, rnn)` for every recurrent layer; `rnn` is the one holding settings.

    A Bidirectional layer yields its forward and backward layers.
    """
    found = []
    for layer in _layers.walk_layers(model):
        inner = _layers.inner_layer(layer)
        if isinstance(inner, keras.layers.Bidirectional):
            found.append((inner, inner.forward_layer))
            found.append((inner, inner.backward_layer))
        elif isinstance(inner, keras.layers.RNN):
            found.append((inner, inner))
    return found


def has_recurrent_layers(model) -> bool:
    """Whether `model` holds an RNN or Bidirectional layer (nested models too)."""
    return bool(_recurrent_layers(model))


def _timesteps(layer) -> int | None:
    try:
        shape = layer.input.shape
    except (AttributeError, ValueError):  # a layer called several times
        return -1
    if len(shape) < 3:
        return -1
    return None if shape[1] is None else int(shape[1])


def check_recurrent(model) -> None:
    """Refuses recurrent settings the converter cannot take, before converting.

    Raises:
        ValueError: a recurrent layer is `stateful=True`, or its input has a
            free number of time steps, naming the layer and the fix.
    """
    for layer, rnn in _recurrent_layers(model):
        if rnn.stateful:
            raise ValueError(
                f"`model` layer {layer.name!r} ({type(layer).__name__}) has "
                "stateful=True: its state would have to live between calls of "
                "the .tflite file, which keras_distill does not export. Rebuild "
                "the layer with stateful=False (same weights: "
                "new.set_weights(old.get_weights())) and feed whole sequences."
            )
        if _timesteps(layer) is None:
            raise ValueError(
                f"`model` layer {layer.name!r} ({type(layer).__name__}) takes a "
                "free number of time steps, but a recurrent layer exports "
                "unrolled, one set of ops per step. Build the model on a fixed "
                "length, e.g. keras.Input(shape=(timesteps, features)), and pad "
                "or crop sequences to it."
            )


def _with_unroll(config: dict) -> dict:
    return {**config, "unroll": True}


def _unrolled_layer(layer):
    config = layer.get_config()
    if isinstance(layer, keras.layers.Bidirectional):
        config["layer"] = {**config["layer"]}
        config["layer"]["config"] = _with_unroll(config["layer"]["config"])
        if config.get("backward_layer"):
            config["backward_layer"] = {**config["backward_layer"]}
            config["backward_layer"]["config"] = _with_unroll(
                config["backward_layer"]["config"]
            )
        return type(layer).from_config(config)
    return type(layer).from_config(_with_unroll(config))


def unrolled(model):
    """A copy of `model` whose recurrent layers have `unroll=True`, same weights.

    Every layer is copied, none is shared: calling one of `model`'s layers in
    the copy would add a call to it in `model` (its MACs, counted per call,
    would double). A model without recurrent layers is returned as it is.
    """
    if not has_recurrent_layers(model):
        return model

    def clone_function(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=clone_function)
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
            return _unrolled_layer(layer)
        return type(layer).from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone_function)
    _layers.set_weights(copy, model.get_weights())
    return copy
