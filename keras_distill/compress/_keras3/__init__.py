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

# Pruning masks kernels in place, so it needs no layer graph.
PRUNES_SUBCLASSED = True


def make_schedule(
    kind: str,
    *,
    target_sparsity: float,
    initial_sparsity: float,
    begin_step: int,
    end_step: int | None,
    frequency: int,
):
    """Our port of TF-MOT's `ConstantSparsity` or `PolynomialDecay`."""
    if kind == "constant":
        return ConstantSparsity(
            target_sparsity,
            begin_step=begin_step,
            end_step=-1 if end_step is None else end_step,
            frequency=frequency,
        )
    return PolynomialDecay(
        initial_sparsity=initial_sparsity,
        final_sparsity=target_sparsity,
        begin_step=begin_step,
        end_step=end_step,
        frequency=frequency,
    )


__all__ = [
    "PRUNES_SUBCLASSED",
    "is_pruned",
    "make_schedule",
    "prune",
    "pruning_callbacks",
    "strip_pruning",
]
