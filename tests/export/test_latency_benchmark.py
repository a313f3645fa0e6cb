"""benchmarks/latency.py still runs end to end and prints its table (tiny settings)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_latency_benchmark_prints_every_file_and_both_targets(tmp_path):
    log = tmp_path / "latency.json"
    args = ["--runs=2", "--warmup=0", "--calibration-samples=4", f"--json={log}"]
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "latency.py"), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("teacher_float32", "teacher_int8", "student_float32", "student_int8"):
        assert f"{name}.tflite" in result.stdout
    assert result.stdout.count("(target <=") == 2
    reports = {r["path"]: r for r in json.loads(log.read_text())}
    teacher, student = reports["teacher_float32.tflite"], reports["student_int8.tflite"]
    assert teacher["macs"] > 50 * student["macs"] > 0
    assert sorted(student["latency_ms_by_threads"]) == ["1", "4"]
    assert student["file_bytes"] < reports["student_float32.tflite"]["file_bytes"]
