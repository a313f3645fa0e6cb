"""Schedules for temperature, alpha and loss weights, and the callback applying them."""

from keras_distill.schedules.distillation_scheduler import DistillationScheduler
from keras_distill.schedules.schedule import Cosine
from keras_distill.schedules.schedule import Linear
from keras_distill.schedules.schedule import Schedule

__all__ = ["Cosine", "DistillationScheduler", "Linear", "Schedule"]
