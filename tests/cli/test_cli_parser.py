"""`keras-distill --help`, `python -m keras_distill`, and the Keras flavour choice."""

import os
import sys

from cli_testing import run_cli

from keras_distill import _compat
from keras_distill import cli
from keras_distill.demo.config import DemoConfig


def test_python_m_keras_distill_help_explains_every_option():
    result = run_cli(["demo", "--help"])
    assert result.returncode == 0, result.stderr[-2000:]
    for flag in ("--dataset", "--output-dir", "--fast", "--teacher", "--student"):
        assert flag in result.stdout
    for flag in ("--method", "--temperature", "--alpha", "--epochs", "--sparsity"):
        assert flag in result.stdout
    assert "--quantization" in result.stdout and "--config" in result.stdout
    assert "TF_USE_LEGACY_KERAS=1" in result.stdout
    assert "mixup-kd" in result.stdout


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_compression_asks_for_tf_keras_and_plain_runs_do_not():
    assert cli.needs_tf_keras(DemoConfig())
    assert cli.needs_tf_keras(DemoConfig(sparsity=0.0, quantization="int8"))
    assert not cli.needs_tf_keras(DemoConfig(sparsity=0.0, quantization="float16"))


def test_in_process_run_keeps_the_flavour_and_says_what_it_skips(monkeypatch):
    # TensorFlow is loaded here, so main([...]) must not switch flavours.
    assert "tensorflow" in sys.modules
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    note = cli.choose_flavour(DemoConfig(), argv_is_command_line=False)
    assert "TF_USE_LEGACY_KERAS" not in os.environ
    assert "pruning" in note and "TF_USE_LEGACY_KERAS=1" in note


def test_a_flavour_set_by_the_user_is_respected(monkeypatch):
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1" if _compat.LEGACY_KERAS else "0")
    assert cli.choose_flavour(DemoConfig(), argv_is_command_line=True) is None
