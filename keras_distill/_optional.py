"""Optional dependencies: imported where used, with the pip extra that installs them.

`pip install keras-distill` installs what distilling, compressing (Keras 3) and
exporting need. The rest comes with an extra (see pyproject.toml):

- `[tfmot]`: tf-keras and TF-MOT, for `TF_USE_LEGACY_KERAS=1` and clustering;
- `[tfds]`: tensorflow-datasets, for `keras_distill.data.load_tfds`;
- `[demo]`: mnist1d, scikit-learn, matplotlib, tensorboard and scipy, for
  `keras-distill demo`, the MNIST-1D, digits, image-folder and audio-folder
  (resampling) loaders, and pruning summaries;
- `[dev]`: all of them and the test tools.
"""

import importlib

# Import name -> (distribution name, extra).
OPTIONAL = {
    "matplotlib": ("matplotlib", "demo"),
    "mnist1d": ("mnist1d", "demo"),
    "scipy": ("scipy", "demo"),
    "sklearn": ("scikit-learn", "demo"),
    "tensorboard": ("tensorboard", "demo"),
    "tensorflow_datasets": ("tensorflow-datasets", "tfds"),
    "tensorflow_model_optimization": ("tensorflow-model-optimization", "tfmot"),
    "tf_keras": ("tf-keras", "tfmot"),
}


def missing_message(name: str, purpose: str) -> str:
    """What to install when the optional module `name` is missing."""
    distribution, extra = OPTIONAL[name]
    return (
        f"{purpose} needs the `{distribution}` package, which is not installed. "
        f"Install it with `pip install 'keras-distill[{extra}]'` (from a "
        f"checkout: `pip install -e '.[{extra}]'`)."
    )


def require(name: str, purpose: str):
    """Imports the optional module `name` (e.g. `"sklearn.model_selection"`).

    Args:
        name: str, the module to import; its top-level package must be in
            `OPTIONAL`.
        purpose: str, what needs it, for the error message ("MNIST-1D").

    Returns:
        The imported module.

    Raises:
        ImportError: the package is not installed; the message names the pip
            extra that installs it.

    Example:
    >>> require("numpy.linalg", "a test").__name__
    'numpy.linalg'
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        top = name.split(".")[0]
        if top not in OPTIONAL or error.name not in (top, name):
            raise
        raise ImportError(missing_message(top, purpose)) from error
