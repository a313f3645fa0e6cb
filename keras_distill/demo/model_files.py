"""`.keras` files given to the demo: loaded, checked against the data, saved safely."""

import json
import os
import pathlib
import zipfile

from keras_distill import _atomic
from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.demo.config import UsageError
from keras_distill.demo.dataset import one_line
from keras_distill.export._examples import model_input_spec
from keras_distill.export._examples import model_num_classes


def check_fits(model, data, argname: str) -> None:
    """Checks that `model` reads `data`'s raw inputs and predicts its classes.

    Args:
        model: a Keras model.
        data: the `DataBundle` it will be trained or evaluated on.
        argname: str, what the model is called in messages ("teacher", ...).

    Raises:
        UsageError: the input shape or the number of outputs does not match,
            or the model has no single defined input.
    """
    try:
        shape, _ = model_input_spec(model, argname)
    except ValueError as err:
        raise UsageError(one_line(err)) from None
    input_shape = tuple(shape[1:])
    num_classes = model_num_classes(model, argname)
    expected = tuple(data.input_shape)
    # A free dimension (None: e.g. a fully convolutional model) takes any size.
    fits = len(input_shape) == len(expected) and all(
        size is None or size == want for size, want in zip(input_shape, expected)
    )
    if not fits or num_classes != data.num_classes:
        raise UsageError(
            f"{argname} {model.name!r} takes inputs {input_shape} and predicts "
            f"{num_classes} classes, but dataset {data.name!r} has inputs "
            f"{expected} and {data.num_classes} classes"
            + _image_size_hint(input_shape, expected)
        )


def _image_size_hint(input_shape, expected) -> str:
    """How to load the images at the model's size, when only the size differs."""
    if len(input_shape) != 3 or len(expected) != 3 or None in input_shape:
        return ""
    height, width, channels = input_shape
    if channels != expected[2] or height != width or input_shape == expected:
        return ""
    return (
        f"; the model reads {height}x{width} images: pass --image-size {height} "
        "to load the images at its size"
    )


def load_model_file(path: "str | os.PathLike", data, argname: str):
    """Loads a `.keras` file named on the command line, checked against `data`.

    Args:
        path: str or path-like, the `.keras` file.
        data: the `DataBundle` the model must fit.
        argname: str, what the model is called in messages ("teacher", ...).

    Returns:
        The model, not compiled.

    Raises:
        UsageError: the file is missing, does not load in this Keras flavour,
            holds no model, or does not fit the data.
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"{argname} file {str(path)!r} does not exist")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001 - any load failure is a bad file
        raise UsageError(
            f"{argname} file {str(path)!r} does not load as a {_compat.flavour_name()} "
            f"model: {_flavour_hint(path) or one_line(err)[:300]}"
        ) from None
    if not isinstance(model, keras.Model):
        raise UsageError(f"{argname} file {str(path)!r} holds no Keras model")
    check_fits(model, data, argname)
    return model


def saved_keras_version(path: "str | os.PathLike") -> str | None:
    """The Keras version a `.keras` file was saved with (its `metadata.json`)."""
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = json.loads(archive.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return version if isinstance(version, str) else None


def _flavour_hint(path) -> str | None:
    """Why a `.keras` file of the other Keras does not load, and the switch."""
    version = saved_keras_version(path)
    if version is None:
        return None
    if version.startswith("3.") and _compat.LEGACY_KERAS:
        return (
            f"it was saved by Keras {version}, and a Keras 3 file does not load in "
            "tf_keras. Run without TF_USE_LEGACY_KERAS (unset it, or set it to 0) "
            "to use Keras 3, where pruning and QAT run on keras_distill's own "
            "engine"
        )
    if version.startswith("2.") and not _compat.LEGACY_KERAS:
        return (
            f"it was saved by tf_keras {version}, and a tf_keras file does not load "
            "in Keras 3. Set TF_USE_LEGACY_KERAS=1 before starting Python to use "
            "tf_keras, or load it there and save the model again with Keras 3"
        )
    return None


def save_model_atomic(model, path: "str | os.PathLike") -> bool:
    """Saves `model` as a `.keras` file atomically (see `_atomic.atomic_file`).

    A cache that cannot be written is not worth stopping the demo for: the
    reason is printed and False returned.

    Returns:
        Whether the file was written.
    """
    path = pathlib.Path(path).absolute()
    try:
        _atomic.prepare_output_path(path, argname="cache")
    except ValueError as err:
        print(f"  (not saved: {one_line(err)})", flush=True)
        return False
    with _atomic.atomic_file(path, suffix=".keras") as tmp:
        model.save(tmp)
    return True
