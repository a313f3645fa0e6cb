"""Offline distillation: cached teacher logits train like the live teacher."""

import numpy as np
import pytest
import tensorflow as tf
from models import blobs
from models import mlp
from models import sparse_ce

from keras_distill import Distiller
from keras_distill._compat import keras
from keras_distill.augmentation import Mixup
from keras_distill.losses import Hint
from keras_distill.teacher_cache import cache_teacher_outputs
from keras_distill.teacher_cache import dense_logits


def _pair():
    teacher = mlp(hidden=(32,), name="teacher")
    student = mlp(hidden=(8,), name="student")
    twin = keras.models.clone_model(student)
    twin.set_weights(student.get_weights())
    return teacher, student, twin


def _distiller(student, teacher=None):
    d = Distiller(
        student=student,
        teacher=teacher,
        cached_teacher=teacher is None,
        temperature=2.0,
        alpha=0.3,
    )
    d.compile(optimizer=keras.optimizers.SGD(0.1), loss=sparse_ce())
    return d


def test_cached_teacher_gives_the_live_teachers_losses_and_weights():
    x, y = blobs(96)
    teacher, student, twin = _pair()
    live = _distiller(student, teacher)
    cached = _distiller(twin)
    data = cache_teacher_outputs(teacher, x, y, batch_size=16, shuffle=False)

    live_eval = live.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    cached_eval = cached.evaluate(data, verbose=0, return_dict=True)
    for key in ("loss", "student_loss", "distillation_loss"):
        np.testing.assert_allclose(cached_eval[key], live_eval[key], rtol=1e-5)
    assert live_eval["distillation_loss"] > 1e-3  # the term is really compared

    live_fit = live.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    cached_fit = cached.fit(data, epochs=1, verbose=0)
    for key in ("loss", "distillation_loss"):
        np.testing.assert_allclose(
            cached_fit.history[key], live_fit.history[key], rtol=1e-5
        )
    for a, b in zip(student.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(b, a, atol=1e-6)


def test_cached_dataset_yields_each_example_once_with_its_teacher_logits():
    x, y = blobs(50)
    teacher = mlp(hidden=(32,), name="teacher")
    data = cache_teacher_outputs(teacher, x, y, batch_size=16, seed=1)
    xs, ys, ts = (np.concatenate(part) for part in zip(*data.as_numpy_iterator()))
    order = np.argsort(xs[:, 0])
    expected = np.argsort(x[:, 0])
    np.testing.assert_array_equal(ys[order], y[expected])
    np.testing.assert_allclose(
        ts[order], teacher.predict(x, verbose=0)[expected], rtol=1e-5, atol=1e-6
    )


def test_dataset_input_is_read_once_like_arrays():
    x, y = blobs(40)
    teacher = mlp(hidden=(32,), name="teacher")
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    from_dataset = cache_teacher_outputs(teacher, batches, shuffle=False)
    from_arrays = cache_teacher_outputs(teacher, x, y, shuffle=False)
    for a, b in zip(from_dataset.as_numpy_iterator(), from_arrays.as_numpy_iterator()):
        for part_a, part_b in zip(a, b):
            np.testing.assert_array_equal(part_a, part_b)


def test_top_k_restores_exact_top_probabilities_and_tail_mass_at_temperature_1():
    x, y = blobs(40, classes=12)
    teacher = mlp(hidden=(32,), classes=12, name="teacher")
    full = teacher.predict(x, verbose=0).astype(np.float64)
    data = cache_teacher_outputs(teacher, x, y, batch_size=40, top_k=3, shuffle=False)
    restored = next(iter(data))[2].numpy().astype(np.float64)

    def softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    p, q = softmax(full), softmax(restored)
    top = np.argsort(-full, axis=-1)[:, :3]
    np.testing.assert_allclose(
        np.take_along_axis(q, top, -1), np.take_along_axis(p, top, -1), rtol=1e-5
    )
    rest = 1.0 - np.take_along_axis(p, top, -1).sum(-1)
    np.testing.assert_allclose(
        1.0 - np.take_along_axis(q, top, -1).sum(-1), rest, rtol=1e-4, atol=1e-7
    )


def test_dense_logits_places_values_at_their_classes():
    dense = dense_logits(
        np.array([[5.0, 2.0]], "float32"),
        np.array([[3, 0]], "int32"),
        np.array([[-1.0]], "float32"),
        classes=4,
    )
    np.testing.assert_array_equal(dense.numpy(), [[2.0, -1.0, -1.0, 5.0]])


def test_disk_cache_is_reused_and_refuses_other_inputs(tmp_path, monkeypatch):
    x, y = blobs(32)
    teacher = mlp(hidden=(32,), name="teacher")
    path = str(tmp_path / "cache" / "teacher.npz")
    first = cache_teacher_outputs(teacher, x, y, path=path, shuffle=False)

    def fail(*args, **kwargs):
        raise AssertionError("the teacher ran again instead of the cache loading")

    monkeypatch.setattr(teacher, "predict", fail)
    second = cache_teacher_outputs(teacher, x, y, path=path, shuffle=False)
    for a, b in zip(first.as_numpy_iterator(), second.as_numpy_iterator()):
        np.testing.assert_array_equal(a[2], b[2])
    with pytest.raises(ValueError, match="other inputs"):
        cache_teacher_outputs(teacher, x + 1.0, y, path=path)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["teacher.npz"]


def test_cached_teacher_refuses_augmentation_with_the_reason():
    with pytest.raises(ValueError, match="augment"):
        Distiller(student=mlp(), cached_teacher=True, augmentation=Mixup())


def test_cached_teacher_refuses_a_teacher_model_and_feature_losses():
    with pytest.raises(ValueError, match="`teacher` must be None"):
        Distiller(student=mlp(), teacher=mlp(hidden=(32,)), cached_teacher=True)
    with pytest.raises(ValueError, match="teacher layers"):
        Distiller(
            student=mlp(),
            cached_teacher=True,
            distillation_losses=Hint(teacher_layer="hidden0", student_layer="hidden0"),
        )


def test_cached_distiller_explains_batches_without_teacher_logits():
    x, y = blobs(32)
    d = _distiller(mlp(hidden=(8,)))
    with pytest.raises(ValueError, match="cache_teacher_outputs"):
        d.fit(x, y, epochs=1, verbose=0)


@pytest.mark.parametrize(
    "weights",
    [{"class_weight": {0: 1.0, 1: 2.0, 2: 1.0, 3: 1.0}}, {"sample_weight": "array"}],
)
def test_cached_distiller_refuses_sample_and_class_weights(weights):
    x, y = blobs(32)
    teacher, student, _ = _pair()
    d = _distiller(student)
    before = [w.copy() for w in student.get_weights()]
    if "sample_weight" in weights:
        weights = {"sample_weight": np.ones(32, "float32")}
    data = cache_teacher_outputs(teacher, x, y, batch_size=16)
    with pytest.raises(ValueError, match="cached_teacher=True does not take"):
        d.fit(data, epochs=1, verbose=0, **weights)
    if "sample_weight" in weights:
        with pytest.raises(ValueError, match="does not take sample_weight"):
            d.evaluate(data, verbose=0, **weights)
    for a, b in zip(before, student.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 5}, "more than"),
        ({"path": "teacher.npy"}, ".npz"),
    ],
)
def test_cache_teacher_outputs_rejects_bad_arguments(kwargs, match):
    x, y = blobs(16)
    with pytest.raises(ValueError, match=match):
        cache_teacher_outputs(mlp(hidden=(32,)), x, y, **kwargs)


def test_cached_distiller_config_round_trips():
    d = Distiller(student=mlp(), cached_teacher=True, temperature=4.0)
    again = Distiller.from_config(d.get_config())
    assert again.cached_teacher and again.teacher is None
    assert again.temperature == 4.0
