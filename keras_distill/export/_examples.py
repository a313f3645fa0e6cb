"""Turning user data (NumPy arrays or tf.data) into checked arrays of examples.

Export needs examples twice: representative data to calibrate full-integer
quantization, and evaluation data to verify the exported file. Both must look
exactly like the model's input, raw as the dataset provides it (normalization
lives inside the model), so both go through the same checks here, before any
conversion starts.
"""

import numpy as np
import tensorflow as tf

Shape = tuple  # of int or None; the first (batch) entry is ignored


def model_input_spec(model, argname: str = "model") -> tuple[Shape, np.dtype]:
    """The input shape (batch first) and NumPy dtype of a single-input model.

    Raises:
        ValueError: if the model has no defined input or several inputs.
    """
    try:
        inputs = model.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise ValueError(
            f"`{argname}` has no defined input (a subclassed model that was never "
            "built on keras.Input). Export a Functional or Sequential model whose "
            "first layer is keras.Input(shape=...)."
        )
    if len(inputs) != 1:
        raise ValueError(
            f"`{argname}` has {len(inputs)} inputs; export and verification take "
            "single-input classifiers (one tensor of raw examples in, logits out)."
        )
    tensor = inputs[0]
    shape = tuple(None if d is None else int(d) for d in tensor.shape)
    return shape, np.dtype(tf.as_dtype(tensor.dtype).as_numpy_dtype)


def model_num_classes(model, argname: str = "model") -> int | None:
    """The size of the last axis of a single-output model, if it is known."""
    try:
        outputs = model.outputs
    except AttributeError:
        outputs = None
    if not outputs or len(outputs) != 1:
        return None
    last = outputs[0].shape[-1]
    return None if last is None else int(last)


def _shape_text(shape: Shape) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"


def _check_shape(x: np.ndarray, input_shape: Shape, argname: str) -> None:
    expected = (None, *input_shape[1:])
    matches = x.ndim == len(expected) and all(
        want is None or got == want
        for got, want in zip(x.shape[1:], expected[1:], strict=True)
    )
    if not matches:
        raise ValueError(
            f"`{argname}` has examples of shape {tuple(x.shape)}, but the model "
            f"takes inputs of shape {_shape_text(expected)}. Pass raw examples "
            "exactly as the model's keras.Input expects them, stacked along the "
            "first axis."
        )
    if x.shape[0] == 0:
        raise ValueError(f"`{argname}` is empty; pass at least one example.")


def check_dtype(x: np.ndarray, input_dtype: np.dtype, argname: str) -> None:
    """Checks `x` can be fed to an input of `input_dtype` without losing meaning.

    Integer data feeds a float input (raw pixels into a model that rescales);
    float data does not feed an integer input, and strings, booleans and complex
    numbers feed nothing.

    Raises:
        TypeError: if the dtypes do not fit.
        ValueError: if float data holds NaN or infinity.
    """
    allowed, wanted = ("fiu", "float or integer")
    if input_dtype.kind != "f":
        allowed, wanted = ("iu", "integer")
    if x.dtype.kind not in allowed:
        raise TypeError(
            f"`{argname}` has dtype {x.dtype}, but the model's input is "
            f"{input_dtype}. Pass {wanted} arrays of raw examples, as the dataset "
            "provides them."
        )
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(
            f"`{argname}` contains NaN or infinite values; clean the data first."
        )


def _dataset_examples(
    dataset: tf.data.Dataset, input_shape: Shape, argname: str, limit: int | None
):
    xs, ys, count = [], [], 0
    for element in dataset.as_numpy_iterator():
        if isinstance(element, dict):
            raise TypeError(
                f"`{argname}` is a tf.data.Dataset of dicts (keys "
                f"{sorted(element)}); map it to `x` or `(x, y)` tuples first, e.g. "
                "tfds.load(..., as_supervised=True)."
            )
        if isinstance(element, (tuple, list)):
            x, y = element[0], element[1] if len(element) > 1 else None
        else:
            x, y = element, None
        x = np.asarray(x)
        if x.ndim == len(input_shape) - 1:  # an unbatched dataset
            x = x[np.newaxis]
            y = None if y is None else np.asarray(y)[np.newaxis]
        _check_shape(x, input_shape, argname)
        xs.append(x)
        if y is not None:
            ys.append(np.asarray(y))
        count += len(x)
        if limit is not None and count >= limit:
            break
    if not xs:
        raise ValueError(f"`{argname}` is an empty dataset; it yielded no examples.")
    x = np.concatenate(xs)[:limit]
    y = np.concatenate(ys)[:limit] if len(ys) == len(xs) else None
    return x, y


def collect_examples(
    data,
    *,
    input_shape: Shape,
    input_dtype: np.dtype,
    argname: str,
    limit: int | None = None,
    seed: int = 0,
):
    """Checks and gathers examples from a NumPy array or a tf.data.Dataset.

    Args:
        data: an array of examples `(N, *input_shape[1:])`, or a tf.data.Dataset of
            `x` or `(x, y)` elements, batched or not.
        input_shape: the model's input shape, batch first.
        input_dtype: the model's input dtype.
        argname: the argument's name, for error messages.
        limit: draw at most this many examples: a seeded random subset of an
            array, the first ones of a dataset (datasets are usually shuffled).
            Defaults to None, all of them.
        seed: the seed of the random subset. Defaults to 0.

    Returns:
        `(x, y)`: the examples in their own dtype, and the labels the dataset gave
        (None for arrays and label-free datasets).

    Raises:
        TypeError: for data that is neither, dicts, or unusable dtypes.
        ValueError: for wrong shapes, empty data, NaN or infinity.
    """
    if isinstance(data, tf.data.Dataset):
        x, y = _dataset_examples(data, input_shape, argname, limit)
    else:
        if isinstance(data, (dict, tuple)):
            raise TypeError(
                f"`{argname}` must be an array of examples or a tf.data.Dataset, "
                f"got a {type(data).__name__}. Pass the x array alone."
            )
        x, y = np.asarray(data), None
        if x.dtype == object:
            raise TypeError(
                f"`{argname}` could not be read as a numeric array (ragged or "
                "mixed elements); pass a NumPy array of examples of one shape."
            )
        _check_shape(x, input_shape, argname)
        if limit is not None and len(x) > limit:
            chosen = np.random.default_rng(seed).choice(len(x), limit, replace=False)
            x = x[np.sort(chosen)]
    check_dtype(x, input_dtype, argname)
    return x, y


def class_ids(y, *, num_examples: int, num_classes: int, argname: str) -> np.ndarray:
    """Integer class ids from sparse (N,) / (N, 1) or one-hot (N, C) labels.

    Raises:
        ValueError: for a wrong length or shape, or ids outside [0, num_classes).
        TypeError: for non-numeric labels.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"`{argname}` must hold numeric class labels, got {y.dtype}.")
    if len(y) != num_examples:
        raise ValueError(
            f"`{argname}` has {len(y)} labels for {num_examples} examples; pass one "
            "label per example."
        )
    if y.ndim == 2 and y.shape[1] == num_classes and num_classes > 1:
        return y.argmax(axis=1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"`{argname}` has shape {y.shape}; pass sparse labels (N,) or one-hot "
            f"labels (N, {num_classes})."
        )
    if not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(
            f"`{argname}` must be integer class ids in [0, {num_classes}); got values "
            f"from {y.min()} to {y.max()}."
        )
    return y.astype(np.int64)
