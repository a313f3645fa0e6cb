"""report.json: written atomically, checked for its documented fields, tabled."""

import json

import pytest

from keras_distill.demo import report as demo_report


def _models():
    exported = {"tflite": "x.tflite", "tflite_bytes": 2048, "gzip_bytes": 1024}
    return [
        {"name": "teacher", "accuracy": 0.9, "params": 1000},
        {"name": "baseline_student", "accuracy": 0.6, "params": 100},
        {"name": "distilled_student", "accuracy": 0.8, "params": 100, **exported}
        | {"latency_ms": 0.01},
        {"name": "compressed_student", "accuracy": 0.79, "params": 100, **exported}
        | {"latency_ms": 0.005, "sparsity": 0.5},
    ]


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
    report = {"dataset": {}, "versions": {}, "elapsed_seconds": {}, "models": _models()}
    report |= {"keras": "Keras 3", "compression": {"engine": "native"}}
    demo_report.check_report(report)
    del report["compression"]["engine"]
    with pytest.raises(ValueError, match="engine"):
        demo_report.check_report(report)
    report["compression"]["engine"] = "native"
    del report["models"][2]["gzip_bytes"]
    with pytest.raises(ValueError, match="distilled_student.*gzip_bytes"):
        demo_report.check_report(report)


def test_table_has_a_row_per_model_with_units():
    table = demo_report.format_table(_models()).splitlines()
    assert len(table) == 2 + 4
    assert table[0].split() == ["model", "params", "accuracy", ".tflite", "gzip"] + [
        "latency"
    ]
    assert "79.0 %" in table[-1] and "50% zero" in table[-1]
    assert "2.0 KiB" in table[-1] and "1.0 KiB" in table[-1]
    assert table[2].split()[-3:] == ["-", "-", "-"]


def test_versions_name_the_flavour_and_libraries():
    found = demo_report.versions()
    assert found["keras_flavour"] in ("keras3", "tf_keras")
    assert found["tensorflow"] and found["python"]
