"""Argument checks shared by the dataset loaders; each names the argument and fix."""

from __future__ import annotations

import numbers
import os

from keras_distill._numbers import check_int
from keras_distill._numbers import check_real


def check_batch_size(batch_size) -> int:
    """Returns `batch_size` if it is a positive int.

    Raises TypeError for a non-integer and ValueError for one below 1.
    """
    return check_int("batch_size", batch_size, 1)


def check_seed(seed) -> int:
    """Returns `seed` if it is a non-negative int.

    Raises TypeError for a non-integer and ValueError for a negative one.
    """
    return check_int("seed", seed, 0)


def check_fraction(name: str, value, *, allow_zero: bool) -> float:
    """Returns `value` if it is a fraction in (0, 1) (or [0, 1) with allow_zero).

    Raises TypeError for a non-number and ValueError for one out of range.
    """
    return check_real(
        name,
        value,
        low=0,
        high=1,
        low_inclusive=allow_zero,
        high_inclusive=False,
        hint="For example 0.2.",
    )


def check_image_size(image_size) -> tuple[int, int]:
    """Returns `image_size` as `(height, width)`; an int means a square.

    Raises TypeError for something that is not an int or a pair of ints, and
    ValueError for a sequence that is not a pair or a size below 1.
    """
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    message = (
        "`image_size` must be (height, width) with positive integers, or one "
        f"integer for a square, got {image_size!r}."
    )
    if not isinstance(image_size, (tuple, list)) or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in image_size
    ):
        raise TypeError(message)
    if len(image_size) != 2 or any(v < 1 for v in image_size):
        raise ValueError(message)
    return int(image_size[0]), int(image_size[1])


def check_pipeline_options(shuffle_buffer, cache) -> None:
    """Validates the tf.data options shared by the file-backed loaders.

    Raises:
        TypeError: `shuffle_buffer` is not an integer, or `cache` is neither a
            bool nor a file prefix.
        ValueError: `shuffle_buffer` is below 1.
    """
    check_int("shuffle_buffer", shuffle_buffer, 1)
    if not isinstance(cache, (bool, str)):
        raise TypeError(f"`cache` must be True, False or a file prefix, got {cache!r}.")


def check_folder_path(directory) -> None:
    """Raises TypeError unless `directory` is a str or path-like."""
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(
            f"`directory` must be a path to a folder, got {type(directory).__name__}."
        )


def check_split_fractions(
    test_fraction, validation_fraction, examples: str
) -> tuple[float, float]:
    """`(test_fraction, validation_fraction)` if both are fractions (the test
    one above 0) that leave training `examples` (e.g. "images").

    Raises TypeError for a non-number and ValueError for a fraction out of
    range or a sum of 1 or more.
    """
    test_fraction = check_fraction("test_fraction", test_fraction, allow_zero=False)
    validation_fraction = check_fraction(
        "validation_fraction", validation_fraction, allow_zero=True
    )
    if test_fraction + validation_fraction >= 1:
        raise ValueError(
            f"`test_fraction` + `validation_fraction` must be below 1 to leave "
            f"training {examples}, got {test_fraction} + {validation_fraction}."
        )
    return test_fraction, validation_fraction
