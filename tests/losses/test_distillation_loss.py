"""The distillation loss against a float64 NumPy reference."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import keras3_only
from reference import kl_grad_wrt_student
from reference import kl_per_example

from keras_distill import losses
from keras_distill._compat import keras


def _logits(seed, batch=16, classes=10, scale=3.0):
    rng = np.random.default_rng(seed)
    return (
        (rng.normal(size=(batch, classes)) * scale).astype("float32"),
        (rng.normal(size=(batch, classes)) * scale).astype("float32"),
    )


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0, 10.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distillation_loss_matches_float64_reference(temperature, seed):
    teacher, student = _logits(seed)
    got = float(losses.distillation_loss(teacher, student, temperature))
    want = kl_per_example(teacher, student, temperature).mean()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_distillation_loss_is_zero_when_student_equals_teacher():
    teacher, _ = _logits(3)
    for temperature in (1.0, 3.0, 7.5):
        assert (
            abs(float(losses.distillation_loss(teacher, teacher, temperature))) < 1e-6
        )


@pytest.mark.parametrize("temperature", [1.0, 3.0, 8.0])
def test_distillation_loss_gradient_is_t_times_probability_difference(temperature):
    teacher, student = _logits(4)
    student_var = tf.Variable(student)
    with tf.GradientTape() as tape:
        value = losses.distillation_loss(teacher, student_var, temperature)
    grad = tape.gradient(value, student_var).numpy()
    np.testing.assert_allclose(
        grad, kl_grad_wrt_student(teacher, student, temperature), atol=1e-6
    )


def test_distillation_loss_is_exact_and_finite_at_huge_logits():
    teacher = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], "float32")
    student = np.array([[-1e4, 1e4, 0.0], [0.0, 0.0, 0.0]], "float32")
    got = float(losses.distillation_loss(teacher, student, 2.0))
    assert np.isfinite(got)
    np.testing.assert_allclose(
        got, kl_per_example(teacher, student, 2.0).mean(), rtol=1e-5
    )
    with tf.GradientTape() as tape:
        s = tf.Variable(student)
        value = losses.distillation_loss(teacher, s, 2.0)
    assert np.all(np.isfinite(tape.gradient(value, s).numpy()))


def test_kl_divergence_layer_returns_per_example_reference():
    teacher, student = _logits(5, batch=7)
    got = losses.KLDivergence()(teacher, student, temperature=2.5).numpy()
    assert got.shape == (7,)
    np.testing.assert_allclose(got, kl_per_example(teacher, student, 2.5), rtol=1e-5)


def test_probability_loss_with_keras_kl_matches_reference_up_to_clipping():
    teacher, student = _logits(6, scale=1.0)
    loss = losses.ProbabilityLoss(keras.losses.KLDivergence())
    got = loss(teacher, student, temperature=3.0).numpy()
    np.testing.assert_allclose(got, kl_per_example(teacher, student, 3.0), rtol=1e-4)


@keras3_only
def test_keras_logits_distillation_default_differs_from_the_paper():
    """Keras 3.12+'s LogitsDistillation default applies KL to raw logits.

    On random logits with T=2 it returns about 12.87 where the softened,
    T^2-scaled KL (ours, and the paper's) is about 3.007.
    """
    from keras.distillation import LogitsDistillation

    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(64, 10)).astype("float32") * 3
    student = rng.normal(size=(64, 10)).astype("float32") * 3
    reference = kl_per_example(teacher, student, 2.0).mean()
    ours = float(losses.distillation_loss(teacher, student, 2.0))
    theirs = float(LogitsDistillation(temperature=2.0).compute_loss(teacher, student))
    np.testing.assert_allclose(ours, reference, rtol=1e-5)
    assert abs(theirs - reference) > 0.5 * reference


def test_registry_refuses_duplicate_names_and_lists_known_ones():
    with pytest.raises(ValueError, match="already registered as 'kl'"):
        losses.register("kl")(type("Other", (losses.DistillationLoss,), {}))
    with pytest.raises(ValueError, match="Known losses: .*kl"):
        losses.get("no-such-loss")
    assert isinstance(losses.get({"name": "kl"}), losses.KLDivergence)


@pytest.mark.parametrize(
    "loss",
    [
        losses.KLDivergence(name="kd"),
        losses.ProbabilityLoss(keras.losses.KLDivergence(), name="prob"),
    ],
    ids=["kl", "probability"],
)
def test_losses_survive_serialization_round_trip(loss):
    config = keras.saving.serialize_keras_object(loss)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    teacher, student = _logits(7)
    np.testing.assert_allclose(
        restored(teacher, student, temperature=2.0).numpy(),
        loss(teacher, student, temperature=2.0).numpy(),
        rtol=1e-6,
    )


def test_probability_loss_rejects_non_callable():
    with pytest.raises(TypeError, match="must be callable"):
        losses.ProbabilityLoss(3)
