"""Tests for measure_latency and the latency, XNNPACK and MACs fields of the report."""

import os
import sys
import time

import export_testing as et
import numpy as np
import pytest

from keras_distill._compat import keras
from keras_distill.export import TFLiteReport
from keras_distill.export import _interpreter_io
from keras_distill.export import convert as convert_module
from keras_distill.export import count_macs
from keras_distill.export import export_and_verify
from keras_distill.export import latency
from keras_distill.export import measure_latency
from keras_distill.export import verify
from keras_distill.export.convert import convert_tflite
from keras_distill.export.verify import verify_tflite_content

NEW_FIELDS = (
    "latency_ms_p90",
    "latency_ms_by_threads",
    "warmup_runs",
    "xnnpack",
    "macs",
)


@pytest.fixture(scope="module")
def conv_content():
    """A small float32 CNN file (a conversion takes ~1 s)."""
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(16, 3, padding="same"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    return convert_tflite(model)


@pytest.fixture(scope="module")
def student_content():
    return convert_tflite(et.trained_student())


class Recorder:
    """Interpreters that note their threads, invoke calls and OS threads."""

    def __init__(self, monkeypatch, set_tensor_delay: float = 0.0):
        self.interpreters = []
        recorder = self

        class Spy(latency.Interpreter):
            def __init__(self, *args, num_threads=None, **kwargs):
                super().__init__(*args, num_threads=num_threads, **kwargs)
                self.spy_threads, self.spy_invokes = num_threads, 0
                recorder.interpreters.append(self)

            def allocate_tensors(self):
                super().allocate_tensors()
                self.spy_os_threads = os_threads()

            def set_tensor(self, *args):
                time.sleep(set_tensor_delay)
                super().set_tensor(*args)

            def invoke(self):
                self.spy_invokes += 1
                super().invoke()

        monkeypatch.setattr(latency, "Interpreter", Spy)
        monkeypatch.setattr(_interpreter_io, "Interpreter", Spy)


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_measures_median_and_p90_at_each_thread_count(conv_content):
    latency = measure_latency(conv_content, threads=(1, 4), runs=7, warmup_runs=1)
    assert sorted(latency) == [1, 4]
    for stats in latency.values():
        assert 0 < stats["median"] <= stats["p90"] < 1000


@pytest.mark.skipif(sys.platform != "linux", reason="counts threads in /proc")
def test_four_threads_start_an_xnnpack_pool_of_four(conv_content, monkeypatch):
    recorder = Recorder(monkeypatch)
    before = os_threads()
    measure_latency(conv_content, threads=(4,), runs=2, warmup_runs=1)
    (_, timer) = recorder.interpreters  # the first one only reads the input spec
    assert timer.spy_threads == 4
    # The calling thread plus 3 XNNPACK workers.
    assert timer.spy_os_threads - before >= 3
    assert verify._uses_xnnpack(timer)


def test_warmup_and_timed_calls_per_thread_count(conv_content, monkeypatch):
    recorder = Recorder(monkeypatch)
    measure_latency(conv_content, threads=(1, 2), runs=3, warmup_runs=2)
    timers = recorder.interpreters[1:]
    assert [(t.spy_threads, t.spy_invokes) for t in timers] == [(1, 5), (2, 5)]


def test_only_invoke_is_timed(student_content, monkeypatch):
    Recorder(monkeypatch, set_tensor_delay=0.05)
    latency = measure_latency(student_content, threads=(1,), runs=3, warmup_runs=0)
    assert latency[1]["p90"] < 25  # ms; setting the input sleeps 50 ms


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"threads": 4}, TypeError, "sequence of thread counts"),
        ({"threads": (1, 1)}, ValueError, "distinct"),
        ({"threads": ()}, ValueError, "distinct"),
        ({"threads": (0,)}, ValueError, "threads"),
        ({"threads": (1.0,)}, TypeError, "threads"),
        ({"runs": 0}, ValueError, "runs"),
        ({"warmup_runs": -1}, ValueError, "warmup_runs"),
    ],
)
def test_measure_latency_checks_its_arguments(student_content, kwargs, error, match):
    with pytest.raises(error, match=match):
        measure_latency(student_content, **kwargs)


@pytest.mark.parametrize("shape", [(1, 63), (2, 64), (64,), ()])
def test_measure_latency_rejects_an_example_of_the_wrong_shape(student_content, shape):
    with pytest.raises(ValueError, match="`example` has shape"):
        measure_latency(student_content, np.zeros(shape))


def verify_student(content, **kwargs) -> TFLiteReport:
    _, _, x_test, y_test = et.digits()
    kwargs.setdefault("latency_runs", 5)
    return verify_tflite_content(content, x_test[:50], y_test[:50], **kwargs)


def test_report_holds_latency_at_1_and_4_threads_xnnpack_and_macs(student_content):
    model = et.trained_student()
    report = verify_student(student_content, keras_model=model, warmup_runs=2)
    assert sorted(report.latency_ms_by_threads) == ["1", "4"]
    one = report.latency_ms_by_threads["1"]
    assert report.latency_ms_median == one["median"] == report.latency_ms(1)
    assert report.latency_ms_p90 == one["p90"] == report.latency_ms(1, "p90")
    assert report.latency_ms(4, "p90") >= report.latency_ms(4) > 0
    assert report.latency_ms(2) is None
    assert (report.warmup_runs, report.latency_runs) == (2, 5)
    assert report.xnnpack is True
    assert report.macs == count_macs(model) == 64 * 32 + 32 * 10
    summary = report.summary()
    assert "2.37K MACs" in summary and "at 4 threads" in summary
    assert f"{report.latency_ms_median:.3g} ms/example (p90 " in summary


def test_report_without_keras_model_has_no_macs(student_content):
    report = verify_student(student_content, latency_threads=(1,))
    assert report.macs is None and sorted(report.latency_ms_by_threads) == ["1"]
    assert "MACs" not in report.summary() and "thread" in report.summary()


@pytest.mark.parametrize(
    ("threads", "error", "match"),
    [((4,), ValueError, "must include 1"), ([1, 4, 4], ValueError, "distinct")],
)
def test_verify_checks_latency_threads(student_content, threads, error, match):
    with pytest.raises(error, match=match):
        verify_student(student_content, latency_threads=threads)


def test_new_fields_round_trip_and_older_json_still_loads(student_content, tmp_path):
    report = verify_student(student_content, keras_model=et.trained_student())
    path = report.save_json(tmp_path / "student.json")
    assert TFLiteReport.load_json(path) == report
    old = {k: v for k, v in report.to_dict().items() if k not in NEW_FIELDS}
    old["num_threads"] = 2
    older = TFLiteReport.from_dict(old)
    assert older.latency_ms_by_threads == {} and older.macs is None
    assert older.latency_ms(2) == report.latency_ms_median
    assert older.latency_ms(2, "p90") is None and older.latency_ms(1) is None
    assert f"{report.latency_ms_median:.3g} ms/example at 2 threads" in (
        older.summary()
    )
    with pytest.raises(ValueError, match="'median' or 'p90'"):
        report.latency_ms(1, "mean")


def test_export_and_verify_reports_macs_and_checks_threads_first(tmp_path, monkeypatch):
    _, _, x_test, y_test = et.digits()
    model = et.trained_student()
    report = export_and_verify(
        model,
        tmp_path / "s.tflite",
        x_eval=x_test[:50],
        y_eval=y_test[:50],
        latency_runs=2,
        latency_threads=(1, 4),
    )
    assert report.macs == count_macs(model)
    assert TFLiteReport.load_json(tmp_path / "s.json").macs == report.macs
    monkeypatch.setattr(convert_module, "run_converter", pytest.fail)
    with pytest.raises(ValueError, match="must include 1"):
        export_and_verify(
            model, tmp_path / "out" / "s.tflite", x_eval=x_test, latency_threads=(4,)
        )
    assert not (tmp_path / "out").exists()
