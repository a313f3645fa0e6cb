"""keras_distill._atomic is the one writer of files: whole, flushed, readable."""

import ast
import os
import pathlib
import stat

import numpy as np
import pytest
from models import blobs
from models import mlp

from keras_distill import _atomic
from keras_distill.data.cache import save_npz_atomically
from keras_distill.demo.model_files import save_model_atomic
from keras_distill.teacher_cache import cache_teacher_outputs

PACKAGE = pathlib.Path(_atomic.__file__).resolve().parent
# Calls that make a temporary file or rename one over another: only _atomic.py
# may make them, so that every writer gets the fsync and the permissions.
RENAMING_CALLS = {
    ("os", "replace"),
    ("os", "rename"),
    ("tempfile", "mkstemp"),
    ("tempfile", "NamedTemporaryFile"),
}


def _calls(path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        func = getattr(node, "func", None)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            yield func.value.id, func.attr


def test_only_the_atomic_module_renames_temporary_files():
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(set(_calls(path)) & RENAMING_CALLS)
        for path in PACKAGE.rglob("*.py")
        if path.name != "_atomic.py"
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert set(_calls(PACKAGE / "_atomic.py")) & RENAMING_CALLS


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def plain_mode(tmp_path):
    """The permissions `open(path, "w")` gives a new file under this umask."""
    probe = tmp_path / "plain.txt"
    probe.write_text("")
    return _mode(probe)


def test_atomic_file_replaces_the_target_with_plain_permissions(tmp_path, plain_mode):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with _atomic.atomic_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp.exists()
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"
    assert target.read_bytes() == b"new"
    assert _mode(target) == plain_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "plain.txt"]


def test_atomic_file_keeps_the_old_file_and_no_temp_when_the_block_fails(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), _atomic.atomic_file(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_file_flushes_the_file_to_disk_before_renaming(tmp_path, monkeypatch):
    events = []
    monkeypatch.setattr(_atomic.os, "fsync", lambda fd: events.append("fsync"))
    real_replace = os.replace
    monkeypatch.setattr(
        _atomic.os,
        "replace",
        lambda a, b: events.append("replace") or real_replace(a, b),
    )
    with _atomic.atomic_file(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    assert events == ["fsync", "replace"]


def test_teacher_cache_file_gets_plain_permissions(tmp_path, plain_mode):
    x, y = blobs(16)
    path = tmp_path / "logits.npz"
    cache_teacher_outputs(mlp(), x, y, batch_size=8, path=str(path))
    assert _mode(path) == plain_mode
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_data_cache_file_gets_plain_permissions(tmp_path, plain_mode):
    path = tmp_path / "data.npz"
    save_npz_atomically(path, a=np.arange(3))
    assert _mode(path) == plain_mode
    np.testing.assert_array_equal(np.load(path)["a"], np.arange(3))


def test_demo_model_file_gets_plain_permissions(tmp_path, plain_mode):
    path = tmp_path / "models" / "teacher.keras"
    assert save_model_atomic(mlp(), path)
    assert _mode(path) == plain_mode
    assert [p.name for p in path.parent.iterdir()] == ["teacher.keras"]


def test_demo_model_file_in_an_unwritable_place_is_skipped_with_a_note(
    tmp_path, capsys
):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert not save_model_atomic(mlp(), blocker / "teacher.keras")
    assert "not saved" in capsys.readouterr().out
