"""Where keras_distill caches generated data, and atomic .npz writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_distill import _atomic

CACHE_ENV_VAR = "KERAS_DISTILL_CACHE"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The directory keras_distill caches generated datasets in.

    The first of: `override`, `$KERAS_DISTILL_CACHE`, `$XDG_CACHE_HOME/keras_distill`,
    `~/.cache/keras_distill`. The directory is not created here.

    Args:
        override: str or path-like, a directory to use instead. Defaults to None.

    Returns:
        The cache directory, as an absolute `Path`.
    """
    if override is not None:
        return Path(override).expanduser().absolute()
    from_env = os.environ.get(CACHE_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "keras_distill").absolute()


def save_npz_atomically(path: Path, **arrays: np.ndarray) -> None:
    """Writes `arrays` to `path` (.npz) so readers see the old file or the new one.

    The data goes to a temporary file in the same directory, which then replaces
    `path` (see `keras_distill._atomic.atomic_file`): an interrupted write never
    leaves a truncated cache file, and concurrent writers of the same content do
    not corrupt each other.

    Raises:
        OSError: if the directory cannot be created or written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _atomic.atomic_file(path) as tmp, open(tmp, "wb") as tmp_file:
        np.savez(tmp_file, **arrays)
