"""Exporting a Keras student as a TensorFlow SavedModel folder."""

import os
import pathlib
import re

import tensorflow as tf

from keras_distill import _atomic
from keras_distill import _compat
from keras_distill.export.convert import DEFAULT_DIR


def default_saved_model_path(model) -> pathlib.Path:
    """`saved_models/<model name>_saved_model` under the working directory."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.name) or "model"
    return pathlib.Path.cwd() / DEFAULT_DIR / f"{name}_saved_model"


def export_saved_model(model, path: "str | os.PathLike | None" = None) -> pathlib.Path:
    """Writes `model` as an inference SavedModel folder, replacing it atomically.

    Use a SavedModel for TensorFlow Serving, TF.js or a later conversion with
    your own converter settings; for Android use `export_tflite`. The folder has
    a `serving_default` signature that takes raw examples and returns the
    model's outputs in inference mode. Keras 3 models go through `model.export`,
    tf_keras models through `tf.saved_model.save`.

    The folder is written into a temporary sibling and renamed into place, so a
    failed export leaves any previous folder at `path` untouched.

    Args:
        model: a Keras model of the flavour keras_distill runs on.
        path: the folder to write, relative to the working directory or
            absolute; missing parents are created. Defaults to None, which means
            `saved_models/<model.name>_saved_model`.

    Returns:
        The absolute path of the folder.

    Raises:
        TypeError: `model` is not a Keras model of the flavour in use.
        ValueError: `path` cannot be written or is an existing file.

    Example:

    >>> folder = export_saved_model(student, "saved_models/student")
    >>> folder.name
    'student'
    >>> serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    """
    _compat.check_model(model, "model")
    if path is None:
        path = default_saved_model_path(model)
    target = _atomic.resolve_output_path(path, argname="path")
    created = _atomic.prepare_output_path(target, argname="path", is_dir=True)
    try:
        with _atomic.atomic_directory(target) as staging:
            if _compat.LEGACY_KERAS:
                tf.saved_model.save(model, str(staging))
            else:
                model.export(str(staging), format="tf_saved_model", verbose=False)
    except BaseException:
        _atomic.remove_created_dirs(created)
        raise
    return target
