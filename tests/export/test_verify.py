"""Tests for verify_tflite, TFLiteReport, write_labels and export_and_verify."""

import gzip
import json
import os

import export_testing as et
import numpy as np
import pytest
import tensorflow as tf

from keras_distill.export import TFLiteReport
from keras_distill.export import convert as convert_module
from keras_distill.export import export_and_verify
from keras_distill.export import export_tflite
from keras_distill.export import verify_tflite
from keras_distill.export import write_labels
from keras_distill.export.labels import check_class_names

CLASS_NAMES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
]


@pytest.fixture(scope="module")
def float32_file(tmp_path_factory):
    """One float32 file shared by the read-only tests (a conversion takes ~1 s)."""
    folder = tmp_path_factory.mktemp("float32")
    return export_tflite(et.trained_student(), folder / "student.tflite")


def reference_accuracy() -> float:
    _, _, x_test, y_test = et.digits()
    return float(np.mean(et.reference_logits(x_test).argmax(1) == y_test))


def test_report_measures_the_file(float32_file):
    _, _, x_test, y_test = et.digits()
    report = verify_tflite(
        float32_file,
        x_test,
        y_test,
        keras_model=et.trained_student(),
        quantization="float32",
        latency_runs=7,
    )
    content = float32_file.read_bytes()
    assert report.file_bytes == len(content) == os.path.getsize(float32_file)
    assert report.gzip_bytes == len(gzip.compress(content, compresslevel=9))
    assert report.num_examples == len(x_test) == 500
    assert report.accuracy == pytest.approx(reference_accuracy(), abs=1e-12)
    assert report.accuracy > 0.8  # a trained model, far above 10% chance
    assert report.keras_accuracy == pytest.approx(report.accuracy, abs=1e-12)
    assert report.top1_agreement == 1.0
    assert report.max_abs_logit_diff < 2e-5
    assert 0 < report.latency_ms_median < 1000 and report.latency_runs == 7
    assert report.input_shape == [-1, 64] and report.num_classes == 10
    assert (report.input_dtype, report.output_dtype) == ("float32", "float32")
    assert report.path == str(float32_file)
    assert report.litert_version and report.tensorflow_version == tf.__version__


def test_one_hot_labels_and_a_dataset_give_the_same_accuracy(float32_file):
    _, _, x_test, y_test = et.digits()
    sparse = verify_tflite(float32_file, x_test, y_test, latency_runs=1).accuracy
    one_hot = np.eye(10)[y_test]
    assert verify_tflite(float32_file, x_test, one_hot, latency_runs=1).accuracy == (
        sparse
    )
    dataset = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(64)
    from_dataset = verify_tflite(float32_file, dataset, latency_runs=1)
    assert from_dataset.accuracy == sparse and from_dataset.num_examples == 500


def test_small_batch_size_gives_the_same_outputs_as_one_big_batch(float32_file):
    _, _, x_test, y_test = et.digits()
    big = verify_tflite(float32_file, x_test, y_test, latency_runs=1, batch_size=512)
    small = verify_tflite(float32_file, x_test, y_test, latency_runs=1, batch_size=7)
    assert small.accuracy == big.accuracy  # 500 = 71 * 7 + 3: padding is dropped


def test_int8_io_file_is_fed_raw_float_inputs(tmp_path):
    x_train, _, x_test, y_test = et.digits()
    path = export_tflite(
        et.trained_student(),
        tmp_path / "s.tflite",
        quantization="int8",
        representative_data=x_train,
        int8_io=True,
    )
    report = verify_tflite(path, x_test, y_test, keras_model=et.trained_student())
    assert (report.input_dtype, report.output_dtype) == ("int8", "int8")
    assert report.top1_agreement >= 0.95
    assert report.accuracy >= reference_accuracy() - 0.03
    # Dequantized logits are on the Keras scale, not raw int8 codes.
    assert report.max_abs_logit_diff < 2.0


def test_report_round_trips_through_json(float32_file, tmp_path):
    _, _, x_test, y_test = et.digits()
    report = verify_tflite(float32_file, x_test, y_test, latency_runs=1)
    path = report.save_json(tmp_path / "student.json")
    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    assert data["accuracy"] == report.accuracy and data["keras_accuracy"] is None
    assert TFLiteReport.load_json(path) == report
    assert TFLiteReport.from_dict(report.to_dict()) == report
    assert not [p for p in os.listdir(tmp_path) if p.endswith((".tmp", ".probe"))]


def test_report_from_dict_rejects_unknown_and_missing_keys():
    with pytest.raises(ValueError, match="Unknown TFLiteReport keys"):
        TFLiteReport.from_dict({"path": "a", "speed": 1})
    with pytest.raises(ValueError, match="Incomplete"):
        TFLiteReport.from_dict({"path": "a"})


@pytest.mark.parametrize(
    ("x", "y", "error", "match"),
    [
        (np.zeros((5, 63)), None, ValueError, r"`x` has examples of shape \(5, 63\)"),
        (np.zeros((5, 64)), np.zeros(4), ValueError, "4 labels for 5 examples"),
        (np.zeros((5, 64)), np.full(5, 10), ValueError, r"in \[0, 10\)"),
        (np.zeros((5, 64)), np.zeros((5, 3)), ValueError, "one-hot"),
        (np.full((5, 64), "x"), None, TypeError, "dtype <U1"),
    ],
)
def test_bad_evaluation_data_raises_clear_error(float32_file, x, y, error, match):
    with pytest.raises(error, match=match):
        verify_tflite(float32_file, x, y)


def test_verify_rejects_missing_and_invalid_files(tmp_path):
    x = np.zeros((2, 64))
    with pytest.raises(FileNotFoundError, match="is not a file"):
        verify_tflite(tmp_path / "missing.tflite", x)
    bogus = tmp_path / "bogus.tflite"
    bogus.write_bytes(b"not a flatbuffer")
    with pytest.raises(ValueError, match="not a valid .tflite model"):
        verify_tflite(bogus, x)


def test_verify_rejects_a_keras_model_that_does_not_match(float32_file):
    from keras_distill._compat import keras

    other = keras.Sequential([keras.Input((64,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="the Keras model the file was converted"):
        verify_tflite(float32_file, np.zeros((2, 64)), keras_model=other)


def test_write_labels_writes_one_name_per_line(tmp_path):
    path = write_labels(tmp_path / "labels.txt", CLASS_NAMES)
    assert path.read_text(encoding="utf-8").splitlines() == CLASS_NAMES


@pytest.mark.parametrize(
    ("names", "error", "match"),
    [
        ("abc", TypeError, "list of strings"),
        (7, TypeError, "list of strings"),
        ([], ValueError, "empty"),
        (["a", 1], TypeError, "hold strings"),
        (["a", "b\nc"], ValueError, "single lines"),
        (["a", "a"], ValueError, "duplicates"),
    ],
)
def test_bad_class_names_raise(names, error, match):
    with pytest.raises(error, match=match):
        check_class_names(names)


def test_export_and_verify_writes_model_report_and_labels(tmp_path):
    x_train, _, x_test, y_test = et.digits()
    target = tmp_path / "app" / "student_int8.tflite"
    report = export_and_verify(
        et.trained_student(),
        target,
        "int8",
        representative_data=x_train,
        x_eval=x_test,
        y_eval=y_test,
        class_names=CLASS_NAMES,
        latency_runs=3,
    )
    assert sorted(os.listdir(target.parent)) == [
        "labels.txt",
        "student_int8.json",
        "student_int8.tflite",
    ]
    assert TFLiteReport.load_json(target.with_suffix(".json")) == report
    assert (target.parent / "labels.txt").read_text().splitlines() == CLASS_NAMES
    assert report.labels_path == str(target.parent / "labels.txt")
    assert report.quantization == "int8" and report.file_bytes == len(
        target.read_bytes()
    )
    assert report.keras_accuracy == pytest.approx(reference_accuracy(), abs=1e-12)
    assert report.accuracy >= report.keras_accuracy - 0.03
    assert "student_int8.tflite: int8" in report.summary()


def test_export_and_verify_labels_classes_by_number_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, _, x_test, y_test = et.digits()
    report = export_and_verify(
        et.trained_student(), x_eval=x_test[:50], y_eval=y_test[:50], latency_runs=1
    )
    folder = tmp_path / "saved_models"
    assert report.path == str(folder / "student_float32.tflite")
    assert (folder / "labels.txt").read_text().splitlines() == [
        str(i) for i in range(10)
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"class_names": CLASS_NAMES[:9]}, ValueError, "9 names but the model has 10"),
        ({"y_eval": np.zeros(3)}, ValueError, "3 labels for 500 examples"),
        ({"x_eval": np.zeros((5, 8, 8))}, ValueError, r"`x_eval`.*\(5, 8, 8\)"),
        ({"x_eval": None}, ValueError, "`x_eval` is required"),
        ({"quantization": "int8"}, ValueError, "needs `representative_data`"),
    ],
)
def test_export_and_verify_checks_everything_before_converting(
    tmp_path, monkeypatch, kwargs, error, match
):
    monkeypatch.setattr(convert_module, "run_converter", pytest.fail)
    _, _, x_test, y_test = et.digits()
    arguments = {"x_eval": x_test, "y_eval": y_test, **kwargs}
    with pytest.raises(error, match=match):
        export_and_verify(
            et.trained_student(), tmp_path / "out" / "s.tflite", **arguments
        )
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"latency_runs": 0}, ValueError),
        ({"latency_runs": "5"}, TypeError),
        ({"batch_size": 2.0}, TypeError),
        ({"num_threads": True}, TypeError),
    ],
)
def test_verify_checks_its_counts(float32_file, kwargs, error):
    _, _, x_test, y_test = et.digits()
    (name,) = kwargs
    with pytest.raises(error, match=name):
        verify_tflite(float32_file, x_test, y_test, **kwargs)


def test_verifying_several_models_in_one_process_does_not_retrace(float32_file):
    """The Keras outputs come from plain calls, not `predict`, whose tf.function
    traces again for each model and shorter last batch (the demo verifies three
    models; TensorFlow then logged a retracing warning per call)."""
    import logging

    messages = []

    class Keep(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Keep()
    tf.get_logger().addHandler(handler)
    try:
        _, _, x_test, y_test = et.digits()
        for i in range(5):
            report = verify_tflite(
                float32_file,
                x_test,
                y_test,
                keras_model=et.trained_student(f"student_{i}"),
                latency_runs=1,
                batch_size=96,  # 500 = 5 * 96 + 20: a shorter last batch
            )
            assert report.top1_agreement == 1.0
            assert report.keras_accuracy == pytest.approx(reference_accuracy())
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [m for m in messages if "retracing" in m]
