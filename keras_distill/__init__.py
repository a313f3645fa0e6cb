"""keras_distill: distil a big Keras model into a small one that runs on a phone."""

from keras_distill import losses
from keras_distill.distiller import Distiller
from keras_distill.losses import KLDivergence
from keras_distill.losses import distillation_loss

__version__ = "0.1.0"

__all__ = [
    "Distiller",
    "KLDivergence",
    "distillation_loss",
    "losses",
]
