"""scikit-learn's 8x8 digits as (8, 8, 1) images with raw pixel values 0..16."""

from __future__ import annotations

import importlib.metadata

import numpy as np

from keras_distill._optional import require
from keras_distill.data._checks import check_batch_size
from keras_distill.data._checks import check_fraction
from keras_distill.data._checks import check_seed
from keras_distill.data.data_bundle import DataBundle
from keras_distill.data.input_normalization import InputNormalization
from keras_distill.data.pipeline import bundle_from_arrays
from keras_distill.data.pipeline import stratified_split

DIGITS_MAX_PIXEL = 16.0


def _sklearn_version() -> str:
    return importlib.metadata.version("scikit-learn")


def load_digits(
    *,
    batch_size: int = 32,
    seed: int = 0,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.0,
) -> DataBundle:
    """The 1797 8x8 handwritten digits of scikit-learn, offline, as 8x8x1 images.

    Use it for quick experiments with image models (a small CNN reads the
    `(8, 8, 1)` images directly; an MLP starts with a `Flatten` layer). The
    pixels are the raw integer counts 0..16 of the UCI data, as float32; the
    suggested normalization is `Rescaling(1/16)`.

    scikit-learn ships no split, so a seeded, class-stratified `test_fraction` is
    held out (with the defaults: 1437 train / 360 test).

    Args:
        batch_size: int, examples per batch. Defaults to 32.
        seed: int, seed of the train/test (and validation) split and of the
            training shuffle. Defaults to 0.
        test_fraction: float in (0, 1), the stratified part held out as `test`.
            Defaults to 0.2.
        validation_fraction: float in [0, 1), the stratified part of the
            training split held out as `validation`. Defaults to 0.0 (none).

    Returns:
        A `DataBundle` with input_shape `(8, 8, 1)`, 10 classes named "0".."9",
        float32 inputs in [0, 16], int32 labels, and the NumPy arrays.

    Raises:
        TypeError: if an argument is not a number (or an integer where one is
            needed).
        ValueError: if an argument is out of range.

    Example:

    ```python
    data = load_digits(batch_size=64)
    data.x_train.shape  # (1437, 8, 8, 1)
    ```
    """
    batch_size = check_batch_size(batch_size)
    seed = check_seed(seed)
    test_fraction = check_fraction("test_fraction", test_fraction, allow_zero=False)
    validation_fraction = check_fraction(
        "validation_fraction", validation_fraction, allow_zero=True
    )
    sklearn = require("sklearn.datasets", "The digits dataset")
    digits = sklearn.load_digits()
    images = digits.images.astype(np.float32)[..., np.newaxis]
    x_train, x_test, y_train, y_test = stratified_split(
        images, digits.target, test_fraction, seed
    )
    return bundle_from_arrays(
        "digits",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=tuple(str(name) for name in digits.target_names),
        normalization_for=lambda _: InputNormalization.rescale(1.0 / DIGITS_MAX_PIXEL),
        batch_size=batch_size,
        seed=seed,
        validation_fraction=validation_fraction,
        description=(
            f"scikit-learn {_sklearn_version()} load_digits: 8x8 images, raw "
            f"pixels 0..16; stratified {test_fraction:g} test split (seed {seed}): "
            f"{len(y_train)} train / {len(y_test)} test."
        ),
    )
