"""End to end on real offline data: a distilled student learns from its teacher."""

import numpy as np
import pytest
from models import sparse_ce
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import keras_distill
from keras_distill._compat import keras


def _mlp(hidden, name):
    return keras.Sequential(
        [
            keras.Input((64,)),
            *[keras.layers.Dense(u, activation="relu") for u in hidden],
            keras.layers.Dense(10),
        ],
        name=name,
    )


@pytest.mark.slow
def test_student_distilled_on_digits_reaches_useful_accuracy():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=0, stratify=y
    )
    teacher = _mlp((128, 128), "teacher")
    teacher.compile("adam", sparse_ce(), metrics=["sparse_categorical_accuracy"])
    teacher.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    teacher_acc = teacher.evaluate(x_test, y_test, verbose=0, return_dict=True)[
        "sparse_categorical_accuracy"
    ]
    distiller = keras_distill.Distiller(
        student=_mlp((16,), "student"), teacher=teacher, temperature=4.0, alpha=0.1
    )
    distiller.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=sparse_ce(),
        metrics=["sparse_categorical_accuracy"],
    )
    distiller.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    student_acc = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)[
        "sparse_categorical_accuracy"
    ]
    chance = 1 / 10
    assert teacher_acc > 0.95
    assert student_acc > 0.9 > chance
    agreement = np.mean(
        distiller.predict(x_test, verbose=0).argmax(-1)
        == teacher.predict(x_test, verbose=0).argmax(-1)
    )
    assert agreement > 0.9
