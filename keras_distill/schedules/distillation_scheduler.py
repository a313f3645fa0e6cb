"""A callback that changes temperature, alpha and loss weights during training."""

import numbers

from keras_distill._compat import keras
from keras_distill._numbers import check_alpha
from keras_distill._numbers import check_temperature
from keras_distill.distiller import Distiller
from keras_distill.losses.base import check_weight
from keras_distill.schedules.schedule import Schedule


def _as_schedule(value, argname):
    if value is None or isinstance(value, Schedule) or callable(value):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise TypeError(
        f"`{argname}` must be a Schedule (e.g. keras_distill.schedules.Linear), a "
        f"callable epoch -> value or a number; got {type(value).__name__}: "
        f"{value!r:.80}"
    )


def _value(schedule, epoch):
    return schedule if isinstance(schedule, float) else schedule(epoch)


class DistillationScheduler(keras.callbacks.Callback):
    """Sets a Distiller's temperature, alpha and loss weights at each epoch.

    At the start of each epoch it assigns the scheduled values (the Distiller keeps
    them in variables, so no recompiling); at the end of each epoch it writes the
    values used into the epoch logs as `temperature`, `alpha` and
    `<loss name>_weight` (`kl_weight`, `hint_weight`), so `History`, `CSVLogger`
    and `TensorBoard` record them.
    Put it before those callbacks in the list so they see the values.

    Schedules are functions of the epoch number, so resuming with
    `fit(initial_epoch=...)` continues them where they were. Every schedule is
    checked when training starts, for all epochs of that `fit`, before the first
    step: a temperature <= 0, an alpha outside [0, 1] or a negative weight is
    refused (for `Schedule` objects already here, from their bounds), and so is
    an alpha > 0 at any epoch when the Distiller has no student loss or the data
    has no labels: it would train with a student loss of 0.

    Args:
        temperature: `Schedule`, callable `epoch -> float` or number, or None
            to leave the temperature alone. Defaults to None.
        alpha: `Schedule`, callable or number, or None. Defaults to None.
        distillation_loss_weights: a list with one entry per distillation loss
            (each a schedule, callable, number or None to leave it), or a dict
            from loss name to schedule. A loss is named by its registry key,
            numbered when repeated (`{"kl": ..., "hint": ..., "kl_2": ...}`).
            Defaults to None.

    Raises:
        TypeError, ValueError: for an entry that is not a schedule, or a schedule
            whose values are out of range; at `fit`, for a model that is not a
            Distiller, a list whose length differs from the number of losses, or
            an alpha > 0 without a student loss or labels.

    Example:
    ```python
    from keras_distill.schedules import Cosine, DistillationScheduler, Linear
    scheduler = DistillationScheduler(temperature=Cosine(8.0, 2.0, epochs=50),
                                      alpha=Linear(0.5, 0.0, epochs=20))
    history = distiller.fit(x, y, epochs=50, callbacks=[scheduler])
    history.history["temperature"]   # one value per epoch
    ```
    """

    def __init__(self, temperature=None, alpha=None, distillation_loss_weights=None):
        super().__init__()
        self.temperature = _as_schedule(temperature, "temperature")
        self.alpha = _as_schedule(alpha, "alpha")
        weights = distillation_loss_weights
        if isinstance(weights, dict):
            self.distillation_loss_weights = {
                name: _as_schedule(s, f"distillation_loss_weights[{name!r}]")
                for name, s in weights.items()
            }
        elif weights is None or isinstance(weights, (list, tuple)):
            self.distillation_loss_weights = (
                None
                if weights is None
                else [
                    _as_schedule(s, f"distillation_loss_weights[{i}]")
                    for i, s in enumerate(weights)
                ]
            )
        else:
            raise TypeError(
                "`distillation_loss_weights` must be a list (one schedule per "
                "distillation loss) or a dict {loss name: schedule}; got "
                f"{type(weights).__name__}."
            )
        for schedule, check, argname in self._checks(self._weight_entries()):
            if isinstance(schedule, Schedule):
                for value in schedule.bounds():
                    check(value, argname)
            elif isinstance(schedule, float):
                check(schedule, argname)

    def _weight_entries(self):
        weights = self.distillation_loss_weights
        if weights is None:
            return []
        if isinstance(weights, dict):
            return list(weights.items())
        return list(enumerate(weights))

    def _checks(self, weight_entries):
        yield self.temperature, check_temperature, "temperature"
        yield self.alpha, check_alpha, "alpha"
        for key, schedule in weight_entries:
            yield schedule, check_weight, f"distillation_loss_weights[{key!r}]"

    def _weight_schedules(self, distiller):
        """One schedule (or None) per distillation loss of `distiller`."""
        names = [loss.name for loss in distiller.distillation_losses]
        weights = self.distillation_loss_weights
        if weights is None:
            return [None] * len(names)
        if isinstance(weights, dict):
            unknown = sorted(set(weights) - set(names))
            if unknown:
                raise ValueError(
                    f"`distillation_loss_weights` names losses {unknown} that the "
                    f"Distiller does not have; its losses are {names}."
                )
            return [weights.get(name) for name in names]
        if len(weights) != len(names):
            raise ValueError(
                f"`distillation_loss_weights` has {len(weights)} entries but the "
                f"Distiller has {len(names)} distillation losses {names}: give one "
                "per loss (None leaves a weight unchanged)."
            )
        return list(weights)

    def on_train_begin(self, logs=None):
        if not isinstance(self.model, Distiller):
            raise TypeError(
                "DistillationScheduler schedules a keras_distill.Distiller; it "
                f"was given to fit() of a {type(self.model).__name__}."
            )
        self._per_loss = self._weight_schedules(self.model)
        epochs = (self.params or {}).get("epochs") or 1
        entries = [(i, s) for i, s in enumerate(self._per_loss) if s is not None]
        # Check every epoch of this fit now, so a bad value fails before step 1.
        for schedule, check, argname in self._checks(entries):
            if schedule is None or isinstance(schedule, float):
                continue
            for epoch in range(epochs):
                try:
                    check(schedule(epoch), argname)
                except (TypeError, ValueError) as error:
                    raise ValueError(
                        f"The {argname} schedule gives an invalid value at epoch "
                        f"{epoch}: {error}"
                    ) from None
        largest_alpha = self._largest_alpha(epochs)
        if largest_alpha > 0 and self.model.student_loss_fn is None:
            raise ValueError(
                f"The alpha schedule reaches alpha={largest_alpha}, which weights a "
                "student loss, but the Distiller was compiled without one: it would "
                "train with student_loss 0. Pass loss=keras.losses."
                "SparseCategoricalCrossentropy(from_logits=True) to compile(), or "
                "keep the alpha schedule at 0."
            )
        # The Distiller refuses unlabelled data when any scheduled alpha is > 0
        # (its check runs once, when the step is traced, with this ceiling).
        self.model.alpha_ceiling = largest_alpha

    def _largest_alpha(self, epochs):
        if self.alpha is None:
            return 0.0
        if isinstance(self.alpha, float):
            return self.alpha
        return max(float(self.alpha(epoch)) for epoch in range(epochs))

    def on_train_end(self, logs=None):
        self.model.alpha_ceiling = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        distiller = self.model
        if self.temperature is not None:
            distiller.temperature = _value(self.temperature, epoch)
        if self.alpha is not None:
            distiller.alpha = _value(self.alpha, epoch)
        if any(s is not None for s in self._per_loss):
            current = distiller.distillation_loss_weights
            distiller.distillation_loss_weights = [
                w if s is None else _value(s, epoch)
                for w, s in zip(current, self._per_loss)
            ]

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        distiller = self.model
        logs["temperature"] = distiller.temperature
        logs["alpha"] = distiller.alpha
        for loss, weight in zip(
            distiller.distillation_losses, distiller.distillation_loss_weights
        ):
            logs[f"{loss.name}_weight"] = weight
