"""Atomic file writing: a reader sees the old file or the whole new one, never half.

Every file keras_distill writes goes through here: exported models and reports,
the teacher-output cache, the data cache and the demo's cached `.keras` models.
The pattern: check the target folder is writable before any slow work starts,
write to a temporary file in the same folder, flush it to disk (`os.fsync`),
give it the permissions a plain `open(path, "w")` would, then `os.replace` it
over the target (atomic on POSIX and Windows when both are on one filesystem,
which the same folder guarantees). A crash at any point leaves either the old
file or none, plus at most a hidden `.name.*.tmp` file.
"""

import contextlib
import os
import pathlib
import shutil
import tempfile


def resolve_output_path(
    path: "str | os.PathLike", *, argname: str, suffix: str | None = None
) -> pathlib.Path:
    """Resolves `path` against the current working directory and checks its suffix.

    Args:
        path: the file or folder to write.
        argname: the argument's name, for error messages.
        suffix: the suffix the path must end with (e.g. ".tflite"), or None for
            any. Defaults to None.

    Returns:
        The absolute path.

    Raises:
        TypeError: if `path` is not a string or path-like object.
        ValueError: if the suffix is wrong.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"`{argname}` must be a str or pathlib.Path, got {type(path).__name__}: "
            f"{path!r:.80}"
        )
    resolved = pathlib.Path(path).expanduser().absolute()
    if suffix is not None and resolved.suffix != suffix:
        raise ValueError(
            f"`{argname}` must end with {suffix!r}, got {str(path)!r}. For example "
            f"pass {str(resolved.with_suffix(suffix))!r}."
        )
    return resolved


def prepare_output_path(
    path: pathlib.Path, *, argname: str, is_dir: bool = False
) -> list[pathlib.Path]:
    """Creates missing parent folders and proves the folder is writable.

    Called before converting, so that a bad path fails in milliseconds instead of
    after a conversion. Root ignores permission bits, so writability is tested by
    creating (and removing) a real temporary file, not with `os.access`.

    Args:
        path: the absolute file or folder path that will be written.
        argname: the argument's name, for error messages.
        is_dir: whether `path` names a folder (a SavedModel) rather than a file.
            Defaults to False.

    Returns:
        The folders this call created, deepest last; pass them to
        `remove_created_dirs` if the export fails later.

    Raises:
        ValueError: if the folder cannot be created or written, naming the reason.
    """
    parent = path.parent
    missing = []
    probe = parent
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(
            f"`{argname}` {str(path)!r} cannot be written: {str(probe)!r} is a "
            "file, not a folder. Pass a path in a folder you can write to."
        )
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe_name = tempfile.mkstemp(
            dir=parent, prefix=f".{path.name}.", suffix=".probe"
        )
        os.close(fd)
        os.unlink(probe_name)
    except OSError as err:
        remove_created_dirs(list(reversed(missing)))
        raise ValueError(
            f"`{argname}` {str(path)!r} cannot be written: {err.strerror or err} "
            f"({type(err).__name__} on {err.filename or parent!s}). Pass a path in a "
            "folder you can write to (its parents must be folders, not files)."
        ) from err
    if not is_dir and path.is_dir():
        raise ValueError(
            f"`{argname}` {str(path)!r} is an existing folder; pass a file path."
        )
    if is_dir and path.exists() and not path.is_dir():
        raise ValueError(
            f"`{argname}` {str(path)!r} is an existing file; pass a folder path."
        )
    return list(reversed(missing))


def remove_created_dirs(created: list[pathlib.Path]) -> None:
    """Removes folders `prepare_output_path` created, if they are still empty."""
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _read_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# Read once, at import: changing the umask later, even for an instant, could
# give a file another thread creates meanwhile the wrong permissions.
_UMASK = _read_umask()


def _file_mode() -> int:
    """The mode a plain `open(path, "w")` would give: 0o666 minus the umask.

    `mkstemp` creates 0o600 files; an exported model should be as readable as
    any other file the user writes (e.g. copied into an app's assets).
    """
    return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_file(path: "str | os.PathLike", *, suffix: str = ".tmp"):
    """Yields a temporary file path that replaces `path` when the block succeeds.

    Use it for writers that want a file name or an open file of their own
    (`np.savez`, `model.save`); for bytes or text in memory, `write_bytes_atomic`
    and `write_text_atomic` are shorter. The temporary file is created (empty)
    in `path`'s folder, which must exist. When the block ends without an error
    the file is flushed to disk, given the permissions a plain `open` would give
    and renamed over `path`; if the block raises, it is deleted and `path` is
    untouched.

    Args:
        path: the file to (re)place.
        suffix: the temporary file's suffix, for writers that insist on one
            (`model.save` needs ".keras"). Defaults to ".tmp".

    Yields:
        A `pathlib.Path` to the temporary file.

    Example:

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "numbers.txt"
    >>> with atomic_file(target) as tmp:
    ...     _ = tmp.write_text("1 2 3")
    >>> target.read_text()
    '1 2 3'
    """
    path = pathlib.Path(path)
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix
    )
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: "str | os.PathLike", data: bytes) -> None:
    """Writes `data` to `path` through a temporary file and `os.replace`."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: "str | os.PathLike", text: str) -> None:
    """Writes UTF-8 `text` to `path` atomically (see `atomic_file`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: pathlib.Path):
    """Yields an empty temporary folder that replaces `path` when the block succeeds.

    A folder cannot be swapped in one system call when the target exists, so the
    old folder is first moved aside, the new one renamed in, and the old one
    deleted; if the rename fails the old folder is put back. If the block raises,
    the temporary folder is deleted and `path` is untouched.

    Args:
        path: the absolute folder path to (re)place.

    Yields:
        A `pathlib.Path` to a folder that does not exist yet, in `path`'s parent;
        write the whole artifact there.
    """
    staging = pathlib.Path(
        tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    )
    try:
        new = staging / "new"
        yield new
        if not new.is_dir():
            raise RuntimeError(f"nothing was written to the staging folder {new}")
        old = staging / "old"
        had_old = path.exists()
        if had_old:
            os.replace(path, old)
        try:
            os.replace(new, path)
        except BaseException:
            if had_old:
                os.replace(old, path)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
