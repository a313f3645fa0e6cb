"""MNIST-1D, generated offline with the generator's default arguments and cached."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import random
import warnings
import zipfile

import numpy as np

from keras_distill._optional import require
from keras_distill.data._checks import check_batch_size
from keras_distill.data._checks import check_fraction
from keras_distill.data._checks import check_seed
from keras_distill.data.cache import CACHE_ENV_VAR
from keras_distill.data.cache import cache_dir as resolve_cache_dir
from keras_distill.data.cache import save_npz_atomically
from keras_distill.data.data_bundle import DataBundle
from keras_distill.data.input_normalization import InputNormalization
from keras_distill.data.pipeline import bundle_from_arrays

MNIST1D_CLASS_NAMES = tuple(str(digit) for digit in range(10))
_ARRAY_KEYS = ("x", "y", "x_test", "y_test")


def _mnist1d_data():
    return require("mnist1d.data", "MNIST-1D")


def _default_args() -> dict:
    args = _mnist1d_data().get_dataset_args(as_dict=True)
    # The download URL does not change the generated data.
    return {key: value for key, value in args.items() if key != "url"}


def _cache_file_name(args: dict) -> str:
    version = importlib.metadata.version("mnist1d")
    digest = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()
    return f"mnist1d-{version}-{digest[:12]}.npz"


def _expected_shapes(args: dict) -> dict[str, tuple[int, ...]]:
    # Mirrors make_dataset: whole classes of num_samples // 10, then train_split.
    total = (args["num_samples"] // 10) * 10
    n_train = int(total * args["train_split"])
    length = args["final_seq_length"]
    return {
        "x": (n_train, length),
        "y": (n_train,),
        "x_test": (total - n_train, length),
        "y_test": (total - n_train,),
    }


def _generate() -> dict[str, np.ndarray]:
    # make_dataset reseeds the global `random` and NumPy generators with the
    # dataset seed; restore them so loading data does not change a caller's
    # random stream.
    python_state, numpy_state = random.getstate(), np.random.get_state()
    mnist1d_data = _mnist1d_data()
    try:
        data = mnist1d_data.make_dataset(mnist1d_data.get_dataset_args())
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return {key: np.asarray(data[key]) for key in _ARRAY_KEYS}


def _read_cache(path, args: dict) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing, unreadable or stale."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as cached:
            if str(cached["args_json"]) != json.dumps(args, sort_keys=True):
                return None
            arrays = {key: cached[key] for key in _ARRAY_KEYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        warnings.warn(
            f"Ignoring the unreadable MNIST-1D cache file {path} ({err}); "
            "regenerating it.",
            stacklevel=3,
        )
        return None
    expected = _expected_shapes(args)
    if any(arrays[key].shape != expected[key] for key in _ARRAY_KEYS):
        warnings.warn(
            f"Ignoring the MNIST-1D cache file {path}: its arrays have unexpected "
            "shapes; regenerating it.",
            stacklevel=3,
        )
        return None
    return arrays


def mnist1d_arrays(
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, np.ndarray]:
    """The MNIST-1D arrays from `make_dataset(get_dataset_args())`, cached on disk.

    Generation with the default arguments (seed 42) is deterministic and takes
    about a second; the arrays are then saved (atomically) as
    `<cache dir>/mnist1d-<version>-<args hash>.npz` and later calls read them.
    The file name changes when the mnist1d version or its default arguments do.

    Args:
        cache_dir: str or path-like, the cache directory. Defaults to None
            (`$KERAS_DISTILL_CACHE`, else `$XDG_CACHE_HOME/keras_distill`, else
            `~/.cache/keras_distill`).

    Returns:
        A dict with `x` (4000, 40) float64, `y` (4000,) int64, `x_test`
        (1000, 40) float64 and `y_test` (1000,) int64, exactly as generated.

    Example:

    ```python
    arrays = mnist1d_arrays()
    arrays["x"].shape  # (4000, 40)
    ```
    """
    args = _default_args()
    path = resolve_cache_dir(cache_dir) / _cache_file_name(args)
    arrays = _read_cache(path, args)
    if arrays is not None:
        return arrays
    arrays = _generate()
    try:
        save_npz_atomically(
            path, args_json=np.asarray(json.dumps(args, sort_keys=True)), **arrays
        )
    except OSError as err:
        # Caching only saves a second next time; the data itself is fine.
        warnings.warn(
            f"Could not cache MNIST-1D in {path.parent} ({err}); it will be "
            f"regenerated next time. Set ${CACHE_ENV_VAR} to a writable directory "
            "to cache it.",
            stacklevel=2,
        )
    return arrays


def load_mnist1d(
    *,
    batch_size: int = 32,
    seed: int = 0,
    validation_fraction: float = 0.0,
    cache_dir: str | os.PathLike | None = None,
) -> DataBundle:
    """MNIST-1D as tf.data pipelines: 40 float features, 10 classes, offline.

    The data are generated by the `mnist1d` package with its default arguments
    (`make_dataset(get_dataset_args())`, generator seed 42) and its own split:
    4000 training and 1000 test examples, so results compare with published
    MNIST-1D numbers. Inputs are raw as generated (the generator already centers
    the whole dataset to mean 0, std 1; values lie in about [-5.5, 4.6]). The
    suggested normalization standardizes each of the 40 features with training
    statistics.

    Args:
        batch_size: int, examples per batch. Defaults to 32.
        seed: int, seed of the training shuffle and of the validation split (not
            of the generator, which keeps its default). Defaults to 0.
        validation_fraction: float in [0, 1), the stratified part of the 4000
            training examples held out as `validation`. Defaults to 0.0 (none).
        cache_dir: str or path-like, where the generated arrays are cached.
            Defaults to None (see `mnist1d_arrays`).

    Returns:
        A `DataBundle` with input_shape `(40,)`, 10 classes named "0".."9",
        float32 inputs, int32 labels, and the NumPy arrays.

    Raises:
        TypeError: if an argument is not a number (or an integer where one is
            needed).
        ValueError: if an argument is out of range.

    Example:

    ```python
    data = load_mnist1d(batch_size=64)
    data.x_train.shape, data.x_test.shape  # (4000, 40), (1000, 40)
    ```
    """
    batch_size = check_batch_size(batch_size)
    seed = check_seed(seed)
    validation_fraction = check_fraction(
        "validation_fraction", validation_fraction, allow_zero=True
    )
    arrays = mnist1d_arrays(cache_dir)
    version = importlib.metadata.version("mnist1d")
    return bundle_from_arrays(
        "mnist1d",
        x_train=arrays["x"],
        y_train=arrays["y"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        class_names=MNIST1D_CLASS_NAMES,
        normalization_for=InputNormalization.standardize,
        batch_size=batch_size,
        seed=seed,
        validation_fraction=validation_fraction,
        description=(
            f"MNIST-1D generated offline by mnist1d {version} with its default "
            "arguments (generator seed 42) and its own split: "
            f"{len(arrays['y'])} train / {len(arrays['y_test'])} test."
        ),
        signal=True,
    )
