"""Recurrent and Transformer students: exported, then run in LiteRT against Keras."""

import os

import numpy as np
import pytest
from conftest import keras3_only
from tflite_files import fully_connected_input_dtypes

from keras_distill._compat import keras
from keras_distill.export import TFLiteConversionError
from keras_distill.export import convert as convert_module
from keras_distill.export import export_and_verify
from keras_distill.export import export_tflite
from keras_distill.export.convert import convert_tflite

TIMESTEPS, FEATURES, UNITS, CLASSES = 8, 3, 4, 3
# Largest |LiteRT - Keras| logit: float32 is exact up to rounding; int8 is
# within a few quantization steps of these tiny, untrained students.
TOLERANCE = {"float32": 1e-5, "float16": 5e-3, "dynamic": 1e-5, "int8": 0.15}
RECURRENT = {
    "LSTM": keras.layers.LSTM,
    "GRU": keras.layers.GRU,
    "SimpleRNN": keras.layers.SimpleRNN,
    "Bidirectional": lambda units, **kw: keras.layers.Bidirectional(
        keras.layers.LSTM(units, **kw)
    ),
}


def sequences(n=32):
    return (
        np.random.default_rng(0).normal(size=(n, TIMESTEPS, FEATURES)).astype("float32")
    )


def recurrent_student(kind):
    """Conv1D, then two stacked recurrent layers (the first returns sequences)."""
    layer = RECURRENT[kind]
    return keras.Sequential(
        [
            keras.Input((TIMESTEPS, FEATURES)),
            keras.layers.Conv1D(UNITS, 3, activation="relu"),
            layer(UNITS, return_sequences=True),
            layer(UNITS),
            keras.layers.Dense(CLASSES),
        ],
        name=f"{kind.lower()}_student",
    )


@pytest.mark.parametrize(
    ("kind", "quantization"),
    [
        *[(kind, q) for kind in RECURRENT for q in ("float32", "int8")],
        ("LSTM", "float16"),
        ("LSTM", "dynamic"),
    ],
)
def test_recurrent_student_converts_to_builtin_ops_and_matches_keras(
    tmp_path, kind, quantization
):
    x = sequences()
    student = recurrent_student(kind)
    report = export_and_verify(
        student,
        tmp_path / "s.tflite",
        quantization,
        representative_data=x if quantization == "int8" else None,
        x_eval=x,
        latency_runs=1,
        latency_threads=(1,),
        strict=True,
    )
    assert report.max_abs_logit_diff < TOLERANCE[quantization]
    assert report.input_shape == [-1, TIMESTEPS, FEATURES]  # the batch stays free
    if quantization == "int8":
        assert report.float_ops == []
    # The student keeps its own (rolled) layers; only the exported copy unrolls.
    assert not any(getattr(layer, "unroll", False) for layer in student.layers)


def test_recurrent_file_carries_no_state_between_calls(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    x = sequences(2)
    content = convert_tflite(recurrent_student("LSTM"))
    interpreter = Interpreter(model_content=content)
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], [1, TIMESTEPS, FEATURES])
    interpreter.allocate_tensors()
    out = interpreter.get_output_details()[0]["index"]
    runs = []
    for example in (x[:1], x[1:], x[:1]):
        interpreter.set_tensor(detail["index"], example)
        interpreter.invoke()
        runs.append(interpreter.get_tensor(out).copy())
    np.testing.assert_array_equal(runs[0], runs[2])


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        (keras.layers.LSTM(UNITS, stateful=True), "stateful=False"),
        (keras.layers.GRU(UNITS), r"fixed length.*keras\.Input"),
    ],
)
def test_recurrent_settings_the_converter_cannot_take_are_refused_first(
    tmp_path, monkeypatch, layer, match
):
    monkeypatch.setattr(convert_module, "run_converter", pytest.fail)
    timesteps = TIMESTEPS if match.startswith("stateful") else None
    batch = {"batch_size": 1} if match.startswith("stateful") else {}
    model = keras.Sequential(
        [keras.Input((timesteps, FEATURES), **batch), layer, keras.layers.Dense(2)]
    )
    with pytest.raises(ValueError, match=match) as info:
        export_tflite(model, tmp_path / "s.tflite")
    assert repr(layer.name) in str(info.value)
    assert os.listdir(tmp_path) == []


class PositionEmbedding(keras.layers.Layer):
    """A learned position vector added to each token's embedding."""

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions", shape=tuple(input_shape[1:]), initializer="normal"
        )

    def call(self, inputs):
        return inputs + self.positions


def transformer_student():
    """One encoder block on 6 tokens of a 20-word vocabulary, model width 8."""
    tokens = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(20, 8)(tokens)
    x = PositionEmbedding()(x)
    attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = keras.layers.LayerNormalization()(x + attention)
    hidden = keras.layers.Dense(16, activation="gelu")(x)
    x = keras.layers.LayerNormalization()(x + keras.layers.Dense(8)(hidden))
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, keras.layers.Dense(CLASSES)(x), name="encoder")


@pytest.mark.parametrize("quantization", ["float32", "float16", "dynamic", "int8"])
def test_transformer_encoder_converts_in_every_mode_and_matches_keras(
    tmp_path, quantization
):
    tokens = np.random.default_rng(0).integers(0, 20, size=(32, 6)).astype("int32")
    report = export_and_verify(
        transformer_student(),
        tmp_path / "t.tflite",
        quantization,
        representative_data=tokens if quantization == "int8" else None,
        x_eval=tokens,
        latency_runs=1,
        latency_threads=(1,),
    )
    assert report.max_abs_logit_diff < TOLERANCE[quantization]
    if quantization == "int8":
        assert isinstance(report.float_ops, list)


def test_converter_failure_names_the_layer_and_writes_its_log(tmp_path):
    import tensorflow as tf

    class Loop(keras.layers.Layer):
        """A while loop over a free-length TensorArray, as a custom layer."""

        def call(self, inputs):
            steps = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
            steps = steps.write(0, inputs)
            return steps.stack()[0]

    model = keras.Sequential(
        [keras.Input((4,)), Loop(name="looping"), keras.layers.Dense(2)]
    )
    target = tmp_path / "s.tflite"
    with pytest.raises(TFLiteConversionError, match="TensorList") as info:
        export_tflite(model, target)
    message = str(info.value)
    assert "at layer 'looping'" in message and "loc(" not in message
    log = target.with_suffix(".convert.log")
    assert str(log) in message and "TensorList" in log.read_text()
    assert os.listdir(tmp_path) == ["s.convert.log"]


# QAT students (our Keras 3 engine): LSTM/GRU become RNN(QuantizedLSTMCell /
# QuantizedGRUCell), the encoder QuantizedEmbedding / QuantizedMultiHeadAttention
# / QuantizedEinsumDense. Measured max |LiteRT - Keras| (docs/export.md): 0.004
# (LSTM), 0.008 (GRU), 0.03 (encoder); the bounds leave room for other seeds.
QAT_TOLERANCE = {"LSTM": 0.03, "GRU": 0.03, "encoder": 0.1}
# What an int8 recurrent step leaves in float: the gates, their products and
# the cell state, with the (de)quantization around them.
GATE_OPS = {"LOGISTIC", "TANH", "MUL", "ADD", "SUB", "SPLIT", "FILL"}
BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}


def qat_student(student, x):
    """`compress.quantize(student)`, fitted two steps so the ranges are learned."""
    from keras_distill import compress

    model = compress.quantize(student)
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, np.arange(len(x)) % CLASSES, epochs=1, batch_size=16, verbose=0)
    return model


def qat_recurrent_student(kind):
    return keras.Sequential(
        [
            keras.Input((TIMESTEPS, FEATURES)),
            RECURRENT[kind](UNITS),
            keras.layers.Dense(CLASSES),
        ],
        name=f"qat_{kind.lower()}",
    )


@keras3_only
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_qat_recurrent_student_exports_int8_projections_and_float_gates(tmp_path, kind):
    keras.utils.set_random_seed(0)
    x = sequences()
    model = qat_student(qat_recurrent_student(kind), x)
    cells = [getattr(layer, "cell", None) for layer in model.layers]
    assert f"Quantized{kind}Cell" in [type(cell).__name__ for cell in cells]
    report = export_and_verify(
        model,
        tmp_path / "s.tflite",
        "int8",
        x_eval=x,
        latency_runs=1,
        latency_threads=(1,),
    )
    assert report.max_abs_logit_diff < QAT_TOLERANCE[kind]
    content = (tmp_path / "s.tflite").read_bytes()
    # Two projections per unrolled step (x W + b, h U) and the Dense: all int8.
    dtypes = fully_connected_input_dtypes(content)
    assert dtypes == [("int8", "int8")] * (2 * TIMESTEPS + 1)
    kinds = {op.split(" ")[0] for op in report.float_ops}
    assert {"LOGISTIC", "TANH"} <= kinds <= GATE_OPS | BOUNDARY_OPS
    # strict=True is how to demand integer-only; these float gates fail it.
    with pytest.raises(TFLiteConversionError, match="LOGISTIC"):
        export_tflite(
            model, tmp_path / "strict.tflite", quantization="int8", strict=True
        )
    assert not (tmp_path / "strict.tflite").exists()


def qat_encoder():
    """The encoder block of `transformer_student`, without the custom layer."""
    tokens = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(20, 8)(tokens)
    attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = keras.layers.LayerNormalization()(x + attention)
    hidden = keras.layers.Dense(16, activation="relu")(x)
    x = keras.layers.LayerNormalization()(x + keras.layers.Dense(8)(hidden))
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, keras.layers.Dense(CLASSES)(x), name="qat_encoder")


@pytest.fixture(scope="module")
def qat_encoder_export(tmp_path_factory):
    """The QAT encoder's int8 file and report, converted once for the module."""
    keras.utils.set_random_seed(0)
    tokens = np.random.default_rng(0).integers(0, 20, size=(32, 6)).astype("int32")
    model = qat_student(qat_encoder(), tokens)
    path = tmp_path_factory.mktemp("qat_encoder") / "e.tflite"
    report = export_and_verify(
        model, path, "int8", x_eval=tokens, latency_runs=1, latency_threads=(1,)
    )
    return report, path.read_bytes()


@keras3_only
def test_qat_encoder_exports_int8_and_keeps_layer_norm_in_float(qat_encoder_export):
    report, content = qat_encoder_export
    assert report.max_abs_logit_diff < QAT_TOLERANCE["encoder"]
    assert ("int8", "int8") in fully_connected_input_dtypes(content)
    kinds = {op.split(" ")[0] for op in report.float_ops}
    assert {"RSQRT", "SQUARED_DIFFERENCE"} <= kinds  # LayerNormalization


@keras3_only
def test_qat_encoder_every_fully_connected_is_int8(qat_encoder_export):
    # Q, K, V, attention output, both per-token Dense and the logits. The
    # per-token ones were float on dequantized weights while their bias was
    # added after the RESHAPE back to (batch, tokens, ...) (docs/export.md).
    _, content = qat_encoder_export
    assert fully_connected_input_dtypes(content) == [("int8", "int8")] * 7
