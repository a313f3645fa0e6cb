"""Distil a 128-128 MLP teacher into a 16-unit student on scikit-learn's digits.

Runs offline in about half a minute on a laptop CPU:

    python examples/quickstart.py
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import keras_distill
from keras_distill import keras


def mlp(hidden, name):
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Rescaling(1 / 16),  # raw pixel values 0..16 go in
            *[keras.layers.Dense(units, activation="relu") for units in hidden],
            keras.layers.Dense(10),  # logits
        ],
        name=name,
    )


def main():
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x.astype("float32"), y, test_size=0.3, random_state=0, stratify=y
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    metrics = ["sparse_categorical_accuracy"]

    teacher = mlp((128, 128), "teacher")
    teacher.compile(optimizer="adam", loss=loss, metrics=metrics)
    teacher.fit(x_train, y_train, epochs=30, verbose=0)

    distiller = keras_distill.Distiller(
        student=mlp((16,), "student"), teacher=teacher, temperature=4.0, alpha=0.1
    )
    distiller.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss, metrics=metrics)
    distiller.fit(
        x_train, y_train, epochs=30, validation_data=(x_test, y_test), verbose=2
    )

    _, teacher_acc = teacher.evaluate(x_test, y_test, verbose=0)
    student_acc = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)[
        "sparse_categorical_accuracy"
    ]
    print(f"teacher  {teacher.count_params():>7,} params  accuracy {teacher_acc:.3f}")
    print(
        f"student  {distiller.student.count_params():>7,} params  "
        f"accuracy {student_acc:.3f}"
    )


if __name__ == "__main__":
    main()
