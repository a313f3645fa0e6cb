"""Image folders: one sub-folder per class -> seeded splits of raw images."""

import os
import random

import numpy as np
import pytest
from PIL import Image

from keras_distill._compat import keras
from keras_distill.data import class_folders
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
    # Only hidden files and a .jpg that is text: still no image, same error.
    (folder / "emu" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "emu" / "fake.jpg").write_text("not a picture")
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


def test_load_image_folder_split_is_by_file_stratified_and_leak_free(folder):
    data = load_image_folder(folder, image_size=4, validation_fraction=0.2, seed=5)
    splits = {
        name: _examples(getattr(data, name)) for name in ("train", "test", "validation")
    }
    # 10 files per class: 2 test and 2 validation from every class.
    for name, size in (("test", 2), ("validation", 2), ("train", 6)):
        labels = [label for *_, label in splits[name]]
        assert sorted(labels) == sorted(list(range(3)) * size), name
    files = [set(examples) for examples in splits.values()]
    assert sum(len(f) for f in files) == len(set().union(*files)) == 30
    assert "split by file, stratified per class, seed 5" in data.description


def test_load_image_folder_split_ignores_the_file_system_listing_order(
    folder, monkeypatch
):
    def splits():
        data = load_image_folder(folder, image_size=4, validation_fraction=0.1)
        return [
            _examples(data.test),
            _examples(data.validation),
            sorted(_examples(data.train)),
            data.arrays("train")[0][:, 0, 0, :2].tolist(),  # the source order
        ]

    expected = splits()
    walk = os.walk

    def shuffled_walk(top, *args, **kwargs):
        # Like a file system that lists entries in another order.
        for root, dirs, names in walk(top, *args, **kwargs):
            random.Random(len(root)).shuffle(names)
            dirs.reverse()
            yield root, dirs, names[::-1]

    monkeypatch.setattr(class_folders.os, "walk", shuffled_walk)
    assert splits() == expected


def _write(path, mode, colour, fmt=None):
    Image.new(mode, (5, 3), colour).save(path, format=fmt)


def test_load_image_folder_mixed_grey_rgb_rgba_and_formats_load_as_rgb(tmp_path):
    # One class of each kind of file; every image's colour is known.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write(tmp_path / "a" / "grey.png", "L", 90)
    _write(tmp_path / "a" / "grey_alpha.png", "LA", (60, 10))
    _write(tmp_path / "a" / "rgba.png", "RGBA", (200, 40, 10, 0))
    _write(tmp_path / "a" / "palette.png", "P", 0)
    _write(tmp_path / "b" / "rgb.png", "RGB", (10, 120, 250))
    _write(tmp_path / "b" / "grey.jpg", "L", 30)
    _write(tmp_path / "b" / "rgb.bmp", "RGB", (1, 2, 3))
    _write(tmp_path / "b" / "anim.gif", "RGB", (0, 255, 0))
    expected_rgb = {
        (90, 90, 90),
        (60, 60, 60),
        (200, 40, 10),
        (0, 0, 0),  # palette entry 0 is black
        (10, 120, 250),
        (30, 30, 30),
        (1, 2, 3),
        (0, 255, 0),
    }
    data = load_image_folder(tmp_path, image_size=(3, 5), test_fraction=0.25)
    assert data.input_shape == (3, 5, 3)
    x = np.concatenate([data.arrays("train")[0], data.arrays("test")[0]])
    assert x.shape == (8, 3, 5, 3)
    # Uniform images stay uniform; JPEG may shift a grey level by one.
    assert np.ptp(x, axis=(1, 2)).max() == 0
    got = {tuple(int(v) for v in image[0, 0]) for image in x}
    assert len(got) == 8
    for colour in got:
        assert (
            min(max(abs(c - e) for c, e in zip(colour, ref)) for ref in expected_rgb)
            <= 1
        ), colour

    rgba = load_image_folder(tmp_path, image_size=2, color_mode="rgba")
    assert rgba.input_shape == (2, 2, 4)
    pixels = {
        tuple(int(v) for v in image[0, 0])
        for split in ("train", "test")
        for image in rgba.arrays(split)[0]
    }
    assert (200, 40, 10, 0) in pixels and (60, 60, 60, 10) in pixels
    assert (10, 120, 250, 255) in pixels  # opaque where the file has no alpha
    grey = load_image_folder(tmp_path, image_size=2, color_mode="grayscale")
    values = {
        int(image[0, 0, 0])
        for split in ("train", "test")
        for image in grey.arrays(split)[0]
    }
    assert 90 in values and round(0.2989 * 10 + 0.587 * 120 + 0.114 * 250) in values


def test_load_image_folder_skips_unreadable_files_with_one_warning(folder):
    (folder / "cat" / "fake.jpg").write_text("I am text, not a JPEG")
    (folder / "dog" / "notes.txt").write_text("shot in 2024")
    (folder / "dog" / "empty.png").write_bytes(b"")
    with pytest.warns(
        UserWarning, match=r"Skipped 3 file\(s\).*cat/fake\.jpg"
    ) as record:
        data = load_image_folder(folder, image_size=4)
    assert record[0].filename == __file__  # points at the caller's line
    assert data.num_examples == {"train": 24, "test": 6}
    assert "Skipped 3 file(s)" in data.description
    assert "dog/notes.txt: not an image file" in data.description
    assert len(_examples(data.train)) == 24


def test_load_image_folder_drops_a_truncated_image_instead_of_crashing(folder):
    whole = (folder / "fox" / "3.png").read_bytes()
    (folder / "fox" / "3.png").write_bytes(whole[:30])  # a header, then nothing
    data = load_image_folder(folder, image_size=4, test_fraction=0.1)
    seen = _examples(data.train) + _examples(data.test)
    assert len(seen) == 29 and (200, 60, 2) not in seen
    assert len(_examples(data.train) + _examples(data.test)) == 29  # cached epoch


def test_load_image_folder_description_states_size_and_channels(folder):
    data = load_image_folder(folder, image_size=(6, 8), color_mode="grayscale")
    assert data.name == str(folder)
    assert "resized to 6x8 (bilinear)" in data.description
    assert "grayscale" in data.description and "24 train / 6 test" in data.description
    default = load_image_folder(folder)
    assert default.input_shape == (64, 64, 3)
    assert "resized to 64x64" in default.description


def test_load_image_folder_file_cache_is_named_by_files_and_options(folder, tmp_path):
    prefix = str(tmp_path / "cache" / "animals")
    (tmp_path / "cache").mkdir()
    first = load_image_folder(folder, image_size=4, cache=prefix)
    expected = _examples(first.test)
    again = load_image_folder(folder, image_size=4, cache=prefix)
    assert _examples(again.test) == expected
    files = {p.name.split(".")[0] for p in (tmp_path / "cache").iterdir()}
    assert len({name for name in files if name.startswith("animals-test-")}) == 1
    # Another size is another cache, never a stale read of the first one.
    bigger = load_image_folder(folder, image_size=5, cache=prefix)
    x, _ = next(iter(bigger.test))
    assert tuple(x.shape[1:]) == (5, 5, 3)
    files = {p.name.split(".")[0] for p in (tmp_path / "cache").iterdir()}
    assert len({name for name in files if name.startswith("animals-test-")}) == 2


def test_load_image_folder_class_too_small_to_split_is_named(folder):
    for index in range(1, PER_CLASS):
        (folder / "dog" / f"{index}.png").unlink()
    with pytest.raises(ValueError, match="Class 'dog' has 1 image"):
        load_image_folder(folder, test_fraction=0.5, validation_fraction=0.4)


def test_load_image_folder_relative_path_survives_a_change_of_directory(
    folder, monkeypatch
):
    monkeypatch.chdir(folder.parent)
    data = load_image_folder("animals", image_size=4)
    assert data.name == "animals"
    monkeypatch.chdir(folder)  # files are read only now, while iterating
    assert len(_examples(data.train)) == 24
