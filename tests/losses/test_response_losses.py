"""Soft-target CE, logit MSE, DKD and DIST against float64 NumPy references."""

import numpy as np
import pytest
import tensorflow as tf
from reference import dist_per_example
from reference import dkd_per_example
from reference import kl_per_example
from reference import mse_per_example
from reference import soft_ce_per_example
from reference import softmax

from keras_distill import losses


def _logits(seed, batch=16, classes=10, scale=3.0):
    rng = np.random.default_rng(seed)
    return (
        (rng.normal(size=(batch, classes)) * scale).astype("float32"),
        (rng.normal(size=(batch, classes)) * scale).astype("float32"),
    )


@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_soft_target_cross_entropy_matches_reference(temperature, seed):
    teacher, student = _logits(seed)
    got = losses.SoftTargetCrossEntropy()(teacher, student, temperature=temperature)
    want = soft_ce_per_example(teacher, student, temperature)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_soft_target_cross_entropy_has_the_gradient_of_kl():
    teacher, student = _logits(2)
    grads = []
    for loss in (losses.SoftTargetCrossEntropy(), losses.KLDivergence()):
        s = tf.Variable(student)
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(loss(teacher, s, temperature=3.0))
        grads.append(tape.gradient(value, s).numpy())
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-6)


def test_logit_mse_matches_reference_and_ignores_temperature():
    teacher, student = _logits(3)
    loss = losses.LogitMSE()
    want = mse_per_example(teacher, student)
    for temperature in (1.0, 5.0):
        got = loss(teacher, student, temperature=temperature).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize(
    "temperature,alpha,beta", [(1.0, 1.0, 8.0), (4.0, 1.0, 8.0), (2.0, 0.5, 0.0)]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_dkd_matches_reference(temperature, alpha, beta, seed):
    teacher, student = _logits(seed, scale=2.0)
    got = losses.DKD(target_weight=alpha, non_target_weight=beta)(
        teacher, student, temperature=temperature
    )
    want = dkd_per_example(
        teacher, student, temperature, alpha, beta, labels=teacher.argmax(-1)
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("one_hot", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_dkd_targets_the_ground_truth_label_when_given(one_hot, seed):
    teacher, student = _logits(seed, scale=2.0)
    labels = np.random.default_rng(seed + 10).integers(
        0, teacher.shape[-1], len(teacher)
    )
    assert (labels != teacher.argmax(-1)).any()
    given = np.eye(teacher.shape[-1], dtype="float32")[labels] if one_hot else labels
    got = losses.DKD(1.0, 8.0)(teacher, student, temperature=4.0, labels=given)
    want = dkd_per_example(teacher, student, 4.0, 1.0, 8.0, labels=labels)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-6)


def test_dkd_terms_recombine_into_kl():
    """KL = TCKD + (1 - p_target) * NCKD (Zhao et al., eq. 4)."""
    teacher, student = _logits(4, scale=2.0)
    temperature = 2.0
    tckd = losses.DKD(1.0, 0.0)(teacher, student, temperature=temperature).numpy()
    nckd = losses.DKD(0.0, 1.0)(teacher, student, temperature=temperature).numpy()
    p = softmax(teacher / temperature)
    p_target = p.max(axis=-1)
    np.testing.assert_allclose(
        tckd + (1 - p_target) * nckd,
        kl_per_example(teacher, student, temperature),
        rtol=1e-4,
        atol=1e-6,
    )


def test_dkd_is_finite_for_a_one_hot_confident_teacher():
    teacher = np.array([[30.0, -30.0, 0.0], [0.0, 0.0, 50.0]], "float32")
    student = np.array([[0.0, 1.0, 2.0], [-3.0, 0.0, 3.0]], "float32")
    s = tf.Variable(student)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(losses.DKD()(teacher, s, temperature=1.0))
    assert np.isfinite(value.numpy())
    assert np.all(np.isfinite(tape.gradient(value, s).numpy()))


@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize("beta,gamma", [(1.0, 1.0), (2.0, 0.5)])
def test_dist_matches_reference(temperature, beta, gamma):
    teacher, student = _logits(5, batch=32)
    got = losses.DIST(inter_weight=beta, intra_weight=gamma)(
        teacher, student, temperature=temperature
    )
    want = dist_per_example(teacher, student, temperature, beta, gamma)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-6)


def test_dist_ignores_shifts_and_scales_of_the_student_probabilities():
    """Correlation only: a student whose softmax is the teacher's has loss 0."""
    teacher, _ = _logits(6, batch=32)
    got = losses.DIST()(teacher, teacher, temperature=2.0).numpy()
    np.testing.assert_allclose(got, 0.0, atol=1e-5)


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: losses.DKD(target_weight=-1.0), ValueError, "target_weight"),
        (
            lambda: losses.DKD(non_target_weight=float("nan")),
            ValueError,
            "non_target_weight",
        ),
        (lambda: losses.DIST(inter_weight="1"), TypeError, "inter_weight"),
    ],
)
def test_negative_or_non_numeric_term_weights_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()
