"""benchmarks/latency.py still runs end to end and prints its table (tiny settings)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import flavour_neutral

pytestmark = flavour_neutral

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_latency_benchmark_prints_every_file_and_both_targets(tmp_path):
    log = tmp_path / "latency.json"
    students = ["mobilenet_v3_small_minimalistic", "mobilenet_v2:0.5"]
    args = ["--runs=2", "--warmup=0", "--calibration-samples=4", f"--json={log}"]
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "latency.py"),
            *args,
            "--students",
            *students,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    labels = ["teacher", "mobilenet_v3_small_minimalistic", "mobilenet_v2_0.5"]
    for label in labels:
        for mode in ("float32", "int8"):
            assert f"{label}_{mode}.tflite" in result.stdout
    # Each student's int8 file against its float file and the float teacher.
    assert result.stdout.count("(target <=") == 2 * len(students)
    reports = {r["path"]: r for r in json.loads(log.read_text())}
    teacher = reports["teacher_float32.tflite"]
    for label in labels[1:]:
        student = reports[f"{label}_int8.tflite"]
        assert teacher["macs"] > 50 * student["macs"] > 0
        assert sorted(student["latency_ms_by_threads"]) == ["1", "4"]
        assert student["file_bytes"] < reports[f"{label}_float32.tflite"]["file_bytes"]
    wider = reports["mobilenet_v2_0.5_float32.tflite"]["macs"]
    assert wider > reports["mobilenet_v3_small_minimalistic_float32.tflite"]["macs"]
