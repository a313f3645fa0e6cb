"""A whole Distiller saved to a .keras file loads as the model that was saved."""

import warnings

import numpy as np
import pytest
from models import blobs
from models import mlp
from models import sparse_ce

import keras_distill
from keras_distill._compat import keras
from keras_distill.augmentation import Mixup
from keras_distill.teacher_cache import cache_teacher_outputs


def _keras_io(x, y):
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,), name="student"),
        teacher=mlp(hidden=(32,), name="teacher"),
    )
    d.compile(
        optimizer=keras.optimizers.Adam(0.01),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=sparse_ce(),
        distillation_loss_fn=keras.losses.KLDivergence(),
        alpha=0.1,
        temperature=10,
    )
    return d, (x, y)


def _weighted_teachers_and_mixup(x, y):
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,), name="student"),
        teacher=[mlp(hidden=(16,), name="t1"), mlp(hidden=(24,), name="t2")],
        teacher_weights=[3.0, 1.0],
        distillation_losses=["kl", "mse"],
        distillation_loss_weights=[1.0, 0.5],
        augmentation=[keras.layers.GaussianNoise(0.1), Mixup(0.4)],
        alpha=0.3,
        temperature=2.0,
    )
    d.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=sparse_ce(),
        metrics=["sparse_categorical_accuracy"],
    )
    return d, (x, y)


def _cached_teacher(x, y):
    teacher = mlp(hidden=(32,), name="teacher")
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,), name="student"),
        cached_teacher=True,
        alpha=0.4,
        temperature=3.0,
    )
    d.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=sparse_ce(),
        metrics=["sparse_categorical_accuracy"],
    )
    return d, (cache_teacher_outputs(teacher, x, y, batch_size=16, shuffle=False),)


def _types(augmentation):
    if augmentation is None:
        return []
    if not isinstance(augmentation, (list, tuple)):
        augmentation = [augmentation]
    return [type(a) for a in augmentation]


def _evaluate(d, data):
    return d.evaluate(*data, verbose=0, return_dict=True)


def _fit(d, data):
    if len(data) == 2:
        return d.fit(*data, batch_size=16, epochs=1, shuffle=False, verbose=0)
    return d.fit(*data, epochs=1, shuffle=False, verbose=0)


def _save_and_load(d, path):
    d.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.models.load_model(path)
    assert not [w for w in caught if "compile()" in str(w.message)]
    return loaded


@pytest.mark.parametrize(
    "make", [_keras_io, _weighted_teachers_and_mixup, _cached_teacher]
)
def test_loaded_distiller_evaluates_exactly_as_the_saved_one(make, tmp_path):
    x, y = blobs(64)
    d, data = make(x, y)
    _fit(d, data)
    d.temperature, d.alpha = d.temperature + 1.0, 0.2  # as a scheduler would
    before = _evaluate(d, data)
    assert before["student_loss"] > 0 and before["distillation_loss"] > 0

    loaded = _save_and_load(d, tmp_path / "distiller.keras")

    assert type(loaded) is type(d)
    assert (loaded.temperature, loaded.alpha) == (d.temperature, d.alpha)
    assert loaded.distillation_loss_weights == d.distillation_loss_weights
    assert loaded.teacher_weights == d.teacher_weights
    assert loaded.cached_teacher == d.cached_teacher
    assert _types(loaded.augmentation) == _types(d.augmentation)
    after = _evaluate(loaded, data)
    assert set(after) == set(before)
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-6, err_msg=key)


def test_loaded_distiller_resumes_training_with_the_saved_optimizer_state(tmp_path):
    x, y = blobs(64)
    d, data = _keras_io(x, y)
    _fit(d, data)
    loaded = _save_and_load(d, tmp_path / "distiller.keras")
    assert int(loaded.optimizer.iterations) == int(d.optimizer.iterations) > 0
    _fit(d, data)
    _fit(loaded, data)
    for a, b in zip(d.student.get_weights(), loaded.student.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_loaded_distiller_compiles_again_with_the_keras_io_arguments(tmp_path):
    x, y = blobs(32)
    d, data = _keras_io(x, y)
    loaded = _save_and_load(d, tmp_path / "distiller.keras")
    losses = list(loaded.distillation_losses)
    loaded.compile(
        optimizer=keras.optimizers.Adam(),
        student_loss_fn=sparse_ce(),
        distillation_loss_fn=keras.losses.KLDivergence(),
        alpha=0.1,
        temperature=10,
    )
    assert loaded.distillation_losses == losses
    # The loss came from a compile, as in the saved Distiller: another may replace it.
    loaded.compile(loss=sparse_ce(), distillation_loss_fn=keras.losses.Poisson())
    assert isinstance(loaded.distillation_losses[0].fn, keras.losses.Poisson)


def test_uncompiled_distiller_saves_and_loads_uncompiled(tmp_path):
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,), name="student"),
        teacher=mlp(hidden=(32,), name="teacher"),
    )
    loaded = _save_and_load(d, tmp_path / "distiller.keras")
    assert loaded.student_loss_fn is None
    assert [type(ls) for ls in loaded.distillation_losses] == [
        keras_distill.losses.KLDivergence
    ]
