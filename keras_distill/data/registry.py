"""`load_dataset(name)`: one entry point from a dataset name to a DataBundle."""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable

from keras_distill.data.data_bundle import DataBundle
from keras_distill.data.digits import load_digits
from keras_distill.data.image_files import IMAGE_FORMATS
from keras_distill.data.image_folder import load_image_folder
from keras_distill.data.mnist1d import load_mnist1d
from keras_distill.data.tfds import load_tfds

DEFAULT_DATASET = "mnist1d"
TFDS_PREFIX = "tfds:"

_LOADERS: dict[str, Callable[..., DataBundle]] = {}


def register_dataset(name: str, loader: Callable[..., DataBundle]) -> None:
    """Makes `load_dataset(name)` call `loader(batch_size=..., seed=..., **options)`.

    Use it to add an in-house dataset to the names the CLI and `load_dataset`
    accept. Names are unique: registering a taken name is an error, never a
    silent overwrite.

    Args:
        name: str, the dataset name; not empty, no `tfds:` prefix, no path
            separator (those select TFDS datasets and image folders).
        loader: callable taking keyword arguments `batch_size`, `seed` and its
            own options, returning a `DataBundle`.

    Raises:
        ValueError: if `name` is taken or malformed.
        TypeError: if `loader` is not callable.

    Example:

    ```python
    def load_small_digits(batch_size=32, seed=0, test_fraction=0.5):
        # Any function returning a DataBundle; this one reuses load_digits.
        return load_digits(
            batch_size=batch_size, seed=seed, test_fraction=test_fraction
        )

    register_dataset("small_digits", load_small_digits)
    data = load_dataset("small_digits", batch_size=64, test_fraction=0.3)
    ```
    """
    if (
        not isinstance(name, str)
        or not name
        or name != name.strip()
        or name.startswith(TFDS_PREFIX)
        or os.sep in name
        or "/" in name
    ):
        raise ValueError(
            "`name` must be a non-empty string without surrounding spaces, the "
            f"{TFDS_PREFIX!r} prefix or path separators, got {name!r}."
        )
    if not callable(loader):
        raise TypeError(f"`loader` must be callable, got {type(loader).__name__}.")
    if name in _LOADERS:
        raise ValueError(
            f"A dataset named {name!r} is already registered "
            f"({_LOADERS[name].__module__}.{_LOADERS[name].__qualname__}); pick "
            "another name."
        )
    _LOADERS[name] = loader


register_dataset("mnist1d", load_mnist1d)
register_dataset("digits", load_digits)


def dataset_choices() -> tuple[str, ...]:
    """What `load_dataset` accepts: registered names, `tfds:<name>`, a folder.

    Returns:
        tuple of str, for help texts and error messages.
    """
    return (
        *sorted(_LOADERS),
        f"{TFDS_PREFIX}<name>",
        "<path to a folder of images, .wav clips or .txt files>",
    )


# Files looked at to tell what a folder holds (a large folder is not walked
# through to the end).
_FILES_TO_INSPECT = 2000
_SUFFIXES = {".wav": "audio", ".txt": "text", **dict.fromkeys(IMAGE_FORMATS, "image")}


def folder_modality(directory: str | os.PathLike) -> str:
    """What a class-per-sub-folder dataset holds: "image", "audio" or "text".

    The kind of most files among the first few thousand in the class
    sub-folders, by suffix: `.wav` is audio, `.txt` text, an image format
    (`IMAGE_FORMATS`) image. Hidden files and folders are ignored.

    Args:
        directory: str or path-like, the dataset's root folder.

    Returns:
        "image", "audio" or "text"; "image" when no file is recognized (the
        image loader then says what is missing).
    """
    counts = dict.fromkeys(("image", "audio", "text"), 0)
    seen = 0
    root = os.path.expanduser(os.fspath(directory))
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        if folder == root:
            continue  # files beside the class folders belong to no class
        for file in files:
            kind = _SUFFIXES.get(os.path.splitext(file)[1].lower())
            if kind is not None and not file.startswith("."):
                counts[kind] += 1
            seen += 1
        if seen >= _FILES_TO_INSPECT:
            break
    # Ties go to images, the loader that existed first.
    return max(("image", "audio", "text"), key=lambda kind: counts[kind])


def _folder_loader(directory: str) -> tuple[Callable[..., DataBundle], str]:
    modality = folder_modality(directory)
    if modality == "audio":
        from keras_distill.data.audio_folder import load_audio_folder

        return load_audio_folder, "a folder of .wav clips"
    if modality == "text":
        from keras_distill.data.text_folder import load_text_folder

        return load_text_folder, "a folder of .txt files"
    return load_image_folder, "an image folder"


def _looks_like_path(name: str) -> bool:
    return (
        os.sep in name
        or "/" in name
        or name.startswith((".", "~"))
        or os.path.isdir(os.path.expanduser(name))
    )


def _resolve(name: str) -> tuple[Callable[..., DataBundle], tuple, str]:
    """The loader, its positional arguments and a label for messages."""
    if name in _LOADERS:
        return _LOADERS[name], (), name
    if name.startswith(TFDS_PREFIX):
        tfds_name = name[len(TFDS_PREFIX) :].strip()
        if not tfds_name:
            raise ValueError(
                f"`name` {name!r} gives no TFDS dataset; write e.g. 'tfds:mnist'."
            )
        return load_tfds, (tfds_name,), name
    if _looks_like_path(name):
        if not os.path.isdir(os.path.expanduser(name)):
            raise ValueError(
                f"`name` {name!r} looks like a path, but there is no folder there. "
                "A dataset folder has one sub-folder per class, of images, .wav "
                "clips or .txt files."
            )
        loader, label = _folder_loader(name)
        return loader, (name,), label
    close = difflib.get_close_matches(name, list(_LOADERS), n=3)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"Unknown dataset {name!r}.{hint} Choices: {', '.join(dataset_choices())}."
    )


def _check_options(
    loader: Callable, num_positional: int, options: dict, label: str
) -> None:
    parameters = list(inspect.signature(loader).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    by_keyword = (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    accepted = [
        p.name
        for p in parameters[num_positional:]
        if p.kind in by_keyword and p.name not in ("batch_size", "seed")
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"Unknown option(s) {unknown} for {label}; it accepts "
            f"{accepted or 'no options'} besides batch_size and seed."
        )


def load_dataset(
    name: str = DEFAULT_DATASET, *, batch_size: int = 32, seed: int = 0, **options
) -> DataBundle:
    """Loads a dataset by name as tf.data pipelines plus metadata (a DataBundle).

    Names:

    - `"mnist1d"` (the default): MNIST-1D generated offline with its default
      arguments and its own 4000/1000 split; inputs `(40,)`.
    - `"digits"`: scikit-learn's 8x8 digits as `(8, 8, 1)` images, pixels 0..16,
      stratified 80/20 split.
    - `"tfds:<name>"`: a TFDS image-classification dataset prepared offline (see
      `load_tfds`), e.g. `"tfds:mnist"`.
    - a path to a folder with one sub-folder per class, of images (see
      `load_image_folder`), of `.wav` clips (keyword spotting, see
      `load_audio_folder`) or of `.txt` files (text classification, see
      `load_text_folder`); `folder_modality` tells which. Registered names
      win, so write `./digits` for a folder named like one.
    - any name added with `register_dataset`.

    Every dataset yields raw inputs; put `bundle.preprocessing_layer()` first in
    the model so the exported model takes raw data.

    Args:
        name: str, the dataset. Defaults to `"mnist1d"`.
        batch_size: int, examples per batch. Defaults to 32.
        seed: int, seed of shuffles and splits. Defaults to 0.
        **options: the chosen loader's own keyword options (e.g.
            `validation_fraction`, `data_dir`, `image_size`).

    Returns:
        A `DataBundle`.

    Raises:
        ValueError: for an unknown name (the message lists the choices), a path
            that is not a folder, or a loader's bad argument; a TFDS dataset that
            is not prepared offline raises `DatasetNotPreparedError` (a
            ValueError) saying how to prepare it.
        TypeError: if `name` is not a string, an option is unknown to the
            chosen loader, or an option is of the wrong type.

    Example:

    ```python
    data = load_dataset("digits", batch_size=64, validation_fraction=0.1)
    model.fit(data.train, validation_data=data.validation)
    ```
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string, got {type(name).__name__}.")
    name = name.strip()
    if not name:
        raise ValueError(f"`name` is empty. Choices: {', '.join(dataset_choices())}.")
    loader, args, label = _resolve(name)
    _check_options(loader, len(args), options, label)
    return loader(*args, batch_size=batch_size, seed=seed, **options)
