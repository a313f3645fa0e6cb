"""A folder of images with one sub-folder per class, as tf.data pipelines."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import tensorflow as tf

from keras_distill.data._checks import check_batch_size
from keras_distill.data._checks import check_folder_path
from keras_distill.data._checks import check_image_size
from keras_distill.data._checks import check_pipeline_options
from keras_distill.data._checks import check_seed
from keras_distill.data._checks import check_split_fractions
from keras_distill.data.data_bundle import DataBundle
from keras_distill.data.image_files import IMAGE_FORMATS
from keras_distill.data.image_files import fingerprint
from keras_distill.data.image_files import list_image_files
from keras_distill.data.image_files import split_files
from keras_distill.data.input_normalization import InputNormalization
from keras_distill.data.pipeline import AUTOTUNE
from keras_distill.data.pipeline import batched
from keras_distill.data.pipeline import to_model_dtypes

__all__ = ["DEFAULT_IMAGE_SIZE", "IMAGE_FORMATS", "load_image_folder"]

DEFAULT_IMAGE_SIZE = (64, 64)
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


def _to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """A decoded uint8 image with 1 to 4 channels, as `channels` channels.

    Grey (1), grey + alpha (2), RGB (3) and RGBA (4) all convert: grey is
    repeated into RGB; alpha is dropped for RGB and grey (as PIL's
    `convert("RGB")`) and is opaque 255 where RGBA needs one; colour becomes grey
    with `tf.image.rgb_to_grayscale`'s weights.
    """
    n = tf.shape(image)[-1]
    grey = image[..., :1]

    def rgb():
        return tf.cond(
            n >= 3, lambda: image[..., :3], lambda: tf.concat([grey] * 3, axis=-1)
        )

    if channels == 1:
        converted = tf.cond(
            n >= 3,
            lambda: tf.saturate_cast(
                tf.round(tf.image.rgb_to_grayscale(tf.cast(rgb(), tf.float32))),
                tf.uint8,
            ),
            lambda: grey,
        )
    elif channels == 3:
        converted = rgb()
    else:
        opaque = tf.fill(tf.shape(grey), tf.constant(255, tf.uint8))
        alpha = tf.cond(tf.equal(n % 2, 0), lambda: image[..., -1:], lambda: opaque)
        converted = tf.concat([rgb(), alpha], axis=-1)
    return tf.ensure_shape(converted, [None, None, channels])


def _stacklevel_outside_this_package() -> int:
    """The `warnings.warn` stacklevel of the first caller outside keras_distill.data.

    So a warning points at the user's `load_dataset(...)` line, whichever
    entry point they came through.
    """
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        "keras_distill.data"
    ):
        level, frame = level + 1, frame.f_back
    return level


def _decoder(directory: Path, image_size: tuple[int, int], channels: int):
    root = directory.as_posix().rstrip("/") + "/"

    def decode(path, label):
        # Any supported format with its own channels (the first GIF frame), then
        # the requested channels, then a bilinear resize rounded back to uint8:
        # the raw bytes a phone's bitmap holds, and a 4x smaller cache.
        data = tf.io.read_file(root + path)
        image = tf.io.decode_image(data, channels=0, expand_animations=False)
        image = tf.image.resize(_to_channels(image, channels), image_size)
        return tf.saturate_cast(tf.round(image), tf.uint8), label

    return decode


def load_image_folder(
    directory: str | os.PathLike,
    *,
    batch_size: int = 32,
    seed: int = 0,
    image_size: int | tuple[int, int] | None = None,
    color_mode: str = "rgb",
    test_fraction: float = 0.2,
    validation_fraction: float = 0.0,
    cache: bool | str = True,
    shuffle_buffer: int = 10_000,
) -> DataBundle:
    """Images in class sub-folders as tf.data pipelines, with a leak-free split.

    Layout: `directory/<class name>/<image files>` (nested folders allowed);
    the class names are the sorted sub-folder names (label 0 is the first);
    hidden files and folders are ignored.

    Before any pixel is read, every file's first bytes are checked: files that
    are not `.bmp .gif .jpeg .jpg .png`, or do not start like one of those
    formats (e.g. a `.jpg` holding text), are skipped with one warning naming
    how many and the first few, and the count is in `description`. A file with
    a valid header that still fails to decode (e.g. truncated) is dropped from
    its split while the pipeline runs, with a TensorFlow log warning, instead
    of stopping training.

    The split is by file, stratified per class and seeded: within each class,
    files are ordered by a SHA-256 hash of `seed` and their path, and the first
    `round(test_fraction * n)` are test, the next `round(validation_fraction *
    n)` validation, the rest train. A file is in one split only, and the split
    is the same on every call, machine and file-system listing order.

    The pipeline: read, decode (grey, RGB and RGBA all become `color_mode`),
    resize to `image_size` (bilinear) and round to uint8, once, then `cache`,
    shuffle (train only), batch, cast to float32 and prefetch (AUTOTUNE).
    Pixels stay raw, 0..255; models scale them with the bundle's normalization,
    `Rescaling(1/255)`.

    Args:
        directory: str or path-like, the root folder.
        batch_size: int, examples per batch. Defaults to 32.
        seed: int, seed of the split, of each split's example order and of the
            training shuffle. Defaults to 0.
        image_size: int (a square) or (height, width), the size every image is
            resized to. Defaults to None (64x64).
        color_mode: str, `"rgb"` (3 channels), `"grayscale"` (1) or `"rgba"`
            (4). Defaults to `"rgb"`.
        test_fraction: float in (0, 1), the part of each class held out as
            `test`. Defaults to 0.2.
        validation_fraction: float in [0, 1), the part of each class held out
            as `validation`. Defaults to 0.0 (none).
        cache: bool or str. True caches the decoded uint8 images in memory; a
            str is a file prefix for `tf.data.Dataset.cache`, completed with the
            split and a fingerprint of the files and options (so a changed
            folder never reads a stale cache); False decodes every epoch.
            Defaults to True.
        shuffle_buffer: int, the most examples in the shuffle buffer. Defaults to
            10000.

    Returns:
        A `DataBundle` with input_shape `(height, width, channels)` (streamed:
        no NumPy arrays; use `arrays()` for samples).

    Raises:
        ValueError: if the folder does not exist, has fewer than two class
            sub-folders or one without a readable image, a split would be empty
            or a class would keep no training image, or an argument is out of
            range.
        TypeError: if an argument is of the wrong type (a fraction that is not
            a number, a seed or `image_size` that is not an integer).

    Example:

    ```python
    import tempfile

    from keras_distill.data import make_digits_image_folder

    folder = make_digits_image_folder(f"{tempfile.mkdtemp()}/digits", n_per_class=20)
    data = load_image_folder(folder, image_size=32, batch_size=16)
    data.class_names  # ('0', '1', ..., '9')
    data.input_shape  # (32, 32, 3)
    ```
    """
    check_folder_path(directory)
    batch_size = check_batch_size(batch_size)
    seed = check_seed(seed)
    image_size = check_image_size(
        DEFAULT_IMAGE_SIZE if image_size is None else image_size
    )
    if color_mode not in _CHANNELS:
        raise ValueError(
            f"`color_mode` must be one of {sorted(_CHANNELS)}, got {color_mode!r}."
        )
    test_fraction, validation_fraction = check_split_fractions(
        test_fraction, validation_fraction, "images"
    )
    check_pipeline_options(shuffle_buffer, cache)
    name = str(Path(directory).expanduser())
    # Files are read lazily, while iterating: an absolute path survives a
    # change of working directory in between.
    directory = Path(name).absolute()
    listing = list_image_files(directory)
    splits = split_files(
        listing,
        test_fraction=test_fraction,
        validation_fraction=validation_fraction,
        seed=seed,
    )
    if listing.skipped:
        warnings.warn(
            f"Skipped {listing.skipped_summary()} in {str(directory)!r}: not "
            "readable images. Remove or fix them to silence this warning.",
            stacklevel=_stacklevel_outside_this_package(),
        )
    channels = _CHANNELS[color_mode]
    decode = _decoder(directory, image_size, channels)
    raw = {}
    for split, examples in splits.items():
        paths, labels = zip(*examples, strict=True)
        source = tf.data.Dataset.from_tensor_slices(
            (list(paths), tf.constant(labels, tf.int32))
        )
        raw[split] = source.map(decode, num_parallel_calls=AUTOTUNE).ignore_errors(
            log_warning=True
        )
    num_examples = {split: len(examples) for split, examples in splits.items()}

    def pipeline(split: str) -> tf.data.Dataset:
        split_cache = cache
        if isinstance(cache, str) and cache:
            key = fingerprint(listing, splits[split], image_size, color_mode)
            split_cache = f"{cache}-{split}-{key}"
        return batched(
            raw[split],
            batch_size=batch_size,
            training=split == "train",
            seed=seed,
            cache=split_cache,
            shuffle_buffer=min(shuffle_buffer, num_examples["train"]),
        )

    counts = " / ".join(f"{n} {split}" for split, n in num_examples.items())
    skipped = (
        f" Skipped {listing.skipped_summary()}: not readable images."
        if listing.skipped
        else ""
    )
    height, width = image_size
    return DataBundle(
        name=name,
        train=pipeline("train"),
        test=pipeline("test"),
        validation=pipeline("validation") if "validation" in raw else None,
        input_shape=(height, width, channels),
        num_classes=len(listing.class_names),
        class_names=listing.class_names,
        normalization=InputNormalization.rescale(1.0 / 255.0),
        batch_size=batch_size,
        examples={
            split: dataset.map(to_model_dtypes) for split, dataset in raw.items()
        },
        num_examples=num_examples,
        description=(
            f"Image folder {directory}: {len(listing.class_names)} classes, "
            f"{counts} (split by file, stratified per class, seed {seed}); images "
            f"decoded as {color_mode} and resized to {height}x{width} (bilinear), "
            f"raw pixels 0..255.{skipped}"
        ),
    )
