"""keras_distill._numbers: one way to refuse a bad number, without Keras."""

import ast
import math
import pathlib

import numpy as np
import pytest

from keras_distill import _numbers
from keras_distill._numbers import check_int
from keras_distill._numbers import check_real
from keras_distill.augmentation import Mixup
from keras_distill.demo import config as demo_config
from keras_distill.demo.config import UsageError
from keras_distill.losses import AttentionTransfer

BANNED = {"keras", "tf_keras", "tensorflow", "keras_distill._compat"}


def _imported_modules(tree):
    for node in ast.walk(tree):  # function bodies too: no lazy import either
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_numbers_module_imports_neither_keras_nor_tensorflow():
    path = pathlib.Path(_numbers.__file__)
    imported = set(_imported_modules(ast.parse(path.read_text())))
    offenders = {
        name
        for name in imported
        if any(name == b or name.startswith(b + ".") for b in BANNED)
    }
    assert imported, "the parser found no import at all"
    assert offenders == set()


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (0.5, {"low": 0}, 0.5),
        (0, {"low": 0}, 0.0),
        (np.float32(0.25), {"low": 0, "high": 1}, 0.25),
        (np.int64(3), {"low": 0, "low_inclusive": False}, 3.0),
        (-2.5, {}, -2.5),
        (1, {"high": 1}, 1.0),
    ],
)
def test_check_real_returns_a_python_float_for_a_number_in_range(
    value, kwargs, expected
):
    result = check_real("x", value, **kwargs)
    assert result == expected and type(result) is float


@pytest.mark.parametrize("value", ["1", None, True, np.bool_(True), [1.0], 1j])
def test_check_real_refuses_a_non_number_with_a_type_error(value):
    with pytest.raises(TypeError, match=r"^`x` must be a number >= 0, got .*Hint\.$"):
        check_real("x", value, low=0, hint="Hint.")


@pytest.mark.parametrize(
    ("value", "kwargs", "interval"),
    [
        (0, {"low": 0, "low_inclusive": False}, "> 0"),
        (-0.1, {"low": 0}, ">= 0"),
        (1, {"low": 0, "high": 1, "high_inclusive": False}, r"in \[0, 1\)"),
        (0, {"low": 0, "high": 1, "low_inclusive": False}, r"in \(0, 1\]"),
        (2, {"high": 1.5}, "<= 1.5"),
        (math.nan, {}, ","),
        (math.inf, {"low": 0}, ">= 0"),
        (-math.inf, {}, ","),
    ],
)
def test_check_real_refuses_a_bad_value_with_a_value_error_naming_the_range(
    value, kwargs, interval
):
    with pytest.raises(ValueError, match=f"^`x` must be a finite number ?{interval}"):
        check_real("x", value, **kwargs)


def test_check_int_accepts_numpy_integers_and_refuses_floats_and_bools():
    assert type(check_int("n", np.int32(4), 1)) is int
    for value in (4.0, True, "4"):
        with pytest.raises(TypeError, match="`n` must be an int >= 1"):
            check_int("n", value, 1)
    with pytest.raises(ValueError, match="`n` must be an int >= 1, got 0"):
        check_int("n", 0, 1)


def test_attention_transfer_p_accepts_numpy_floats_and_refuses_infinity():
    assert AttentionTransfer("t", "s", p=np.float32(2.0)).p == 2.0
    with pytest.raises(ValueError, match="`p` must be a finite number > 0"):
        AttentionTransfer("t", "s", p=math.inf)
    with pytest.raises(TypeError, match="`p` must be a number > 0"):
        AttentionTransfer("t", "s", p="2")


def test_mixup_alpha_message_names_the_range_and_what_alpha_does():
    with pytest.raises(ValueError, match=r"`alpha` must be a finite .*Beta"):
        Mixup(0.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": 0}, "option 'epochs' must be an int >= 1, got 0"),
        ({"alpha": math.nan}, r"option 'alpha' must be a finite number in \[0, 1\]"),
        ({"sparsity": -0.5}, r"option 'sparsity' must be a finite number in \[0, 1\)"),
        ({"temperature": "4"}, "option 'temperature' must be a number > 0, got str"),
    ],
)
def test_demo_config_refuses_bad_numbers_with_the_shared_messages(values, message):
    with pytest.raises(UsageError, match=f"^{message}"):
        demo_config.config_from_dict(values)


def test_demo_config_stores_numpy_numbers_as_python_numbers():
    config = demo_config.config_from_dict(
        {"epochs": np.int64(3), "sparsity": np.float32(0.5)}
    )
    assert type(config.epochs) is int and config.epochs == 3
    assert type(config.sparsity) is float and config.sparsity == 0.5
