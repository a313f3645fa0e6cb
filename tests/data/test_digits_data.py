"""digits: scikit-learn's 8x8 images, raw 0..16, seeded stratified split."""

import numpy as np
import pytest
from sklearn.datasets import load_digits as sklearn_load_digits

from keras_distill._compat import keras
from keras_distill.data import load_digits


def _epoch(dataset):
    batches = list(dataset)
    return (
        np.concatenate([x.numpy() for x, _ in batches]),
        np.concatenate([y.numpy() for _, y in batches]),
    )


def _sorted_rows(images):
    return sorted(image.astype(np.uint8).tobytes() for image in images)


def test_load_digits_gives_raw_8x8x1_images_and_an_80_20_split():
    data = load_digits()
    assert data.input_shape == (8, 8, 1)
    assert data.num_classes == 10 and data.class_names == tuple("0123456789")
    assert data.x_train.shape == (1437, 8, 8, 1)
    assert data.x_test.shape == (360, 8, 8, 1)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
    # Raw pixel counts 0..16, not rescaled.
    assert data.x_train.min() == 0 and data.x_train.max() == 16
    np.testing.assert_array_equal(data.x_train, np.round(data.x_train))


def test_load_digits_split_is_stratified_disjoint_and_complete():
    data = load_digits(seed=1)
    reference = sklearn_load_digits()
    everything = np.concatenate([data.x_train, data.x_test])[..., 0]
    assert _sorted_rows(everything) == _sorted_rows(reference.images)
    train_share = np.bincount(data.y_train) / len(data.y_train)
    test_share = np.bincount(data.y_test) / len(data.y_test)
    np.testing.assert_allclose(train_share, test_share, atol=0.01)


def test_load_digits_split_depends_only_on_the_seed():
    first, again, other = load_digits(seed=5), load_digits(seed=5), load_digits(seed=6)
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert not np.array_equal(first.x_test, other.x_test)


def test_load_digits_train_pipeline_shuffles_each_epoch_reproducibly():
    data = load_digits(batch_size=100, seed=2)
    x1, y1 = _epoch(data.train)
    x2, y2 = _epoch(data.train)
    assert len(y1) == 1437
    # Every epoch is a permutation of the training arrays, in a new order...
    np.testing.assert_array_equal(np.sort(y1), np.sort(data.y_train))
    assert not np.array_equal(y1, data.y_train)
    assert not np.array_equal(y1, y2)
    # ...and the same seed repeats the same sequence of epochs.
    fresh = load_digits(batch_size=100, seed=2)
    np.testing.assert_array_equal(_epoch(fresh.train)[0], x1)
    np.testing.assert_array_equal(_epoch(fresh.train)[0], x2)


def test_load_digits_test_pipeline_is_batched_in_array_order():
    data = load_digits(batch_size=64)
    sizes = [int(y.shape[0]) for _, y in data.test]
    assert sizes == [64] * 5 + [40]
    x, y = _epoch(data.test)
    np.testing.assert_array_equal(x, data.x_test)
    np.testing.assert_array_equal(y, data.y_test)


def test_load_digits_validation_fraction_holds_out_part_of_train_only():
    data = load_digits(validation_fraction=0.2)
    assert data.num_examples == {"train": 1149, "validation": 288, "test": 360}
    assert data.x_val.shape == (288, 8, 8, 1)
    np.testing.assert_array_equal(data.x_test, load_digits().x_test)
    x_val, _ = _epoch(data.validation)
    np.testing.assert_array_equal(x_val, data.x_val)


def test_load_digits_preprocessing_layer_rescales_to_unit_range():
    data = load_digits()
    layer = data.preprocessing_layer(name="scale")
    assert isinstance(layer, keras.layers.Rescaling) and layer.name == "scale"
    out = np.asarray(layer(data.x_test[:32]))
    np.testing.assert_allclose(
        out, data.x_test[:32].astype(np.float64) / 16.0, atol=1e-7
    )


def test_digits_model_with_its_preprocessing_layer_beats_chance():
    data = load_digits(batch_size=64)
    inputs = keras.Input(data.input_shape)
    x = data.preprocessing_layer()(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(data.num_classes)(x))
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["sparse_categorical_accuracy"],
    )
    # The pipeline is already shuffled; Keras 3 warns about its own shuffle=True.
    model.fit(data.train, epochs=3, shuffle=False, verbose=0)
    _, accuracy = model.evaluate(data.test, verbose=0)
    assert accuracy > 0.8  # chance is 0.1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"validation_fraction": -0.1}, "validation_fraction"),
    ],
)
def test_load_digits_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_digits(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"seed": "1"}, TypeError),
        ({"seed": 1.0}, TypeError),
        ({"seed": -1}, ValueError),
        ({"test_fraction": "0.2"}, TypeError),
        ({"test_fraction": None}, TypeError),
        ({"test_fraction": float("nan")}, ValueError),
        ({"validation_fraction": 1}, ValueError),
        ({"batch_size": True}, TypeError),
        ({"batch_size": 0}, ValueError),
    ],
)
def test_load_digits_type_errors_for_wrong_types_value_errors_for_bad_values(
    kwargs, error
):
    (name,) = kwargs
    with pytest.raises(error, match=name):
        load_digits(**kwargs)
