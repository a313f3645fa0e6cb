"""The demo's data: a `DataBundle` by name, and the smaller splits `--fast` uses.

Loading is `keras_distill.data.load_dataset`; this module only turns its errors
into one-line `UsageError`s and cuts the splits down for smoke runs.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from keras_distill.demo.config import UsageError

# `--fast`: a few batches per epoch and a few hundred test examples, so a smoke
# run exercises every stage in well under a minute.
FAST_TRAIN_BATCHES = 20
FAST_EVAL_EXAMPLES = 300
# The most training batches `input_pipeline_throughput` times: a whole epoch of
# MNIST-1D (32 batches of 128), digits or `--fast`, a bounded part of larger ones.
INPUT_PIPELINE_BATCHES = 50
INPUT_PIPELINE_PASSES = 3


def one_line(err: BaseException) -> str:
    """An exception's message on one line (for `keras-distill: error: ...`)."""
    return " ".join(str(err).split())


def load_data(
    dataset: str = "mnist1d",
    *,
    batch_size: int = 128,
    seed: int = 0,
    data_dir: str | None = None,
    image_size: int | None = None,
    clip_seconds: float | None = None,
    sequence_length: int | None = None,
):
    """Loads a dataset for the demo with `keras_distill.data.load_dataset`.

    Args:
        dataset: str, `"mnist1d"`, `"digits"`, `"tfds:<name>"` or the path of a
            folder with one sub-folder per class of images, `.wav` clips or
            `.txt` files. Defaults to "mnist1d".
        batch_size: int, the batch size of the pipelines. Defaults to 128.
        seed: int, the shuffling seed. Defaults to 0.
        data_dir: str, the TFDS data folder for `"tfds:<name>"`. Defaults to
            None (TFDS's default).
        image_size: int, resize images to this square size (image folders and
            TFDS). Defaults to None (the loader's default: 64x64 for folders).
        clip_seconds: float, pad or cut clips to this length (folders of
            `.wav` clips). Defaults to None (1 s).
        sequence_length: int, token ids per text (folders of `.txt` files).
            Defaults to None (64).

    Returns:
        A `keras_distill.data.DataBundle`.

    Raises:
        UsageError: an unknown name (the message lists the choices), a TFDS
            dataset that is not prepared offline (the message says how to
            prepare it), a bad folder, or an option for another kind of data
            (`--clip-seconds` for images).

    Example:
    ```python
    data = load_data("digits", batch_size=64)
    ```
    """
    from keras_distill.data import load_dataset

    options, flags = {}, {}
    if data_dir is not None and dataset.startswith("tfds:"):
        options["data_dir"] = data_dir
    for option, value, flag in (
        ("image_size", image_size, "--image-size"),
        ("clip_seconds", clip_seconds, "--clip-seconds"),
        ("sequence_length", sequence_length, "--sequence-length"),
    ):
        if value is not None:
            options[option] = value
            flags[option] = flag
    try:
        return load_dataset(dataset, batch_size=batch_size, seed=seed, **options)
    except TypeError as err:
        message = one_line(err)
        for option, flag in flags.items():
            message = message.replace(repr(option), flag)
        raise UsageError(message) from None
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(one_line(err)) from None


def smoke_subset(data):
    """`data` cut down for `--fast`: a few batches per epoch, a few hundred tests.

    Every stage then runs on the smaller bundle as it would on the full one, so
    no stage needs to know about `--fast`.
    """
    test_batches = max(1, FAST_EVAL_EXAMPLES // data.batch_size)
    examples = dict(data.examples)
    if "test" in examples:
        examples["test"] = examples["test"].take(test_batches * data.batch_size)
    num_examples = dict(data.num_examples)
    num_examples["train"] = min(
        num_examples.get("train") or math.inf, FAST_TRAIN_BATCHES * data.batch_size
    )
    num_examples["test"] = min(
        num_examples.get("test") or math.inf, test_batches * data.batch_size
    )
    cut = test_batches * data.batch_size
    return dataclasses.replace(
        data,
        train=data.train.take(FAST_TRAIN_BATCHES),
        test=data.test.take(test_batches),
        examples=examples,
        num_examples=num_examples,
        x_test=None if data.x_test is None else data.x_test[:cut],
        y_test=None if data.y_test is None else data.y_test[:cut],
    )


def input_pipeline_throughput(
    data,
    *,
    max_batches: int = INPUT_PIPELINE_BATCHES,
    passes: int = INPUT_PIPELINE_PASSES,
):
    """Examples per second the training pipeline delivers alone, with no model.

    `keras_distill.data.pipeline_throughput` over one epoch of `data.train`,
    or its first `max_batches` batches when the epoch is longer, `passes`
    times; the best pass counts (the first ones pay the iterator's start-up
    and tf.data's autotuning, and any pass can lose the CPU to another job).
    Each pass includes filling the shuffle buffer, which every epoch does;
    over part of a long epoch that cost is shared by fewer batches, so the
    figure is then a lower bound.

    Iterating `data.train` moves its seeded shuffle on to the next epoch's
    order, so the demo calls this after the last training stage.

    Args:
        data: the `DataBundle`.
        max_batches: int, the most batches to time per pass. Defaults to
            `INPUT_PIPELINE_BATCHES`.
        passes: int, timed passes. Defaults to `INPUT_PIPELINE_PASSES`.

    Returns:
        `{"examples_per_second": float, "batches": int, "whole_epoch": bool,
        "passes": int}`.
    """
    from keras_distill.data import pipeline_throughput

    epoch = steps_per_epoch(data)
    batches = min(epoch, max_batches)
    best = max(pipeline_throughput(data.train, batches=batches) for _ in range(passes))
    return {
        "examples_per_second": best,
        "batches": batches,
        "whole_epoch": batches >= epoch,
        "passes": passes,
    }


def steps_per_epoch(data) -> int:
    """Training batches per epoch (for learning-rate and pruning schedules)."""
    steps = int(tf.data.experimental.cardinality(data.train))
    if steps > 0:
        return steps
    count = data.num_examples.get("train") or data.batch_size
    return max(1, math.ceil(count / data.batch_size))


def evaluate(model, data) -> float:
    """Top-1 accuracy of a Keras model (logits out) on the test split, in [0, 1].

    Runs the model directly rather than `model.evaluate`, so it works on models
    compiled for something else (a Distiller's student, a QAT model) or not at all.
    """
    correct = total = 0
    for x, y in data.test:
        logits = model(x, training=False)
        predictions = np.argmax(np.asarray(logits), axis=-1)
        correct += int(np.sum(predictions == np.asarray(y).reshape(-1)))
        total += len(predictions)
    return correct / max(total, 1)
