"""Tiny models and data shared by the compression tests."""

import numpy as np

from keras_distill._compat import keras

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def mlp(units=(16,), inputs=12, classes=3, name="student"):
    """A Functional MLP with Dense layers named d0, d1, ..., and `out`."""
    x = keras.Input((inputs,))
    h = x
    for i, n in enumerate(units):
        h = keras.layers.Dense(n, activation="relu", name=f"d{i}")(h)
    return keras.Model(x, keras.layers.Dense(classes, name="out")(h), name=name)


def data(n=256, inputs=12, classes=3, seed=0):
    """Inputs in [0, 1) and labels given by the first feature (learnable)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, inputs), dtype=np.float32)
    y = np.minimum((x[:, 0] * classes).astype("int64"), classes - 1)
    return x, y


class Subclassed(keras.Model):
    """A subclassed model, which TF-MOT cannot rebuild."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, inputs):
        return self.dense(inputs)


def subclassed():
    model = Subclassed()
    model(np.zeros((1, 12), np.float32))
    return model


def keras3_mlp():
    """A Keras 3 model, whichever flavour keras_distill runs on."""
    import importlib

    keras3 = importlib.import_module("keras")
    x = keras3.Input((12,))
    return keras3.Model(x, keras3.layers.Dense(3)(x))
