"""Pruning, quantization-aware training and clustering of a student.

One API on both Keras flavours: on Keras 3 our own engine prunes and quantizes
(`compress/_keras3/`), on tf_keras TF-MOT does (`compress/_tfmot.py`); the
model's Keras picks the engine (`compress/_engine.py`). Clustering needs
TF-MOT, so tf_keras only.
"""

from keras_distill.compress._engine import engine_name
from keras_distill.compress.clustering import cluster
from keras_distill.compress.clustering import strip_clustering
from keras_distill.compress.pruning import prune
from keras_distill.compress.pruning import pruning_callbacks
from keras_distill.compress.pruning import pruning_end_step
from keras_distill.compress.pruning import strip_pruning
from keras_distill.compress.quantization import calibrate
from keras_distill.compress.quantization import quantize
from keras_distill.compress.sparsity_report import sparsity_report

__all__ = [
    "calibrate",
    "cluster",
    "engine_name",
    "prune",
    "pruning_callbacks",
    "pruning_end_step",
    "quantize",
    "sparsity_report",
    "strip_clustering",
    "strip_pruning",
]
