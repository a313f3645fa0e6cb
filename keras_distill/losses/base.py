"""The base class every distillation loss derives from."""

import re

from keras_distill._compat import keras
from keras_distill._numbers import check_real


def check_weight(value, argname: str) -> float:
    """Returns `value` as a float if it is a finite number >= 0, else raises.

    TypeError for a non-number, ValueError for a negative or non-finite one.
    """
    return check_real(argname, value, low=0, hint="It weights one term of the loss.")


def default_name(cls) -> str:
    """The registry key of `cls` if it is registered, else its snake-case name."""
    registered = cls.__dict__.get("registered_name")
    if registered:
        return registered
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls.__name__).lower()


@keras.saving.register_keras_serializable(package="keras_distill")
class DistillationLoss(keras.layers.Layer):
    """Compares teacher and student outputs and returns one loss per example.

    A distillation loss is a Keras layer so that it can own trainable weights (the
    adapter of a hint loss), be saved with the `Distiller` and be serialized. The
    `Distiller` weights the per-example values by `sample_weight`, averages them over
    the batch and adds them to the student loss.

    Subclasses set `teacher_layer`/`student_layer` to the names of the layers whose
    outputs they compare (`None`, the default, means the model's final outputs, the
    logits), override `call`, and may override `setup` to check shapes and create
    weights before training.

    A loss that needs the ground-truth labels (like `DKD`) sets `uses_labels =
    True` and accepts `labels=None` in `call`; the `Distiller` then passes the
    batch's labels (None for unlabelled data).

    With several teachers, `combines` says what the loss reads: `"probabilities"`
    (the default, for losses on softened distributions such as KL, DKD, DIST) gets
    logits whose softened distribution is the teachers' weighted mean; `"logits"`
    (for losses that match raw outputs, such as `LogitMSE` and `Hint`) gets the
    teachers' weighted mean logits, independent of the temperature.

    Args:
        teacher_layer: str or None, name of the teacher layer whose output this loss
            reads. Defaults to None (the teacher's logits).
        student_layer: str or None, name of the student layer whose output this loss
            reads. Defaults to None (the student's logits).
        **kwargs: passed to `keras.layers.Layer` (`name`, ...). The name
            defaults to the loss's registry key (`"kl"`, `"hint"`, ...), or the
            class name in snake case for an unregistered loss; a `Distiller`
            makes the names of its losses unique (`"kl"`, `"kl_2"`) and logs each
            loss as `<name>_loss`.
    """

    combines = "probabilities"
    # True for losses whose `call` takes `labels=` (the batch's ground truth, or
    # None for unlabelled data); the Distiller passes them only to those.
    uses_labels = False

    def __init__(self, teacher_layer=None, student_layer=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        if kwargs.get("name") is None:
            # A stable name (not Keras' session-counted "kl_divergence_3"): it
            # names the loss's log key and its DistillationScheduler entry.
            kwargs["name"] = default_name(type(self))
        super().__init__(**kwargs)
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer

    def setup(self, teacher_shape, student_shape):
        """Checks the feature shapes and creates weights; called once by Distiller.

        Args:
            teacher_shape: tuple, the teacher feature's shape, batch included.
            student_shape: tuple, the student feature's shape, batch included.

        Raises:
            ValueError: if the shapes cannot be compared by this loss.
        """
        if tuple(teacher_shape[1:]) != tuple(student_shape[1:]):
            raise ValueError(
                f"{type(self).__name__} compares outputs of the same shape, but "
                f"the teacher's is {tuple(teacher_shape)} and the student's is "
                f"{tuple(student_shape)}. Use models with the same number of "
                "classes, or a feature loss with an adapter."
            )
        self.built = True

    def call(self, teacher_output, student_output, temperature=None):
        """Returns the loss of each example, shape `(batch,)`.

        Args:
            teacher_output: tensor, the teacher's logits or features.
            student_output: tensor, the student's logits or features.
            temperature: scalar tensor, the Distiller's current temperature.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement call(teacher_output, "
            "student_output, temperature)."
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            teacher_layer=self.teacher_layer, student_layer=self.student_layer
        )
        # The registry key, apart from the (user-chosen) layer name: the config
        # then round-trips through `keras_distill.losses.get`.
        registered = type(self).__dict__.get("registered_name")
        if registered:
            config["loss"] = registered
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("loss", None)
        return super().from_config(config)
