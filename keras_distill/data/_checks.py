"""Argument checks shared by the dataset loaders; each names the argument and fix."""

from __future__ import annotations

import numbers


def check_batch_size(batch_size) -> int:
    """Returns `batch_size` if it is a positive int, else raises ValueError."""
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, numbers.Integral)
        or batch_size < 1
    ):
        raise ValueError(
            f"`batch_size` must be a positive integer, got {batch_size!r}."
        )
    return int(batch_size)


def check_seed(seed) -> int:
    """Returns `seed` if it is a non-negative int, else raises ValueError."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
    return int(seed)


def check_fraction(name: str, value, *, allow_zero: bool) -> float:
    """Returns `value` if it is a fraction in (0, 1) (or [0, 1) with allow_zero)."""
    low_ok = (value >= 0) if allow_zero else (value > 0)
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (low_ok and value < 1)
    ):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(
            f"`{name}` must be a number in {interval}, e.g. 0.2, got {value!r}."
        )
    return float(value)


def check_image_size(image_size) -> tuple[int, int]:
    """Returns `image_size` as `(height, width)`; an int means a square."""
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
            for v in image_size
        )
    ):
        raise ValueError(
            "`image_size` must be (height, width) with positive integers, or one "
            f"integer for a square, got {image_size!r}."
        )
    return int(image_size[0]), int(image_size[1])


def check_pipeline_options(shuffle_buffer, cache) -> None:
    """Validates the tf.data options shared by the file-backed loaders.

    Raises:
        ValueError: `shuffle_buffer` is not a positive integer, or `cache` is
            neither a bool nor a file prefix.
    """
    if (
        isinstance(shuffle_buffer, bool)
        or not isinstance(shuffle_buffer, numbers.Integral)
        or shuffle_buffer < 1
    ):
        raise ValueError(
            f"`shuffle_buffer` must be a positive integer, got {shuffle_buffer!r}."
        )
    if not isinstance(cache, (bool, str)):
        raise ValueError(
            f"`cache` must be True, False or a file prefix, got {cache!r}."
        )
