"""tfds:<name>: offline TFDS image classification, tested with mock_data."""

import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_distill._compat import keras
from keras_distill.data import DatasetNotPreparedError
from keras_distill.data import load_tfds
from keras_distill.data.tfds import _resolve_splits


@pytest.fixture
def mock_tfds():
    """20 deterministic random examples per split; no files, no network."""
    with tfds.testing.mock_data(num_examples=20):
        yield


def _labels(dataset):
    return np.concatenate([y.numpy() for _, y in dataset])


def test_load_tfds_mnist_gives_raw_float32_images_and_class_names(mock_tfds):
    data = load_tfds("mnist", batch_size=8)
    assert data.name == "tfds:mnist"
    assert data.input_shape == (28, 28, 1)
    assert data.num_classes == 10 and data.class_names == tuple("0123456789")
    assert not data.in_memory and data.x_train is None
    assert data.num_examples == {"train": 20, "test": 20}
    assert [int(y.shape[0]) for _, y in data.train] == [8, 8, 4]
    x, y = next(iter(data.test))
    assert x.dtype.name == "float32" and y.dtype.name == "int32"
    assert tuple(x.shape) == (8, 28, 28, 1)
    pixels = x.numpy()
    # Raw uint8 values, only cast: integers up to 255, not scaled to [0, 1].
    assert pixels.max() > 1 and pixels.max() <= 255 and pixels.min() >= 0
    np.testing.assert_array_equal(pixels, np.round(pixels))
    assert set(_labels(data.test)) <= set(range(10))


def test_load_tfds_normalization_is_rescaling_by_1_over_255(mock_tfds):
    data = load_tfds("mnist")
    layer = data.preprocessing_layer()
    assert isinstance(layer, keras.layers.Rescaling)
    x, _ = next(iter(data.test))
    np.testing.assert_allclose(
        np.asarray(layer(x)), x.numpy().astype(np.float64) / 255.0, atol=1e-7
    )


def test_load_tfds_train_pipeline_is_shuffled_reproducibly_per_seed(mock_tfds):
    data = load_tfds("mnist", batch_size=20, seed=1)
    _, source = data.arrays("train")
    epoch1, epoch2 = _labels(data.train), _labels(data.train)
    # Each epoch is a new permutation of the source...
    np.testing.assert_array_equal(np.sort(epoch1), np.sort(source))
    assert not np.array_equal(epoch1, source)
    assert not np.array_equal(epoch1, epoch2)
    # ...and the same seed repeats the same sequence of epochs.
    again = load_tfds("mnist", batch_size=20, seed=1)
    np.testing.assert_array_equal(_labels(again.train), epoch1)
    np.testing.assert_array_equal(_labels(again.train), epoch2)


def test_load_tfds_test_pipeline_keeps_the_source_order(mock_tfds):
    data = load_tfds("mnist", batch_size=6)
    x_source, y_source = data.arrays("test")
    np.testing.assert_array_equal(_labels(data.test), y_source)
    x_first, _ = next(iter(data.test))
    np.testing.assert_array_equal(x_first.numpy(), x_source[:6])


def test_load_tfds_arrays_draws_a_bounded_numpy_sample(mock_tfds):
    data = load_tfds("mnist")
    x, y = data.arrays("train", max_examples=7)
    assert x.shape == (7, 28, 28, 1) and x.dtype == np.float32
    assert y.shape == (7,) and y.dtype == np.int32
    with pytest.raises(ValueError, match="no 'validation' split"):
        data.arrays("validation", max_examples=3)


def test_load_tfds_validation_fraction_slices_the_train_split(mock_tfds):
    data = load_tfds("mnist", validation_fraction=0.1)
    assert "train='train[:90%]'" in data.description
    assert "validation='train[90%:100%]'" in data.description
    assert data.validation is not None
    assert sum(int(y.shape[0]) for _, y in data.validation) == 20  # mock: 20/split


def test_load_tfds_resizes_to_image_size_keeping_raw_integer_values(mock_tfds):
    data = load_tfds("mnist", image_size=(14, 10))
    assert data.input_shape == (14, 10, 1)
    x, _ = next(iter(data.train))
    assert tuple(x.shape[1:]) == (14, 10, 1)
    pixels = x.numpy()
    np.testing.assert_array_equal(pixels, np.round(pixels))
    assert pixels.min() >= 0 and pixels.max() <= 255


def test_load_tfds_varying_image_sizes_need_image_size(mock_tfds):
    with pytest.raises(ValueError, match="varying size.*image_size"):
        load_tfds("tf_flowers")
    data = load_tfds("tf_flowers", image_size=12, batch_size=4)
    assert data.input_shape == (12, 12, 3)
    assert data.num_classes == 5 and "roses" in data.class_names
    assert tuple(next(iter(data.train))[0].shape) == (4, 12, 12, 3)


def test_load_tfds_file_cache_writes_cache_files(mock_tfds, tmp_path):
    prefix = str(tmp_path / "mnist_cache")
    data = load_tfds("mnist", cache=prefix)
    list(data.train)
    assert any(p.name.startswith("mnist_cache-train") for p in tmp_path.iterdir())


def test_load_tfds_rejects_a_dataset_that_is_not_image_classification(mock_tfds):
    with pytest.raises(ValueError, match="not an image-classification dataset"):
        load_tfds("glue/cola")


def test_load_tfds_unknown_name_suggests_close_catalog_names():
    with pytest.raises(ValueError, match="no dataset named 'mnistt'.*mnist"):
        load_tfds("mnistt")


def test_load_tfds_unprepared_dataset_says_how_to_prepare_it(tmp_path):
    with pytest.raises(DatasetNotPreparedError) as error:
        load_tfds("mnist", data_dir=tmp_path)
    message = str(error.value)
    assert "not prepared in" in message and str(tmp_path) in message
    assert "tfds build mnist --data_dir" in message
    assert "download=True" in message and "TFDS_DATA_DIR" in message
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"validation_fraction": 0.125}, "whole percentage"),
        ({"image_size": (0, 5)}, "image_size"),
        ({"shuffle_buffer": 0}, "shuffle_buffer"),
        ({"batch_size": -1}, "batch_size"),
    ],
)
def test_load_tfds_rejects_bad_arguments_before_reading(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_tfds("mnist", **kwargs)


def _info(*splits):
    return types.SimpleNamespace(splits=dict.fromkeys(splits))


@pytest.mark.parametrize(
    ("splits", "val", "expected"),
    [
        ((), 0, {"train": "train", "test": "test"}),
        (("train", "test"), 0, {"train": "train", "test": "test"}),
        (("train", "validation"), 0, {"train": "train", "test": "validation"}),
        (("train",), 0, {"train": "train[:80%]", "test": "train[80%:]"}),
        (
            ("train",),
            10,
            {
                "train": "train[:70%]",
                "validation": "train[70%:80%]",
                "test": "train[80%:]",
            },
        ),
        (
            ("train", "test"),
            5,
            {"train": "train[:95%]", "validation": "train[95%:100%]", "test": "test"},
        ),
    ],
)
def test_resolve_splits_falls_back_to_validation_then_a_carved_test(
    splits, val, expected
):
    assert _resolve_splits(_info(*splits), None, None, val) == expected


def test_resolve_splits_rejects_a_split_the_dataset_lacks():
    with pytest.raises(ValueError, match="test_split.*'tset'"):
        _resolve_splits(_info("train", "test"), None, "tset", 0)
    with pytest.raises(ValueError, match="plain split name"):
        _resolve_splits(_info("train", "test"), "train[:50%]", None, 10)


@pytest.fixture(scope="module")
def prepared_data_dir(tmp_path_factory):
    """A real (not mocked) TFDS data dir holding `dummy_mnist`, generated offline.

    TFDS's download_and_prepare imports `importlib_resources`, which TFDS 4.9.10
    does not declare for Python >= 3.9 (tensorflow/datasets#11212).
    """
    pytest.importorskip("importlib_resources")
    data_dir = tmp_path_factory.mktemp("tensorflow_datasets")
    tfds.testing.DummyMnist(data_dir=str(data_dir)).download_and_prepare()
    return data_dir


def _stored(data_dir, split):
    """The stored (image, label) arrays, read with TFDS itself."""
    builder = tfds.builder("dummy_mnist", data_dir=str(data_dir))
    examples = tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))
    images, labels = zip(*((e["image"], e["label"]) for e in examples), strict=True)
    return np.stack(images), np.array(labels)


def test_load_tfds_reads_a_prepared_dataset_from_data_dir(prepared_data_dir):
    data = load_tfds("dummy_mnist", data_dir=prepared_data_dir, batch_size=8)
    assert data.num_examples == {"train": 20, "test": 20}
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10
    x_stored, y_stored = _stored(prepared_data_dir, "test")
    # The test pipeline yields exactly the stored examples, raw (only cast).
    x = np.concatenate([b.numpy() for b, _ in data.test])
    np.testing.assert_array_equal(x, x_stored.astype(np.float32))
    np.testing.assert_array_equal(_labels(data.test), y_stored)
    assert [int(y.shape[0]) for _, y in data.train] == [8, 8, 4]


def test_load_tfds_prepared_dataset_splits_come_from_its_metadata(prepared_data_dir):
    data = load_tfds("dummy_mnist", data_dir=prepared_data_dir, validation_fraction=0.2)
    assert data.num_examples == {"train": 16, "validation": 4, "test": 20}
    # Train and validation are consecutive slices of the stored train split.
    _, y_train = data.arrays("train")
    _, y_val = data.arrays("validation")
    _, y_stored = _stored(prepared_data_dir, "train")
    np.testing.assert_array_equal(np.concatenate([y_train, y_val]), y_stored)
    with pytest.raises(ValueError, match="test_split.*'valid'"):
        load_tfds("dummy_mnist", data_dir=prepared_data_dir, test_split="valid")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cache": 3}, "cache"),
        ({"shuffle_buffer": 2.5}, "shuffle_buffer"),
        ({"image_size": "28"}, "image_size"),
        ({"image_size": (28, 28.0)}, "image_size"),
        ({"seed": "0"}, "seed"),
        ({"validation_fraction": "0.1"}, "validation_fraction"),
    ],
)
def test_load_tfds_rejects_arguments_of_the_wrong_type_with_type_error(kwargs, match):
    with pytest.raises(TypeError, match=match):
        load_tfds("mnist", **kwargs)
