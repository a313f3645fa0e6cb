"""Tiny seeded models and data shared by the tests."""

import numpy as np

from keras_distill._compat import keras


def mlp(input_dim=8, hidden=(16,), classes=4, name=None, **dense_kwargs):
    layers = [keras.Input((input_dim,))]
    for i, units in enumerate(hidden):
        layers.append(
            keras.layers.Dense(
                units, activation="relu", name=f"hidden{i}", **dense_kwargs
            )
        )
    layers.append(keras.layers.Dense(classes, name="logits"))
    return keras.Sequential(layers, name=name)


def blobs(n=128, input_dim=8, classes=4, seed=0):
    """Separable Gaussian blobs: float32 features and int labels."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(classes, input_dim))
    y = rng.integers(0, classes, size=n)
    x = centers[y] + rng.normal(size=(n, input_dim))
    return x.astype("float32"), y.astype("int64")


def sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
