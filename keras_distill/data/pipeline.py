"""The tf.data pipeline every loader ends with, and in-memory arrays -> DataBundle."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from keras_distill._numbers import check_int
from keras_distill._optional import require
from keras_distill.data.data_bundle import DataBundle
from keras_distill.data.input_normalization import InputNormalization

AUTOTUNE = tf.data.AUTOTUNE


def to_model_dtypes(x, y):
    # Raw values, only the dtype changes: float32 inputs (uint8 images stay 0..255)
    # and int32 labels, the same for every dataset.
    return tf.cast(x, tf.float32), tf.cast(y, tf.int32)


def batched(
    examples: tf.data.Dataset,
    *,
    batch_size: int,
    training: bool,
    seed: int,
    cache: bool | str = False,
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """Turns unbatched `(x, y)` examples into a training or evaluation pipeline.

    The order follows the tf.data performance guide: cache (after the expensive
    decoding, before the per-epoch randomness), shuffle (training only; seeded and
    reshuffled each epoch, so runs repeat), batch, then cast the whole batch at
    once (so a cache keeps compact uint8 images), and prefetch.

    Args:
        examples: tf.data.Dataset of unbatched `(x, y)`.
        batch_size: int, examples per batch.
        training: bool, whether to shuffle.
        seed: int, the shuffle seed.
        cache: bool or str, True caches in memory, a str is a cache file prefix
            (`tf.data.Dataset.cache(filename)`), False does not cache. Defaults
            to False.
        shuffle_buffer: int, the shuffle buffer size. Defaults to None (needed
            when `training` is True).

    Returns:
        tf.data.Dataset of batched `(x float32, y int32)`.
    """
    if cache is True:
        examples = examples.cache()
    elif isinstance(cache, str) and cache:
        examples = examples.cache(cache)
    if training:
        examples = examples.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    return (
        examples.batch(batch_size)
        .map(to_model_dtypes, num_parallel_calls=AUTOTUNE)
        .prefetch(AUTOTUNE)
    )


def pipeline_throughput(
    dataset: tf.data.Dataset,
    *,
    batches: int | None = None,
    warmup_batches: int = 0,
) -> float:
    """Examples per second an input pipeline delivers on its own, with no model.

    Use it beside a training step's speed to tell whether training waits for
    data: if the pipeline alone is not several times faster than training,
    decoding or reading is the bottleneck (cache, smaller images, more
    `num_parallel_calls`). It iterates `dataset`, skips `warmup_batches`, then
    times the next `batches` and counts their examples (the leading dimension
    of each element's first tensor, so the last, smaller batch counts right).

    The defaults time one whole pass, as an epoch of training sees it. Keep
    them for shuffled pipelines: a shuffle buffer as large as the dataset (as
    in `DataBundle.train`) reads every example before it yields the first
    batch, so skipping even one warm-up batch would leave the reading and
    decoding out of the measurement. A cached pipeline decodes during its
    first pass and reads the cache after: call it twice to see both.

    Args:
        dataset: tf.data.Dataset of batches, e.g. `(x, y)` with `x` of shape
            `(batch, ...)`, such as `DataBundle.train`.
        batches: int >= 1, the batches to time after the warm-up. Defaults to
            None (to the end of the dataset; it must be finite).
        warmup_batches: int >= 0, batches read before the clock starts (for
            unshuffled pipelines whose first batch pays one-off start-up
            costs). Defaults to 0.

    Returns:
        float, examples (images) per second over the timed batches.

    Raises:
        TypeError: if `dataset` is not a `tf.data.Dataset` or a count is not an
            integer.
        ValueError: if a count is out of range, `batches` is None for an
            infinite dataset, or the dataset ends before one batch is timed.

    Example:

    ```python
    from keras_distill.data import load_dataset

    data = load_dataset("digits", batch_size=64)
    first = pipeline_throughput(data.train)  # fills the cache (image folders)
    cached = pipeline_throughput(data.train)
    ```
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(
            f"`dataset` must be a tf.data.Dataset, got {type(dataset).__name__}."
        )
    if batches is not None:
        batches = check_int("batches", batches, 1, "Or None, to the end.")
    warmup_batches = check_int("warmup_batches", warmup_batches, 0)
    if batches is None and dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            "`dataset` repeats forever, so `batches=None` (to the end) never ends; "
            "pass batches=N."
        )
    iterator = iter(dataset)
    for _ in range(warmup_batches):
        if next(iterator, None) is None:
            break
    examples = timed = 0
    start = time.perf_counter()
    for element in iterator:
        examples += int(tf.shape(tf.nest.flatten(element)[0])[0])
        timed += 1
        if timed == batches:
            break
    seconds = time.perf_counter() - start
    if timed == 0:
        raise ValueError(
            f"`dataset` ended within the {warmup_batches} warm-up batch(es), so "
            "nothing was timed; lower `warmup_batches` or use a longer dataset."
        )
    return examples / seconds


def stratified_split(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Splits off a seeded, class-stratified `fraction` of `(x, y)`.

    Returns:
        `(x_kept, x_held, y_kept, y_held)`.
    """
    model_selection = require("sklearn.model_selection", "A stratified split")
    return model_selection.train_test_split(
        x, y, test_size=fraction, stratify=y, random_state=seed
    )


def bundle_from_arrays(
    name: str,
    *,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    class_names: tuple[str, ...],
    normalization_for: Callable[[np.ndarray], InputNormalization],
    batch_size: int,
    seed: int,
    validation_fraction: float,
    description: str,
    signal: bool = False,
) -> DataBundle:
    """Builds a DataBundle from in-memory arrays (raw inputs, integer labels).

    With `validation_fraction > 0`, a stratified, seeded part of the training
    arrays becomes the validation split; the test split is never touched.
    `normalization_for(x_train)` gets the final training inputs, so statistics
    never see validation or test data.
    """
    x_train = np.ascontiguousarray(x_train, dtype=np.float32)
    y_train = np.ascontiguousarray(y_train, dtype=np.int32)
    x_test = np.ascontiguousarray(x_test, dtype=np.float32)
    y_test = np.ascontiguousarray(y_test, dtype=np.int32)
    x_val = y_val = None
    if validation_fraction > 0:
        x_train, x_val, y_train, y_val = stratified_split(
            x_train, y_train, validation_fraction, seed
        )
        description += (
            f" Validation: a stratified {validation_fraction:g} of train (seed {seed})."
        )

    def source(x, y):
        return tf.data.Dataset.from_tensor_slices((x, y))

    examples = {"train": source(x_train, y_train), "test": source(x_test, y_test)}
    num_examples = {"train": len(y_train), "test": len(y_test)}
    validation = None
    if x_val is not None:
        examples["validation"] = source(x_val, y_val)
        num_examples["validation"] = len(y_val)
        validation = batched(
            examples["validation"], batch_size=batch_size, training=False, seed=seed
        )
    return DataBundle(
        name=name,
        train=batched(
            examples["train"],
            batch_size=batch_size,
            training=True,
            seed=seed,
            shuffle_buffer=len(y_train),
        ),
        test=batched(
            examples["test"], batch_size=batch_size, training=False, seed=seed
        ),
        validation=validation,
        input_shape=tuple(int(d) for d in x_train.shape[1:]),
        num_classes=len(class_names),
        class_names=tuple(class_names),
        normalization=normalization_for(x_train),
        batch_size=batch_size,
        examples=examples,
        num_examples=num_examples,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        description=description,
        signal=signal,
    )
