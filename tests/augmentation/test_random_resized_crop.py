"""RandomResizedCrop: shapes, dtypes, identity cases and per-image crops."""

import numpy as np
import pytest
import tensorflow as tf

from keras_distill._compat import keras
from keras_distill.augmentation import RandomResizedCrop


def _images(dtype="float32", shape=(8, 12, 16, 3)):
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, size=shape).astype(dtype)


def test_crop_keeps_shape_and_float32_dtype():
    x = _images("float32")
    out = RandomResizedCrop()(tf.constant(x), training=True)
    assert out.shape == x.shape and out.dtype == tf.float32


def test_integer_images_become_float32_crops():
    x = _images("uint8")
    out = RandomResizedCrop()(tf.constant(x), training=True)
    assert out.shape == x.shape and out.dtype == tf.float32


def test_crop_is_identity_outside_training():
    x = tf.constant(_images())
    for training in (False, None):
        np.testing.assert_array_equal(RandomResizedCrop()(x, training=training), x)


def test_whole_image_crop_returns_the_image_exactly():
    x = _images(shape=(4, 10, 10, 2))
    crop = RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0))
    np.testing.assert_allclose(crop(tf.constant(x), training=True), x, atol=1e-3)


def test_each_image_gets_its_own_zoomed_crop_within_the_pixel_range():
    # The same smooth image 8 times: different crops give different outputs.
    ramp = np.linspace(0, 255, 32, dtype="float32")
    x = np.broadcast_to(ramp[None, None, :, None], (8, 32, 32, 1)).copy()
    out = RandomResizedCrop(scale=(0.2, 0.5))(tf.constant(x), training=True).numpy()
    assert out.min() >= -1e-3 and out.max() <= 255 + 1e-3
    spans = out[:, 0, -1, 0] - out[:, 0, 0, 0]  # horizontal span of the ramp
    assert np.all(spans < 0.95 * 255)  # zoomed in: part of the ramp
    assert len(np.unique(np.round(spans, 3))) == 8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scale": (0.0, 1.0)}, "`scale`"),
        ({"scale": (0.5, 1.5)}, "`scale`"),
        ({"scale": 0.5}, "`scale`"),
        ({"ratio": (2.0, 1.0)}, "`ratio`"),
    ],
)
def test_crop_refuses_ranges_out_of_bounds(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomResizedCrop(**kwargs)


def test_crop_survives_serialization():
    layer = RandomResizedCrop(scale=(0.3, 0.9), ratio=(0.5, 2.0), name="crop")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, RandomResizedCrop)
    assert restored.scale == (0.3, 0.9) and restored.ratio == (0.5, 2.0)
    assert restored.name == "crop"
