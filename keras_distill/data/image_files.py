"""The files of an image folder: listed, header-checked and split, before decoding.

Everything here runs before TensorFlow reads a pixel, so a bad folder is refused
(or a bad file skipped) before training starts, never mid-epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path

from keras_distill.data.class_folders import class_subfolders
from keras_distill.data.class_folders import walk_sorted

# The files keras_distill decodes, and the first bytes each format starts with.
IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",  # PNG
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"BM",  # BMP
)
_HEADER_BYTES = 8
NOT_AN_IMAGE_FILE = "not an image file"
BAD_HEADER = "not a BMP/GIF/JPEG/PNG image (bad header)"


@dataclasses.dataclass(frozen=True)
class ImageFiles:
    """The readable images of a folder, by class, and the files skipped.

    Attributes:
        directory: Path, the root folder.
        class_names: tuple of str, the sorted class sub-folder names.
        files: tuple (one per class) of sorted tuples of paths relative to
            `directory`, in POSIX form.
        skipped: tuple of `(relative path, reason)`, sorted by path.
    """

    directory: Path
    class_names: tuple[str, ...]
    files: tuple[tuple[str, ...], ...]
    skipped: tuple[tuple[str, str], ...]

    @property
    def total(self) -> int:
        return sum(len(names) for names in self.files)

    def skipped_summary(self, first: int = 3) -> str:
        """E.g. "2 files (a/x.jpg: bad header, a/y.txt: not an image file)"."""
        shown = ", ".join(f"{path}: {why}" for path, why in self.skipped[:first])
        extra = len(self.skipped) - first
        more = f", and {extra} more" if extra > 0 else ""
        return f"{len(self.skipped)} file(s) ({shown}{more})"


def _layout(directory: Path) -> str:
    return (
        f"expected a folder with one sub-folder per class, each holding that "
        f"class's images ({', '.join(IMAGE_FORMATS)}), e.g. flowers/daisy/1.jpg, "
        "flowers/rose/2.jpg"
    )


def _why_unreadable(path: str) -> str | None:
    """None for a file that starts like an image, else the reason it is skipped."""
    if not path.lower().endswith(IMAGE_FORMATS):
        return NOT_AN_IMAGE_FILE
    try:
        with open(path, "rb") as file:
            header = file.read(_HEADER_BYTES)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if not header.startswith(_SIGNATURES):
        return BAD_HEADER
    return None


def list_image_files(directory: Path) -> ImageFiles:
    """Lists and header-checks every file under the class sub-folders.

    Class names are the sorted non-hidden sub-folders. Files are sorted, so the
    result does not depend on the order the file system lists them in.

    Raises:
        ValueError: if `directory` is not a folder, has fewer than two class
            sub-folders, or a class sub-folder holds no readable image.
    """
    classes = class_subfolders(directory, _layout(directory))
    files, skipped, empty = [], [], []
    for name in classes:
        readable = []
        for path in walk_sorted(directory / name):
            relative = Path(path).relative_to(directory).as_posix()
            why = _why_unreadable(path)
            if why is None:
                readable.append(relative)
            else:
                skipped.append((relative, why))
        if not readable:
            empty.append(name)
        files.append(tuple(readable))
    if empty:
        raise ValueError(
            f"Class folder(s) {empty} in {str(directory)!r} hold no images that "
            f"can be read ({', '.join(IMAGE_FORMATS)} files starting with a "
            "BMP/GIF/JPEG/PNG header); add images or remove the folder(s)."
        )
    return ImageFiles(directory, tuple(classes), tuple(files), tuple(sorted(skipped)))


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _hash_key(seed: int, path: str) -> str:
    # A stable hash (not Python's salted hash()): the same on every run and
    # machine, and a file keeps its place when other files are added.
    return hashlib.sha256(f"{seed}:{path}".encode()).hexdigest()


def split_files(
    listing: ImageFiles,
    *,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
) -> dict[str, list[tuple[str, int]]]:
    """Splits the files of each class into train, test and validation.

    Per class, the files are ordered by a seeded SHA-256 hash of their path;
    the first `round(test_fraction * n)` are test, the next
    `round(validation_fraction * n)` validation, the rest train. So a file is
    in exactly one split, the split is the same on every call and machine (and
    for any file-system listing order), every class is represented in
    proportion, and adding files to a folder moves few others between splits.
    Each split is then put in a seeded random order across classes.

    Returns:
        split name -> list of `(relative path, label)`; `"validation"` only with
        `validation_fraction > 0`.

    Raises:
        ValueError: if the test (or requested validation) split would be empty,
            or a class would keep no training image.
    """
    splits = {"train": [], "test": []}
    if validation_fraction > 0:
        splits["validation"] = []
    for label, (name, paths) in enumerate(
        zip(listing.class_names, listing.files, strict=True)
    ):
        ordered = sorted(paths, key=lambda path: _hash_key(seed, path))
        n_test = _round_half_up(test_fraction * len(ordered))
        n_val = _round_half_up(validation_fraction * len(ordered))
        if n_test + n_val >= len(ordered):
            raise ValueError(
                f"Class {name!r} has {len(ordered)} image(s): too few to hold out "
                f"test_fraction={test_fraction} and validation_fraction="
                f"{validation_fraction} and keep one for training; add images or "
                "lower the fractions."
            )
        splits["test"] += [(path, label) for path in ordered[:n_test]]
        if "validation" in splits:
            splits["validation"] += [
                (path, label) for path in ordered[n_test : n_test + n_val]
            ]
        splits["train"] += [(path, label) for path in ordered[n_test + n_val :]]
    for split, examples in splits.items():
        if not examples:
            raise ValueError(
                f"{listing.total} images in {str(listing.directory)!r} are too few "
                f"to hold out test_fraction={test_fraction} and "
                f"validation_fraction={validation_fraction}: the {split} split "
                "would be empty; add images or raise the fraction."
            )
        examples.sort(key=lambda example: _hash_key(seed, "order:" + example[0]))
    return splits


def fingerprint(listing: ImageFiles, examples, *extra) -> str:
    """A short hash of the files (names, sizes, mtimes), labels and `extra`.

    Names an on-disk cache, so a changed folder or option never reads a stale one.
    """
    digest = hashlib.sha256(repr(extra).encode())
    for path, label in examples:
        stat = (listing.directory / path).stat()
        digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
