"""load_dataset: one name -> DataBundle; explicit registry, clear bad-input errors."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import keras_distill.data.registry as registry
from keras_distill.data import DEFAULT_DATASET
from keras_distill.data import DataBundle
from keras_distill.data import dataset_choices
from keras_distill.data import load_dataset
from keras_distill.data import load_digits
from keras_distill.data import register_dataset

REGISTERED = sorted(registry._LOADERS)


@pytest.fixture(autouse=True)
def private_cache_and_registry(tmp_path_factory, monkeypatch):
    """No writes to the real home cache; registrations do not leak across tests."""
    monkeypatch.setenv("KERAS_DISTILL_CACHE", str(tmp_path_factory.getbasetemp()))
    monkeypatch.setattr(registry, "_LOADERS", dict(registry._LOADERS))


def test_builtin_names_and_default():
    assert DEFAULT_DATASET == "mnist1d"
    assert {"mnist1d", "digits"} <= set(REGISTERED)
    assert dataset_choices()[-2:] == (
        "tfds:<name>",
        "<path to a folder of images, .wav clips or .txt files>",
    )


@pytest.mark.parametrize("name", REGISTERED)
def test_every_registered_dataset_gives_a_consistent_bundle(name):
    data = load_dataset(name, batch_size=16, seed=0, validation_fraction=0.1)
    assert isinstance(data, DataBundle) and data.name == name
    assert data.num_classes == len(data.class_names) >= 2
    x, y = next(iter(data.train))
    assert tuple(x.shape) == (16, *data.input_shape)
    assert x.dtype.name == "float32" and y.dtype.name == "int32"
    assert int(np.min(y)) >= 0 and int(np.max(y)) < data.num_classes
    assert data.validation is not None
    # The model-side normalization maps raw training inputs to unit scale.
    x_train, _ = data.arrays("train", max_examples=500)
    normalized = np.asarray(data.preprocessing_layer()(x_train))
    assert np.all(np.isfinite(normalized))
    assert 0.05 < normalized.std() < 3.0 and np.abs(normalized).max() < 20


def test_load_dataset_default_is_mnist1d():
    assert load_dataset().input_shape == (40,)


def test_load_dataset_passes_batch_size_seed_and_options():
    data = load_dataset("digits", batch_size=50, seed=7, test_fraction=0.5)
    reference = load_digits(batch_size=50, seed=7, test_fraction=0.5)
    np.testing.assert_array_equal(data.x_test, reference.x_test)
    assert data.num_examples["test"] == 899
    assert int(next(iter(data.train))[1].shape[0]) == 50


def test_load_dataset_tfds_prefix_dispatches_to_tfds():
    with tfds.testing.mock_data(num_examples=10):
        data = load_dataset("tfds:mnist", batch_size=4)
    assert data.name == "tfds:mnist" and data.input_shape == (28, 28, 1)


def test_load_dataset_folder_path_dispatches_to_image_folder(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for index in range(5):
            pixels = np.full((4, 4, 3), 40 * index, np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{index}.png")
    data = load_dataset(str(tmp_path), image_size=4, batch_size=2)
    assert data.class_names == ("a", "b") and data.input_shape == (4, 4, 3)


def test_load_dataset_unknown_name_lists_the_choices():
    with pytest.raises(ValueError) as error:
        load_dataset("mnist1")
    message = str(error.value)
    assert "Unknown dataset 'mnist1'" in message and "Did you mean 'mnist1d'" in message
    for choice in ("mnist1d", "digits", "tfds:<name>", "folder of images"):
        assert choice in message


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        ("", ValueError, "empty"),
        ("tfds:", ValueError, "tfds:mnist"),
        ("./no/such/folder", ValueError, "no folder there"),
        (3, TypeError, "string"),
    ],
)
def test_load_dataset_rejects_bad_names(name, error, match):
    with pytest.raises(error, match=match):
        load_dataset(name)


def test_load_dataset_rejects_options_the_loader_does_not_take():
    with pytest.raises(TypeError, match=r"\['image_size'\] for digits.*test_fraction"):
        load_dataset("digits", image_size=8)


def test_register_dataset_adds_a_name_and_refuses_duplicates():
    def load_tiny(*, batch_size, seed, scale=1.0):
        return load_digits(batch_size=batch_size, seed=seed)

    register_dataset("tiny", load_tiny)
    assert "tiny" in dataset_choices()
    assert load_dataset("tiny", batch_size=8, scale=2.0).batch_size == 8
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("tiny", load_tiny)
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("digits", load_tiny)


@pytest.mark.parametrize("name", ["", "tfds:x", "a/b", " pad"])
def test_register_dataset_rejects_names_that_would_be_ambiguous(name):
    with pytest.raises(ValueError, match="name"):
        register_dataset(name, load_digits)


def test_register_dataset_rejects_a_loader_that_is_not_callable():
    with pytest.raises(TypeError, match="callable"):
        register_dataset("thing", "load_digits")
