"""Continual learning with distillation: learn new tasks without forgetting old ones."""

from keras_distill.continual.learning_without_forgetting import (
    LearningWithoutForgetting,
)
from keras_distill.continual.learning_without_forgetting import add_task_head
from keras_distill.continual.learning_without_forgetting import (
    learning_without_forgetting,
)

__all__ = [
    "LearningWithoutForgetting",
    "add_task_head",
    "learning_without_forgetting",
]
