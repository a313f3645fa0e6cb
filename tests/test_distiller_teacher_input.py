"""A teacher that reads other inputs than the student (`teacher_input=`).

keras-io#1329: a teacher at a higher resolution, on longer sequences or on its
own preprocessing. The Distiller maps each batch to the teacher's inputs
inside the step; the mapping is checked against the teacher's input shape
before training and saved with the Distiller.
"""

import numpy as np
import pytest
import tensorflow as tf
from reference import kl_per_example

from keras_distill import Distiller
from keras_distill._compat import keras
from keras_distill.augmentation import Mixup

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _cnn(size, name):
    x = keras.Input((size, size, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu")(x)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(3)(h), name=name)


def _data(n=16):
    rng = np.random.default_rng(0)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, n)


def test_teacher_reads_the_mapped_batch_loss_matches_float64_reference():
    teacher, student = _cnn(16, "teacher"), _cnn(8, "student")
    resize = keras.layers.Resizing(16, 16)
    distiller = Distiller(
        student=student,
        teacher=teacher,
        alpha=0.0,
        temperature=2.0,
        teacher_input=resize,
    )
    distiller.compile(optimizer="sgd", loss=LOSS)
    x, y = _data()
    logs = distiller.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    t = teacher.predict(resize(x), verbose=0).astype(np.float64)
    s = student.predict(x, verbose=0).astype(np.float64)
    want = np.mean(kl_per_example(t, s, 2.0))  # T^2 * KL, per example
    assert logs["distillation_loss"] == pytest.approx(want, rel=1e-5)
    history = distiller.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


def test_teacher_input_runs_after_augmentation():
    seen = []

    def upsample(x):
        seen.append(tuple(x.shape))
        return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)

    distiller = Distiller(
        student=_cnn(8, "student"),
        teacher=_cnn(16, "teacher"),
        augmentation=Mixup(alpha=0.2),
        teacher_input=upsample,
    )
    distiller.compile(optimizer="sgd", loss=LOSS)
    x, y = _data()
    distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert seen and all(shape[1:] == (8, 8, 1) for shape in seen)


def test_different_inputs_without_teacher_input_say_how_to_map_them():
    with pytest.raises(ValueError, match="teacher_input="):
        Distiller(student=_cnn(8, "student"), teacher=_cnn(16, "teacher"))


def test_teacher_input_of_the_wrong_shape_is_refused_before_training():
    with pytest.raises(ValueError, match=r"maps the student's inputs .* reads"):
        Distiller(
            student=_cnn(8, "student"),
            teacher=_cnn(16, "teacher"),
            teacher_input=keras.layers.Resizing(12, 12),
        )
    with pytest.raises(TypeError, match="must be a callable"):
        Distiller(
            student=_cnn(8, "student"),
            teacher=_cnn(16, "teacher"),
            teacher_input=(16, 16),
        )


def test_teacher_input_with_cached_teacher_is_refused():
    with pytest.raises(ValueError, match="cached_teacher"):
        Distiller(
            student=_cnn(8, "student"),
            cached_teacher=True,
            teacher_input=keras.layers.Resizing(16, 16),
        )


def test_teacher_input_layer_is_saved_with_the_distiller(tmp_path):
    distiller = Distiller(
        student=_cnn(8, "student"),
        teacher=_cnn(16, "teacher"),
        teacher_input=keras.layers.Resizing(16, 16),
    )
    distiller.compile(optimizer="sgd", loss=LOSS)
    x, y = _data()
    before = distiller.evaluate(x, y, return_dict=True, verbose=0)
    distiller.save(tmp_path / "d.keras")
    loaded = keras.models.load_model(tmp_path / "d.keras")
    assert isinstance(loaded.teacher_input, keras.layers.Resizing)
    after = loaded.evaluate(x, y, return_dict=True, verbose=0)
    assert after["distillation_loss"] == pytest.approx(before["distillation_loss"])
