"""Our own magnitude-pruning engine for Keras 3 models.

TF-MOT (`tensorflow_model_optimization`) only accepts tf_keras models, so on
Keras 3 `keras_distill.compress` prunes with this engine instead. It follows
TF-MOT's algorithms (schedules in `pruning_schedule.py`, masks and their step
semantics in `magnitude_mask.py`, each citing the TF-MOT code it ports) but
keeps the student's own layers: the pruning masks live in Keras constraints on
the kernel variables, not in wrapper layers (`pruning.py`). Import the public
functions from `keras_distill.compress`.
"""
