"""The Distiller and the pieces it is built from.

- `model.py`: `Distiller(keras.Model)`, its `train_step` and `test_step`.
- `_checks.py`: checks of the models, teacher weights and data it is given.
- `_inspect.py`: what a model looks like (input/output shapes, a final softmax,
  a loss that expects probabilities, an augmentation).
- `_loss_setup.py`: names, feature taps and shapes of its losses.
- `_compile_arguments.py`: what `compile` resolves (keras.io's arguments too).
- `_loss_terms.py`: the terms of the loss each step computes.
- `_reduction.py`: per-example losses and their reduction across replicas.
- `_taps.py`: models that also return the intermediate features a loss needs.
- `_config.py`: saving and loading (`get_config`, `from_config`).
"""

from keras_distill.distiller.model import Distiller

__all__ = ["Distiller"]
