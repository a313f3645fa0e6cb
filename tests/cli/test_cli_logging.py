"""`keras-distill` keeps TensorFlow's C++ start-up log off its screen; `--verbose`
and a `TF_CPP_MIN_LOG_LEVEL` the user set let it through.

What TensorFlow prints depends on the machine (CPU flags, CUDA drivers, oneDNN):
on some it prints nothing, and a test that compares its lines with the
command's would pass as 0 == 0. So the command-line tests run with a
`sitecustomize` that, during TensorFlow's own import, writes known lines to
file descriptor 2 as its C++ code does: an absl banner, info, error and fatal
log lines and a plain line (such as a Python warning).
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest
from conftest import flavour_neutral

from keras_distill import _tf_log

pytestmark = flavour_neutral

REPO = pathlib.Path(__file__).resolve().parents[2]
BANNER = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR (canary)"
)
INFO = "I0000 00:00:1796065086.895629    4268 canary.cc:1] canary info"
ERROR = "E0000 00:00:1796065086.895629    4268 canary.cc:2] canary error"
FATAL = "F0000 00:00:1796065086.895629    4268 canary.cc:3] canary fatal"
PLAIN = "canary.py:1: UserWarning: canary, not a log line"
CANARY = [BANNER, INFO, ERROR, FATAL, PLAIN]
SITECUSTOMIZE = f"""
import os
import sys


class _Canary:
    def find_spec(self, name, path=None, target=None):
        # The first submodule TensorFlow imports: inside `import tensorflow`.
        if name.startswith("tensorflow."):
            sys.meta_path.remove(self)
            os.write(2, {"".join(line + chr(10) for line in CANARY).encode()!r})
        return None


sys.meta_path.insert(0, _Canary())
"""
# An info or warning line of TensorFlow's log: severity, MMDD, time, thread.
INFO_OR_WARNING = re.compile(r"^[IW]\d{4} [\d:.]+ +\d+ ")


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    """A PYTHONPATH entry whose sitecustomize logs CANARY while TensorFlow loads."""
    path = tmp_path_factory.mktemp("canary")
    (path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return str(path)


def _env(*paths, **extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [*paths, str(REPO), env.get("PYTHONPATH")])
    )
    env.update(extra)
    return env


def _run(*args, paths=(), **env):
    return subprocess.run(
        [sys.executable, *args],
        env=_env(*paths, **env),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def test_command_line_hides_tensorflow_log_lines_and_keeps_other_stderr(canary):
    out = _run("-m", "keras_distill", "demo", "--help", paths=[canary])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage: keras-distill demo" in out.stdout
    # TensorFlow's own lines and the canary's banner, info and error lines are
    # gone; a fatal line and a line that is not a log line are kept.
    assert out.stderr.splitlines() == [FATAL, PLAIN]


def test_command_line_error_is_one_line_without_tensorflow_log(canary):
    out = _run("-m", "keras_distill", "demo", "--epochs", "0", paths=[canary])
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        FATAL,
        PLAIN,
        "keras-distill: error: option 'epochs' must be an int >= 1, got 0.",
    ]


def test_verbose_shows_tensorflow_log(canary):
    out = _run("-m", "keras_distill", "--verbose", "demo", "--help", paths=[canary])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage: keras-distill demo" in out.stdout
    lines = out.stderr.splitlines()
    assert [line for line in lines if "canary" in line] == CANARY


def test_a_log_level_the_user_set_chooses_what_the_command_hides(canary):
    out = _run(
        "-m",
        "keras_distill",
        "demo",
        "--help",
        paths=[canary],
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stderr.splitlines()
    # Level 2 hides info and warnings (and the banners), not errors.
    assert [line for line in lines if "canary" in line] == [ERROR, FATAL, PLAIN]
    assert not [line for line in lines if INFO_OR_WARNING.match(line)]


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
