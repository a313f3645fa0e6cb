"""The fortunes folder: Debian's fortune databases as a text-classification corpus."""

import re

import numpy as np
import pytest

from keras_distill.data import fortunes_folder
from keras_distill.data import load_text_folder
from keras_distill.data import make_fortunes_folder

INSTALLED = all(
    (fortunes_folder.FORTUNES_DIR / name).is_file()
    for name in fortunes_folder.DEFAULT_FORTUNE_CATEGORIES
)
needs_fortunes = pytest.mark.skipif(
    not INSTALLED, reason="needs `apt-get install fortunes fortunes-min`"
)


@pytest.fixture
def databases(tmp_path, monkeypatch):
    """Two small fortune databases in the strfile layout, with overstriking."""
    root = tmp_path / "fortunes"
    (root / "off").mkdir(parents=True)
    files = {
        "cats": "The cat sat on the mat, and it stayed there all day long.\n%\n"
        "Short.\n%\n"
        "A _\bc_\ba_\bt is ____\b\b\b\bnever wrong about where the sun falls.\n"
        "\t\t-- Anonymous   \n%\n"
        "Shared wisdom: everything is funnier when written down twice.\n%\n",
        "dogs": "Every dog has its day, and some of them have two of them.\n%\n"
        "Shared wisdom: everything is funnier when written down twice.\n%\n",
        "off/rude": "Never used, whatever it says about dogs and cats.\n%\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
        (root / f"{name}.dat").write_bytes(b"\0")
    monkeypatch.setattr(fortunes_folder, "FORTUNES_DIR", root)
    return root


def test_read_fortunes_splits_on_percent_lines_and_removes_overstriking(databases):
    assert fortunes_folder.read_fortunes("cats", min_chars=10) == [
        "The cat sat on the mat, and it stayed there all day long.",
        "A cat is never wrong about where the sun falls.\n\t\t-- Anonymous",
        "Shared wisdom: everything is funnier when written down twice.",
    ]
    assert len(fortunes_folder.read_fortunes("cats", min_chars=1)) == 4


def test_make_fortunes_folder_writes_one_file_per_entry_with_one_label(
    databases, tmp_path
):
    folder = make_fortunes_folder(tmp_path / "out", categories=["dogs", "cats"])
    written = {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    # The entry in both databases is dropped: no text has two labels.
    assert written == {
        "cats/cats_0000.txt": "The cat sat on the mat, and it stayed there all day "
        "long.\n",
        "cats/cats_0001.txt": "A cat is never wrong about where the sun falls.\n"
        "\t\t-- Anonymous\n",
        "dogs/dogs_0000.txt": "Every dog has its day, and some of them have two of "
        "them.\n",
    }


def test_make_fortunes_folder_rejects_bad_arguments(databases, tmp_path):
    out = tmp_path / "out"
    cases = [
        (dict(categories=["cats"]), ValueError, "at least 2"),
        (dict(categories=["cats", "cats"]), ValueError, "at least 2 different"),
        (dict(categories="cats"), TypeError, "list of fortune database names"),
        (dict(categories=["cats", "birds"]), ValueError, r"\['birds'\].*\['cats',"),
        (dict(categories=["cats", "off"]), ValueError, "offensive ones are never"),
        (dict(categories=["cats", "dogs"], min_chars=200), ValueError, "min_chars"),
        (dict(max_per_class=0), ValueError, "max_per_class"),
        (dict(min_chars=1.5), TypeError, "min_chars"),
        (dict(seed=-1), ValueError, "seed"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            make_fortunes_folder(out, **kwargs)
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        make_fortunes_folder(out, categories=["cats", "dogs"])


def test_missing_databases_name_the_apt_package(tmp_path, monkeypatch):
    monkeypatch.setattr(fortunes_folder, "FORTUNES_DIR", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match=re.escape("apt-get install fortunes")):
        make_fortunes_folder(tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=re.escape("apt-get install fortunes")):
        fortunes_folder.read_fortunes("computers")


@needs_fortunes
def test_real_fortunes_folder_is_deterministic_and_loads(tmp_path):
    first = make_fortunes_folder(tmp_path / "a", max_per_class=30, seed=1)
    again = make_fortunes_folder(tmp_path / "b", max_per_class=30, seed=1)
    other = make_fortunes_folder(tmp_path / "c", max_per_class=30, seed=2)

    def contents(folder):
        return sorted(
            (p.relative_to(folder).as_posix(), p.read_text())
            for p in folder.rglob("*.txt")
        )

    assert contents(first) == contents(again) != contents(other)
    texts = [text for _, text in contents(first)]
    assert len(texts) == 30 * len(fortunes_folder.DEFAULT_FORTUNE_CATEGORIES)
    assert all(len(t) >= 40 and "\b" not in t and "\n%\n" not in t for t in texts)
    data = load_text_folder(first, sequence_length=32, batch_size=16)
    assert data.class_names == fortunes_folder.DEFAULT_FORTUNE_CATEGORIES
    assert data.num_examples == {"train": 120, "test": 30}
    assert np.bincount(data.y_test).tolist() == [6] * 5
    # Real text: a vocabulary of hundreds of words, and unseen words in test.
    assert data.tokenizer.vocabulary_size > 1000
    assert (data.x_test == 1).any()


@needs_fortunes
def test_default_categories_have_several_hundred_entries():
    counts = {
        name: len(fortunes_folder.read_fortunes(name))
        for name in fortunes_folder.DEFAULT_FORTUNE_CATEGORIES
    }
    assert min(counts.values()) >= 500, counts
