"""Every registered loss: serialization round trip and one value per example.

Parametrized over the registry, so a newly registered loss is tested at once.
"""

import inspect

import numpy as np
import pytest

from keras_distill import losses
from keras_distill._compat import keras

# Shapes a loss may compare: logits/vectors, sequences, images (batch first).
SHAPES = [(7, 10), (7, 6, 3), (7, 4, 4, 3)]


def _set_up(name, shape):
    """A fresh loss of `name` set up for two features of `shape`, or None."""
    loss = losses.get(name)
    try:
        loss.setup(shape, shape)
    except ValueError:
        return None
    return loss


def _inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (
        (rng.normal(size=shape) * 2).astype("float32"),
        (rng.normal(size=shape) * 2).astype("float32"),
    )


@pytest.mark.parametrize("name", losses.available())
def test_registered_loss_returns_one_finite_value_per_example(name):
    shapes = [s for s in SHAPES if _set_up(name, s) is not None]
    assert shapes, f"{name} accepts none of {SHAPES}"
    for shape in shapes:
        teacher, student = _inputs(shape)
        values = _set_up(name, shape)(teacher, student, temperature=2.0).numpy()
        # Logits give (batch,); losses on logits applied to sequence outputs
        # may keep positions, which the Distiller averages.
        assert values.shape[0] == shape[0]
        assert values.shape == (shape[0],) or len(shape) > 2
        assert np.all(np.isfinite(values))
        same = _set_up(name, shape)(teacher, teacher, temperature=2.0).numpy()
        assert np.all(same <= values + 1e-6) or name == "soft_ce"


@pytest.mark.parametrize("name", losses.available())
def test_registered_loss_config_holds_every_init_argument(name):
    cls = type(losses.get(name))
    config = losses.get(name).get_config()
    for cls_ in cls.__mro__:
        if "__init__" not in vars(cls_) or cls_ is keras.layers.Layer:
            continue
        for param in inspect.signature(cls_.__init__).parameters.values():
            if param.name == "self" or param.kind in (
                param.VAR_KEYWORD,
                param.VAR_POSITIONAL,
            ):
                continue
            assert param.name in config, f"{cls.__name__}.get_config lacks {param}"


@pytest.mark.parametrize("name", losses.available())
def test_registered_loss_survives_serialization_round_trip(name):
    shape = next(s for s in SHAPES if _set_up(name, s) is not None)
    loss = _set_up(name, shape)
    config = keras.saving.serialize_keras_object(loss)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    assert restored.registered_name == name
    restored.setup(shape, shape)
    teacher, student = _inputs(shape, seed=1)
    np.testing.assert_allclose(
        restored(teacher, student, temperature=3.0).numpy(),
        loss(teacher, student, temperature=3.0).numpy(),
        rtol=1e-6,
    )


@pytest.mark.parametrize("name", losses.available())
def test_registered_loss_is_found_by_its_key_and_by_config(name):
    loss = losses.get({"name": name})
    assert loss.registered_name == name
    assert isinstance(loss, losses.DistillationLoss)
