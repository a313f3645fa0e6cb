"""Writes a text folder of real human-written quotations: Debian's fortune cookies.

The `fortunes` package (`apt-get install fortunes fortunes-min`) installs the
BSD fortune databases under `/usr/share/games/fortunes/`: one plain-text file per
topic (`computers`, `politics`, `science`, ...), quotations, jokes and verse
written by people over decades, separated by lines holding only `%`. Offline and
license-clean (BSD), they make a small text-classification corpus without a
download: which topic file does a fortune come from?
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from pathlib import Path

from keras_distill._atomic import atomic_directory
from keras_distill._atomic import resolve_output_path
from keras_distill._numbers import check_int

__all__ = [
    "DEFAULT_FORTUNE_CATEGORIES",
    "FORTUNES_DIR",
    "make_fortunes_folder",
    "read_fortunes",
]

FORTUNES_DIR = Path("/usr/share/games/fortunes")
# Topics, not styles, of several hundred entries each (counts in
# make_fortunes_folder's docstring): a bag-of-words logistic regression tells
# them apart far above chance (5-fold accuracy 0.62, majority class 0.26), yet
# far from perfectly, so a model and its student have room to differ.
DEFAULT_FORTUNE_CATEGORIES = ("computers", "politics", "science", "songs-poems", "work")
_INSTALL = "sudo apt-get install fortunes fortunes-min"
# The offensive databases (fortunes-off) are never used.
_EXCLUDED = ("off",)
_SEPARATOR = re.compile(r"^%[ \t]*$", re.MULTILINE)
# Backspace overstriking for a line printer: "_\bx" underlines x, "x\bx" bolds it.
# (In a pattern, a backspace is written \x08: outside [...], \b is a word boundary.)
_OVERSTRIKE = re.compile(r"[^\x08]\x08")


def _available() -> list[str]:
    if not FORTUNES_DIR.is_dir():
        return []
    return sorted(
        entry.name
        for entry in FORTUNES_DIR.iterdir()
        if entry.is_file()
        and "." not in entry.name
        and entry.name not in _EXCLUDED
        and (FORTUNES_DIR / f"{entry.name}.dat").is_file()
    )


def _clean(entry: str) -> str:
    while "\x08" in entry:
        stripped = _OVERSTRIKE.sub("", entry)
        if stripped == entry:
            stripped = entry.replace("\x08", "")
        entry = stripped
    lines = [line.rstrip() for line in entry.strip("\n").split("\n")]
    return "\n".join(lines).strip()


def read_fortunes(category: str, *, min_chars: int = 40) -> list[str]:
    """The entries of one fortune database, cleaned, in file order.

    Overstriking (`_` backspace `x`, for underlined text) is removed, trailing
    spaces are stripped, and entries shorter than `min_chars` characters (or
    repeated within the file) are dropped.

    Args:
        category: str, the database's file name, e.g. `"computers"`.
        min_chars: int >= 1, the shortest entry kept. Defaults to 40.

    Returns:
        list of str, the entries.

    Example:

    ```python
    entries = read_fortunes("computers")
    len(entries)  # 909 in Debian's fortunes 1:1.99.1-7.3
    ```

    Raises:
        FileNotFoundError: if the database is not installed, naming the
            `apt-get` command that installs it.
    """
    path = FORTUNES_DIR / category
    if not path.is_file():
        raise FileNotFoundError(
            f"The fortune database {str(path)!r} is missing. Install the fortunes "
            f"with `{_INSTALL}` (Debian/Ubuntu)."
        )
    # A few databases hold UTF-8 (law, wisdom); the rest is ASCII.
    text = path.read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")
    kept, seen = [], set()
    for raw in _SEPARATOR.split(text):
        entry = _clean(raw)
        if len(entry) >= min_chars and entry not in seen:
            seen.add(entry)
            kept.append(entry)
    return kept


def _check_categories(categories) -> tuple[str, ...]:
    available = _available()
    if not available:
        raise FileNotFoundError(
            f"No fortune databases in {str(FORTUNES_DIR)!r}. Install them with "
            f"`{_INSTALL}` (Debian/Ubuntu)."
        )
    if categories is None:
        categories = DEFAULT_FORTUNE_CATEGORIES
    if isinstance(categories, str) or not all(
        isinstance(name, str) for name in categories
    ):
        raise TypeError(
            "`categories` must be a list of fortune database names, e.g. "
            f"{list(DEFAULT_FORTUNE_CATEGORIES[:3])}, got {categories!r}."
        )
    categories = tuple(categories)
    if len(categories) < 2 or len(set(categories)) != len(categories):
        raise ValueError(
            "`categories` must name at least 2 different fortune databases, got "
            f"{list(categories)}."
        )
    unknown = [name for name in categories if name not in available]
    if unknown:
        raise ValueError(
            f"`categories` {unknown} are not fortune databases in "
            f"{str(FORTUNES_DIR)!r} (the offensive ones are never used). Pick "
            f"from {available}; `{_INSTALL}` installs the standard ones."
        )
    return categories


def _order_key(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def make_fortunes_folder(
    directory: str | os.PathLike,
    *,
    categories: list[str] | tuple[str, ...] | None = None,
    min_chars: int = 40,
    max_per_class: int | None = None,
    seed: int = 0,
) -> Path:
    """Writes fortune cookies as a text folder, one sub-folder per topic.

    Use it to get real human-written text offline, for text-classification
    tests, benchmarks and `load_text_folder`. Each entry of each chosen
    database becomes `directory/<category>/<category>_<index>.txt` (UTF-8),
    so the task is to tell which database a fortune comes from.

    Entries are cleaned (see `read_fortunes`); entries shorter than
    `min_chars` are dropped (one-liners like "Beware of low-flying butterflies."
    carry little topic), and so is any entry that appears in more than one
    chosen database, so no text has two labels. With `max_per_class`, each
    class keeps a seeded subset. The same arguments always write the same
    files.

    The default categories, measured on Debian's fortunes 1:1.99.1-7.3 with
    `min_chars=40`: computers 908, politics 666, science 581, songs-poems 714
    and work 594 entries (3,463 in all). Other databases with several hundred
    entries (art, definitions, men-women, platitudes, wisdom, people, zippy)
    are styles or grab-bags rather than topics; the topical small ones (food,
    law, love, medicine, sports: 68 to 206 entries) are too small alone.

    Args:
        directory: str or path-like, the folder to write; created if missing,
            and it must not hold anything yet.
        categories: list of str, fortune database names (files in
            `/usr/share/games/fortunes`), at least 2. Defaults to None
            (`DEFAULT_FORTUNE_CATEGORIES`).
        min_chars: int >= 1, the shortest entry kept, in characters. Defaults
            to 40.
        max_per_class: int >= 1, the most entries written per category.
            Defaults to None (all).
        seed: int >= 0, which entries `max_per_class` keeps. Defaults to 0.

    Returns:
        The folder, as a `Path`.

    Raises:
        FileNotFoundError: if the fortune databases are not installed (the
            message names `apt-get install fortunes fortunes-min`).
        FileExistsError: if `directory` exists and is not an empty folder.
        TypeError: if an argument has the wrong type.
        ValueError: if `categories` names fewer than 2 databases or unknown
            ones, a number is out of range, or a category keeps no entry.

    Example:

    ```python
    import tempfile

    from keras_distill.data import load_text_folder

    folder = make_fortunes_folder(f"{tempfile.mkdtemp()}/fortunes")
    data = load_text_folder(folder, sequence_length=64)
    data.class_names  # ('computers', 'politics', 'science', 'songs-poems', 'work')
    ```
    """
    root = resolve_output_path(directory, argname="directory")
    min_chars = check_int("min_chars", min_chars, 1)
    if max_per_class is not None:
        max_per_class = check_int(
            "max_per_class", max_per_class, 1, "Or None, for every entry."
        )
    seed = check_int("seed", seed, 0)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(
            f"`directory` {str(root)!r} exists and is not an empty folder; pick a "
            "new path or delete it first."
        )
    categories = _check_categories(categories)
    entries = {name: read_fortunes(name, min_chars=min_chars) for name in categories}
    # Some fortunes are filed under two topics; such a text would have two labels.
    counts = Counter(text for texts in entries.values() for text in set(texts))
    for name in categories:
        texts = [text for text in entries[name] if counts[text] == 1]
        if not texts:
            raise ValueError(
                f"The fortune database {name!r} has no entry of at least "
                f"{min_chars} characters (found in no other category); lower "
                "`min_chars` or pick another category."
            )
        if max_per_class is not None and len(texts) > max_per_class:
            keep = set(sorted(texts, key=lambda t: _order_key(seed, t))[:max_per_class])
            texts = [text for text in texts if text in keep]
        entries[name] = texts
    root.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(root) as staging:
        for name in categories:
            folder = staging / name
            folder.mkdir(parents=True)
            for index, text in enumerate(entries[name]):
                (folder / f"{name}_{index:04d}.txt").write_text(
                    text + "\n", encoding="utf-8"
                )
    return root
