"""Checks of plain numbers: each returns the value or raises, naming the fix.

Every argument that is a count, a weight, a fraction or a temperature goes
through here, so that all of them fail the same way: a `TypeError` when the
value is not a number at all (a string, a bool, None), a `ValueError` when it is
a number out of range (NaN and infinity included), both naming the argument,
its value and the range.

This module imports neither Keras nor TensorFlow (tests/test_numbers.py checks
that), so the command line can validate its options before TensorFlow loads.
"""

import math
import numbers


def _interval(low, high, low_inclusive: bool, high_inclusive: bool) -> str:
    """The allowed range in words: " > 0", " in [0, 1)", or "" for any."""
    if low is not None and high is not None:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        return f" in {left}{low:g}, {high:g}{right}"
    if low is not None:
        return f" {'>=' if low_inclusive else '>'} {low:g}"
    if high is not None:
        return f" {'<=' if high_inclusive else '<'} {high:g}"
    return ""


def check_real(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    hint: str = "",
) -> float:
    """Returns `value` as a float if it is a finite real number in range, else raises.

    Use it for any argument that is a real number: a loss weight (`low=0`), a
    concentration or a temperature (`low=0, low_inclusive=False`), a fraction
    (`low=0, high=1, high_inclusive=False`). Python and NumPy ints and floats are
    accepted; bools are not, although Python counts them as ints, because
    `alpha=True` is always a mistake.

    Args:
        name: the argument's name, shown in backticks in the messages.
        value: the value to check.
        low: the smallest allowed value, or None for no lower bound. Defaults
            to None.
        high: the largest allowed value, or None for no upper bound. Defaults
            to None.
        low_inclusive: whether `low` itself is allowed. Defaults to True.
        high_inclusive: whether `high` itself is allowed. Defaults to True.
        hint: a sentence that ends both messages, e.g. what the argument does
            or its usual values. Defaults to "".

    Returns:
        `value` as a Python float.

    Raises:
        TypeError: if `value` is not a real number (or is a bool).
        ValueError: if `value` is NaN, infinite or out of range.

    Example:

    >>> check_real("weight", 0.5, low=0)
    0.5
    >>> check_real("fraction", 1, low=0, high=1, high_inclusive=False)
    Traceback (most recent call last):
    ...
    ValueError: `fraction` must be a finite number in [0, 1), got 1.
    """
    interval = _interval(low, high, low_inclusive, high_inclusive)
    suffix = f" {hint}" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a number{interval}, got {type(value).__name__}: "
            f"{value!r:.80}.{suffix}"
        )
    in_range = math.isfinite(value)  # False for NaN and infinities
    if in_range and low is not None:
        in_range = value >= low if low_inclusive else value > low
    if in_range and high is not None:
        in_range = value <= high if high_inclusive else value < high
    if not in_range:
        raise ValueError(
            f"`{name}` must be a finite number{interval}, got {value!r}.{suffix}"
        )
    return float(value)


def check_int(name: str, value, low: int, hint: str = "") -> int:
    """Returns `value` as an int if it is an integer >= `low`, else raises.

    Python and NumPy integers are accepted; bools and floats (even 3.0) are not.

    Args:
        name: the argument's name, shown in backticks in the messages.
        value: the value to check.
        low: the smallest allowed value.
        hint: a sentence that ends both messages, e.g. "Defaults to 256.".
            Defaults to "".

    Returns:
        `value` as a Python int.

    Raises:
        TypeError: if `value` is not an integer (or is a bool).
        ValueError: if `value` is below `low`.

    Example:

    >>> check_int("batch_size", 32, 1)
    32
    """
    suffix = f" {hint}" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an int >= {low}, got {type(value).__name__}: "
            f"{value!r:.80}.{suffix}"
        )
    if value < low:
        raise ValueError(f"`{name}` must be an int >= {low}, got {value!r}.{suffix}")
    return int(value)


def check_temperature(value, argname: str = "temperature") -> float:
    """Returns `value` as a float if it is a finite number > 0, else raises.

    Raises:
        TypeError: if `value` is not a number.
        ValueError: if it is not finite and > 0.
    """
    return check_real(
        argname,
        value,
        low=0,
        low_inclusive=False,
        hint="It divides the logits before the softmax; typically 1 to 20.",
    )


def check_alpha(value, argname: str = "alpha") -> float:
    """Returns `value` as a float if it is a number in [0, 1], else raises.

    Raises:
        TypeError: if `value` is not a number.
        ValueError: if it is outside [0, 1].
    """
    return check_real(
        argname,
        value,
        low=0,
        high=1,
        hint="It weights the student (label) loss; 1 - alpha weights the "
        "distillation loss.",
    )
