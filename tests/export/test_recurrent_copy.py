"""Exporting a recurrent student converts a copy and leaves the student as it was."""

import numpy as np

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.export import count_macs
from keras_distill.export import export_tflite


def test_exporting_a_gru_student_adds_no_call_to_its_layers(tmp_path):
    x = keras.Input((8, 3))
    h = keras.layers.Dense(5, name="embed")(x)
    h = keras.layers.GRU(4, name="gru")(h)
    student = keras.Model(x, keras.layers.Dense(2, name="logits")(h))
    inputs = np.random.default_rng(0).random((4, 8, 3), dtype=np.float32)
    before = (count_macs(student), student.predict(inputs, verbose=0))

    export_tflite(student, tmp_path / "gru.tflite")

    for name in ("embed", "gru", "logits"):
        assert len(_compat.inbound_nodes(student.get_layer(name))) == 1, name
    assert count_macs(student) == before[0]
    np.testing.assert_array_equal(student.predict(inputs, verbose=0), before[1])
    assert not student.get_layer("gru").unroll
