"""A Distiller's configuration: its constructor and compile arguments, serialized."""

from keras_distill._compat import keras


def constructor_config(distiller) -> dict:
    """The Distiller's constructor arguments, serialized, with current values.

    Temperature, alpha and the loss weights are those in use now (a schedule
    may have changed them), so the rebuilt Distiller continues from there.

    Args:
        distiller: the `Distiller`.

    Returns:
        A dict to update `keras.Model.get_config()` with.
    """
    serialize = keras.saving.serialize_keras_object
    teachers = [serialize(t) for t in distiller.teachers]
    augmentation = distiller.augmentation
    return {
        "student": serialize(distiller.student),
        "teacher": teachers[0] if len(teachers) == 1 else teachers or None,
        "temperature": distiller.temperature,
        "alpha": distiller.alpha,
        "distillation_losses": [
            serialize(loss) for loss in distiller.distillation_losses
        ],
        "distillation_loss_weights": distiller.distillation_loss_weights,
        "teacher_weights": distiller.teacher_weights,
        "cached_teacher": distiller.cached_teacher,
        "augmentation": None if augmentation is None else serialize(augmentation),
        "teacher_input": (
            None
            if distiller.teacher_input is None
            else serialize(distiller.teacher_input)
        ),
    }


def constructor_arguments(config) -> dict:
    """The keyword arguments of the Distiller `config` describes, deserialized.

    Args:
        config: dict, as `Distiller.get_config()` returns.

    Returns:
        A new dict, with models, losses and augmentation rebuilt.
    """
    config = dict(config)
    deserialize = keras.saving.deserialize_keras_object
    config["student"] = deserialize(config["student"])
    teacher = config.get("teacher")
    if isinstance(teacher, list):
        config["teacher"] = [deserialize(t) for t in teacher]
    elif teacher is not None:
        config["teacher"] = deserialize(teacher)
    config["distillation_losses"] = [
        deserialize(loss) for loss in config["distillation_losses"]
    ]
    for name in ("augmentation", "teacher_input"):
        if config.get(name) is not None:
            config[name] = deserialize(config[name])
    return config


def compile_config(keras_config, student_loss, distillation_loss_fn):
    """The Distiller's compile arguments, serialized, for saving the model.

    Temperature, alpha and the loss weights are left out: the constructor
    config holds their current values.

    Args:
        keras_config: what `keras.Model.get_compile_config` returned: the
            optimizer, metrics, `jit_compile`, ... (None or {} if the model was
            never compiled).
        student_loss: the student loss as compile resolved it, or None.
        distillation_loss_fn: the keras.io loss an earlier compile set, or None.

    Returns:
        A dict, or `keras_config` unchanged for a model never compiled.
    """
    if not keras_config:
        return keras_config
    serialize = keras.saving.serialize_keras_object
    return {
        **keras_config,
        "loss": serialize(student_loss),
        "distillation_loss_fn": None
        if distillation_loss_fn is None
        else serialize(distillation_loss_fn),
    }
