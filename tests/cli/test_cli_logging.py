"""`keras-distill` keeps TensorFlow's C++ start-up log off its first screen."""

import os
import pathlib
import subprocess
import sys

import pytest

from keras_distill import _tf_log

REPO = pathlib.Path(__file__).resolve().parents[2]
NOISE = (
    "Could not find cuda drivers",
    "cpu_feature_guard",
    "All log messages before absl::InitializeLog()",
    "failed call to cuInit",
    "oneDNN custom operations",
)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), env.get("PYTHONPATH")])
    )
    env.update(extra)
    return env


def _run(*args, **env):
    return subprocess.run(
        [sys.executable, *args],
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def _noise(stderr):
    return [line for line in stderr.splitlines() if any(n in line for n in NOISE)]


@pytest.fixture(scope="module")
def tensorflow_noise():
    """What importing TensorFlow prints on this machine with no log level set."""
    return _noise(_run("-c", "import tensorflow").stderr)


def test_command_line_hides_tensorflow_start_up_log():
    out = _run("-m", "keras_distill", "demo", "--help")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage: keras-distill demo" in out.stdout
    assert out.stderr == ""


def test_command_line_error_is_one_line_without_tensorflow_log():
    out = _run("-m", "keras_distill", "demo", "--epochs", "0")
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "keras-distill: error: option 'epochs' must be an int >= 1, got 0."
    ]


def test_verbose_shows_tensorflow_log(tensorflow_noise):
    out = _run("-m", "keras_distill", "--verbose", "demo", "--help")
    assert out.returncode == 0, out.stderr[-2000:]
    # Same lines as a bare `import tensorflow`, if it prints any on this machine.
    assert len(_noise(out.stderr)) == len(tensorflow_noise)


def test_a_log_level_the_user_set_is_kept(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    _tf_log.quiet_tensorflow_log()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


def test_importing_keras_distill_as_a_library_leaves_the_log_level_alone():
    code = "import os, keras_distill; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    out = _run("-c", code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "None"


@pytest.mark.parametrize(
    ("argv", "orig_argv", "expected"),
    [
        (["/usr/bin/keras-distill", "demo"], ["python", "keras-distill"], True),
        (["-m", "demo"], ["python", "-X", "utf8", "-m", "keras_distill", "demo"], True),
        (["-m", "demo"], ["python", "-m", "pytest", "demo"], False),
        (["train.py"], ["python", "train.py"], False),
        ([], [], False),
    ],
)
def test_started_as_command_line(argv, orig_argv, expected):
    assert _tf_log.started_as_command_line(argv, orig_argv) is expected


def test_filter_log_drops_log_lines_below_the_level_and_keeps_the_rest():
    captured = (
        b"WARNING: All log messages before absl::InitializeLog() is called are "
        b"written to STDERR\n"
        b"I0000 00:00:1796065086.895629    4268 port.cc:153] oneDNN custom ops\n"
        b"E0000 00:00:1796065136.921179    5296 cuda_platform.cc:52] failed call "
        b"to cuInit\n"
        b"F0000 00:00:1796065136.921179    5296 op.cc:1] fatal\n"
        b"/x/y.py:3: DeprecationWarning: old\n"
    )
    assert _tf_log.filter_log(captured, 3) == (
        b"F0000 00:00:1796065136.921179    5296 op.cc:1] fatal\n"
        b"/x/y.py:3: DeprecationWarning: old\n"
    )
    assert _tf_log.filter_log(captured, 0) == captured
