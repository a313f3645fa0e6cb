"""Schedules: a value per epoch, for temperature, alpha or a loss weight."""

import math

from keras_distill._compat import keras
from keras_distill._numbers import check_int
from keras_distill._numbers import check_real


class Schedule:
    """A value for each epoch: `schedule(epoch) -> float`.

    Subclasses implement `__call__` and `bounds` (the smallest and largest value
    the schedule can take), which lets `DistillationScheduler` refuse, before
    training, a schedule that would give for example a temperature <= 0. Any plain
    callable `epoch -> float` also works as a schedule; it is checked on every
    epoch of the coming `fit` when training starts.
    """

    def __call__(self, epoch: int) -> float:
        raise NotImplementedError

    def bounds(self) -> tuple:
        """`(lowest, highest)` value over all epochs."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_distill")
class Linear(Schedule):
    """Goes linearly from `start` (epoch 0) to `end` (epoch `epochs`), then stays.

    `value(e) = start + (end - start) * min(e / epochs, 1)`. Use it for a warm-up
    of a loss weight (DKD's paper ramps its loss in over 20 epochs) or to anneal
    the temperature.

    Args:
        start: float, the value at epoch 0.
        end: float, the value from epoch `epochs` on.
        epochs: int >= 1, the length of the ramp.

    Raises:
        TypeError: for a start/end that is not a number or epochs that is not
            an int.
        ValueError: for a non-finite start/end or epochs < 1.

    Example:
    >>> Linear(0.0, 1.0, epochs=4)(2)
    0.5
    """

    def __init__(self, start: float, end: float, epochs: int):
        self.start = check_real("start", start)
        self.end = check_real("end", end)
        self.epochs = check_int("epochs", epochs, 1)

    def _fraction(self, epoch):
        return min(max(epoch, 0) / self.epochs, 1.0)

    def __call__(self, epoch: int) -> float:
        return self.start + (self.end - self.start) * self._fraction(epoch)

    def bounds(self) -> tuple:
        return min(self.start, self.end), max(self.start, self.end)

    def get_config(self) -> dict:
        return {"start": self.start, "end": self.end, "epochs": self.epochs}


@keras.saving.register_keras_serializable(package="keras_distill")
class Cosine(Linear):
    """Goes from `start` to `end` along a half cosine over `epochs`, then stays.

    `value(e) = end + (start - end) * (1 + cos(pi * min(e / epochs, 1))) / 2`:
    slow at both ends, fastest in the middle.

    Args:
        start: float, the value at epoch 0.
        end: float, the value from epoch `epochs` on.
        epochs: int >= 1, the length of the schedule.

    Raises:
        TypeError: for a start/end that is not a number or epochs that is not
            an int.
        ValueError: for a non-finite start/end or epochs < 1.

    Example:
    >>> Cosine(4.0, 1.0, epochs=10)(5)
    2.5
    """

    def __call__(self, epoch: int) -> float:
        cosine = (1.0 + math.cos(math.pi * self._fraction(epoch))) / 2.0
        return self.end + (self.start - self.end) * cosine
