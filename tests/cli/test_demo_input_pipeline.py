"""The demo's input pipeline check: the pipeline's speed alone against training's."""

import time

import numpy as np
import pytest

from keras_distill._compat import keras
from keras_distill.demo import dataset
from keras_distill.demo import run
from keras_distill.demo.progress import FitTimer
from keras_distill.demo.report import STARVING_RATIO
from keras_distill.demo.report import input_pipeline_line


@pytest.fixture(scope="module")
def digits():
    return dataset.smoke_subset(dataset.load_data("digits", batch_size=64))


class _Sleep(keras.callbacks.Callback):
    def __init__(self, in_validation: float, after_epoch: float):
        super().__init__()
        self.in_validation, self.after_epoch = in_validation, after_epoch

    def on_test_begin(self, logs=None):
        time.sleep(self.in_validation)

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.after_epoch)


def test_fit_timer_counts_the_epochs_but_not_their_validation():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    x, y = np.zeros((16, 4), "float32"), np.zeros((16, 2), "float32")
    timer = FitTimer()
    start = time.perf_counter()
    model.fit(
        x,
        y,
        validation_data=(x, y),
        epochs=2,
        verbose=0,
        # The timer's on_test_begin runs first: the sleep is inside validation.
        callbacks=[timer, _Sleep(in_validation=0.4, after_epoch=0.1)],
    )
    wall = time.perf_counter() - start
    assert 0.2 <= timer.seconds <= wall - 0.8


def test_pipeline_is_timed_over_an_epoch_or_a_bounded_part(digits):
    whole = dataset.input_pipeline_throughput(digits)
    assert whole["batches"] == dataset.steps_per_epoch(digits) == 20
    assert whole["whole_epoch"] and whole["examples_per_second"] > 0
    assert whole["passes"] == dataset.INPUT_PIPELINE_PASSES
    part = dataset.input_pipeline_throughput(digits, max_batches=3, passes=1)
    assert part["batches"] == 3 and not part["whole_epoch"]
    assert part["examples_per_second"] > 0 and part["passes"] == 1


def test_the_best_of_the_passes_counts(digits, monkeypatch):
    import keras_distill.data

    speeds = iter([100.0, 300.0, 200.0])
    timed = []

    def fake(dataset_, *, batches=None, warmup_batches=0):
        timed.append((dataset_, batches))
        return next(speeds)

    monkeypatch.setattr(keras_distill.data, "pipeline_throughput", fake)
    found = dataset.input_pipeline_throughput(digits, max_batches=7)
    assert found["examples_per_second"] == 300.0
    assert timed == [(digits.train, 7)] * 3


def test_report_section_compares_the_pipeline_with_distillation(digits):
    student = run.StudentResult(model=None, accuracy=0.0, history={})
    untimed = run.input_pipeline(digits, student)
    assert untimed["training_examples_per_second"] is None
    assert untimed["ratio"] is None
    timed = run.input_pipeline(
        digits, run.StudentResult(None, 0.0, {}, examples_per_second=250.0)
    )
    assert timed["training_examples_per_second"] == 250.0
    assert timed["ratio"] == pytest.approx(timed["examples_per_second"] / 250.0)


def test_the_line_warns_when_the_pipeline_is_not_several_times_faster(digits):
    section = {"examples_per_second": 3000.0, "training_examples_per_second": 1000.0}
    slow = input_pipeline_line(section | {"ratio": 3.0}, digits)
    assert slow.startswith("input pipeline alone: 3,000 images/s, 3x the ")
    assert f"less than {STARVING_RATIO}x" in slow and "waiting for data" in slow
    # Just below the threshold is not rounded up to it.
    near = input_pipeline_line(section | {"ratio": 4.97}, digits)
    assert "4.97x" in near and "waiting for data" in near
    fast = input_pipeline_line(section | {"ratio": 50.0})
    assert "examples/s" in fast and "waiting" not in fast
    untimed = {"examples_per_second": 3000.0, "training_examples_per_second": None}
    assert "not timed" in input_pipeline_line(untimed | {"ratio": None})
