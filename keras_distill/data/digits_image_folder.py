"""Writes a folder of coloured, jittered digit images: test and benchmark data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_distill._numbers import check_int
from keras_distill._optional import require

# The digit covers 60% to 100% of the image side; what is left is the jitter.
_MIN_DIGIT_FRACTION = 0.6
_NOISE_STD = 6.0


def _bilinear_matrix(size_out: int, size_in: int) -> np.ndarray:
    """`W` with `W @ x` the bilinear resize of `x` along axis 0.

    The same sampling as `tf.image.resize(..., "bilinear")` (half-pixel
    centres, no antialiasing), in NumPy: exact and quick for tiny images.
    """
    source = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
    floor = np.floor(source)
    lower = np.maximum(floor, 0).astype(int)
    upper = np.minimum(np.ceil(source), size_in - 1).astype(int)
    weight = source - floor
    matrix = np.zeros((size_out, size_in))
    np.add.at(matrix, (np.arange(size_out), lower), 1.0 - weight)
    np.add.at(matrix, (np.arange(size_out), upper), weight)
    return matrix


def _render(digit: np.ndarray, image_size: int, rng: np.random.Generator):
    """One `(image_size, image_size, 3)` uint8 image of an 8x8 digit (0..16)."""
    side = int(rng.integers(round(_MIN_DIGIT_FRACTION * image_size), image_size + 1))
    resize = _bilinear_matrix(side, digit.shape[0])
    mask = (resize @ (digit / 16.0) @ resize.T)[..., np.newaxis]
    top, left = rng.integers(0, image_size - side + 1, size=2)
    canvas = np.zeros((image_size, image_size, 1), np.float32)
    canvas[top : top + side, left : left + side] = np.clip(mask, 0.0, 1.0)
    # A bright ink on a dark background, both of a random colour.
    ink = rng.uniform(140.0, 255.0, size=3)
    background = rng.uniform(0.0, 90.0, size=3)
    image = background + canvas * (ink - background)
    image += rng.normal(0.0, _NOISE_STD, size=image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def make_digits_image_folder(
    path: str | os.PathLike,
    *,
    n_per_class: int = 300,
    image_size: int = 32,
    seed: int = 0,
) -> Path:
    """Writes coloured, jittered digit images as PNG files, one folder per class.

    Use it to get a realistic image folder offline, for tests, benchmarks and
    trying `load_dataset("<folder>")`: scikit-learn's 1797 8x8 digits are
    upscaled (bilinear) to a random 60..100% of `image_size`, placed at a random
    offset, drawn in a random bright colour on a random dark background, with
    mild Gaussian noise. The layout is `path/<digit>/<digit>_<index>.png`, with
    class folders `"0"`..`"9"`, RGB images of `image_size` x `image_size`.
    The same arguments always write the same files.

    Each class has about 180 source digits; with `n_per_class` above that,
    source digits are reused with a different colour and jitter, so a train/test
    split of the folder shares underlying digits: fine for pipelines and speed,
    optimistic for accuracy.

    Args:
        path: str or path-like, the folder to write; created if missing, and it
            must not hold anything yet.
        n_per_class: int >= 1, images written per class. Defaults to 300 (3000
            images).
        image_size: int >= 8, the side of the square images in pixels. Defaults
            to 32.
        seed: int >= 0, seed of the digit choice, colours, jitter and noise.
            Defaults to 0.

    Returns:
        The folder, as a `Path`.

    Raises:
        TypeError: if `n_per_class`, `image_size` or `seed` is not an integer.
        ValueError: if one of them is out of range.
        FileExistsError: if `path` exists and is not an empty folder.

    Example:

    ```python
    import tempfile

    from keras_distill.data import load_dataset

    folder = make_digits_image_folder(f"{tempfile.mkdtemp()}/digits", n_per_class=50)
    data = load_dataset(str(folder), image_size=32)
    data.class_names  # ('0', '1', ..., '9')
    ```
    """
    n_per_class = check_int("n_per_class", n_per_class, 1)
    image_size = check_int(
        "image_size", image_size, 8, "The 8x8 digits are not drawn smaller."
    )
    seed = check_int("seed", seed, 0)
    root = Path(path).expanduser()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(
            f"`path` {str(root)!r} exists and is not an empty folder; pick a new "
            "path or delete it first."
        )
    digits = require("sklearn.datasets", "The digits image folder").load_digits()
    rng = np.random.default_rng(seed)
    for label in range(10):
        sources = np.flatnonzero(digits.target == label)
        # Every source digit once (in a seeded order) before any repeats.
        picks = np.concatenate(
            [rng.permutation(sources) for _ in range(-(-n_per_class // len(sources)))]
        )[:n_per_class]
        folder = root / str(label)
        folder.mkdir(parents=True)
        for index, source in enumerate(picks):
            image = _render(digits.images[source].astype(np.float32), image_size, rng)
            png = tf.io.encode_png(image).numpy()
            (folder / f"{label}_{index:04d}.png").write_bytes(png)
    return root
