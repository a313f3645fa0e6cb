"""report.json: written atomically, checked for its documented fields, tabled."""

import json
import re

import pytest

from keras_distill.demo import report as demo_report


def _exported(median, p90, median4, p90_4, macs):
    return {
        "tflite": "x.tflite",
        "tflite_bytes": 2048,
        "gzip_bytes": 1024,
        "latency_ms": median,
        "latency_ms_p90": p90,
        "latency_ms_by_threads": {
            "1": {"median": median, "p90": p90},
            "4": {"median": median4, "p90": p90_4},
        },
        "macs": macs,
    }


def _models():
    return [
        {"name": "teacher", "accuracy": 0.9, "params": 1000}
        | _exported(0.0167, 0.017, 0.0137, 0.0141, 633600),
        {"name": "baseline_student", "accuracy": 0.6, "params": 100, "macs": 15000},
        {"name": "distilled_student", "accuracy": 0.8, "params": 100}
        | _exported(0.01, 0.0123, 0.02, 0.5, 15000),
        {"name": "compressed_student", "accuracy": 0.79, "params": 100}
        | _exported(0.005, 0.006, 0.004, 0.0045, 15000)
        | {"sparsity": 0.5},
    ]


def _report():
    pipeline = {"examples_per_second": 2e5, "batches": 32, "whole_epoch": True}
    pipeline |= {"training_examples_per_second": 2e3, "ratio": 100.0}
    report = {"dataset": {}, "versions": {}, "elapsed_seconds": {}, "models": _models()}
    report |= {"keras": "Keras 3", "compression": {"engine": "native"}}
    return report | {"input_pipeline": pipeline}


def test_write_json_atomic_replaces_the_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    demo_report.write_json_atomic(path, {"a": [1, 2.5]})
    assert json.loads(path.read_text()) == {"a": [1, 2.5]}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_write_json_atomic_keeps_the_old_file_when_data_is_bad(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    with pytest.raises(ValueError):
        demo_report.write_json_atomic(path, {"a": float("nan")})
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_check_report_accepts_the_documented_shape():
    report = _report()
    demo_report.check_report(report)
    del report["compression"]["engine"]
    with pytest.raises(ValueError, match="engine"):
        demo_report.check_report(report)
    report["compression"]["engine"] = "native"
    del report["models"][2]["gzip_bytes"]
    with pytest.raises(ValueError, match="distilled_student.*gzip_bytes"):
        demo_report.check_report(report)
    report = _report()
    del report["input_pipeline"]["ratio"]
    with pytest.raises(ValueError, match="input_pipeline.*ratio"):
        demo_report.check_report(report)


def test_check_report_wants_the_teacher_file_or_its_export_error():
    report = _report()
    del report["models"][0]["latency_ms_by_threads"]
    with pytest.raises(ValueError, match="teacher.*latency_ms_by_threads"):
        demo_report.check_report(report)
    report["models"][0] = {"name": "teacher", "accuracy": 0.9, "params": 1000}
    report["models"][0]["export_error"] = "TFLiteConversionError: no kernel"
    demo_report.check_report(report)


def test_table_has_a_row_per_model_with_units():
    table = demo_report.format_table(_models()).splitlines()
    assert len(table) == 2 + 4
    cells = [re.split(r"\s{2,}", line.strip()) for line in table]
    assert cells[0] == ["model", "params", "accuracy", ".tflite", "gzip", "MACs"] + [
        "1 thread ms",
        "4 threads ms",
    ]
    assert "79.0 %" in table[-1] and "50% zero" in table[-1]
    assert "2.0 KiB" in table[-1] and "1.0 KiB" in table[-1]
    # MACs with an SI suffix; median / p90 at 1 thread, then at 4 threads.
    assert cells[2][-3:] == ["634K", "0.0167 / 0.017", "0.0137 / 0.0141"]
    assert cells[4][-2:] == ["0.01 / 0.0123", "0.02 / 0.5"]
    # The baseline has no file of its own: MACs, no sizes or latencies.
    assert cells[3][-5:] == ["-", "-", "15K", "-", "-"]


def test_a_report_without_latency_by_threads_gives_the_1_thread_median_only():
    """Entries of older reports: `latency_ms` and `latency_ms_p90`, no threads."""
    old = {"name": "distilled_student", "accuracy": 0.8, "params": 100}
    old |= {"latency_ms": 0.01, "latency_ms_p90": 0.02}
    row = demo_report.format_table([old]).splitlines()[-1]
    assert re.split(r"\s{2,}", row.strip())[-2:] == ["0.01 / 0.02", "-"]


def test_versions_name_the_flavour_and_libraries():
    found = demo_report.versions()
    assert found["keras_flavour"] in ("keras3", "tf_keras")
    assert found["tensorflow"] and found["python"]
