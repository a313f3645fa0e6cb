"""`keras-distill --help`, `python -m keras_distill`, and the Keras flavour choice."""

from cli_testing import run_cli
from conftest import flavour_neutral

from keras_distill import cli

pytestmark = flavour_neutral


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
