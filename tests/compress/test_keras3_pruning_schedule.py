"""TF-MOT's own pruning-schedule tests, run against our Keras 3 schedules.

The cases (names, steps and expected values) are ported one for one from
TF-MOT's `tensorflow_model_optimization/python/core/sparsity/keras/
pruning_schedule_test.py`, so TF-MOT's expectations hold for
`keras_distill.compress._keras3.pruning_schedule`. Steps are passed as integer
variables, as in TF-MOT, and also traced inside a `tf.function`, as in training.
"""

import numpy as np
import pytest
import tensorflow as tf
from conftest import keras3_only

from keras_distill._compat import keras
from keras_distill.compress._keras3.pruning_schedule import ConstantSparsity
from keras_distill.compress._keras3.pruning_schedule import PolynomialDecay

pytestmark = keras3_only

SCHEDULES = ["constant_sparsity", "polynomial_decay"]


def _construct(schedule_type, begin_step, end_step, frequency=10):
    if schedule_type == "constant_sparsity":
        return ConstantSparsity(0.5, begin_step, end_step, frequency)
    return PolynomialDecay(0.2, 0.8, begin_step, end_step, 3, frequency)


def _should_prune(schedule, step):
    return bool(schedule(keras.Variable(step, dtype="int64"))[0])


def _sparsity(schedule, step):
    return float(schedule(keras.Variable(step, dtype="int64"))[1])


# ------------------------------------------------ argument validation (TF-MOT)
@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_begin_step_greater_than_equals_zero(schedule_type):
    for begin in (-1, -5):
        with pytest.raises(ValueError):
            _construct(schedule_type, begin, 1000)
    for begin in (0, 1, 100):
        _construct(schedule_type, begin, 1000)


@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_end_step_greater_than_equals_zero(schedule_type):
    with pytest.raises(ValueError):
        _construct(schedule_type, 10, -5)
    for end in (0, 1, 100):
        _construct(schedule_type, 0, end)


@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_end_step_greater_than_equals_begin_step(schedule_type):
    with pytest.raises(ValueError):
        _construct(schedule_type, 10, 5)
    _construct(schedule_type, 10, 10)
    _construct(schedule_type, 10, 20)


@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_frequency_is_positive(schedule_type):
    for frequency in (0, -1, -5):
        with pytest.raises(ValueError):
            _construct(schedule_type, 10, 1000, frequency)
    _construct(schedule_type, 10, 1000, 1)
    _construct(schedule_type, 10, 1000, 10)


def _validate_sparsity(construct):
    for bad in (-0.001, -1.0, -10.0, 1.0, 10.0):
        with pytest.raises(ValueError):
            construct(bad)
    for good in (0.0, 0.001, 0.5, 0.99):
        construct(good)


def test_sparsity_value_is_valid():
    _validate_sparsity(lambda s: ConstantSparsity(s, 0))
    _validate_sparsity(lambda s: PolynomialDecay(s, 0.8, 0, 10))
    _validate_sparsity(lambda s: PolynomialDecay(0.2, s, 0, 10))


def test_polynomial_decay_raises_error_if_end_step_is_negative():
    with pytest.raises(ValueError):
        PolynomialDecay(0.4, 0.8, 10, -1)


# ------------------------------------- begin_step, end_step, frequency (TF-MOT)
@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_prunes_only_in_begin_end_step_range(schedule_type):
    schedule = _construct(schedule_type, 100, 200, 1)
    for step in (90, 99, 201, 210):
        assert not _should_prune(schedule, step), step
    for step in (100, 110, 200):
        assert _should_prune(schedule, step), step


@pytest.mark.parametrize("schedule_type", SCHEDULES)
def test_only_prunes_at_valid_frequency_steps(schedule_type):
    schedule = _construct(schedule_type, 100, 200, 10)
    assert not _should_prune(schedule, 109)
    assert not _should_prune(schedule, 111)
    assert _should_prune(schedule, 100)
    assert _should_prune(schedule, 110)


def test_constant_sparsity_prunes_forever_if_end_step_is_negative_one():
    schedule = ConstantSparsity(0.5, 0, -1, 10)
    for step in (10000, 100000000):
        assert _should_prune(schedule, step)
        np.testing.assert_allclose(_sparsity(schedule, step), 0.5)


def test_constant_sparsity_prunes_with_constant_sparsity():
    schedule = ConstantSparsity(0.5, 100, 200, 10)
    for step in (100, 110, 200):
        np.testing.assert_allclose(_sparsity(schedule, step), 0.5)


def test_polynomial_decay_prunes_correctly():
    schedule = PolynomialDecay(0.2, 0.8, 100, 110, 3, 2)
    # TF-MOT's values (generated with tf.polynomial_decay), same tolerance as
    # its assertAllClose.
    for step, expected in ((100, 0.2), (102, 0.4928), (105, 0.725), (110, 0.8)):
        np.testing.assert_allclose(
            _sparsity(schedule, step), expected, rtol=1e-6, atol=1e-6
        )


@pytest.mark.parametrize(
    "schedule",
    [ConstantSparsity(0.7, 10, 20, 10), PolynomialDecay(0.2, 0.6, 10, 20, 5, 10)],
    ids=["ConstantSparsity", "PolynomialDecay"],
)
def test_serialize_deserialize(schedule):
    config = keras.saving.serialize_keras_object(schedule)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(schedule)
    assert restored.__dict__ == schedule.__dict__


# ------------------------------------------------------------- beyond TF-MOT
def test_schedule_traced_on_an_int64_step_matches_eager():
    schedule = PolynomialDecay(0.0, 0.9, 3, 43, frequency=4)
    traced = tf.function(schedule)
    for step in range(0, 50):
        eager = schedule(step)
        graph = traced(tf.constant(step, tf.int64))
        assert bool(eager[0]) == bool(graph[0]), step
        # Graph and eager TF kernels for pow may differ in the last float32 bit.
        np.testing.assert_allclose(float(graph[1]), float(eager[1]), rtol=1e-6)


def test_polynomial_decay_matches_the_float64_formula():
    initial, final, begin, end, power = 0.1, 0.85, 5, 65, 3
    schedule = PolynomialDecay(initial, final, begin, end, power, frequency=5)
    for step in range(0, 80):
        p = min(1.0, max(0.0, (step - begin) / (end - begin)))
        expected = final + (initial - final) * (1.0 - p) ** power
        np.testing.assert_allclose(_sparsity(schedule, step), expected, atol=1e-6)
