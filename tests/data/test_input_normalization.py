"""InputNormalization: the model carries its own preprocessing, saved with it."""

import numpy as np
import pytest

from keras_distill._compat import keras
from keras_distill.data import InputNormalization


def test_standardize_layer_matches_the_float64_reference():
    rng = np.random.default_rng(0)
    x_train = rng.normal(3.0, [0.5, 2.0, 4.0], size=(200, 3))
    norm = InputNormalization.standardize(x_train)
    np.testing.assert_allclose(norm.mean, x_train.mean(0), rtol=1e-12)
    np.testing.assert_allclose(norm.variance, x_train.var(0), rtol=1e-12)
    x = rng.normal(size=(10, 3)).astype(np.float32)
    expected = (x - x_train.mean(0)) / x_train.std(0)
    np.testing.assert_allclose(norm.apply(x), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(norm.layer()(x)), expected, rtol=1e-5)


def test_standardize_layer_leaves_constant_features_finite():
    x_train = np.array([[1.0, 5.0], [3.0, 5.0]])
    norm = InputNormalization.standardize(x_train)
    out = np.asarray(norm.layer()(np.array([[2.0, 5.0]], np.float32)))
    np.testing.assert_allclose(out, norm.apply([[2.0, 5.0]]), atol=1e-6)
    assert np.all(np.isfinite(out))


def test_rescale_layer_matches_the_reference():
    norm = InputNormalization.rescale(1 / 255, offset=-0.5)
    x = np.array([[0.0, 127.0, 255.0]], np.float32)
    np.testing.assert_allclose(
        np.asarray(norm.layer()(x)), [[-0.5, 127 / 255 - 0.5, 0.5]], atol=1e-7
    )


@pytest.mark.parametrize(
    "norm",
    [
        InputNormalization.standardize(np.arange(12.0).reshape(4, 3) ** 2),
        InputNormalization.rescale(1 / 16),
    ],
    ids=["standardize", "rescale"],
)
def test_model_with_the_layer_round_trips_through_a_saved_file(norm, tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2)(norm.layer(name="preprocessing")(inputs))
    model = keras.Model(inputs, outputs)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    x = np.array([[0.0, 4.0, 16.0], [9.0, 1.0, 2.0]], np.float32)
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(restored.get_layer("preprocessing")(x)), norm.apply(x), atol=1e-5
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "zscore"}, "kind"),
        ({"kind": "standardize", "mean": (0.0,)}, "variance"),
        ({"kind": "standardize", "mean": (0.0,), "variance": (1.0, 2.0)}, "match"),
        ({"kind": "standardize", "mean": (0.0,), "variance": (-1.0,)}, ">= 0"),
    ],
)
def test_input_normalization_rejects_inconsistent_fields(kwargs, match):
    with pytest.raises(ValueError, match=match):
        InputNormalization(**kwargs)


def test_standardize_needs_a_2d_array():
    with pytest.raises(ValueError, match="2-D"):
        InputNormalization.standardize(np.zeros((4, 2, 2)))
