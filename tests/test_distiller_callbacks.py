"""Keras' checkpointing callbacks save and restore a Distiller's training."""

import numpy as np
import pytest
from models import blobs
from models import mlp
from models import sparse_ce

import keras_distill
from keras_distill._compat import keras

EPOCHS = 4


def _distiller(initial_weights=None):
    teacher = mlp(hidden=(32,), name="teacher")
    student = mlp(hidden=(8,), name="student")
    if initial_weights is not None:
        teacher.set_weights(initial_weights[0])
        student.set_weights(initial_weights[1])
    d = keras_distill.Distiller(student=student, teacher=teacher, alpha=0.3)
    d.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=sparse_ce(),
        metrics=["sparse_categorical_accuracy"],
    )
    return d


class _Interrupt(keras.callbacks.Callback):
    """Fails at the start of epoch `at`, like a pre-empted machine."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise RuntimeError("pre-empted")


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def test_backup_and_restore_resumes_an_interrupted_run_where_it_stopped(tmp_path):
    x, y = blobs(64)
    reference = _distiller()
    initial = (reference.teacher.get_weights(), reference.student.get_weights())
    reference.fit(x, y, batch_size=16, epochs=EPOCHS, shuffle=False, verbose=0)

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    interrupted = _distiller(initial)
    with pytest.raises(RuntimeError, match="pre-empted"):
        interrupted.fit(
            x,
            y,
            batch_size=16,
            epochs=EPOCHS,
            shuffle=False,
            callbacks=[backup, _Interrupt(at=2)],
            verbose=0,
        )

    resumed = _distiller(initial)  # a fresh process would rebuild the models
    epochs = _Epochs()
    resumed.fit(
        x,
        y,
        batch_size=16,
        epochs=EPOCHS,
        shuffle=False,
        callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), epochs],
        verbose=0,
    )
    assert epochs.seen == [2, 3]
    # Weights and optimizer state (momentum) were restored: same end point.
    for got, want in zip(
        resumed.student.get_weights(), reference.student.get_weights()
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for got, want in zip(resumed.teacher.get_weights(), initial[0]):
        np.testing.assert_array_equal(got, want)  # the teacher never trains


def test_model_checkpoint_keeps_the_best_student_by_a_distillation_metric(tmp_path):
    x, y = blobs(64)
    d = _distiller()
    path = tmp_path / "best.weights.h5"
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(path),
        monitor="val_sparse_categorical_accuracy",
        mode="max",
        save_best_only=True,
        save_weights_only=True,
    )
    history = d.fit(
        x, y, validation_data=(x, y), epochs=3, callbacks=[checkpoint], verbose=0
    )
    assert "val_distillation_loss" in history.history
    assert path.is_file()

    restored = _distiller()
    restored.load_weights(str(path))
    best = max(history.history["val_sparse_categorical_accuracy"])
    logs = restored.evaluate(x, y, return_dict=True, verbose=0)
    assert logs["sparse_categorical_accuracy"] == pytest.approx(best, abs=1e-6)
