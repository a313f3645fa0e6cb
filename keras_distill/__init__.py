"""keras_distill: distil a big Keras model into a small one that runs on a phone.

The package, in the order a model goes through it:

- `Distiller` (distiller.py): a `keras.Model` that trains a student from a frozen
  teacher, live or from outputs saved once by `cache_teacher_outputs`
  (teacher_cache.py). `losses` holds what it can match (KL, DKD, DIST, hints,
  ...), `augmentation` what it can do to each batch (Mixup), `schedules` how its
  temperature, alpha and loss weights change over training, `continual` learning
  a new task without forgetting the old one.
- `data`: datasets as tf.data pipelines with raw inputs (MNIST-1D, digits, TFDS,
  image folders).
- `compress`: pruning, quantization-aware training and clustering (TF-MOT,
  tf_keras only).
- `export`: `.tflite` files verified in LiteRT, for Android.
- `demo`: the stages of `keras-distill demo` (cli.py), which runs all of the above.

Subpackages other than `losses` are imported on first use (`keras_distill.export`
loads LiteRT, `keras_distill.data` loads TFDS), so `import keras_distill` stays
quick and never imports TF-MOT.
"""

import importlib

# First, before anything imports TensorFlow: for the `keras-distill` command
# only, keeps TensorFlow's C++ start-up log off the screen (see _tf_log.py).
from keras_distill import _tf_log  # noqa: F401
from keras_distill import losses
from keras_distill.distiller import Distiller
from keras_distill.losses import KLDivergence
from keras_distill.losses import distillation_loss
from keras_distill.teacher_cache import cache_teacher_outputs

__version__ = "0.1.0"

_LAZY_SUBPACKAGES = (
    "augmentation",
    "compress",
    "continual",
    "data",
    "demo",
    "export",
    "schedules",
)

__all__ = [
    "Distiller",
    "KLDivergence",
    "cache_teacher_outputs",
    "distillation_loss",
    "losses",
    *_LAZY_SUBPACKAGES,
]


def __getattr__(name):
    # PEP 562: `keras_distill.export` works after `import keras_distill` alone.
    if name in _LAZY_SUBPACKAGES:
        return importlib.import_module(f"keras_distill.{name}")
    raise AttributeError(f"module 'keras_distill' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBPACKAGES))
