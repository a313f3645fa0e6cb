"""Learning without Forgetting: learn new classes, distil the old model's outputs."""

import tensorflow as tf

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill._numbers import check_int
from keras_distill.distiller import Distiller
from keras_distill.losses.response import KLDivergence


def add_task_head(old_model, new_classes: int, name: str = "new_task"):
    """A copy of `old_model` with extra output units for a new task's classes.

    The copy keeps the old model's layers and weights (copied, not shared) and adds
    a Dense head of `new_classes` logits on the input of the old model's last
    layer, its penultimate features. Its output concatenates the old logits
    (first) and the new ones, under a layer called `name + "_all_logits"`; the old
    head keeps its layer name, which `learning_without_forgetting` distils.

    Args:
        old_model: Functional or Sequential `keras.Model` whose last layer is a
            Dense layer producing the old task's logits.
        new_classes: int >= 1, the number of new classes.
        name: str, prefix of the new layers' names. Defaults to "new_task".

    Returns:
        A Functional `keras.Model` with `old_classes + new_classes` logits.

    Raises:
        TypeError: for a subclassed model, a last layer that is not Dense, or
            new_classes that is not an int.
        ValueError: for new_classes < 1.
    """
    _compat.check_model(old_model, "old_model")
    check_int("new_classes", new_classes, 1)
    if not _compat.is_graph_model(old_model):
        raise TypeError(
            "Learning without Forgetting adds a head to `old_model`'s layers, which "
            f"needs a Functional or Sequential model; got a subclassed "
            f"{type(old_model).__name__}. Rebuild it with the Functional API."
        )
    head = old_model.layers[-1]
    if not isinstance(head, keras.layers.Dense):
        raise TypeError(
            "`old_model`'s last layer must be the Dense layer producing the old "
            f"task's logits; it is a {type(head).__name__} ({head.name!r})."
        )
    copy = keras.models.clone_model(old_model)
    copy.set_weights(old_model.get_weights())
    # The old model may already be frozen as a teacher; its copy must train.
    copy.trainable = True
    features = copy.layers[-1].input
    new_logits = keras.layers.Dense(new_classes, name=f"{name}_logits")(features)
    logits = keras.layers.Concatenate(name=f"{name}_all_logits")(
        [copy.outputs[0], new_logits]
    )
    return keras.Model(copy.inputs, logits, name=f"{old_model.name}_{name}")


_NEW_TASK_LOSSES = ("new_head", "all_logits")


class NewHeadLoss:
    """Applies a student loss to the new head only, as Li & Hoiem do.

    Labels number the new classes `old_classes ..`; the wrapped loss sees the
    new head's logits and labels shifted to `0 ..` (one-hot labels: their last
    `new_classes` columns). Returns one value per example.
    """

    def __init__(self, loss, old_classes: int):
        self.loss = loss
        self.old_classes = int(old_classes)

    def __call__(self, y_true, y_pred):
        logits = y_pred[..., self.old_classes :]
        total = y_pred.shape[-1]
        if y_true.shape.rank == y_pred.shape.rank and y_true.shape[-1] == total:
            labels = y_true[..., self.old_classes :]
        else:
            labels = y_true - tf.cast(self.old_classes, y_true.dtype)
        if isinstance(self.loss, keras.losses.Loss):
            return self.loss.call(labels, logits)
        return self.loss(labels, logits)


@keras.saving.register_keras_serializable(package="keras_distill")
class LearningWithoutForgetting(Distiller):
    """A `Distiller` whose label loss reads the new head only (or all logits).

    Built by `learning_without_forgetting`; see there. `compile(loss=...)` takes
    the usual loss on logits and labels `old_classes ..`; with
    `new_task_loss="new_head"` it is applied to the new head's logits only.

    Args:
        old_classes: int, the number of logits of the old head.
        new_task_loss: "new_head" or "all_logits". Defaults to "new_head".
        **kwargs: passed to `Distiller`.
    """

    def __init__(self, old_classes=None, new_task_loss="new_head", **kwargs):
        if new_task_loss not in _NEW_TASK_LOSSES:
            raise ValueError(
                f"`new_task_loss` must be one of {_NEW_TASK_LOSSES}, got "
                f"{new_task_loss!r}. 'new_head' (Li & Hoiem) applies the label "
                "loss to the new head's logits; 'all_logits' to the softmax over "
                "old and new logits."
            )
        check_int("old_classes", old_classes, 1, hint="The old head's logits.")
        super().__init__(**kwargs)
        self.old_classes = int(old_classes)
        self.new_task_loss = new_task_loss

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        if self.student_loss_fn is not None and self.new_task_loss == "new_head":
            self.student_loss_fn = NewHeadLoss(self.student_loss_fn, self.old_classes)

    def get_config(self):
        config = super().get_config()
        config.update(old_classes=self.old_classes, new_task_loss=self.new_task_loss)
        return config


def learning_without_forgetting(
    old_model,
    new_classes: int,
    temperature: float = 2.0,
    alpha: float = 0.5,
    augmentation=None,
    new_task_loss: str = "new_head",
):
    """Fine-tunes on a new task while a frozen copy of the old model keeps the old.

    Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2018). The new
    model is `add_task_head(old_model, new_classes)`: the old network and head plus
    a new head. It trains on the new task's data only, with

        loss = alpha * CE(y, new head logits)
             + (1 - alpha) * T^2 * KL(softmax(old_model(x) / T) ||
                                      softmax(old head of new model(x) / T))

    so the old head keeps answering the way the old model did on the new images,
    which keeps the shared layers useful for the old task. The paper uses T = 2
    and, as here by default, a new-task loss on the new head alone: a softmax
    over old and new logits would push the old logits down, against the
    distillation term. Label the new classes
    `old_classes .. old_classes + new_classes - 1`. No old-task data is needed.

    Use it when a deployed model must learn new classes and the old training data
    is gone or too large to retrain on. Evaluate the old task on the first
    `old_classes` logits (the old head), the new task on the last ones.

    Args:
        old_model: Functional or Sequential `keras.Model` trained on the old task,
            ending in a Dense logits layer. It becomes the frozen teacher.
        new_classes: int >= 1, the number of new classes.
        temperature: float > 0, the distillation temperature. Defaults to 2.0.
        alpha: float in [0, 1], weight of the new-task loss; 1 - alpha weights the
            old-task distillation (alpha=1 is plain fine-tuning). Defaults to 0.5.
        augmentation: see `Distiller`. Defaults to None.
        new_task_loss: "new_head" (the paper's: the compiled loss sees the new
            head's logits and labels shifted to 0 ..) or "all_logits" (the
            compiled loss sees all logits, a softmax over old and new classes).
            Defaults to "new_head".

    Returns:
        An uncompiled `LearningWithoutForgetting` (a `Distiller`) whose
        `student` is the new model (old + new classes) and whose teacher is
        `old_model`.

    Raises:
        TypeError, ValueError: see `add_task_head` and `Distiller`, and for an
            unknown `new_task_loss`.

    Example:
    ```python
    lwf = keras_distill.continual.learning_without_forgetting(old_model, 5)
    lwf.compile(optimizer="adam",
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    lwf.fit(x_new, y_new + 5, epochs=10)     # new classes are 5..9
    new_model = lwf.student                  # 10 logits: old 0..4, new 5..9
    ```
    """
    new_model = add_task_head(old_model, new_classes)
    return LearningWithoutForgetting(
        old_classes=old_model.outputs[0].shape[-1],
        new_task_loss=new_task_loss,
        student=new_model,
        teacher=old_model,
        temperature=temperature,
        alpha=alpha,
        distillation_losses=KLDivergence(student_layer=old_model.layers[-1].name),
        augmentation=augmentation,
    )
