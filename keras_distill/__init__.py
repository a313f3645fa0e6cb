"""keras_distill: distil a big Keras model into a small one that runs on a phone.

The package, in the order a model goes through it:

- `Distiller` (distiller/): a `keras.Model` that trains a student from a frozen
  teacher, live or from outputs saved once by `cache_teacher_outputs`
  (teacher_cache.py). `losses` holds what it can match (KL, DKD, DIST, hints,
  ...), `augmentation` what it can do to each batch (Mixup, CutMix, random
  resized crops), `schedules` how its temperature, alpha and loss weights
  change over training, `continual` learning a new task without forgetting the
  old one.
- `data`: datasets as tf.data pipelines with raw inputs (MNIST-1D, digits, TFDS,
  image folders).
- `compress`: pruning and quantization-aware training (our own engine on Keras
  3, TF-MOT on tf_keras) and clustering (TF-MOT, tf_keras only).
- `export`: `.tflite` files verified in LiteRT, for Android.
- `demo`: the stages of `keras-distill demo` (cli.py), which runs all of the above.

`keras_distill.keras` is the Keras that keras_distill runs on (Keras 3, or
tf_keras when `TF_USE_LEGACY_KERAS=1`): build teachers and students with it.
`import keras_distill` registers every class that a saved Distiller or
compressed model names (augmentations, schedules, losses, the Keras 3 engine's
layers in `compress.layers`), so `keras.saving.load_model` reads those files in
a new process. `data`, `demo` and `export` are imported on first use
(`keras_distill.export` loads LiteRT, `keras_distill.data` loads TFDS), so the
import stays quick; it never imports TF-MOT.
"""

import importlib

# First, before anything imports TensorFlow: for the `keras-distill` command
# only, keeps TensorFlow's C++ start-up log off the screen (see _tf_log.py).
from keras_distill import _tf_log  # noqa: F401
from keras_distill import augmentation
from keras_distill import compress
from keras_distill import continual
from keras_distill import losses
from keras_distill import schedules
from keras_distill._compat import keras

# Registers every layer class a saved compressed model names (for load_model).
from keras_distill.compress import layers as _compress_layers  # noqa: F401
from keras_distill.distiller import Distiller
from keras_distill.losses import distillation_loss
from keras_distill.teacher_cache import cache_teacher_outputs

__version__ = "0.1.0"

# Loaded on first use: `data` imports TFDS, `export` LiteRT.
_LAZY_SUBPACKAGES = ("data", "demo", "export")

__all__ = [
    "Distiller",
    "augmentation",
    "cache_teacher_outputs",
    "compress",
    "continual",
    "distillation_loss",
    "keras",
    "losses",
    "schedules",
    *_LAZY_SUBPACKAGES,
]


def __getattr__(name):
    # PEP 562: `keras_distill.export` works after `import keras_distill` alone.
    if name in _LAZY_SUBPACKAGES:
        return importlib.import_module(f"keras_distill.{name}")
    raise AttributeError(f"module 'keras_distill' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBPACKAGES))
