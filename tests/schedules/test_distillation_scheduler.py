"""Schedules of temperature, alpha and loss weights: applied, logged, checked."""

import math

import numpy as np
import pytest
import tensorflow as tf
from models import blobs
from models import mlp
from models import sparse_ce
from reference import kl_per_example
from reference import mse_per_example
from reference import sparse_ce_per_example

import keras_distill
from keras_distill._compat import keras
from keras_distill.schedules import Cosine
from keras_distill.schedules import DistillationScheduler
from keras_distill.schedules import Linear


def _frozen_distiller(alpha=0.5, losses=None):
    """A Distiller whose weights never change (lr 0): each epoch's logged losses
    are then those of the same models under that epoch's settings."""
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,), name="student"),
        teacher=mlp(hidden=(32,), name="teacher"),
        alpha=alpha,
        temperature=3.0,
        distillation_losses=losses,
    )
    d.compile(optimizer=keras.optimizers.SGD(0.0), loss=sparse_ce())
    return d


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


def test_linear_and_cosine_follow_their_formulas_and_stay_at_the_end():
    linear, cosine = Linear(4.0, 1.0, epochs=6), Cosine(4.0, 1.0, epochs=6)
    for epoch in range(10):
        f = min(epoch / 6, 1.0)
        assert linear(epoch) == pytest.approx(4.0 - 3.0 * f)
        assert cosine(epoch) == pytest.approx(
            1.0 + 3.0 * (1 + math.cos(math.pi * f)) / 2
        )
    assert linear.bounds() == cosine.bounds() == (1.0, 4.0)


@pytest.mark.parametrize("schedule", [Linear, Cosine])
def test_schedules_survive_config_round_trip(schedule):
    original = schedule(0.5, 0.0, epochs=7)
    config = keras.saving.serialize_keras_object(original)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is schedule
    assert [restored(e) for e in range(9)] == [original(e) for e in range(9)]


def test_temperature_and_alpha_change_each_epoch_are_used_and_logged():
    x, y = blobs(32)
    d = _frozen_distiller()
    temperature, alpha = Linear(4.0, 1.0, epochs=3), Cosine(0.8, 0.2, epochs=3)
    history = d.fit(
        x,
        y,
        batch_size=32,
        epochs=4,
        verbose=0,
        callbacks=[DistillationScheduler(temperature=temperature, alpha=alpha)],
    )
    logs = history.history
    assert logs["temperature"] == pytest.approx([temperature(e) for e in range(4)])
    assert logs["alpha"] == pytest.approx([alpha(e) for e in range(4)])
    t, s = d.teacher.predict(x, verbose=0), d.student.predict(x, verbose=0)
    student_loss = sparse_ce_per_example(y, s).mean()
    for epoch in range(4):
        distill = kl_per_example(t, s, temperature(epoch)).mean()
        a = alpha(epoch)
        np.testing.assert_allclose(logs["distillation_loss"][epoch], distill, rtol=1e-5)
        np.testing.assert_allclose(
            logs["loss"][epoch], a * student_loss + (1 - a) * distill, rtol=1e-5
        )


@pytest.mark.parametrize("by_name", [False, True], ids=["list", "dict"])
def test_per_loss_weights_change_each_epoch_are_used_and_logged(by_name):
    x, y = blobs(32)
    d = _frozen_distiller(alpha=0.0, losses=["kl", "mse"])
    mse_weight = Linear(0.0, 2.0, epochs=2)
    weights = {"mse": mse_weight} if by_name else [None, mse_weight]
    history = d.fit(
        x,
        y,
        batch_size=32,
        epochs=3,
        verbose=0,
        callbacks=[DistillationScheduler(distillation_loss_weights=weights)],
    )
    logs = history.history
    assert logs["mse_weight"] == pytest.approx([0.0, 1.0, 2.0])
    assert logs["kl_weight"] == pytest.approx([1.0, 1.0, 1.0])
    t, s = d.teacher.predict(x, verbose=0), d.student.predict(x, verbose=0)
    kl, mse = kl_per_example(t, s, 3.0).mean(), mse_per_example(t, s).mean()
    np.testing.assert_allclose(
        logs["distillation_loss"], [kl, kl + mse, kl + 2 * mse], rtol=1e-5
    )


def test_callable_schedule_and_resuming_with_initial_epoch_continue_it():
    x, y = blobs(32)
    d = _frozen_distiller()
    scheduler = DistillationScheduler(temperature=lambda epoch: 1.0 + epoch)
    history = d.fit(
        x,
        y,
        epochs=5,
        initial_epoch=3,
        batch_size=32,
        verbose=0,
        callbacks=[scheduler],
    )
    assert history.history["temperature"] == [4.0, 5.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": Linear(2.0, 0.0, epochs=5)},
        {"temperature": Cosine(3.0, -1.0, epochs=5)},
        {"temperature": 0.0},
        {"alpha": Linear(0.5, 1.5, epochs=5)},
        {"distillation_loss_weights": [Linear(1.0, -1.0, epochs=5)]},
    ],
)
def test_schedule_objects_out_of_range_are_refused_at_construction(kwargs):
    with pytest.raises(ValueError, match="must be"):
        DistillationScheduler(**kwargs)


def test_callable_temperature_reaching_zero_is_refused_before_the_first_step():
    x, y = blobs(32)
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,)), teacher=mlp(hidden=(16,)), alpha=0.5
    )
    d.compile(optimizer=keras.optimizers.SGD(0.5), loss=sparse_ce())
    before = _weights(d.student)
    scheduler = DistillationScheduler(temperature=lambda epoch: 2.0 - epoch)
    with pytest.raises(ValueError, match="temperature schedule .* epoch 2"):
        d.fit(x, y, epochs=4, verbose=0, callbacks=[scheduler])
    for b, a in zip(before, _weights(d.student)):
        np.testing.assert_array_equal(b, a)
    assert d.temperature == 3.0


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([1.0, 1.0], "2 entries but the Distiller has 1"),
        ({"no_such_loss": 1.0}, "does not have; its losses are"),
    ],
)
def test_weight_schedules_that_do_not_match_the_losses_are_refused_at_fit(
    weights, match
):
    x, y = blobs(16)
    d = _frozen_distiller()
    scheduler = DistillationScheduler(distillation_loss_weights=weights)
    with pytest.raises(ValueError, match=match):
        d.fit(x, y, epochs=1, verbose=0, callbacks=[scheduler])


def test_scheduler_on_a_plain_model_is_refused():
    x, y = blobs(16)
    model = mlp()
    model.compile("sgd", sparse_ce())
    with pytest.raises(TypeError, match="schedules a keras_distill.Distiller"):
        model.fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[DistillationScheduler(temperature=2.0)],
        )


def test_non_schedule_entry_is_refused():
    with pytest.raises(TypeError, match="`temperature` must be a Schedule"):
        DistillationScheduler(temperature="hot")


@pytest.mark.parametrize("alpha", [0.3, Linear(0.0, 0.5, epochs=2)])
def test_scheduled_alpha_without_a_student_loss_is_refused_before_training(alpha):
    x, y = blobs(16)
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,)), teacher=mlp(hidden=(16,)), alpha=0.0
    )
    d.compile(optimizer=keras.optimizers.SGD(0.5))
    before = _weights(d.student)
    scheduler = DistillationScheduler(alpha=alpha)
    with pytest.raises(ValueError, match="compiled without one.*loss="):
        d.fit(x, y, epochs=3, verbose=0, callbacks=[scheduler])
    for b, a in zip(before, _weights(d.student)):
        np.testing.assert_array_equal(b, a)


def test_scheduled_alpha_on_unlabelled_data_is_refused_before_training():
    x, _ = blobs(32)
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,)), teacher=mlp(hidden=(16,)), alpha=0.0
    )
    d.compile(optimizer=keras.optimizers.SGD(0.5), loss=sparse_ce())
    before = _weights(d.student)
    scheduler = DistillationScheduler(alpha=Linear(0.0, 0.5, epochs=2))
    with pytest.raises(ValueError, match="no labels .*scheduled.*alpha=0"):
        d.fit(x, epochs=3, batch_size=16, verbose=0, callbacks=[scheduler])
    for b, a in zip(before, _weights(d.student)):
        np.testing.assert_array_equal(b, a)


def test_scheduler_sets_the_alpha_ceiling_for_its_fit_and_resets_it_after():
    x, y = blobs(32)
    d = _frozen_distiller(alpha=0.0)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(d.alpha_ceiling)
    )
    scheduler = DistillationScheduler(alpha=Linear(0.25, 0.75, epochs=2))
    d.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[scheduler, record])
    assert seen == [pytest.approx(0.75)] * 3
    assert d.alpha_ceiling == 0.0


def test_alpha_raised_by_hand_after_an_unlabelled_fit_fails_the_step():
    x, _ = blobs(32)
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,)), teacher=mlp(hidden=(16,)), alpha=0.0
    )
    d.compile(optimizer=keras.optimizers.SGD(0.5), loss=sparse_ce(), jit_compile=False)
    d.fit(x, epochs=1, batch_size=16, verbose=0)
    d.alpha = 0.5
    with pytest.raises(tf.errors.InvalidArgumentError, match="no labels but alpha > 0"):
        d.fit(x, epochs=1, batch_size=16, verbose=0)


def test_repeated_losses_get_numbered_names_in_logs_and_scheduler_keys():
    x, y = blobs(32)
    d = _frozen_distiller(alpha=0.0, losses=["kl", "mse", "kl"])
    assert [loss.name for loss in d.distillation_losses] == ["kl", "mse", "kl_2"]
    scheduler = DistillationScheduler(distillation_loss_weights={"kl_2": 0.0})
    history = d.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[scheduler])
    logs = {k: v[0] for k, v in history.history.items()}
    assert logs["kl_2_weight"] == 0.0 and logs["kl_weight"] == 1.0
    t, s = d.teacher.predict(x, verbose=0), d.student.predict(x, verbose=0)
    kl, mse = kl_per_example(t, s, 3.0).mean(), mse_per_example(t, s).mean()
    for key, want in (("kl_loss", kl), ("kl_2_loss", kl), ("mse_loss", mse)):
        np.testing.assert_allclose(logs[key], want, rtol=1e-5)
    np.testing.assert_allclose(logs["distillation_loss"], kl + mse, rtol=1e-5)


@pytest.mark.parametrize("schedule", [Linear, Cosine])
@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("2", 1.0, 5), TypeError, "start"),
        ((2.0, None, 5), TypeError, "end"),
        ((2.0, 1.0, 5.0), TypeError, "epochs"),
        ((math.inf, 1.0, 5), ValueError, "start"),
        ((2.0, 1.0, 0), ValueError, "epochs"),
    ],
)
def test_schedule_arguments_wrong_type_or_value(schedule, args, error, match):
    with pytest.raises(error, match=match):
        schedule(*args)
