"""Distiller training and evaluation behaviour, in the active Keras flavour."""

import numpy as np
import pytest
import tensorflow as tf
from models import blobs
from models import mlp
from models import sparse_ce
from reference import dkd_per_example
from reference import kl_per_example
from reference import log_softmax
from reference import softmax
from reference import sparse_ce_per_example

import keras_distill
from keras_distill._compat import keras


def _distiller(alpha=0.3, temperature=2.0, student=None, teacher=None, **compile_kw):
    teacher = teacher or mlp(hidden=(32,), name="teacher")
    student = student or mlp(hidden=(8,), name="student")
    d = keras_distill.Distiller(
        student=student, teacher=teacher, alpha=alpha, temperature=temperature
    )
    compile_kw.setdefault("optimizer", keras.optimizers.SGD(0.1))
    compile_kw.setdefault("loss", sparse_ce())
    compile_kw.setdefault("metrics", ["sparse_categorical_accuracy"])
    d.compile(**compile_kw)
    return d


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


def test_evaluate_loss_is_alpha_blend_of_student_and_distillation_losses():
    x, y = blobs(32)
    d = _distiller(alpha=0.3, temperature=2.0)
    logs = d.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    t = d.teacher.predict(x, verbose=0)
    s = d.student.predict(x, verbose=0)
    student_loss = sparse_ce_per_example(y, s).mean()
    distill = kl_per_example(t, s, 2.0).mean()
    np.testing.assert_allclose(logs["student_loss"], student_loss, rtol=1e-5)
    np.testing.assert_allclose(logs["distillation_loss"], distill, rtol=1e-5)
    np.testing.assert_allclose(
        logs["loss"], 0.3 * student_loss + 0.7 * distill, rtol=1e-5
    )
    accuracy = (s.argmax(-1) == y).mean()
    np.testing.assert_allclose(logs["sparse_categorical_accuracy"], accuracy)


def test_train_step_updates_only_the_student_and_keeps_teacher_batchnorm_stats():
    x, y = blobs(64)
    inputs = keras.Input((8,))
    h = keras.layers.Dense(16)(inputs)
    h = keras.layers.BatchNormalization()(h)
    teacher = keras.Model(inputs, keras.layers.Dense(4)(h), name="bn_teacher")
    d = _distiller(teacher=teacher)
    teacher_before, student_before = _weights(teacher), _weights(d.student)
    d.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for before, after in zip(teacher_before, _weights(teacher)):
        np.testing.assert_array_equal(before, after)
    assert any(
        not np.array_equal(b, a) for b, a in zip(student_before, _weights(d.student))
    )
    assert not teacher.trainable


def test_one_sgd_step_follows_the_float64_gradient():
    """Gradient of the blended loss w.r.t. the student's logits layer bias."""
    x, y = blobs(16)
    lr, alpha, temperature = 0.5, 0.25, 3.0
    d = _distiller(
        alpha=alpha, temperature=temperature, optimizer=keras.optimizers.SGD(lr)
    )
    t = d.teacher.predict(x, verbose=0).astype(np.float64)
    s = d.student.predict(x, verbose=0).astype(np.float64)
    onehot = np.eye(4)[y]
    # d/ds of alpha * CE + (1 - alpha) * T^2 KL, averaged over the batch.
    grad_logits = (
        alpha * (softmax(s) - onehot)
        + (1 - alpha)
        * temperature
        * (softmax(s / temperature) - softmax(t / temperature))
    ) / len(x)
    bias = d.student.get_layer("logits").bias
    before = bias.numpy().astype(np.float64)
    d.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        bias.numpy(), before - lr * grad_logits.sum(0), atol=1e-5
    )


def test_student_regularization_losses_are_added():
    x, y = blobs(32)
    student = mlp(hidden=(8,), kernel_regularizer=keras.regularizers.L2(0.5))
    d = _distiller(student=student)
    logs = d.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    penalty = 0.5 * float(np.sum(student.get_layer("hidden0").kernel.numpy() ** 2))
    blended = 0.3 * logs["student_loss"] + 0.7 * logs["distillation_loss"]
    np.testing.assert_allclose(logs["loss"] - blended, penalty, rtol=1e-4)


def test_fit_logs_losses_and_metrics_for_train_and_validation():
    x, y = blobs(64)
    d = _distiller()
    history = d.fit(x, y, validation_data=(x, y), epochs=2, batch_size=16, verbose=0)
    for key in (
        "loss",
        "student_loss",
        "distillation_loss",
        "sparse_categorical_accuracy",
    ):
        assert key in history.history and f"val_{key}" in history.history
        assert len(history.history[key]) == 2


def test_compiled_teacher_metrics_do_not_leak_into_logs():
    x, y = blobs(32)
    teacher = mlp(hidden=(16,))
    teacher.compile("adam", sparse_ce(), metrics=["accuracy"])
    teacher.fit(x, y, epochs=1, verbose=0)
    logs = _distiller(teacher=teacher).evaluate(x, y, return_dict=True, verbose=0)
    assert set(logs) == {
        "loss",
        "student_loss",
        "distillation_loss",
        "sparse_categorical_accuracy",
    }


def test_predict_and_call_return_the_student_outputs():
    x, _ = blobs(16)
    d = _distiller()
    np.testing.assert_allclose(
        d.predict(x, verbose=0), d.student.predict(x, verbose=0), rtol=1e-6
    )


def test_keras_io_compile_arguments_run_unchanged():
    x, y = blobs(64)
    d = keras_distill.Distiller(student=mlp(hidden=(8,)), teacher=mlp(hidden=(32,)))
    d.compile(
        optimizer=keras.optimizers.Adam(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=sparse_ce(),
        distillation_loss_fn=keras.losses.KLDivergence(),
        alpha=0.1,
        temperature=10,
    )
    assert (d.alpha, d.temperature) == (pytest.approx(0.1), 10.0)
    logs = d.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    t, s = d.teacher.predict(x, verbose=0), d.student.predict(x, verbose=0)
    np.testing.assert_allclose(
        logs["distillation_loss"], kl_per_example(t, s, 10.0).mean(), rtol=1e-3
    )
    d.fit(x, y, epochs=1, verbose=0)


def _keras_io_compile(d, fn=None):
    d.compile(
        optimizer=keras.optimizers.Adam(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=sparse_ce(),
        distillation_loss_fn=fn or keras.losses.KLDivergence(),
        alpha=0.1,
        temperature=10,
    )


def test_keras_io_compile_runs_again_unchanged_as_a_notebook_rerun_does():
    x, y = blobs(32)
    d = keras_distill.Distiller(student=mlp(hidden=(8,)), teacher=mlp(hidden=(32,)))
    _keras_io_compile(d)
    first = d.evaluate(x, y, return_dict=True, verbose=0)
    losses = list(d.distillation_losses)
    _keras_io_compile(d)
    assert d.distillation_losses == losses  # the same loss objects, kept
    assert d.evaluate(x, y, return_dict=True, verbose=0) == first


def test_keras_io_compile_with_another_function_replaces_the_one_compile_set():
    x, y = blobs(32)
    d = keras_distill.Distiller(student=mlp(hidden=(8,)), teacher=mlp(hidden=(32,)))
    _keras_io_compile(d)
    _keras_io_compile(d, fn=keras.losses.MeanSquaredError())
    [loss] = d.distillation_losses
    assert isinstance(loss.fn, keras.losses.MeanSquaredError)
    logs = d.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    t, s = d.teacher.predict(x, verbose=0), d.student.predict(x, verbose=0)
    want = ((softmax(s / 10) - softmax(t / 10)) ** 2).mean(-1) * 100
    np.testing.assert_allclose(logs["distillation_loss"], want.mean(), rtol=1e-4)


def test_one_hot_labels_and_tf_data_input():
    x, y = blobs(64)
    onehot = np.eye(4, dtype="float32")[y]
    d = _distiller(
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["categorical_accuracy"],
    )
    ds = tf.data.Dataset.from_tensor_slices((x, onehot)).batch(16)
    history = d.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    logs = d.evaluate(ds, return_dict=True, verbose=0)
    s = d.student.predict(x, verbose=0)
    np.testing.assert_allclose(
        logs["student_loss"], -(onehot * log_softmax(s)).sum(-1).mean(), rtol=1e-5
    )


def test_sample_weight_weights_both_terms_per_example():
    x, y = blobs(32)
    w = np.linspace(0.0, 2.0, len(x)).astype("float32")
    d = _distiller(alpha=0.4, temperature=2.0)
    logs = d.evaluate(x, y, sample_weight=w, batch_size=32, return_dict=True, verbose=0)
    t, s = d.teacher.predict(x, verbose=0), d.student.predict(x, verbose=0)
    np.testing.assert_allclose(
        logs["distillation_loss"],
        (w * kl_per_example(t, s, 2.0)).sum() / len(x),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        logs["student_loss"],
        (w * sparse_ce_per_example(y, s)).sum() / len(x),
        rtol=1e-5,
    )


@pytest.mark.parametrize("weighting", ["sample_weight", "class_weight"])
def test_all_zero_weights_leave_the_student_unchanged(weighting):
    x, y = blobs(64)
    d = _distiller()
    before = _weights(d.student)
    if weighting == "sample_weight":
        d.fit(x, y, sample_weight=np.zeros(len(x), "float32"), epochs=1, verbose=0)
    else:
        d.fit(x, y, class_weight={c: 0.0 for c in range(4)}, epochs=1, verbose=0)
    for b, a in zip(before, _weights(d.student)):
        np.testing.assert_array_equal(b, a)


def test_distils_without_labels_when_alpha_is_zero():
    x, _ = blobs(64)
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,)), teacher=mlp(hidden=(32,)), alpha=0.0
    )
    d.compile(optimizer=keras.optimizers.SGD(0.5))
    history = d.fit(
        tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=3, verbose=0
    )
    losses = history.history["distillation_loss"]
    assert losses[-1] < losses[0]
    assert history.history["student_loss"] == [0.0, 0.0, 0.0]


def test_unlabelled_data_with_positive_alpha_is_refused_before_training():
    x, _ = blobs(32)
    d = _distiller(alpha=0.5)
    before = _weights(d.student)
    with pytest.raises(ValueError, match="no labels .*alpha=0"):
        d.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=1, verbose=0)
    for b, a in zip(before, _weights(d.student)):
        np.testing.assert_array_equal(b, a)


def test_alpha_ceiling_refuses_unlabelled_data_before_alpha_rises():
    x, _ = blobs(32)
    d = _distiller(alpha=0.0)
    assert d.alpha_ceiling == 0.0
    d.alpha_ceiling = 0.5  # alpha will rise to 0.5 later in this fit
    with pytest.raises(ValueError, match="no labels but alpha=0.5"):
        d.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="`alpha_ceiling` must be"):
        d.alpha_ceiling = 1.5


def test_several_teachers_distil_their_weighted_mean_distribution():
    x, y = blobs(32)
    t1, t2 = mlp(hidden=(16,), name="t1"), mlp(hidden=(24,), name="t2")
    student = mlp(hidden=(8,))
    d = keras_distill.Distiller(
        student=student,
        teacher=[t1, t2],
        teacher_weights=[3, 1],
        alpha=0.0,
        temperature=2.0,
    )
    d.compile(optimizer="sgd")
    logs = d.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    p = 0.75 * softmax(t1.predict(x, verbose=0) / 2) + 0.25 * softmax(
        t2.predict(x, verbose=0) / 2
    )
    log_q = log_softmax(student.predict(x, verbose=0) / 2)
    want = 4 * (p * (np.log(p) - log_q)).sum(-1).mean()
    np.testing.assert_allclose(logs["distillation_loss"], want, rtol=1e-5)


@pytest.mark.parametrize("loss", ["mse", "hint"])
@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_several_teachers_give_logit_losses_their_weighted_mean_logits(
    loss, temperature
):
    x, y = blobs(32)
    t1, t2 = mlp(hidden=(16,), name="t1"), mlp(hidden=(24,), name="t2")
    student = mlp(hidden=(8,))
    d = keras_distill.Distiller(
        student=student,
        teacher=[t1, t2],
        teacher_weights=[3, 1],
        alpha=0.0,
        temperature=temperature,
        distillation_losses=loss,
    )
    d.compile(optimizer="sgd")
    logs = d.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    mean = 0.75 * t1.predict(x, verbose=0).astype("float64") + 0.25 * t2.predict(
        x, verbose=0
    ).astype("float64")
    want = ((student.predict(x, verbose=0) - mean) ** 2).mean(-1).mean()
    np.testing.assert_allclose(logs["distillation_loss"], want, rtol=1e-5)


def test_dkd_in_the_distiller_targets_the_labels_and_the_teacher_without_them():
    x, y = blobs(32)
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,)),
        teacher=mlp(hidden=(16,)),
        alpha=0.0,
        temperature=4.0,
        distillation_losses="dkd",
    )
    d.compile(optimizer=keras.optimizers.SGD(0.0))
    t, s = d.teacher.predict(x, verbose=0), d.student.predict(x, verbose=0)
    assert (t.argmax(-1) != y).any()  # an untrained teacher: labels differ
    labelled = d.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    want = dkd_per_example(t, s, 4.0, 1.0, 8.0, labels=y).mean()
    np.testing.assert_allclose(labelled["distillation_loss"], want, rtol=1e-4)
    history = d.fit(x, batch_size=32, epochs=1, verbose=0)
    want = dkd_per_example(t, s, 4.0, 1.0, 8.0, labels=t.argmax(-1)).mean()
    np.testing.assert_allclose(history.history["distillation_loss"], [want], rtol=1e-4)


def test_temperature_and_alpha_changes_apply_without_recompiling():
    x, y = blobs(32)
    d = _distiller(alpha=0.3, temperature=2.0)
    first = d.evaluate(x, y, return_dict=True, verbose=0)
    d.temperature, d.alpha = 5.0, 1.0
    second = d.evaluate(x, y, return_dict=True, verbose=0)
    t, s = d.teacher.predict(x, verbose=0), d.student.predict(x, verbose=0)
    np.testing.assert_allclose(
        second["distillation_loss"], kl_per_example(t, s, 5.0).mean(), rtol=1e-5
    )
    np.testing.assert_allclose(second["loss"], second["student_loss"], rtol=1e-6)
    assert first["distillation_loss"] != second["distillation_loss"]


def test_config_round_trip_and_student_saves_as_keras_file(tmp_path):
    x, y = blobs(32)
    d = _distiller(alpha=0.25, temperature=4.0)
    d.fit(x, y, epochs=1, verbose=0)
    config = d.get_config()
    restored = keras_distill.Distiller.from_config(config)
    assert restored.temperature == 4.0
    assert restored.alpha == pytest.approx(0.25)
    assert [type(loss) for loss in restored.distillation_losses] == [
        keras_distill.losses.KLDivergence
    ]
    path = tmp_path / "student.keras"
    d.student.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), d.student.predict(x, verbose=0), rtol=1e-6
    )


def test_standard_callbacks_work_with_fit(tmp_path):
    x, y = blobs(64)
    d = _distiller()
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=1e9),
        keras.callbacks.ModelCheckpoint(
            str(tmp_path / "ckpt.weights.h5"), save_weights_only=True
        ),
        keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb")),
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
    ]
    history = d.fit(
        x, y, validation_data=(x, y), epochs=5, callbacks=callbacks, verbose=0
    )
    assert len(history.history["loss"]) == 2  # stopped by EarlyStopping
    assert (tmp_path / "ckpt.weights.h5").exists()
    assert any((tmp_path / "tb").rglob("*tfevents*"))
