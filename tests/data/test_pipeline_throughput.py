"""pipeline_throughput: examples per second of an input pipeline alone."""

import time

import numpy as np
import pytest
import tensorflow as tf

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


def test_pipeline_throughput_counts_examples_not_batches():
    # At most 1 / DELAY = 100 examples/s; 25 per second would mean batches
    # (of 4) were counted instead of examples.
    rate = pipeline_throughput(_slow_examples(18, 4), warmup_batches=1)
    assert 50 < rate <= 1 / DELAY * 1.05


def test_pipeline_throughput_counts_a_short_last_batch_right():
    # 5 examples after the warm-up: one batch of 4, then one of 1.
    start = time.perf_counter()
    rate = pipeline_throughput(_slow_examples(9, 4), warmup_batches=1)
    assert rate <= 5 / (5 * DELAY) * 1.05
    assert time.perf_counter() - start >= 9 * DELAY


def test_pipeline_throughput_stops_after_batches():
    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((100, 3))).batch(10)
    start = time.perf_counter()
    rate = pipeline_throughput(_slow_examples(1000, 2), batches=2)
    assert time.perf_counter() - start < 1000 * DELAY / 4
    assert rate > 0
    assert pipeline_throughput(dataset.repeat(), batches=3) > 0


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
