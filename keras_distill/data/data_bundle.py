"""DataBundle: a loaded dataset as tf.data pipelines, plus what a model must know."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from keras_distill._compat import keras
from keras_distill.data.input_normalization import InputNormalization

SPLITS = ("train", "validation", "test")
MODALITIES = ("vector", "image", "audio", "text")
_SAMPLE_BATCH = 256


@dataclasses.dataclass(frozen=True)
class DataBundle:
    """A classification dataset ready for training, distillation and export.

    `keras_distill.data.load_dataset` returns one. The pipelines yield raw inputs
    (float32, never normalized) and int32 labels; `normalization` says how a model
    should normalize them itself (see `preprocessing_layer()`), so that the
    exported model takes raw data exactly as the dataset provides it.

    Small datasets (mnist1d, digits) are also held as NumPy arrays (`x_train`,
    ...); for streamed ones (TFDS, image folders) those are None and `arrays()`
    draws a bounded NumPy sample, e.g. for an int8 representative dataset.

    Args:
        name: str, the name the dataset was loaded by (e.g. `"mnist1d"`).
        train: tf.data.Dataset of batched `(x, y)`, shuffled (seeded, reshuffled
            each epoch), prefetched.
        test: tf.data.Dataset of batched `(x, y)`, in a fixed order.
        input_shape: tuple of int, the shape of one raw input.
        num_classes: int, the number of classes (labels are 0..num_classes-1).
        class_names: tuple of str, one name per class.
        normalization: InputNormalization, what the model should do to raw inputs.
        batch_size: int, the batch size of the pipelines.
        examples: mapping from split name (`"train"`, `"validation"`, `"test"`) to
            an unbatched, unshuffled, uncached tf.data.Dataset of `(x, y)`, used by
            `arrays()` to draw samples without touching the training pipeline.
        num_examples: mapping from split name to its number of examples (None
            when unknown).
        validation: tf.data.Dataset of batched `(x, y)` held out from the
            training data, or None. Defaults to None.
        x_train: np.ndarray of raw training inputs (float32), when in memory.
            Defaults to None.
        y_train: np.ndarray of training labels (int32), when in memory. Defaults
            to None.
        x_val: np.ndarray of raw validation inputs, when in memory and a
            validation split was asked for. Defaults to None.
        y_val: np.ndarray of validation labels. Defaults to None.
        x_test: np.ndarray of raw test inputs, when in memory. Defaults to None.
        y_test: np.ndarray of test labels, when in memory. Defaults to None.
        description: str, where the data came from and how it was split.
            Defaults to "".
        sample_rate: int, samples per second of audio waveforms (inputs
            `(samples,)` in [-1, 1]); None for other data. Defaults to None.
        tokenizer: for text, the `keras_distill.data.TextTokenizer` that turned
            each text into the int32 token ids the pipelines yield (its
            vocabulary and rules are what an app needs); None for other data.
            Defaults to None.
        signal: bool, each example is a 1-D signal over time (MNIST-1D's 40
            values): neighbouring values are neighbouring moments, so shifting
            an example in time and adding noise keep its class, and the demo's
            teacher trains with both (`keras_distill.augmentation.
            signal_augmentation`). False for tabular vectors, whose features
            have no order. Defaults to False.

    Example:

    ```python
    from keras_distill.data import load_dataset

    data = load_dataset("digits", batch_size=64)
    inputs = keras.Input(data.input_shape)
    x = data.preprocessing_layer()(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(data.num_classes)(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.train, validation_data=data.test, epochs=1)
    x_sample, y_sample = data.arrays("train", max_examples=100)
    ```
    """

    name: str
    train: tf.data.Dataset
    test: tf.data.Dataset
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: tuple[str, ...]
    normalization: InputNormalization
    batch_size: int
    examples: Mapping[str, tf.data.Dataset]
    num_examples: Mapping[str, int | None]
    validation: tf.data.Dataset | None = None
    x_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    description: str = ""
    sample_rate: int | None = None
    tokenizer: object | None = None
    signal: bool = False

    def __post_init__(self):
        # These catch loader bugs early, with the numbers that disagree.
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"Dataset {self.name!r}: {len(self.class_names)} class names for "
                f"{self.num_classes} classes."
            )
        if any(split not in SPLITS for split in self.examples):
            raise ValueError(
                f"Dataset {self.name!r}: `examples` keys must be among {SPLITS}, "
                f"got {sorted(self.examples)}."
            )
        if self.sample_rate is not None and self.tokenizer is not None:
            raise ValueError(
                f"Dataset {self.name!r}: give `sample_rate` (audio) or "
                "`tokenizer` (text), not both."
            )
        for split, (x, y) in self._in_memory_arrays().items():
            if (x is None) != (y is None):
                raise ValueError(
                    f"Dataset {self.name!r}: the {split} inputs and labels must both "
                    "be given or both be None."
                )
            if x is not None and (
                len(x) != len(y) or tuple(x.shape[1:]) != tuple(self.input_shape)
            ):
                raise ValueError(
                    f"Dataset {self.name!r}: {split} arrays have shapes {x.shape} "
                    f"and {y.shape}; expected (n, *{self.input_shape}) and (n,)."
                )

    def _in_memory_arrays(self) -> dict:
        return {
            "train": (self.x_train, self.y_train),
            "validation": (self.x_val, self.y_val),
            "test": (self.x_test, self.y_test),
        }

    @property
    def modality(self) -> str:
        """What one example is: `"audio"` (a waveform, `sample_rate` is set),
        `"text"` (token ids, `tokenizer` is set), `"image"` (rank-3 inputs) or
        `"vector"` (anything else, e.g. MNIST-1D's 40 values)."""
        if self.sample_rate is not None:
            return "audio"
        if self.tokenizer is not None:
            return "text"
        return "image" if len(self.input_shape) == 3 else "vector"

    @property
    def in_memory(self) -> bool:
        """Whether the train and test splits are held as NumPy arrays."""
        return self.x_train is not None and self.x_test is not None

    def preprocessing_layer(self, name: str | None = None) -> keras.layers.Layer:
        """A new Keras layer normalizing raw inputs; put it first in each model.

        Args:
            name: str, the layer's name. Defaults to None (Keras picks one).

        Returns:
            A `keras.layers.Normalization` or `keras.layers.Rescaling` layer (see
            `InputNormalization.layer`); for text, a `keras.layers.Identity`
            (token ids are not scaled: an Embedding reads them).
        """
        if self.modality == "text":
            return keras.layers.Identity(name=name)
        return self.normalization.layer(name=name)

    def arrays(
        self, split: str = "train", max_examples: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw inputs and labels of a split as NumPy arrays, at most `max_examples`.

        In-memory datasets return (a prefix of) their arrays. Streamed datasets
        read the first examples of the split's unshuffled source; TFDS stores
        examples shuffled and image folders are listed in a seeded random order,
        so this is a fair sample.

        Args:
            split: str, `"train"`, `"validation"` or `"test"`. Defaults to
                `"train"`.
            max_examples: int, the most examples to return. Defaults to None (the
                whole split: for a large streamed dataset, pass a bound).

        Returns:
            `(x, y)`: float32 inputs of shape `(n, *input_shape)` and int32 labels
            of shape `(n,)`.

        Raises:
            ValueError: if `split` is unknown or absent, or `max_examples` is not
                a positive integer.
        """
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
        if max_examples is not None and (
            isinstance(max_examples, bool)
            or not isinstance(max_examples, (int, np.integer))
            or max_examples < 1
        ):
            raise ValueError(
                f"`max_examples` must be a positive integer or None, got "
                f"{max_examples!r}."
            )
        x, y = self._in_memory_arrays()[split]
        if x is not None:
            return x[:max_examples], y[:max_examples]
        if split not in self.examples:
            raise ValueError(
                f"Dataset {self.name!r} has no {split!r} split (it has "
                f"{sorted(self.examples)}). Pass validation_fraction when loading "
                "to hold out a validation split."
            )
        source = self.examples[split]
        if max_examples is not None:
            source = source.take(max_examples)
        xs, ys = [], []
        for x_batch, y_batch in source.batch(_SAMPLE_BATCH):
            xs.append(x_batch.numpy())
            ys.append(y_batch.numpy())
        if not xs:
            empty = np.zeros((0, *self.input_shape), np.float32)
            return empty, np.zeros((0,), np.int32)
        return np.concatenate(xs), np.concatenate(ys)
