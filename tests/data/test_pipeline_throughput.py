"""pipeline_throughput: examples per second of an input pipeline alone."""

import time

import numpy as np
import pytest
import tensorflow as tf

from keras_distill.data import pipeline
from keras_distill.data import pipeline_throughput

DELAY = 0.01  # seconds per example


def _slow_examples(n, batch_size):
    """`n` examples of shape (2,), each taking DELAY seconds to make."""

    def make(i):
        time.sleep(DELAY)
        return np.full((2,), i, np.float32)

    dataset = tf.data.Dataset.range(n).map(
        lambda i: tf.numpy_function(make, [i], tf.float32)
    )
    return dataset.map(lambda x: (x, tf.constant(0))).batch(batch_size)


class _OneSecondClock:
    """perf_counter() that moves 1 s per call: the rate is the examples timed."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 1.0
        return self.now


@pytest.fixture
def one_second(monkeypatch):
    monkeypatch.setattr(pipeline, "time", _OneSecondClock())


def _batches(n, batch_size):
    return tf.data.Dataset.from_tensor_slices(
        (np.zeros((n, 3), np.float32), np.zeros((n,), np.int32))
    ).batch(batch_size)


@pytest.mark.parametrize(
    ("kwargs", "examples"),
    [
        ({}, 10),  # batches of 4, 4 and 2: examples, not batches (3) or 12
        ({"warmup_batches": 1}, 6),
        ({"warmup_batches": 2}, 2),
        ({"batches": 1}, 4),
        ({"batches": 2, "warmup_batches": 1}, 6),
        ({"batches": 50}, 10),  # the dataset ends first
    ],
)
def test_pipeline_throughput_counts_the_examples_of_the_timed_batches(
    one_second, kwargs, examples
):
    assert pipeline_throughput(_batches(10, 4), **kwargs) == examples


def test_pipeline_throughput_reads_a_repeating_dataset_for_batches(one_second):
    # Batches of 2, 2, 1, 2, 2, 1, 2.
    assert pipeline_throughput(_batches(5, 2).repeat(), batches=7) == 12


def test_pipeline_throughput_measures_real_time():
    # At most 1 / DELAY examples/s: each example takes DELAY seconds to make.
    rate = pipeline_throughput(_slow_examples(8, 4))
    assert 0 < rate <= 1 / DELAY * 1.05


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batches": 0}, ValueError, "batches"),
        ({"batches": 1.5}, TypeError, "batches"),
        ({"warmup_batches": -1}, ValueError, "warmup_batches"),
        ({"warmup_batches": 10}, ValueError, "warm-up"),
    ],
)
def test_pipeline_throughput_rejects_bad_arguments(kwargs, error, match):
    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((6, 3))).batch(2)
    with pytest.raises(error, match=match):
        pipeline_throughput(dataset, **kwargs)


def test_pipeline_throughput_refuses_to_read_an_infinite_dataset_to_the_end():
    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((6, 3))).repeat()
    with pytest.raises(ValueError, match="repeats forever"):
        pipeline_throughput(dataset.batch(2))
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        pipeline_throughput([np.zeros((2, 3))])


def test_pipeline_throughput_default_counts_the_reading_behind_a_full_shuffle():
    # A shuffle buffer holding the whole dataset reads every example before
    # the first batch: the default (no warm-up) must include that time.
    n = 12
    dataset = _slow_examples(n, 1).unbatch().shuffle(n, seed=0).batch(4)
    assert pipeline_throughput(dataset) <= 1 / DELAY * 1.05
