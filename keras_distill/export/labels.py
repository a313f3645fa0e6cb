"""The labels file an Android app reads next to the model: one class name a line."""

import os
import pathlib

from keras_distill import _atomic

LABELS_FILENAME = "labels.txt"


def check_class_names(class_names, num_classes: int | None = None) -> list[str]:
    """Validates class names for a labels file and returns them as a list.

    Args:
        class_names: a sequence of class names, index = class id.
        num_classes: the model's number of outputs, to match. Defaults to None,
            no check.

    Returns:
        The names as a list of str.

    Raises:
        TypeError: `class_names` is a plain string, not iterable, or holds
            non-strings.
        ValueError: empty, multi-line or duplicate names, or a count that does
            not match `num_classes`.
    """
    if isinstance(class_names, (str, bytes)):
        raise TypeError(
            f"`class_names` must be a list of strings, got the string "
            f"{class_names!r:.80}; pass e.g. {list(str(class_names))[:3]!r}..."
        )
    try:
        names = list(class_names)
    except TypeError:
        raise TypeError(
            "`class_names` must be a list of strings (one per class), got "
            f"{type(class_names).__name__}: {class_names!r:.80}"
        ) from None
    if not names:
        raise ValueError("`class_names` is empty; pass one name per class.")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(
                f"`class_names` must hold strings, got {type(name).__name__}: "
                f"{name!r:.40}"
            )
        if not name.strip() or "\n" in name or "\r" in name:
            raise ValueError(
                f"`class_names` entries must be non-empty single lines, got {name!r}."
            )
    if len(set(names)) != len(names):
        raise ValueError(f"`class_names` has duplicates: {names}.")
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(
            f"`class_names` has {len(names)} names but the model has {num_classes} "
            "outputs; pass one name per output, in class-id order."
        )
    return [str(name) for name in names]


def write_labels(path: "str | os.PathLike", class_names) -> pathlib.Path:
    """Writes one class name per line, in class-id order, for an Android app.

    Line `i` names output `i` of the model, the format the LiteRT Task Library
    and most Android samples read as `labels.txt`.

    Args:
        path: the text file to write (written atomically).
        class_names: a sequence of class names, index = class id.

    Returns:
        The absolute path written.

    Raises:
        TypeError, ValueError: see `check_class_names`; ValueError also for an
            unwritable `path`.
    """
    names = check_class_names(class_names)
    target = _atomic.resolve_output_path(path, argname="path")
    _atomic.prepare_output_path(target, argname="path")
    _atomic.write_text_atomic(target, "\n".join(names) + "\n")
    return target
