"""The data contract for Android: a LiteRT model takes the dataset's raw inputs."""

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.data import load_dataset


def _to_litert(model, tmp_path):
    # Until keras_distill.export exists: the plain converter route per flavour.
    if _compat.LEGACY_KERAS:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    else:
        model.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    return interpreter


@pytest.mark.parametrize("name", ["mnist1d", "digits"])
def test_litert_model_with_the_preprocessing_layer_matches_keras_on_raw_inputs(
    name, tmp_path, tmp_path_factory, monkeypatch
):
    # The session's temp root: MNIST-1D is generated once per test session.
    monkeypatch.setenv("KERAS_DISTILL_CACHE", str(tmp_path_factory.getbasetemp()))
    data = load_dataset(name)
    inputs = keras.Input(data.input_shape)
    x = keras.layers.Flatten()(data.preprocessing_layer()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(data.num_classes)(x))
    interpreter = _to_litert(model, tmp_path)
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    raw = data.x_test[:1]  # exactly what the dataset yields, not normalized
    interpreter.set_tensor(input_detail["index"], raw)
    interpreter.invoke()
    litert = interpreter.get_tensor(output_detail["index"])
    expected = model.predict(raw, verbose=0)
    np.testing.assert_allclose(litert, expected, rtol=1e-5, atol=1e-5)
    # The normalization really is inside: the model reacts to raw-scale inputs
    # exactly as Dense(normalized inputs) does in float64.
    dense = model.layers[-1]
    kernel, bias = (np.asarray(w, np.float64) for w in dense.get_weights())
    normalized = data.normalization.apply(raw).reshape(1, -1)
    np.testing.assert_allclose(litert, normalized @ kernel + bias, atol=1e-4)
