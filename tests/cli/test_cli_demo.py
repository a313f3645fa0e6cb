"""`keras-distill demo` end to end: report.json, LiteRT files, labels, plots."""

import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from cli_testing import run_cli

from keras_distill import _compat
from keras_distill.demo import report as demo_report
from keras_distill.demo.config import DemoConfig


def _load_litert(path):
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


def _check_output_dir(out, report, num_classes):
    demo_report.check_report(report)
    models = {model["name"]: model for model in report["models"]}
    for name in ("teacher", "distilled_student", "compressed_student"):
        path = out / models[name]["tflite"]
        assert path.is_file() and path.stat().st_size == models[name]["tflite_bytes"]
        interpreter = _load_litert(path)
        output = interpreter.get_output_details()[0]
        assert output["shape"][-1] == num_classes
        assert 0 < models[name]["gzip_bytes"] <= models[name]["tflite_bytes"] * 1.1
        assert models[name]["latency_ms"] > 0
        for threads in ("1", "4"):
            stats = models[name]["latency_ms_by_threads"][threads]
            assert stats["p90"] >= stats["median"] > 0
        assert models[name]["macs"] > 0
        assert 0.0 <= models[name]["accuracy"] <= 1.0
    assert models["teacher"]["tflite"] == "teacher_float32.tflite"
    assert models["teacher"]["macs"] > models["distilled_student"]["macs"]
    assert models["distilled_student"]["tflite"] == "distilled_student_float32.tflite"
    # The compressed student does the distilled one's MACs, in int8.
    assert models["compressed_student"]["macs"] == models["distilled_student"]["macs"]
    labels = (out / "labels.txt").read_text().splitlines()
    assert len(labels) == num_classes
    assert report["files"]["plots"] == [
        "accuracy_vs_size.png",
        "accuracy_vs_latency.png",
        "training_curves.png",
    ]
    for figure in report["files"]["plots"]:
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
    pipeline = report["input_pipeline"]
    assert pipeline["examples_per_second"] > 0
    assert pipeline["training_examples_per_second"] > 0
    assert pipeline["ratio"] == pytest.approx(
        pipeline["examples_per_second"] / pipeline["training_examples_per_second"]
    )
    assert set(report["elapsed_seconds"]) >= {"data", "teacher", "distil", "export"}
    return models


@pytest.mark.slow
def test_demo_fast_on_digits_in_a_fresh_process(tmp_path):
    out = tmp_path / "out"
    result = run_cli(
        ["demo", "--fast", "--dataset", "digits", "--output-dir", str(out)]
        + ["--cache-dir", str(tmp_path / "cache")],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stage_lines = [line for line in result.stdout.splitlines() if line[:1] == "["]
    assert [line.split("]")[0] for line in stage_lines] == [
        f"[{i}/7" for i in range(1, 8)
    ]
    report = json.loads((out / "report.json").read_text())
    models = _check_output_dir(out, report, num_classes=10)
    # The command runs, compression included, on the Keras of its environment:
    # Keras 3 with our engine, or tf_keras with TF-MOT (no restart on another).
    assert report["versions"]["keras_flavour"] == _compat.FLAVOUR
    assert report["compression"]["engine"] == (
        "tfmot" if _compat.LEGACY_KERAS else "native"
    )
    assert report["compression"]["pruned"] and report["compression"]["qat"]
    compressed = models["compressed_student"]
    assert compressed["tflite"] == "compressed_student_int8.tflite"
    # cnn-tiny keeps its stem convolution and its logits dense (72 and 160
    # weights); the middle convolution's 1,152 are pruned to 50 %.
    dense = report["compression"]["dense_layers"]
    assert len(dense) == 2 and dense[-1] == "logits"
    assert compressed["sparsity"] == pytest.approx(576 / 1384, abs=0.01)
    interpreter = _load_litert(out / compressed["tflite"])
    dtypes = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in dtypes
    assert "compressed_student" in result.stdout.splitlines()[-3]
    assert "teacher_float32.tflite" in stage_lines[5]  # the export line
    lines = result.stdout.splitlines()
    assert any(line.startswith("  input pipeline alone: ") for line in lines)
    assert (tmp_path / "cache").is_dir()  # the teacher is cached for next time


@pytest.mark.slow
def test_demo_runs_on_a_mocked_tfds_dataset(tmp_path):
    import tensorflow_datasets as tfds

    from keras_distill import demo

    config = DemoConfig(
        dataset="tfds:mnist",
        fast=True,
        batch_size=16,
        output_dir=str(tmp_path / "out"),
        cache_dir=str(tmp_path / "cache"),
    )
    with tfds.testing.mock_data(num_examples=48):
        report = demo.run_demo(config)
    assert report["dataset"]["input_shape"] == [28, 28, 1]
    models = _check_output_dir(tmp_path / "out", report, num_classes=10)
    assert report["compression"]["pruned"] and report["compression"]["qat"]
    assert models["compressed_student"]["tflite"] == "compressed_student_int8.tflite"
