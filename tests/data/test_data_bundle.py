"""DataBundle: checks its own consistency and draws bounded NumPy samples."""

import numpy as np
import pytest
import tensorflow as tf

from keras_distill.data import DataBundle
from keras_distill.data import InputNormalization


def _bundle(**overrides):
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10, dtype=np.int32) % 2
    source = tf.data.Dataset.from_tensor_slices((x, y))
    fields = dict(
        name="toy",
        train=source.batch(4),
        test=source.batch(4),
        input_shape=(3,),
        num_classes=2,
        class_names=("even", "odd"),
        normalization=InputNormalization.rescale(1.0),
        batch_size=4,
        examples={"train": source, "test": source},
        num_examples={"train": 10, "test": 10},
    )
    fields.update(overrides)
    return DataBundle(**fields), x, y


def test_arrays_of_a_streamed_bundle_reads_at_most_max_examples():
    data, x, y = _bundle()
    assert not data.in_memory
    x_part, y_part = data.arrays("train", max_examples=3)
    np.testing.assert_array_equal(x_part, x[:3])
    np.testing.assert_array_equal(y_part, y[:3])
    x_all, _ = data.arrays("test")
    np.testing.assert_array_equal(x_all, x)


def test_arrays_of_an_in_memory_bundle_slices_the_arrays():
    x = np.ones((5, 3), np.float32)
    y = np.zeros(5, np.int32)
    data, _, _ = _bundle(x_train=x, y_train=y, x_test=x, y_test=y)
    assert data.in_memory
    assert data.arrays("test", max_examples=2)[0].shape == (2, 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "dev"}, "split"),
        ({"max_examples": 0}, "max_examples"),
        ({"max_examples": 2.0}, "max_examples"),
        ({"split": "validation"}, "no 'validation' split"),
    ],
)
def test_arrays_rejects_bad_arguments(kwargs, match):
    data, _, _ = _bundle()
    with pytest.raises(ValueError, match=match):
        data.arrays(**kwargs)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"class_names": ("only",)}, "1 class names for 2 classes"),
        ({"examples": {"dev": None}}, "examples"),
        ({"x_train": np.zeros((2, 3), np.float32)}, "both"),
        (
            {"x_train": np.zeros((2, 4), np.float32), "y_train": np.zeros(2)},
            "shapes",
        ),
    ],
)
def test_data_bundle_rejects_inconsistent_fields(overrides, match):
    with pytest.raises(ValueError, match=match):
        _bundle(**overrides)


def test_modality_follows_sample_rate_tokenizer_and_rank():
    assert _bundle()[0].modality == "vector"
    assert _bundle(sample_rate=16000)[0].modality == "audio"
    text, _, _ = _bundle(tokenizer=object())
    assert text.modality == "text"
    layer = text.preprocessing_layer()
    ids = np.array([[3, 0, 7]], np.int32)
    # Token ids reach the Embedding unscaled and in their own dtype.
    np.testing.assert_array_equal(np.asarray(layer(ids)), ids)
    images = tf.data.Dataset.from_tensor_slices(
        (np.zeros((2, 4, 4, 1), np.float32), np.zeros(2, np.int32))
    )
    image, _, _ = _bundle(input_shape=(4, 4, 1), examples={"train": images})
    assert image.modality == "image"
    with pytest.raises(ValueError, match="not both"):
        _bundle(sample_rate=16000, tokenizer=object())
