"""Image folders: one sub-folder per class -> seeded splits of raw images."""

import numpy as np
import pytest
from PIL import Image

from keras_distill._compat import keras
from keras_distill.data import load_image_folder

CLASSES = ("cat", "dog", "fox")
PER_CLASS = 10


def _write_image(path, red, green, size=(12, 10)):
    """A uniform RGB image whose colour encodes (class, index)."""
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = red, green, 7
    Image.fromarray(pixels).save(path)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "animals"
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for index in range(PER_CLASS):
            _write_image(root / name / f"{index}.png", 100 * label, 20 * index)
    (root / ".hidden").mkdir()  # skipped, as Keras skips it
    return root


def _examples(dataset):
    """(red, green) colour identifying each image, and its label."""
    pairs = []
    for x, y in dataset:
        for image, label in zip(x.numpy(), y.numpy(), strict=True):
            pairs.append((int(image[0, 0, 0]), int(image[0, 0, 1]), int(label)))
    return pairs


def test_load_image_folder_reads_classes_labels_and_raw_pixels(folder):
    data = load_image_folder(folder, image_size=(6, 8), batch_size=8)
    assert data.class_names == CLASSES and data.num_classes == 3
    assert data.input_shape == (6, 8, 3)
    assert data.num_examples == {"train": 24, "test": 6}
    x, y = next(iter(data.train))
    assert x.dtype.name == "float32" and y.dtype.name == "int32"
    assert tuple(x.shape) == (8, 6, 8, 3)
    for red, _, label in _examples(data.train) + _examples(data.test):
        # Raw 0..255 values survive (uniform images resize to themselves), and
        # each label is the class folder the image came from.
        assert red == 100 * label


def test_load_image_folder_splits_are_disjoint_complete_and_seeded(folder):
    data = load_image_folder(folder, image_size=4, validation_fraction=0.1, seed=3)
    assert data.num_examples == {"train": 21, "test": 6, "validation": 3}
    train = _examples(data.train)
    test, validation = _examples(data.test), _examples(data.validation)
    assert len(set(train)) == 21 and len(set(test)) == 6
    assert set(train).isdisjoint(test) and set(train).isdisjoint(validation)
    assert set(test).isdisjoint(validation)
    everything = {(100 * c, 20 * i, c) for c in range(3) for i in range(PER_CLASS)}
    assert set(train) | set(test) | set(validation) == everything
    # Same seed, same split; the test split stays the same across epochs.
    again = load_image_folder(folder, image_size=4, validation_fraction=0.1, seed=3)
    assert _examples(again.test) == test == _examples(data.test)
    other = load_image_folder(folder, image_size=4, validation_fraction=0.1, seed=4)
    assert set(_examples(other.test)) != set(test)


def test_load_image_folder_grayscale_has_one_channel(folder):
    data = load_image_folder(folder, image_size=5, color_mode="grayscale")
    assert data.input_shape == (5, 5, 1)
    x, _ = data.arrays("train", max_examples=4)
    assert x.shape == (4, 5, 5, 1) and x.dtype == np.float32


def test_load_image_folder_normalization_rescales_by_1_over_255(folder):
    data = load_image_folder(folder, image_size=4)
    layer = data.preprocessing_layer()
    assert isinstance(layer, keras.layers.Rescaling)
    x, _ = data.arrays("test")
    np.testing.assert_allclose(
        np.asarray(layer(x)), x.astype(np.float64) / 255.0, atol=1e-7
    )


def test_load_image_folder_rejects_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist.*one sub-folder per class"):
        load_image_folder(tmp_path / "nope")


def test_load_image_folder_needs_two_classes(tmp_path):
    (tmp_path / "only").mkdir()
    _write_image(tmp_path / "only" / "a.png", 1, 2)
    with pytest.raises(ValueError, match="1 class sub-folder.*at least 2"):
        load_image_folder(tmp_path)


def test_load_image_folder_rejects_an_empty_class_folder(folder):
    (folder / "emu").mkdir()
    (folder / "emu" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"\['emu'\].*hold no images"):
        load_image_folder(folder)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_fraction": 0.6, "validation_fraction": 0.4}, "below 1"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"color_mode": "cmyk"}, "color_mode"),
        ({"image_size": (8,)}, "image_size"),
    ],
)
def test_load_image_folder_rejects_bad_arguments(folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_image_folder(folder, **kwargs)


def test_load_image_folder_too_few_images_to_split(folder):
    with pytest.raises(ValueError, match="too few"):
        load_image_folder(folder, test_fraction=0.01, validation_fraction=0.01)
