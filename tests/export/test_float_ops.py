"""Tests for float ops in int8 files: TFLiteReport.float_ops and strict=True."""

import os

import numpy as np
import pytest

from keras_distill._compat import keras
from keras_distill.compress import quantize
from keras_distill.export import TFLiteConversionError
from keras_distill.export import TFLiteReport
from keras_distill.export import export_and_verify
from keras_distill.export import export_tflite
from keras_distill.export import find_float_ops


def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def tiny_model():
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="first"),
            keras.layers.Dense(2, name="logits"),
        ]
    )


def qat_leaving_logits_in_float():
    """A QAT model whose `layers=` selection leaves the last Dense in float."""
    return quantize(tiny_model(), layers=["first"])


def test_qat_layer_left_in_float_is_reported_with_its_layer(tmp_path):
    x, y = tiny_data()
    report = export_and_verify(
        qat_leaving_logits_in_float(),
        tmp_path / "q.tflite",
        "int8",
        x_eval=x,
        y_eval=y,
        latency_runs=1,
        latency_threads=(1,),
    )
    kinds = [op.split(" ")[0] for op in report.float_ops]
    assert "FULLY_CONNECTED" in kinds
    assert any("'logits'" in op for op in report.float_ops)
    # QUANTIZE of the float input is the file's boundary, not float compute.
    assert "QUANTIZE" not in kinds
    assert "float ops in an int8 file" in report.summary()
    saved = TFLiteReport.load_json(tmp_path / "q.json")
    assert saved.float_ops == report.float_ops
    assert TFLiteReport.from_dict(report.to_dict()) == report


def test_fully_int8_file_has_no_float_ops_and_float32_has_none_reported(tmp_path):
    x, y = tiny_data()
    common = dict(x_eval=x, y_eval=y, latency_runs=1, latency_threads=(1,))
    int8 = export_and_verify(
        tiny_model(),
        tmp_path / "i.tflite",
        "int8",
        representative_data=x,
        strict=True,
        **common,
    )
    assert int8.float_ops == []
    float32 = export_and_verify(tiny_model(), tmp_path / "f.tflite", **common)
    assert float32.float_ops is None
    assert "FULLY_CONNECTED" in " ".join(
        find_float_ops((tmp_path / "f.tflite").read_bytes())
    )


def test_strict_refuses_float_ops_names_them_and_keeps_the_previous_file(tmp_path):
    target = tmp_path / "q.tflite"
    target.write_bytes(b"previous model")
    with pytest.raises(TFLiteConversionError, match="strict=True") as info:
        export_tflite(
            qat_leaving_logits_in_float(), target, quantization="int8", strict=True
        )
    message = str(info.value)
    assert "FULLY_CONNECTED in layer 'logits'" in message
    assert "layers=" in message and "Nothing was written" in message
    assert target.read_bytes() == b"previous model"
    assert os.listdir(tmp_path) == ["q.tflite"]
