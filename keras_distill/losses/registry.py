"""One registry of distillation losses, so configs can name them by key."""

_REGISTRY: dict = {}


def register(name: str):
    """Class decorator that registers a distillation loss under `name`.

    Args:
        name: str, the key configs and the CLI use (for example `"kl"`).

    Returns:
        The decorator, which returns the class unchanged.

    Raises:
        ValueError: if `name` is already registered.
    """

    def decorator(cls):
        if name in _REGISTRY:
            raise ValueError(
                f"A distillation loss is already registered as {name!r} "
                f"({_REGISTRY[name].__name__}); pick another name."
            )
        _REGISTRY[name] = cls
        cls.registered_name = name
        return cls

    return decorator


def available() -> list:
    """The registered loss names, sorted."""
    return sorted(_REGISTRY)


def get(identifier, **kwargs):
    """Returns a distillation loss from a name, a config dict or an instance.

    Args:
        identifier: a registered name (`"kl"`); a dict naming the registered key
            under `"loss"`, as `loss.get_config()` returns (`{"loss": "kl",
            "name": "my_kl", ...}`); a dict `{"name": "kl", **kwargs}` without a
            `"loss"` key (then `"name"` is the registered key); the dict of
            `keras.saving.serialize_keras_object(loss)`; or a
            `DistillationLoss` instance (returned unchanged).
        **kwargs: constructor arguments when `identifier` is a name or a dict.

    Returns:
        A `DistillationLoss`.

    Raises:
        ValueError: for an unknown name (the message lists the known ones), or a
            serialized object that is not a distillation loss.
    """
    from keras_distill._compat import keras
    from keras_distill.losses.base import DistillationLoss

    if isinstance(identifier, DistillationLoss):
        return identifier
    if isinstance(identifier, dict) and "class_name" in identifier:
        loss = keras.saving.deserialize_keras_object(identifier)
        if not isinstance(loss, DistillationLoss):
            raise ValueError(
                f"The serialized object {identifier.get('class_name')!r} is not a "
                "keras_distill distillation loss."
            )
        return loss
    if isinstance(identifier, dict):
        kwargs = {**identifier, **kwargs}
        key = "loss" if "loss" in kwargs else "name"
        identifier = kwargs.pop(key, None)
    if not isinstance(identifier, str) or identifier not in _REGISTRY:
        raise ValueError(
            f"Unknown distillation loss {identifier!r}. Known losses: "
            f"{', '.join(available())}."
        )
    return _REGISTRY[identifier].from_config(kwargs)
