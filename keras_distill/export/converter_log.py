"""Keeping the TFLite converter's log out of the terminal, and reading it.

The converter (MLIR, in C++) writes its diagnostics straight to file
descriptor 2: on a failure, pages of `loc(callsite(...))` traces that bury
the one line that matters. Conversion therefore runs with descriptor 2
pointed at a temporary file; the log is kept, next to the intended output,
only when the conversion fails, and the error names that file. Anything else
the process writes to stderr meanwhile (other threads included) lands in the
same log.
"""

import contextlib
import os
import re
import sys
import tempfile

_ERROR_LINE = re.compile(r"error: (.+)")
_LOC_NAME = re.compile(r'"([^"]+)"')


@contextlib.contextmanager
def captured_stderr():
    """Redirects file descriptor 2 to a temporary file for the block.

    Yields:
        A list that holds the captured text, as its one element, once the
        block has ended (whether it raised or not).
    """
    holder = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield holder
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            holder.append(log.read().decode("utf-8", errors="replace"))


def first_error(text: str) -> str | None:
    """The first `error: ...` message of a converter log, without its location."""
    for line in text.splitlines():
        match = _ERROR_LINE.search(line)
        if match:
            return match.group(1).strip()
    return None


def layers_named(text: str, layer_names) -> list[str]:
    """The model layers a converter log's locations mention, in order of appearance.

    Locations quote TF node names such as `sequential/lstm/TensorArrayV2_1`;
    a segment that is a layer name (or one with Keras 3's retrace suffix `_1`)
    names the layer.
    """
    names = set(layer_names)
    found = []
    for quoted in _LOC_NAME.findall(text):
        for segment in re.split(r"[/@:;]", quoted):
            for name in (segment, re.sub(r"_\d+$", "", segment)):
                if name in names and name not in found:
                    found.append(name)
                    break
    return found
