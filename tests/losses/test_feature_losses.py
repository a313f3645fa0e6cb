"""Hint and attention transfer against float64 NumPy references."""

import numpy as np
import pytest
import tensorflow as tf
from reference import attention_per_example
from reference import mse_per_example

from keras_distill import losses


def _features(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape).astype("float32")


def test_hint_without_adapter_is_the_mean_squared_error():
    teacher, student = _features((5, 4, 4, 3), 0), _features((5, 4, 4, 3), 1)
    hint = losses.Hint("t", "s")
    hint.setup(teacher.shape, student.shape)
    assert hint.projection is None
    np.testing.assert_allclose(
        hint(teacher, student).numpy(), mse_per_example(teacher, student), rtol=1e-5
    )


@pytest.mark.parametrize(
    "teacher_shape,student_shape",
    [((5, 12), (5, 4)), ((5, 8, 6), (5, 8, 2)), ((5, 4, 4, 6), (5, 4, 4, 3))],
)
def test_hint_adapter_projects_student_width_to_teacher_width(
    teacher_shape, student_shape
):
    teacher, student = _features(teacher_shape, 0), _features(student_shape, 1)
    hint = losses.Hint("t", "s")
    hint.setup(teacher_shape, student_shape)
    kernel, bias = [w.numpy().astype(np.float64) for w in hint.projection.weights]
    kernel = kernel.reshape(student_shape[-1], teacher_shape[-1])
    projected = student.astype(np.float64) @ kernel + bias
    np.testing.assert_allclose(
        hint(teacher, student).numpy(),
        mse_per_example(teacher, projected),
        rtol=1e-5,
    )
    assert len(hint.trainable_weights) == 2


def test_hint_resizes_student_maps_to_the_teacher_spatial_size():
    student = _features((2, 4, 4, 3))
    teacher = tf.image.resize(student, (8, 8)).numpy()
    hint = losses.Hint("t", "s")
    hint.setup(teacher.shape, student.shape)
    np.testing.assert_allclose(hint(teacher, student).numpy(), 0.0, atol=1e-10)
    sequence = _features((2, 5, 3))
    hint = losses.Hint("t", "s")
    hint.setup((2, 10, 3), sequence.shape)
    upsampled = tf.image.resize(sequence[:, :, None, :], (10, 1))[:, :, 0].numpy()
    np.testing.assert_allclose(hint(upsampled, sequence).numpy(), 0.0, atol=1e-10)


@pytest.mark.parametrize(
    "teacher_shape,student_shape",
    [((5, 4, 4, 3), (5, 12)), ((5, 8, 3), (5, 4, 4, 3)), ((5, 8, None), (5, 8, 3))],
)
def test_hint_refuses_features_it_cannot_align(teacher_shape, student_shape):
    with pytest.raises(ValueError, match="teacher feature 't'|static feature"):
        losses.Hint("t", "s").setup(teacher_shape, student_shape)


def test_hint_without_adapter_refuses_different_widths():
    with pytest.raises(ValueError, match="adapter='none'"):
        losses.Hint("t", "s", adapter="none").setup((2, 8), (2, 4))
    with pytest.raises(ValueError, match="adapter"):
        losses.Hint("t", "s", adapter="linear")


@pytest.mark.parametrize("p", [1.0, 2.0, 4.0])
@pytest.mark.parametrize("shape", [(4, 6, 6, 5), (4, 9, 3)])
def test_attention_transfer_matches_reference(p, shape):
    teacher = _features(shape, 2)
    student = _features(shape[:-1] + (2,), 3)
    loss = losses.AttentionTransfer("t", "s", p=p)
    loss.setup(teacher.shape, student.shape)
    np.testing.assert_allclose(
        loss(teacher, student).numpy(),
        attention_per_example(teacher, student, p),
        rtol=1e-4,
        atol=1e-9,
    )


def test_attention_transfer_resizes_the_student_map():
    student = np.abs(_features((2, 4, 4, 3))) + 0.1
    loss = losses.AttentionTransfer("t", "s")
    loss.setup((2, 8, 8, 7), student.shape)
    values = loss(np.ones((2, 8, 8, 7), "float32"), student).numpy()
    assert values.shape == (2,) and np.all(np.isfinite(values))


def test_attention_transfer_refuses_vectors_and_bad_p():
    with pytest.raises(ValueError, match="same rank"):
        losses.AttentionTransfer("t", "s").setup((4, 8), (4, 8))
    with pytest.raises(ValueError, match="`p`"):
        losses.AttentionTransfer(p=0)
