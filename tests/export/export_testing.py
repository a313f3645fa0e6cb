"""Shared data and a tiny trained student for the export tests.

Training takes a second, so the trained weights are computed once per process
and every test builds a fresh model from them (the autouse fixture clears the
Keras session between tests, which must not invalidate a shared model).
"""

import functools

import numpy as np
from sklearn.datasets import load_digits

from keras_distill._compat import keras

NUM_TRAIN = 1297  # digits has 1797 images: 1297 train, 500 test


@functools.lru_cache(maxsize=1)
def digits():
    """Raw sklearn digits (8x8 pixels flattened, values 0..16, float64)."""
    data = load_digits()
    order = np.random.default_rng(0).permutation(len(data.target))
    x, y = data.data[order], data.target[order].astype(np.int64)
    return x[:NUM_TRAIN], y[:NUM_TRAIN], x[NUM_TRAIN:], y[NUM_TRAIN:]


def normalization_stats():
    """Per-pixel mean and variance of the training split; variance floored at 1
    so pixels that are (almost) always blank are not blown up."""
    x_train = digits()[0]
    return x_train.mean(axis=0), np.maximum(x_train.var(axis=0), 1.0)


def build_student(name: str = "student"):
    """A Dense student with its normalization inside: it takes raw pixels."""
    mean, variance = normalization_stats()
    return keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Normalization(mean=mean, variance=variance),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ],
        name=name,
    )


@functools.lru_cache(maxsize=1)
def trained_weights():
    keras.utils.set_random_seed(0)
    model = build_student()
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x_train, y_train = digits()[:2]
    model.fit(x_train.astype("float32"), y_train, epochs=3, batch_size=32, verbose=0)
    return tuple(w.copy() for w in model.get_weights())


def trained_student(name: str = "student"):
    """A fresh copy of the trained student."""
    model = build_student(name)
    model.set_weights(list(trained_weights()))
    return model


def reference_logits(x) -> np.ndarray:
    """The trained student's forward pass in float64 NumPy."""
    mean, variance = normalization_stats()
    weights = trained_weights()
    kernel1, bias1, kernel2, bias2 = (w.astype(np.float64) for w in weights[-4:])
    standardized = (np.asarray(x, np.float64) - mean) / np.sqrt(variance)
    hidden = np.maximum(standardized @ kernel1 + bias1, 0.0)
    return hidden @ kernel2 + bias2
