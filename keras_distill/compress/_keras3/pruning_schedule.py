"""When to prune, and to what sparsity: TF-MOT's pruning schedules on keras.ops.

A port of TF-MOT's `tensorflow_model_optimization/python/core/sparsity/keras/
pruning_schedule.py` (`PruningSchedule`, `ConstantSparsity`, `PolynomialDecay`):
same constructor arguments, same validation, and `schedule(step)` returns the
same `(should_prune, sparsity)` pair, a bool and a float32 scalar, computed with
the same float32 arithmetic. The step may be a Python int or an integer tensor
(e.g. `optimizer.iterations` inside a compiled train step).

The one difference: `get_config()` returns the constructor arguments (the Keras
convention, so `keras.saving.serialize_keras_object` works), where TF-MOT nests
them as `{"class_name": ..., "config": {...}}`.
"""

from keras_distill._compat import keras

ops = keras.ops


@keras.saving.register_keras_serializable(package="keras_distill")
class PruningSchedule:
    """Says at each training step whether to prune, and to what sparsity.

    Subclass it for a schedule of your own: implement `__call__(step)` and
    `get_config()`. The helpers below are TF-MOT's and define the pruning range
    `[begin_step, end_step]` (`end_step=-1`: no end) and the `frequency`.

    Example:
    >>> should_prune, sparsity = ConstantSparsity(0.5, begin_step=0)(200)
    >>> bool(should_prune), float(sparsity)
    (True, 0.5)
    """

    def __call__(self, step):
        """Returns `(should_prune, sparsity)` for the training step `step`.

        Args:
            step: int or integer scalar tensor, the training step.

        Returns:
            A bool scalar tensor (whether the masks are updated at `step`) and a
            float32 scalar tensor (the fraction of each kernel to set to zero).
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement __call__(step)."
        )

    def get_config(self) -> dict:
        """The constructor arguments, so that `from_config` rebuilds it."""
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    @staticmethod
    def _should_prune_in_step(step, begin_step, end_step, frequency):
        """TF-MOT: in [begin_step, end_step] (or no end) and a multiple of
        `frequency` steps after `begin_step`."""
        in_range = ops.logical_and(
            ops.greater_equal(step, begin_step),
            ops.logical_or(ops.less_equal(step, end_step), end_step < 0),
        )
        # ops.mod is a floor modulo, like TF-MOT's tf.math.floormod.
        is_turn = ops.equal(ops.mod(step - begin_step, frequency), 0)
        return ops.logical_and(in_range, is_turn)

    @staticmethod
    def _validate_step(begin_step, end_step, frequency, allow_negative_1):
        # TF-MOT's checks and messages, so its own tests apply unchanged.
        if begin_step < 0:
            raise ValueError("begin_step should be >= 0")
        if not allow_negative_1 and end_step == -1:
            raise ValueError("end_step cannot be -1.")
        if end_step != -1:
            if end_step < 0:
                raise ValueError("end_step can be -1 or >= 0")
            if end_step < begin_step:
                raise ValueError("begin_step should be <= end_step if end_step != -1")
        if frequency <= 0:
            raise ValueError("frequency should be > 0")

    @staticmethod
    def _validate_sparsity(sparsity, name):
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"{name} must be in range [0,1)")


@keras.saving.register_keras_serializable(package="keras_distill")
class ConstantSparsity(PruningSchedule):
    """Prunes to the same sparsity every `frequency` steps (TF-MOT's schedule).

    Use it for a fixed target from the start (e.g. 2:4 structure), or after a
    dense phase with `begin_step`.

    Args:
        target_sparsity: float in [0, 1), the fraction of each kernel set to
            zero at every update.
        begin_step: int >= 0, the first step at which masks are updated.
        end_step: int, the last step at which masks are updated; -1 never
            stops. Defaults to -1.
        frequency: int >= 1, steps between mask updates. Defaults to 100.

    Raises:
        ValueError: an argument outside the ranges above (TF-MOT's messages).

    Example:
    >>> schedule = ConstantSparsity(0.8, begin_step=100, frequency=50)
    >>> [bool(schedule(step)[0]) for step in (50, 100, 120, 150)]
    [False, True, False, True]
    """

    def __init__(self, target_sparsity, begin_step, end_step=-1, frequency=100):
        self.target_sparsity = target_sparsity
        self.begin_step = begin_step
        self.end_step = end_step
        self.frequency = frequency
        self._validate_step(begin_step, end_step, frequency, True)
        self._validate_sparsity(target_sparsity, "target_sparsity")

    def __call__(self, step):
        return (
            self._should_prune_in_step(
                step, self.begin_step, self.end_step, self.frequency
            ),
            ops.convert_to_tensor(self.target_sparsity, dtype="float32"),
        )

    def get_config(self) -> dict:
        return {
            "target_sparsity": self.target_sparsity,
            "begin_step": self.begin_step,
            "end_step": self.end_step,
            "frequency": self.frequency,
        }


@keras.saving.register_keras_serializable(package="keras_distill")
class PolynomialDecay(PruningSchedule):
    """Raises sparsity along a polynomial curve (TF-MOT's schedule).

    Zhu & Gupta, "To prune, or not to prune" (2017, arXiv:1710.01878):

        p = clip((step - begin_step) / (end_step - begin_step), 0, 1)
        sparsity = final + (initial - final) * (1 - p) ** power

    With the default cubic power most weights go early, while the network is
    still plastic, and the last few go slowly so that it can recover.

    Args:
        initial_sparsity: float in [0, 1), the sparsity at `begin_step`.
        final_sparsity: float in [0, 1), the sparsity from `end_step` on.
        begin_step: int >= 0, the first step at which masks are updated.
        end_step: int >= begin_step, the last step at which masks are updated.
        power: number, the exponent of the curve. Defaults to 3.
        frequency: int >= 1, steps between mask updates. Defaults to 100.

    Raises:
        ValueError: an argument outside the ranges above (TF-MOT's messages).

    Example:
    >>> schedule = PolynomialDecay(0.2, 0.8, begin_step=100, end_step=110,
    ...                            frequency=2)
    >>> round(float(schedule(102)[1]), 4)
    0.4928
    """

    def __init__(
        self,
        initial_sparsity,
        final_sparsity,
        begin_step,
        end_step,
        power=3,
        frequency=100,
    ):
        self.initial_sparsity = initial_sparsity
        self.final_sparsity = final_sparsity
        self.power = power
        self.begin_step = begin_step
        self.end_step = end_step
        self.frequency = frequency
        self._validate_step(begin_step, end_step, frequency, False)
        self._validate_sparsity(initial_sparsity, "initial_sparsity")
        self._validate_sparsity(final_sparsity, "final_sparsity")

    def __call__(self, step):
        # float32 throughout, in TF-MOT's order of operations, so that the
        # sparsity (and so k = round(size * (1 - sparsity))) is bit-identical.
        p = ops.divide(
            ops.cast(ops.convert_to_tensor(step) - self.begin_step, "float32"),
            ops.convert_to_tensor(self.end_step - self.begin_step, "float32"),
        )
        p = ops.minimum(1.0, ops.maximum(0.0, p))
        sparsity = ops.add(
            ops.multiply(
                ops.convert_to_tensor(
                    self.initial_sparsity - self.final_sparsity, "float32"
                ),
                ops.power(1.0 - p, ops.convert_to_tensor(self.power, "float32")),
            ),
            ops.convert_to_tensor(self.final_sparsity, "float32"),
        )
        return (
            self._should_prune_in_step(
                step, self.begin_step, self.end_step, self.frequency
            ),
            sparsity,
        )

    def get_config(self) -> dict:
        return {
            "initial_sparsity": self.initial_sparsity,
            "final_sparsity": self.final_sparsity,
            "begin_step": self.begin_step,
            "end_step": self.end_step,
            "power": self.power,
            "frequency": self.frequency,
        }
