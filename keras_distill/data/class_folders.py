"""Listing a folder of class sub-folders: what the image, audio and text loaders share.

The layout is `keras.utils.*_dataset_from_directory`'s: one sub-folder per
class, its files anywhere below it. Hidden folders and files (.git,
.DS_Store, ...) are not data.
"""

import os
from pathlib import Path


def walk_sorted(folder: Path) -> list[str]:
    """POSIX paths of the non-hidden files under `folder`, sorted (so the
    result does not depend on the order the file system lists them in)."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        found.extend(
            os.path.join(root, name) for name in names if not name.startswith(".")
        )
    return sorted(Path(path).as_posix() for path in found)


def class_subfolders(
    directory: Path, layout: str, *, kind: str = "class", excluded: str | None = None
) -> list[str]:
    """The sorted names of the non-hidden sub-folders of `directory`.

    Args:
        directory: the dataset folder.
        layout: str, the expected layout with an example, for the errors.
        kind: str, what a sub-folder is called in the errors. Defaults to
            "class".
        excluded: str or None, a sub-folder that is not a class (Speech
            Commands' `_background_noise_`). Defaults to None.

    Raises:
        ValueError: `directory` is not a folder, or has fewer than two class
            sub-folders.
    """
    if not directory.is_dir():
        raise ValueError(
            f"`directory` {str(directory)!r} does not exist or is not a folder; "
            f"{layout}."
        )
    classes = sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.is_dir() and not entry.name.startswith(".") and entry.name != excluded
    )
    if len(classes) < 2:
        not_counting = f" (not counting {excluded})" if excluded else ""
        raise ValueError(
            f"`directory` {str(directory)!r} has {len(classes)} {kind} "
            f"sub-folder(s) {classes}{not_counting}; a classifier needs at least "
            f"2: {layout}."
        )
    return classes
