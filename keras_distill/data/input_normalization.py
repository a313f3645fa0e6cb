"""How a dataset's raw inputs should be normalized, as a layer the model carries."""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_distill._compat import keras

_KINDS = ("standardize", "rescale")


@dataclasses.dataclass(frozen=True)
class InputNormalization:
    """The preprocessing a model should apply to a dataset's raw inputs.

    keras_distill's datasets yield raw inputs (mnist1d signals as generated, digits
    pixels 0..16, image pixels 0..255, all as float32). The normalization lives
    inside the model, as its first layer, so that the exported `.tflite` file takes
    raw inputs exactly as the dataset provides them and an Android app feeds raw
    data without re-implementing any preprocessing.

    Use `layer()` to get a fresh Keras layer to put first in a teacher or student;
    `apply()` is the float64 NumPy reference of what that layer computes.

    Two kinds:

    - `"standardize"`: `(x - mean) / sqrt(variance)` with per-feature statistics
      of the training split, as `keras.layers.Normalization` computes it after
      `adapt()` (here the statistics are passed in directly, so no data pass is
      needed and the layer is deterministic).
    - `"rescale"`: `x * scale + offset`, as `keras.layers.Rescaling` computes it
      (for images, `scale=1/255`).

    Build one with `InputNormalization.standardize(x_train)` or
    `InputNormalization.rescale(scale)`.

    Args:
        kind: str, `"standardize"` or `"rescale"`.
        mean: tuple of float, per-feature mean (for `"standardize"`). Defaults to
            None.
        variance: tuple of float, per-feature variance (for `"standardize"`).
            Defaults to None.
        scale: float, multiplier (for `"rescale"`). Defaults to 1.0.
        offset: float, added after scaling (for `"rescale"`). Defaults to 0.0.

    Raises:
        ValueError: if `kind` is unknown, or the statistics do not fit the kind.

    Example:

    ```python
    norm = InputNormalization.rescale(1.0 / 255.0)
    inputs = keras.Input((28, 28, 1))
    x = norm.layer()(inputs)
    ```
    """

    kind: str
    mean: tuple[float, ...] | None = None
    variance: tuple[float, ...] | None = None
    scale: float = 1.0
    offset: float = 0.0

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(
                f"`kind` must be one of {_KINDS}, got {self.kind!r}. Use "
                "InputNormalization.standardize(x_train) or "
                "InputNormalization.rescale(scale)."
            )
        if self.kind == "standardize":
            if self.mean is None or self.variance is None:
                raise ValueError(
                    "kind='standardize' needs both `mean` and `variance`; build it "
                    "with InputNormalization.standardize(x_train)."
                )
            if len(self.mean) != len(self.variance):
                raise ValueError(
                    f"`mean` has {len(self.mean)} values but `variance` has "
                    f"{len(self.variance)}; they must match (one per feature)."
                )
            if min(self.variance) < 0:
                raise ValueError(
                    f"`variance` must be >= 0, got a minimum of {min(self.variance)}."
                )

    @classmethod
    def standardize(cls, x_train: np.ndarray) -> InputNormalization:
        """Per-feature standardization with statistics of `x_train`.

        Args:
            x_train: np.ndarray of shape `(num_examples, num_features)`, the raw
                training inputs.

        Returns:
            An `InputNormalization` of kind `"standardize"`.

        Raises:
            ValueError: if `x_train` is not a non-empty 2-D array.
        """
        x = np.asarray(x_train, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(
                "`x_train` must be a non-empty 2-D array (examples, features), got "
                f"shape {x.shape}."
            )
        return cls(
            kind="standardize",
            mean=tuple(float(v) for v in x.mean(axis=0)),
            variance=tuple(float(v) for v in x.var(axis=0)),
        )

    @classmethod
    def rescale(cls, scale: float, offset: float = 0.0) -> InputNormalization:
        """Rescaling `x * scale + offset`, e.g. `scale=1/255` for uint8 images.

        Args:
            scale: float, the multiplier.
            offset: float, added after scaling. Defaults to 0.0.

        Returns:
            An `InputNormalization` of kind `"rescale"`.
        """
        return cls(kind="rescale", scale=float(scale), offset=float(offset))

    def layer(self, name: str | None = None) -> keras.layers.Layer:
        """A new Keras layer that applies this normalization.

        Put it first in every model trained on the dataset (teacher and student);
        its statistics are constants saved with the model and exported to TFLite.

        Args:
            name: str, the layer's name. Defaults to None (Keras picks one).

        Returns:
            A `keras.layers.Normalization` (for `"standardize"`) or
            `keras.layers.Rescaling` (for `"rescale"`) layer.
        """
        kwargs = {} if name is None else {"name": name}
        if self.kind == "standardize":
            return keras.layers.Normalization(
                axis=-1,
                mean=np.asarray(self.mean, dtype=np.float32),
                variance=np.asarray(self.variance, dtype=np.float32),
                **kwargs,
            )
        return keras.layers.Rescaling(scale=self.scale, offset=self.offset, **kwargs)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The float64 NumPy reference of what `layer()` computes.

        Args:
            x: np.ndarray of raw inputs.

        Returns:
            np.ndarray (float64), the normalized inputs.
        """
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "standardize":
            mean = np.asarray(self.mean, dtype=np.float64)
            variance = np.asarray(self.variance, dtype=np.float64)
            # Keras' Normalization guards the square root the same way.
            epsilon = keras.backend.epsilon()
            return (x - mean) / np.maximum(np.sqrt(variance), epsilon)
        return x * self.scale + self.offset
