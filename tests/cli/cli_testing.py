"""Helpers for the CLI tests: run `python -m keras_distill` on this checkout."""

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def run_cli(args, *, cwd=None, env=None, timeout=600):
    """Runs `python -m keras_distill *args` in a fresh process on this checkout.

    The process inherits this one's Keras flavour (`TF_USE_LEGACY_KERAS`), as a
    user's shell would hand it over.
    """
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), full_env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "keras_distill", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def our_lines(stderr: str) -> list[str]:
    """stderr without TensorFlow's own C++ log lines."""
    noise = ("WARNING: All log messages before absl", "I0000", "W0000", "E0000")
    return [line for line in stderr.splitlines() if line and not line.startswith(noise)]
