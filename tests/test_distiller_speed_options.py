"""Mixed precision, XLA and steps_per_execution with the Distiller."""

import numpy as np
import pytest
import tensorflow as tf
from models import blobs
from models import mlp
from models import sparse_ce

from keras_distill import Distiller
from keras_distill._compat import keras


@pytest.fixture
def policy():
    """Sets a global dtype policy for one test and restores float32 after it."""
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy("float32")


def _distiller(**compile_kwargs):
    keras.utils.set_random_seed(0)
    teacher = mlp(hidden=(32,), name="teacher")
    student = mlp(hidden=(8,), name="student")
    d = Distiller(student=student, teacher=teacher, temperature=2.0, alpha=0.3)
    d.compile(optimizer=keras.optimizers.SGD(0.1), loss=sparse_ce(), **compile_kwargs)
    return d


def _fit(x, y, **compile_kwargs):
    d = _distiller(**compile_kwargs)
    history = d.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    return d, history.history


@pytest.mark.parametrize("name", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_with_float32_distillation_loss(policy, name):
    policy(name)
    x, y = blobs(64)
    d = _distiller()
    before = _weights(d)
    history = d.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    compute_dtype = tf.float16 if name == "mixed_float16" else tf.bfloat16
    assert d.student.layers[-1].compute_dtype == compute_dtype.name
    logits = d.student(x[:8], training=False)
    assert logits.dtype == compute_dtype
    losses = d._compute_losses(
        y[:8], {None: d.teacher(x[:8], training=False)}, {None: logits}, None
    )
    total, student_loss, distill, _ = losses
    assert [t.dtype for t in (total, student_loss, distill)] == [tf.float32] * 3
    assert np.isfinite(history["loss"][-1])
    assert history["distillation_loss"][-1] > 0
    # The student's weights stay float32 and every one of them moved.
    assert [w.dtype for w in d.student.weights] == [tf.float32] * len(before)
    for b, a in zip(before, _weights(d)):
        assert np.abs(a - b).max() > 1e-6
    if name == "mixed_float16":
        assert "LossScaleOptimizer" in type(d.optimizer).__name__


def _weights(d):
    return [np.array(w.numpy()) for w in d.student.weights]


def test_jit_compile_matches_graph_mode():
    x, y = blobs(64)
    graph, graph_logs = _fit(x, y, jit_compile=False)
    xla, xla_logs = _fit(x, y, jit_compile=True)
    for a, b in zip(_weights(graph), _weights(xla)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xla_logs["loss"], graph_logs["loss"], rtol=1e-4)


def test_steps_per_execution_matches_one_step_per_call():
    x, y = blobs(64)
    one, one_logs = _fit(x, y, steps_per_execution=1)
    four, four_logs = _fit(x, y, steps_per_execution=4)
    for a, b in zip(_weights(one), _weights(four)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(four_logs["loss"], one_logs["loss"], rtol=1e-5)
