"""make_digits_image_folder: a deterministic folder of coloured digit PNGs."""

import hashlib

import numpy as np
import pytest
import tensorflow as tf

from keras_distill.data import make_digits_image_folder


def _digest(folder):
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return len(files), digest.hexdigest()


def test_make_digits_image_folder_writes_rgb_pngs_one_folder_per_digit(tmp_path):
    root = make_digits_image_folder(tmp_path / "d", n_per_class=3, image_size=12)
    assert root == tmp_path / "d"
    assert sorted(p.name for p in root.iterdir()) == [str(d) for d in range(10)]
    for label in range(10):
        names = sorted(p.name for p in (root / str(label)).iterdir())
        assert names == [f"{label}_{i:04d}.png" for i in range(3)]
    image = tf.io.decode_png((root / "7" / "7_0001.png").read_bytes()).numpy()
    assert image.shape == (12, 12, 3) and image.dtype == np.uint8
    # Coloured: the channels differ; drawn: ink and background differ.
    assert np.abs(image[..., 0].astype(int) - image[..., 1]).max() > 10
    assert int(image.max()) - int(image.min()) > 60


def test_make_digits_image_folder_is_deterministic_for_a_seed(tmp_path):
    first = make_digits_image_folder(tmp_path / "a", n_per_class=2, image_size=8)
    again = make_digits_image_folder(tmp_path / "b", n_per_class=2, image_size=8)
    other = make_digits_image_folder(
        tmp_path / "c", n_per_class=2, image_size=8, seed=1
    )
    assert _digest(first) == _digest(again)
    assert _digest(first)[0] == 20 and _digest(first) != _digest(other)


def test_make_digits_image_folder_refuses_a_folder_that_holds_files(tmp_path):
    (tmp_path / "old.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        make_digits_image_folder(tmp_path, n_per_class=1, image_size=8)
    assert (tmp_path / "old.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"image_size": 7}, ValueError, "image_size.*>= 8"),
        ({"n_per_class": 0}, ValueError, "n_per_class"),
        ({"n_per_class": 2.0}, TypeError, "n_per_class"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_make_digits_image_folder_rejects_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        make_digits_image_folder(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("side", [5, 8, 13, 32])
def test_digit_upscaling_matches_tf_image_resize_bilinear(side):
    from keras_distill.data.digits_image_folder import _bilinear_matrix

    digit = np.random.default_rng(side).uniform(0, 16, (8, 8))
    matrix = _bilinear_matrix(side, 8)
    expected = tf.image.resize(digit[..., None], (side, side)).numpy()[..., 0]
    np.testing.assert_allclose(matrix @ digit @ matrix.T, expected, atol=1e-4)
