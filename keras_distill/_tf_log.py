"""Keeps TensorFlow's C++ start-up log off the `keras-distill` command's screen.

Importing TensorFlow prints, before anything else, lines such as "Could not find
cuda drivers on your machine", "oneDNN custom operations are on" and
"cpu_feature_guard ... rebuild TensorFlow", each block headed by "All log
messages before absl::InitializeLog() is called are written to STDERR"; the
first GPU probe adds "E0000 ... failed call to cuInit". None of it concerns a
user of the command. Two things silence it:

- `TF_CPP_MIN_LOG_LEVEL` (3 = fatal only, unless the user set a level) hides what
  TensorFlow logs once its logging is set up, such as the cuInit error;
- the lines logged *before* that (the absl blocks) ignore the variable, so the
  import of `tensorflow` runs with file descriptor 2 sent to a temporary file,
  and afterwards everything in it is written back to stderr except the log
  lines below the level (a Python warning or an import error still shows).

This module is imported first by `keras_distill/__init__.py`, because importing
keras_distill imports TensorFlow, and acts only when this process *is* the
command line (`keras-distill ...` or `python -m keras_distill ...`) and
`--verbose` was not given: a library must not touch its user's environment or
stderr. TensorFlow itself is not imported here; a finder on `sys.meta_path`
wraps its import whenever it happens, so the command can still choose the Keras
flavour (`TF_USE_LEGACY_KERAS`) before TensorFlow loads.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
QUIET_LEVEL = "3"
VERBOSE_FLAG = "--verbose"
_SCRIPT_NAMES = ("keras-distill", "keras-distill.exe", "keras-distill-script.py")
# An absl log line: severity letter, MMDD, time (before absl's set-up, the
# Unix time in the seconds field), thread id, file:line].
_LOG_LINE = re.compile(rb"^([IWEF])\d{4} [\d:.]+ +\d+ [^\]\s]+:\d+\] ")
_BANNER = b"WARNING: All log messages before absl::InitializeLog() is called"
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}


def started_as_command_line(argv=None, orig_argv=None) -> bool:
    """Whether this process was started as `keras-distill` or `python -m keras_distill`.

    Args:
        argv: `sys.argv` as it is while keras_distill is first imported.
            Defaults to None (`sys.argv`).
        orig_argv: the interpreter's own command line. Defaults to None
            (`sys.orig_argv`).

    Returns:
        True for the console script, and for `python -m keras_distill` (while
        `-m` locates the module, `sys.argv[0]` is "-m").
    """
    argv = sys.argv if argv is None else argv
    orig_argv = getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
    if not argv:
        return False
    if os.path.basename(argv[0]) in _SCRIPT_NAMES:
        return True
    if argv[0] != "-m" or "-m" not in orig_argv:
        return False
    index = orig_argv.index("-m") + 1
    return index < len(orig_argv) and orig_argv[index] == "keras_distill"


def filter_log(captured: bytes, min_level: int) -> bytes:
    """Drops the absl log lines below `min_level` (0 info ... 3 fatal) and banners.

    Every other line is kept, so a Python warning or traceback printed while
    TensorFlow was imported still reaches the user.
    """
    kept = []
    for line in captured.splitlines(keepends=True):
        match = _LOG_LINE.match(line)
        if match and _SEVERITY[match.group(1)] < min_level:
            continue
        if line.startswith(_BANNER) and min_level > 0:
            continue
        kept.append(line)
    return b"".join(kept)


@contextlib.contextmanager
def filtered_stderr(min_level: int):
    """Sends file descriptor 2 to a temporary file, then replays it filtered."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = filter_log(captured.read(), min_level)
            if text:
                os.write(2, text)


class _FilteredLoader(importlib.abc.Loader):
    """Runs another loader's `exec_module` inside `filtered_stderr`."""

    def __init__(self, loader, min_level: int):
        self._loader = loader
        self._min_level = min_level

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr(self._min_level):
            self._loader.exec_module(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as usual, but with its import's stderr filtered."""

    def __init__(self, min_level: int):
        self._min_level = min_level

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once, and not while finding the real spec
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader, self._min_level)
        return spec


def _level_from_environment() -> int:
    try:
        return int(os.environ[LEVEL_VARIABLE])
    except (KeyError, ValueError):
        return 0


def quiet_tensorflow_log() -> None:
    """Sets the log level (unless set) and filters TensorFlow's import, once.

    Does nothing when TensorFlow is already imported, or when the user asked
    for everything with `TF_CPP_MIN_LOG_LEVEL=0`.
    """
    os.environ.setdefault(LEVEL_VARIABLE, QUIET_LEVEL)
    level = _level_from_environment()
    if level <= 0 or "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder(level))


if started_as_command_line() and VERBOSE_FLAG not in sys.argv[1:]:
    quiet_tensorflow_log()
