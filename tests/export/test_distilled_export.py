"""End to end in either Keras flavour: distil, then export int8 and verify in LiteRT."""

import export_testing as et
import numpy as np

from keras_distill import Distiller
from keras_distill._compat import keras
from keras_distill.export import TFLiteReport
from keras_distill.export import export_and_verify


def test_distilled_student_exports_to_verified_int8(tmp_path):
    x_train, y_train, x_test, y_test = et.digits()
    teacher = et.trained_student("teacher")
    mean, variance = et.normalization_stats()
    student = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Normalization(mean=mean, variance=variance),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="small_student",
    )
    distiller = Distiller(student=student, teacher=teacher, temperature=3.0, alpha=0.1)
    distiller.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    distiller.fit(x_train.astype("float32"), y_train, epochs=3, verbose=0)

    report = export_and_verify(
        distiller.student,
        tmp_path / "small_student_int8.tflite",
        "int8",
        representative_data=x_train,
        x_eval=x_test,
        y_eval=y_test,
        latency_runs=3,
    )
    keras_accuracy = np.mean(
        student.predict(x_test.astype("float32"), verbose=0).argmax(1) == y_test
    )
    assert keras_accuracy > 0.8  # the distilled student learned the task
    # Same examples; a different predict batch size may flip a near-tie.
    assert abs(report.keras_accuracy - keras_accuracy) <= 2 / len(y_test)
    assert report.accuracy >= keras_accuracy - 0.03
    assert report.top1_agreement >= 0.95
    assert TFLiteReport.load_json(tmp_path / "small_student_int8.json") == report
