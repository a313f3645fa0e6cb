"""Pruning, quantization-aware training and clustering of a student (TF-MOT).

Thin layers over the TensorFlow Model Optimization Toolkit, which works only
with tf_keras: set `TF_USE_LEGACY_KERAS=1` before TensorFlow is imported. On
Keras 3 every TF-MOT function raises a RuntimeError saying so; `sparsity_report`
and `pruning_end_step` work on both.
"""

from keras_distill.compress.clustering import cluster
from keras_distill.compress.clustering import strip_clustering
from keras_distill.compress.pruning import prune
from keras_distill.compress.pruning import pruning_callbacks
from keras_distill.compress.pruning import pruning_end_step
from keras_distill.compress.pruning import strip_pruning
from keras_distill.compress.quantization import quantize
from keras_distill.compress.sparsity_report import sparsity_report

__all__ = [
    "cluster",
    "prune",
    "pruning_callbacks",
    "pruning_end_step",
    "quantize",
    "sparsity_report",
    "strip_clustering",
    "strip_pruning",
]
