"""The benchmark scripts still run: each one end to end, with tiny settings.

The numbers in docs/ come from these scripts; a script that no longer runs
would leave them unreproducible. Each runs in a subprocess (some set
TF_USE_LEGACY_KERAS themselves) and must print its table.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.slow


def run_script(name, *args, timeout=600):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", name), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_compression_mlp_recipe_prints_every_row_and_target(tmp_path):
    out = run_script(
        "compression.py",
        "--student=mlp",
        "--datasets=digits",
        "--seeds=0",
        "--epochs=1",
        "--prune-epochs=3",
        "--recovery-epochs=1",
        "--pqat-epochs=1",
        "--teacher-epochs=1",
        f"--out={tmp_path}",
    )
    assert "Mixup(1.0) shared" in out
    for row in (
        "| dense, labels | float32 |",
        "| dense, distilled | int8 |",
        "| 80% pruned on labels (labels-trained start) | int8 |",
        "| 80% pruned while distilling | int8 |",
        "| 80% pruned while distilling + PQAT | int8 |",
    ):
        assert row in out
    assert out.count("(target") == 6
    tflite = [f for f in os.listdir(tmp_path) if f.endswith(".tflite")]
    assert len(tflite) == 9


def test_methods_writes_its_table_and_log(tmp_path):
    output = tmp_path / "methods.md"
    out = run_script(
        "methods.py",
        "--epochs=1",
        "--seeds=1",
        "--datasets=digits",
        "--methods=labels,labels_mixup,kl_mixup",
        f"--output={output}",
    )
    table = output.read_text()
    assert table in out
    for method in ("labels", "labels_mixup", "kl_mixup"):
        assert f"| digits | {method} | 1 |" in table
    log = (tmp_path / "methods.jsonl").read_text().splitlines()
    assert len(log) == 3


def test_export_modes_reports_every_mode():
    out = run_script("export_modes.py", "--epochs=1")
    for mode in ("float32", "float16", "dynamic", "int8"):
        assert mode in out
    assert "int8 / float32 size:" in out


def test_speed_prints_the_ratios():
    out = run_script(
        "speed.py",
        "--repeats=1",
        "--repeat=1",
        "--student-hidden=8",
        "--teacher-hidden=16",
        "--no-memory",
    )
    assert "floor = student + teacher_pass" in out
    for kind in ("student", "teacher_pass", "distiller", "cached"):
        assert f"| {kind} |" in out
