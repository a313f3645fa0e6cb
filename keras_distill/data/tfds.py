"""TFDS image-classification datasets (`tfds:<name>`), offline-first."""

from __future__ import annotations

import difflib
import os

import numpy as np
import tensorflow as tf

from keras_distill._optional import require
from keras_distill.data._checks import check_batch_size
from keras_distill.data._checks import check_fraction
from keras_distill.data._checks import check_image_size
from keras_distill.data._checks import check_pipeline_options
from keras_distill.data._checks import check_seed
from keras_distill.data.data_bundle import DataBundle
from keras_distill.data.input_normalization import InputNormalization
from keras_distill.data.pipeline import batched
from keras_distill.data.pipeline import to_model_dtypes

# Held out as test when a dataset ships neither a "test" nor a "validation" split.
CARVED_TEST_PERCENT = 20


def _tfds():
    return require("tensorflow_datasets", "Loading TFDS datasets (tfds:<name>)")


class DatasetNotPreparedError(ValueError):
    """A TFDS dataset exists in the catalog but is not prepared on this machine."""


def _not_prepared_message(name: str, builder) -> str:
    root = builder.data_dir_root
    return (
        f"TFDS dataset {name!r} ({builder.info.full_name}) is not prepared in "
        f"{root}, and keras_distill does not download by default (downloads fail "
        "offline). Prepare it once on a machine with network access:\n"
        '    python -c "import tensorflow_datasets as tfds; '
        f"tfds.builder('{name}', data_dir='<dir>').download_and_prepare()\"\n"
        f"or `tfds build {name} --data_dir <dir>` (the tfds command also needs "
        "`pip install apache-beam`), then copy <dir> to this machine and pass it "
        "as data_dir (or set the TFDS_DATA_DIR environment variable). Some "
        "datasets need files you download by hand first: see "
        "https://www.tensorflow.org/datasets/catalog. If this machine has network "
        "access, pass download=True instead."
    )


def _open_builder(name: str, data_dir: str | None):
    tfds = _tfds()
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError:
        close = difflib.get_close_matches(
            name.split("/")[0].split(":")[0], tfds.list_builders(), n=5
        )
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"TFDS has no dataset named {name!r}.{hint} The catalog is at "
            "https://www.tensorflow.org/datasets/catalog (or call "
            "tfds.list_builders())."
        ) from None
    except (AssertionError, ValueError) as err:
        # Bad versions / configs / name syntax; TFDS's message says which.
        raise ValueError(f"Cannot open TFDS dataset {name!r}: {err}") from err


def _image_and_label_keys(name: str, info) -> tuple[str, str]:
    """The (image, label) feature names: the supervised keys, else the only pair.

    Some image datasets (e.g. TFDS's own `dummy_mnist`) declare no supervised
    keys; a single Image plus a single ClassLabel feature is then unambiguous.
    """
    tfds = _tfds()
    features = info.features
    keys = info.supervised_keys
    if (
        isinstance(keys, tuple)
        and len(keys) == 2
        and all(isinstance(key, str) for key in keys)
        and isinstance(features[keys[0]], tfds.features.Image)
        and isinstance(features[keys[1]], tfds.features.ClassLabel)
    ):
        return keys
    if keys is None:
        images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
        labels = [
            k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)
        ]
        if len(images) == 1 and len(labels) == 1:
            return images[0], labels[0]
    raise ValueError(
        f"TFDS dataset {name!r} is not an image-classification dataset: "
        "keras_distill needs supervised keys (image, label), or exactly one Image "
        "and one ClassLabel feature, but it has supervised_keys="
        f"{keys!r} and features {features}."
    )


def _split_names(info) -> list[str]:
    # Empty when the dataset is not prepared (or mocked without metadata).
    try:
        return list(info.splits)
    except (KeyError, ValueError):
        return []


def _resolve_splits(
    info, train_split: str | None, test_split: str | None, validation_percent: int
) -> dict[str, str]:
    available = _split_names(info)
    train = "train" if train_split is None else train_split
    end = 100
    if test_split is None:
        if not available or "test" in available:
            test_split = "test"
        elif "validation" in available:
            test_split = "validation"
        elif "[" in train or "+" in train:
            raise ValueError(
                f"The dataset has no test or validation split, so pass `test_split` "
                f"explicitly when `train_split` is a slice or union ({train!r})."
            )
        else:
            end = 100 - CARVED_TEST_PERCENT
            test_split = f"{train}[{end}%:]"
    for option, spec in (("train_split", train), ("test_split", test_split)):
        base = spec.split("[")[0]
        if available and base.isidentifier() and base not in available:
            raise ValueError(
                f"`{option}` is {spec!r}, but the dataset's splits are {available}."
            )
    splits = {"train": train if end == 100 else f"{train}[:{end}%]"}
    if validation_percent:
        if "[" in train or "+" in train:
            raise ValueError(
                f"`validation_fraction` carves a validation split out of "
                f"`train_split`, which must then be a plain split name, got "
                f"{train!r}. Pass validation_fraction=0 or a plain train_split."
            )
        cut = end - validation_percent
        splits["train"] = f"{train}[:{cut}%]"
        splits["validation"] = f"{train}[{cut}%:{end}%]"
    splits["test"] = test_split
    return splits


def _cardinality(dataset: tf.data.Dataset) -> int | None:
    count = int(dataset.cardinality())
    return count if count >= 0 else None


def load_tfds(
    name: str,
    *,
    batch_size: int = 32,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    train_split: str | None = None,
    test_split: str | None = None,
    validation_fraction: float = 0.0,
    image_size: int | tuple[int, int] | None = None,
    cache: bool | str = True,
    shuffle_buffer: int = 10_000,
) -> DataBundle:
    """A TFDS image-classification dataset as tf.data pipelines, offline by default.

    Reads a dataset TFDS has already prepared (`tfds.load(name, download=True)`
    or `tfds build <name>` on a machine with network access; see
    docs/datasets.md) and builds the pipeline the tf.data guide recommends:
    decode, cache, shuffle (training only, seeded), batch, prefetch. The examples
    are the dataset's supervised `(image, label)` pair (or, without supervised
    keys, its only Image and ClassLabel features). Images stay raw: their dtype
    (usually uint8, 0..255) is only cast to float32 after batching; the suggested
    normalization is `Rescaling(1/255)` inside the model.

    Splits: `train_split` defaults to `"train"`; `test_split` to `"test"`, or
    `"validation"` when the dataset has no test split, or else the last 20% of
    the training split. Any TFDS split spec works, e.g. `"train[:10%]"`.

    Args:
        name: str, the TFDS name, optionally with config and version, e.g.
            `"mnist"`, `"cifar10"`, `"imagenette/160px"`, `"mnist:3.*.*"`.
        batch_size: int, examples per batch. Defaults to 32.
        seed: int, seed of the training shuffle. Defaults to 0.
        data_dir: str or path-like, the TFDS data directory. Defaults to None
            (`$TFDS_DATA_DIR`, else `~/tensorflow_datasets`).
        download: bool, let TFDS download and prepare the dataset if missing
            (needs network access). Defaults to False.
        train_split: str, TFDS split spec of the training data. Defaults to None
            (`"train"`).
        test_split: str, TFDS split spec of the test data. Defaults to None (see
            above).
        validation_fraction: float in [0, 1), a whole percentage (e.g. 0.1) of
            the training split held out as `validation` (the end of it). Defaults
            to 0.0 (none).
        image_size: int or (height, width), resize every image to this size
            (bilinear, then rounded back to the image dtype). Required when the
            dataset's images vary in size. Defaults to None (keep the size).
        cache: bool or str, True caches decoded examples in memory, a str is a
            file prefix for `tf.data.Dataset.cache`, False does not cache.
            Defaults to True.
        shuffle_buffer: int, the most examples in the shuffle buffer. Defaults to
            10000.

    Returns:
        A `DataBundle` (streamed: no NumPy arrays; use `arrays()` for samples).

    Raises:
        ValueError: if the name is not in the TFDS catalog (with close matches),
            the dataset is not image classification, images vary in size and
            `image_size` is None, or an argument is out of range.
        TypeError: if an argument is of the wrong type (a fraction that is not
            a number, a seed or `image_size` that is not an integer).
        DatasetNotPreparedError: (a ValueError) if the dataset is not prepared in
            `data_dir` and `download` is False; the message says how to prepare it.

    Example:

    ```python
    # doctest: +SKIP (needs the dataset prepared on disk with TFDS)
    data = load_tfds("mnist", data_dir="/data/tensorflow_datasets")
    data.input_shape, data.num_classes  # (28, 28, 1), 10
    ```
    """
    _tfds()  # before any check: without TFDS nothing else can help
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a TFDS dataset name, got {name!r}.")
    batch_size = check_batch_size(batch_size)
    seed = check_seed(seed)
    validation_fraction = check_fraction(
        "validation_fraction", validation_fraction, allow_zero=True
    )
    validation_percent = round(validation_fraction * 100)
    if abs(validation_percent - validation_fraction * 100) > 1e-9:
        raise ValueError(
            "For TFDS datasets `validation_fraction` must be a whole percentage "
            f"(TFDS slices splits in percent), e.g. 0.1, got {validation_fraction}."
        )
    if image_size is not None:
        image_size = check_image_size(image_size)
    check_pipeline_options(shuffle_buffer, cache)
    data_dir = None if data_dir is None else os.fspath(data_dir)

    builder = _open_builder(name, data_dir)
    image_key, label_key = _image_and_label_keys(name, builder.info)
    image_feature = builder.info.features[image_key]
    label_feature = builder.info.features[label_key]
    height, width, channels = image_feature.shape
    if image_size is None and (height is None or width is None):
        raise ValueError(
            f"TFDS dataset {name!r} has images of varying size "
            f"{image_feature.shape}; pass image_size=(height, width) to resize them."
        )
    resize_to = None
    if image_size is not None and image_size != (height, width):
        resize_to = image_size
        height, width = image_size

    if download:
        builder.download_and_prepare()
    splits = _resolve_splits(builder.info, train_split, test_split, validation_percent)
    try:
        raw = {
            split: builder.as_dataset(split=spec, shuffle_files=False)
            for split, spec in splits.items()
        }
    except AssertionError:
        # TFDS signals "no prepared data in data_dir" with an AssertionError.
        raise DatasetNotPreparedError(_not_prepared_message(name, builder)) from None
    raw = {
        split: dataset.map(
            lambda example: (example[image_key], example[label_key]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        for split, dataset in raw.items()
    }

    image_dtype = np.dtype(image_feature.np_dtype)
    if resize_to is not None:
        raw = {
            split: dataset.map(
                _resizer(resize_to, image_dtype), num_parallel_calls=tf.data.AUTOTUNE
            )
            for split, dataset in raw.items()
        }

    def pipeline(split: str, training: bool) -> tf.data.Dataset:
        split_cache = f"{cache}-{split}" if isinstance(cache, str) else cache
        count = _cardinality(raw[split])
        return batched(
            raw[split],
            batch_size=batch_size,
            training=training,
            seed=seed,
            cache=split_cache,
            shuffle_buffer=min(shuffle_buffer, count or shuffle_buffer),
        )

    if np.issubdtype(image_dtype, np.integer):
        normalization = InputNormalization.rescale(1.0 / np.iinfo(image_dtype).max)
    else:
        normalization = InputNormalization.rescale(1.0)
    return DataBundle(
        name=f"tfds:{name}",
        train=pipeline("train", training=True),
        test=pipeline("test", training=False),
        validation=pipeline("validation", False) if "validation" in raw else None,
        input_shape=(int(height), int(width), int(channels)),
        num_classes=int(label_feature.num_classes),
        class_names=tuple(label_feature.names),
        normalization=normalization,
        batch_size=batch_size,
        examples={
            split: dataset.map(to_model_dtypes) for split, dataset in raw.items()
        },
        num_examples={split: _cardinality(dataset) for split, dataset in raw.items()},
        description=(
            f"TFDS {builder.info.full_name} from {builder.data_dir_root}; splits "
            + ", ".join(f"{split}={spec!r}" for split, spec in splits.items())
            + (f"; images resized to {resize_to}" if resize_to else "")
            + "."
        ),
    )


def _resizer(image_size: tuple[int, int], dtype: np.dtype):
    def resize(image, label):
        resized = tf.image.resize(image, image_size)
        if np.issubdtype(dtype, np.integer):
            # Back to the raw dtype: what a resized bitmap holds, and a 4x smaller
            # cache than float32.
            resized = tf.saturate_cast(tf.round(resized), dtype)
        return resized, label

    return resize
