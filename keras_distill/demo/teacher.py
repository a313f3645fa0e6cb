"""The demo's teacher: a `.keras` file, a cached preset teacher, or a new one.

Training the preset teacher is the slowest stage of a first run, so the trained
teacher is saved in the cache folder (`saved_models/` by default) and reused by
later runs with the same data, Keras flavour, epochs and architecture.
"""

import hashlib
import json
import os
import pathlib
import re

from keras_distill import _compat
from keras_distill.demo import presets
from keras_distill.demo.config import UsageError
from keras_distill.demo.model_files import load_model_file
from keras_distill.demo.model_files import save_model_atomic
from keras_distill.demo.training import fit

# Epochs of the preset teacher by kind of data. The MNIST-1D 1-D CNN reached
# 92.8 % in 100 epochs and 93.0 % in 150, whose student then distilled to
# 85.8 % instead of 84.1 % (one run each of `keras-distill demo`, docs/cli.md).
TEACHER_EPOCHS = {"vector": 150, "image": 30, "audio": 30, "text": 30}
FAST_TEACHER_EPOCHS = 2
TEACHER_LEARNING_RATE = 3e-3


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "data"


def architecture_key(model) -> str:
    """A short hash of a model's layers and their settings (layer names left out).

    The preset's normalization statistics are among its settings, so the key
    also changes with the data.
    """
    return _layers_key(model.layers)


def _layers_key(layers) -> str:
    settings = [
        (
            type(layer).__name__,
            {k: v for k, v in layer.get_config().items() if k != "name"},
        )
        for layer in layers
    ]
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def teacher_cache_path(
    cache_dir, data, teacher, epochs: int, augmentation=None
) -> pathlib.Path:
    """Where the preset `teacher` for `data`, trained `epochs` epochs, is cached.

    Args:
        cache_dir: str or path-like, the cache folder.
        data: the `DataBundle`.
        teacher: the (untrained) preset teacher; its architecture is hashed.
        epochs: int, its training epochs.
        augmentation: the list of augmentation layers it trains with (their
            configs are hashed), or None. Defaults to None.

    Returns:
        `<cache_dir>/teacher_<data>_<flavour>_<epochs>ep_<n>ex_<hash>.keras`,
        `n` the training examples (fewer in a `--fast` run).
    """
    # The description says how the data was made and split: a teacher trained
    # on another split may have seen today's test examples.
    split = hashlib.sha1(data.description.encode()).hexdigest()[:6]
    key = f"{architecture_key(teacher)}{split}"
    if augmentation:
        key += f"_aug{_layers_key(augmentation)[:6]}"
    examples = data.num_examples.get("train")
    run = f"{epochs}ep_{examples}ex"
    name = f"teacher_{_slug(data.name)}_{_compat.FLAVOUR}_{run}_{key}.keras"
    return pathlib.Path(cache_dir).expanduser() / name


def default_teacher_epochs(data) -> int:
    """The preset teacher's epochs for `data`."""
    return TEACHER_EPOCHS[data.modality]


def train_teacher(data, *, epochs: int, teacher=None, augmentation=None):
    """Trains a teacher on labels (no validation: the test split stays unseen).

    Args:
        data: the `DataBundle`.
        epochs: int, training epochs.
        teacher: an uncompiled model. Defaults to None (`presets.teacher_preset`).
        augmentation: list of Keras augmentation layers applied to the training
            images (`DemoMethod.teacher_augmentation`). Defaults to None.

    Returns:
        `(teacher, history)`.
    """
    teacher = presets.teacher_preset(data) if teacher is None else teacher
    history = fit(
        teacher,
        data,
        epochs=epochs,
        learning_rate=TEACHER_LEARNING_RATE,
        validate=False,
        augmentation=augmentation,
    )
    return teacher, history


def get_teacher(
    data,
    *,
    path: "str | os.PathLike | None" = None,
    cache_dir: "str | os.PathLike" = "saved_models",
    epochs: int | None = None,
    retrain: bool = False,
    augmentation=None,
):
    """The teacher: loaded from `path`, reused from the cache, or trained and cached.

    Args:
        data: the `DataBundle`.
        path: a trained teacher `.keras` file. Defaults to None (the preset).
        cache_dir: where preset teachers are cached. Defaults to "saved_models".
        epochs: int, the preset teacher's epochs. Defaults to None
            (`default_teacher_epochs`).
        retrain: bool, train even if a cached teacher exists. Defaults to False.
        augmentation: list of augmentation layers the preset teacher trains
            with; part of its cache key. Defaults to None.

    Returns:
        `(teacher, source)`, source being "file", "cache" or "trained".

    Raises:
        UsageError: a teacher file that does not exist, does not load or does not
            fit the data.

    Example:
    ```python
    teacher, source = get_teacher(load_data("mnist1d"))  # "trained", then "cache"
    ```
    """
    if path is not None:
        return load_model_file(path, data, "teacher"), "file"
    if epochs is None:
        epochs = default_teacher_epochs(data)
    teacher = presets.teacher_preset(data)
    cached = teacher_cache_path(cache_dir, data, teacher, epochs, augmentation)
    if cached.is_file() and not retrain:
        try:
            return load_model_file(cached, data, "cached teacher"), "cache"
        except UsageError as err:
            print(f"  {err}; training a new one", flush=True)
    teacher, _ = train_teacher(
        data, epochs=epochs, teacher=teacher, augmentation=augmentation
    )
    save_model_atomic(teacher, cached)
    return teacher, "trained"
