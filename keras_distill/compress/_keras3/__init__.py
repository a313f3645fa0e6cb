"""Our own compression engine for Keras 3 models: pruning and QAT.

TF-MOT (`tensorflow_model_optimization`) only accepts tf_keras models, so on
Keras 3 `keras_distill.compress` prunes and quantizes with this engine instead.
It follows TF-MOT's algorithms (schedules in `pruning_schedule.py`, masks in
`pruning.py`, the default 8-bit QAT scheme in `qat.py`, each citing the code
or paper it follows), but keeps the student's own layers where it can: pruning
masks live in Keras constraints on the kernel variables, not in wrapper layers.

This module is the engine's interface, the same as `compress/_tfmot.py`'s:
the public functions in `compress/pruning.py` and `compress/quantization.py`
check their arguments once and call these. Import the public functions from
`keras_distill.compress`.
"""

from keras_distill.compress._keras3.pruning import is_pruned
from keras_distill.compress._keras3.pruning import prune
from keras_distill.compress._keras3.pruning import pruning_callbacks
from keras_distill.compress._keras3.pruning import strip_pruning
from keras_distill.compress._keras3.pruning_schedule import ConstantSparsity
from keras_distill.compress._keras3.pruning_schedule import PolynomialDecay
from keras_distill.compress._keras3.qat import is_qat_model
from keras_distill.compress._keras3.qat import quantize

# Pruning masks kernels in place, so it needs no layer graph.
PRUNES_SUBCLASSED = True
# QAT keeps a pruned student's zeros; clustering needs TF-MOT.
PRESERVE = ("none", "sparsity")


def schedule_classes() -> tuple:
    """Our ports of TF-MOT's `(ConstantSparsity, PolynomialDecay)`."""
    return ConstantSparsity, PolynomialDecay


__all__ = [
    "PRESERVE",
    "PRUNES_SUBCLASSED",
    "is_pruned",
    "is_qat_model",
    "prune",
    "pruning_callbacks",
    "quantize",
    "schedule_classes",
    "strip_pruning",
]
