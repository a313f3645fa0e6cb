"""A folder of images with one sub-folder per class, as tf.data pipelines."""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf

from keras_distill._compat import keras
from keras_distill.data._checks import check_batch_size
from keras_distill.data._checks import check_fraction
from keras_distill.data._checks import check_image_size
from keras_distill.data._checks import check_pipeline_options
from keras_distill.data._checks import check_seed
from keras_distill.data.data_bundle import DataBundle
from keras_distill.data.input_normalization import InputNormalization
from keras_distill.data.pipeline import batched
from keras_distill.data.pipeline import to_model_dtypes

# The files keras.utils.image_dataset_from_directory reads (both Keras flavours).
IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


def _count_images(folder: Path) -> int:
    return sum(
        1
        for _, _, files in os.walk(folder)
        for file in files
        if file.lower().endswith(IMAGE_FORMATS)
    )


def _check_layout(directory: Path) -> tuple[list[str], int]:
    """The class names (sorted sub-folders) and image count, layout checked."""
    layout = (
        "a folder with one sub-folder per class, each holding that class's images "
        f"({', '.join(IMAGE_FORMATS)}), e.g. flowers/daisy/1.jpg, flowers/rose/2.jpg"
    )
    if not directory.is_dir():
        raise ValueError(
            f"`directory` {str(directory)!r} does not exist or is not a folder; "
            f"expected {layout}."
        )
    # Same rule as Keras: sorted sub-folders, hidden ones (".git", ...) skipped.
    classes = sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.is_dir() and not entry.name.startswith(".")
    )
    if len(classes) < 2:
        raise ValueError(
            f"`directory` {str(directory)!r} has {len(classes)} class sub-folder(s) "
            f"{classes}; a classifier needs at least 2. Expected {layout}."
        )
    counts = {name: _count_images(directory / name) for name in classes}
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        raise ValueError(
            f"Class folder(s) {empty} in {str(directory)!r} hold no images "
            f"({', '.join(IMAGE_FORMATS)}); add images or remove the folder(s)."
        )
    return classes, sum(counts.values())


def _to_uint8(image, label):
    # Back to raw 0..255 bytes: what a resized bitmap holds, and a 4x smaller
    # cache than float32.
    return tf.saturate_cast(tf.round(image), tf.uint8), label


def load_image_folder(
    directory: str | os.PathLike,
    *,
    batch_size: int = 32,
    seed: int = 0,
    image_size: int | tuple[int, int] = (64, 64),
    color_mode: str = "rgb",
    test_fraction: float = 0.2,
    validation_fraction: float = 0.0,
    cache: bool | str = True,
    shuffle_buffer: int = 10_000,
) -> DataBundle:
    """Images in class sub-folders as tf.data pipelines, with a seeded test split.

    Layout: `directory/<class name>/<image files>`; the class names are the
    sub-folder names in sorted order (label 0 is the first). Reading uses
    `keras.utils.image_dataset_from_directory`, which lists the files in a seeded
    random order and holds out the last `test_fraction + validation_fraction` of
    them; that held-out part is split into test then validation. Images are
    resized to `image_size` and kept raw (0..255, as float32 in the pipelines);
    the suggested normalization is `Rescaling(1/255)` inside the model.

    Args:
        directory: str or path-like, the root folder.
        batch_size: int, examples per batch. Defaults to 32.
        seed: int, seed of the file order (hence of the split) and of the
            training shuffle. Defaults to 0.
        image_size: int or (height, width), the size every image is resized to
            (bilinear). Defaults to (64, 64).
        color_mode: str, `"rgb"`, `"grayscale"` or `"rgba"`. Defaults to `"rgb"`.
        test_fraction: float in (0, 1), the part of the images held out as
            `test`. Defaults to 0.2.
        validation_fraction: float in [0, 1), the part held out as `validation`.
            Defaults to 0.0 (none).
        cache: bool or str, True caches decoded images in memory (as uint8), a
            str is a file prefix for `tf.data.Dataset.cache`, False does not
            cache. Defaults to True.
        shuffle_buffer: int, the most examples in the shuffle buffer. Defaults to
            10000.

    Returns:
        A `DataBundle` with input_shape `(height, width, channels)` (streamed: no
        NumPy arrays; use `arrays()` for samples).

    Raises:
        ValueError: if the folder does not exist, has fewer than two class
            sub-folders or an empty one, there are too few images to split, or
            an argument is out of range.
        TypeError: if an argument is of the wrong type (a fraction that is not
            a number, a seed or `image_size` that is not an integer).

    Example:

    ```python
    # doctest: +SKIP (needs a folder of images)
    data = load_image_folder("flowers/", image_size=(32, 32), batch_size=16)
    data.class_names  # ('daisy', 'rose', ...)
    ```
    """
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(
            f"`directory` must be a path to a folder, got {type(directory).__name__}."
        )
    batch_size = check_batch_size(batch_size)
    seed = check_seed(seed)
    image_size = check_image_size(image_size)
    if color_mode not in _CHANNELS:
        raise ValueError(
            f"`color_mode` must be one of {sorted(_CHANNELS)}, got {color_mode!r}."
        )
    test_fraction = check_fraction("test_fraction", test_fraction, allow_zero=False)
    validation_fraction = check_fraction(
        "validation_fraction", validation_fraction, allow_zero=True
    )
    held_fraction = test_fraction + validation_fraction
    if held_fraction >= 1:
        raise ValueError(
            f"`test_fraction` + `validation_fraction` must be below 1 to leave "
            f"training images, got {test_fraction} + {validation_fraction}."
        )
    check_pipeline_options(shuffle_buffer, cache)
    directory = Path(directory).expanduser()
    classes, total = _check_layout(directory)
    # Keras holds out int(validation_split * total) files; split those into test
    # then validation, and refuse before reading anything if a split is empty.
    n_held = int(held_fraction * total)
    n_test = round(n_held * test_fraction / held_fraction)
    n_val = n_held - n_test
    if n_test == 0 or (validation_fraction > 0 and n_val == 0) or n_held == total:
        raise ValueError(
            f"{total} images in {str(directory)!r} are too few to hold out "
            f"test_fraction={test_fraction} and validation_fraction="
            f"{validation_fraction} and keep training images; add images or change "
            "the fractions."
        )

    train_raw, held_raw = keras.utils.image_dataset_from_directory(
        str(directory),
        labels="inferred",
        label_mode="int",
        class_names=classes,
        color_mode=color_mode,
        batch_size=None,
        image_size=image_size,
        shuffle=True,
        seed=seed,
        validation_split=held_fraction,
        subset="both",
    )
    n_train = len(train_raw.file_paths)
    # The held-out files come in a fixed order (Keras does not shuffle them), so
    # take/skip gives disjoint test and validation splits.
    raw = {
        "train": train_raw.map(_to_uint8),
        "test": held_raw.take(n_test).map(_to_uint8),
    }
    if validation_fraction > 0:
        raw["validation"] = held_raw.skip(n_test).map(_to_uint8)
    num_examples = {"train": n_train, "test": n_test}
    if "validation" in raw:
        num_examples["validation"] = n_val

    def pipeline(split: str, training: bool) -> tf.data.Dataset:
        return batched(
            raw[split],
            batch_size=batch_size,
            training=training,
            seed=seed,
            cache=f"{cache}-{split}" if isinstance(cache, str) else cache,
            shuffle_buffer=min(shuffle_buffer, n_train),
        )

    return DataBundle(
        name=str(directory),
        train=pipeline("train", training=True),
        test=pipeline("test", training=False),
        validation=pipeline("validation", False) if "validation" in raw else None,
        input_shape=(*image_size, _CHANNELS[color_mode]),
        num_classes=len(classes),
        class_names=tuple(classes),
        normalization=InputNormalization.rescale(1.0 / 255.0),
        batch_size=batch_size,
        examples={
            split: dataset.map(to_model_dtypes) for split, dataset in raw.items()
        },
        num_examples=num_examples,
        description=(
            f"Image folder {directory}: {len(classes)} classes, {n_train} train / "
            f"{n_test} test"
            + (f" / {n_val} validation" if "validation" in raw else "")
            + f" (seeded file order, seed {seed}); images resized to {image_size}, "
            f"{color_mode}."
        ),
    )
