"""Tests for export_tflite, convert_tflite and export_saved_model."""

import ast
import contextlib
import os
import pathlib
import types

import export_testing as et
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from conftest import keras3_only
from conftest import tf_keras_only

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.export import TFLiteConversionError
from keras_distill.export import convert as convert_module
from keras_distill.export import export_saved_model
from keras_distill.export import export_tflite
from keras_distill.export import verify_tflite
from keras_distill.export.convert import convert_tflite


def run_file(path, x) -> np.ndarray:
    """Runs raw float examples through a .tflite file, (de)quantizing int8 I/O."""
    interpreter = Interpreter(model_path=str(path))
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], [len(x), *x.shape[1:]])
    interpreter.allocate_tensors()
    scale, zero_point = detail["quantization"]
    if detail["dtype"] == np.int8:
        x = np.clip(np.round(x / scale + zero_point), -128, 127)
    interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
    interpreter.invoke()
    out_detail = interpreter.get_output_details()[0]
    out = interpreter.get_tensor(out_detail["index"]).astype(np.float64)
    if out_detail["dtype"] == np.int8:
        scale, zero_point = out_detail["quantization"]
        out = (out - zero_point) * scale
    return out


def no_stray_files(folder) -> bool:
    """True if no temporary or probe files were left in `folder`."""
    return not [p for p in os.listdir(folder) if p.endswith((".tmp", ".probe"))]


def test_float32_file_takes_raw_inputs_and_matches_float64_reference(tmp_path):
    x_test = et.digits()[2]
    path = export_tflite(et.trained_student(), tmp_path / "s.tflite")
    assert path == tmp_path / "s.tflite" and path.stat().st_size > 0
    # Raw pixels (0..16) go in: the Normalization layer is inside the file.
    logits = run_file(path, x_test)
    np.testing.assert_allclose(logits, et.reference_logits(x_test), atol=2e-5)


def test_float16_file_matches_keras_within_1e_2(tmp_path):
    x_test, y_test = et.digits()[2:]
    student = et.trained_student()
    path = export_tflite(student, tmp_path / "s.tflite", quantization="float16")
    logits = run_file(path, x_test)
    keras_logits = student.predict(x_test.astype("float32"), verbose=0)
    np.testing.assert_allclose(logits, keras_logits, atol=1e-2)
    float32_size = export_tflite(student, tmp_path / "f.tflite").stat().st_size
    assert path.stat().st_size < 0.75 * float32_size


@pytest.mark.parametrize("quantization", ["dynamic", "int8"])
def test_quantized_file_agrees_with_keras_and_keeps_accuracy(tmp_path, quantization):
    x_train, _, x_test, y_test = et.digits()
    student = et.trained_student()
    data = x_train if quantization == "int8" else None
    path = export_tflite(
        student,
        tmp_path / "s.tflite",
        quantization=quantization,
        representative_data=data,
    )
    logits = run_file(path, x_test)
    keras_logits = et.reference_logits(x_test)
    agreement = np.mean(logits.argmax(1) == keras_logits.argmax(1))
    assert agreement >= 0.95
    keras_accuracy = np.mean(keras_logits.argmax(1) == y_test)
    assert np.mean(logits.argmax(1) == y_test) >= keras_accuracy - 0.03
    tensor_types = {
        d["dtype"] for d in Interpreter(model_path=str(path)).get_tensor_details()
    }
    assert np.int8 in tensor_types  # the weights really are int8


def test_int8_io_file_has_int8_tensors_and_calibrates_from_a_dataset(tmp_path):
    x_train, y_train, x_test, y_test = et.digits()
    # A batched (x, y) dataset, as a training pipeline gives it.
    dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train)).batch(32)
    path = export_tflite(
        et.trained_student(),
        tmp_path / "s.tflite",
        quantization="int8",
        representative_data=dataset,
        int8_io=True,
    )
    interpreter = Interpreter(model_path=str(path))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    assert interpreter.get_input_details()[0]["quantization"][0] > 0
    accuracy = np.mean(run_file(path, x_test).argmax(1) == y_test)
    keras_accuracy = np.mean(et.reference_logits(x_test).argmax(1) == y_test)
    assert accuracy >= keras_accuracy - 0.03


def test_int8_refuses_normalization_adapted_on_constant_features(monkeypatch):
    monkeypatch.setattr(convert_module, "run_converter", pytest.fail)
    x_train = et.digits()[0].astype("float32")
    assert (x_train.var(axis=0) == 0).any()  # digits has always-blank pixels
    norm = keras.layers.Normalization()
    norm.adapt(x_train)
    model = keras.Sequential([keras.Input((64,)), norm, keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="variance 0.*multiplied by 0") as info:
        convert_tflite(model, quantization="int8", representative_data=x_train)
    assert "'dynamic'" in str(info.value)


def test_calibration_draws_a_bounded_sample(monkeypatch):
    seen = []
    original = convert_module.run_converter

    def spy(model, quantization, representative, int8_io, **kwargs):
        seen.extend(representative())
        return original(model, quantization, representative, int8_io, **kwargs)

    monkeypatch.setattr(convert_module, "run_converter", spy)
    convert_tflite(
        et.trained_student(),
        quantization="int8",
        representative_data=et.digits()[0],
        calibration_samples=50,
    )
    assert len(seen) == 50
    assert all(s[0].shape == (1, 64) and s[0].dtype == np.float32 for s in seen)


def test_default_path_is_under_saved_models_of_the_working_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    path = export_tflite(et.trained_student("student_v2"))
    assert path == tmp_path / "saved_models" / "student_v2_float32.tflite"
    assert path.is_file() and no_stray_files(path.parent)
    # The mode a plain open() gives (0o666 minus the umask), not mkstemp's 0o600.
    umask = os.umask(0)
    os.umask(umask)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~umask)


def test_relative_path_resolves_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = export_tflite(et.trained_student(), "out/deep/s.tflite")
    assert path == tmp_path / "out" / "deep" / "s.tflite" and path.is_file()


def lambda_student():
    """A model with MatrixInverse, an op with no TFLite builtin kernel."""
    return keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Lambda(
                lambda t: tf.linalg.inv(tf.reshape(t, [-1, 2, 2, 2]))[:, :, 0, 0],
                output_shape=(2,),
            ),
            keras.layers.Dense(2),
        ]
    )


def test_rejected_op_raises_clear_error_and_keeps_the_log_out_of_the_terminal(
    tmp_path, capfd
):
    target = tmp_path / "new_dir" / "s.tflite"
    with pytest.raises(TFLiteConversionError, match="MatrixInverse") as info:
        export_tflite(lambda_student(), target)
    message = str(info.value)
    log = tmp_path / "new_dir" / "s.convert.log"
    assert "Nothing was written" in message and str(log) in message
    assert "loc(" not in message and len(message) < 1000
    assert "MatrixInverse" in log.read_text()
    assert "loc(" not in capfd.readouterr().err  # the MLIR dump is in the log
    assert os.listdir(tmp_path / "new_dir") == ["s.convert.log"]


def test_failed_conversion_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "s.tflite"
    target.write_bytes(b"previous model")

    class BrokenConverter:
        target_spec = types.SimpleNamespace()

        def convert(self):
            raise RuntimeError("converter crashed")

    @contextlib.contextmanager
    def broken_converter_for(model):
        yield BrokenConverter()

    monkeypatch.setattr(convert_module, "_converter_for", broken_converter_for)
    with pytest.raises(TFLiteConversionError, match="converter crashed"):
        export_tflite(et.trained_student(), target)
    assert target.read_bytes() == b"previous model"
    assert no_stray_files(tmp_path)


def test_unwritable_path_fails_before_converting(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    called = []
    monkeypatch.setattr(
        convert_module, "run_converter", lambda *args: called.append(args)
    )
    with pytest.raises(ValueError, match="cannot be written") as info:
        export_tflite(et.trained_student(), blocker / "s.tflite")
    assert str(blocker / "s.tflite") in str(info.value)
    with pytest.raises(ValueError, match="cannot be written"):
        export_tflite(et.trained_student(), blocker / "sub" / "s.tflite")
    assert called == []
    assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_path_must_end_in_tflite(tmp_path):
    with pytest.raises(ValueError, match=r"must end with '\.tflite'"):
        export_tflite(et.trained_student(), tmp_path / "s.json")


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (np.zeros((10, 63)), ValueError, r"shape \(10, 63\).*\(N, 64\)"),
        (np.zeros((10, 8, 8)), ValueError, r"shape \(10, 8, 8\)"),
        (np.zeros((0, 64)), ValueError, "empty"),
        (np.full((10, 64), "a"), TypeError, "dtype <U1"),
        (np.zeros((10, 64), dtype=bool), TypeError, "dtype bool"),
        (np.zeros((10, 64), dtype=complex), TypeError, "dtype complex128"),
        (np.full((10, 64), np.nan), ValueError, "NaN"),
        ({"image": np.zeros((10, 64))}, TypeError, "dict"),
    ],
)
def test_bad_representative_data_raises_before_converting(
    tmp_path, monkeypatch, data, error, match
):
    monkeypatch.setattr(convert_module, "run_converter", pytest.fail)
    with pytest.raises(error, match=match) as info:
        export_tflite(
            et.trained_student(),
            tmp_path / "s.tflite",
            quantization="int8",
            representative_data=data,
        )
    assert "representative_data" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_representative_dataset_of_wrong_shape_names_the_argument():
    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((10, 63), np.float32))
    with pytest.raises(ValueError, match=r"representative_data.*\(1, 63\)"):
        convert_tflite(
            et.trained_student(), quantization="int8", representative_data=dataset
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quantization": "int4"}, "must be one of"),
        ({"quantization": "int8"}, "needs `representative_data`"),
        ({"representative_data": np.zeros((4, 64))}, "only used by"),
        ({"int8_io": True}, "needs quantization='int8'"),
        (
            {
                "quantization": "int8",
                "representative_data": np.zeros((4, 64)),
                "calibration_samples": 0,
            },
            "calibration_samples",
        ),
    ],
)
def test_inconsistent_options_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        convert_tflite(et.trained_student(), **kwargs)


def test_non_model_raises_type_error():
    with pytest.raises(TypeError, match="must be a Keras model"):
        convert_tflite("student.keras")


@keras3_only
def test_tf_keras_model_on_keras3_names_the_switch():
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(2)])
    with pytest.raises(TypeError, match="TF_USE_LEGACY_KERAS"):
        convert_tflite(model)


def test_saved_model_serves_raw_inputs_and_replaces_atomically(tmp_path):
    x_test = et.digits()[2][:20].astype("float32")
    target = tmp_path / "student_saved_model"
    target.mkdir()
    (target / "stale.txt").write_text("from an older export")
    path = export_saved_model(et.trained_student(), target)
    assert path == target and not (target / "stale.txt").exists()
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    (logits,) = serve(tf.constant(x_test)).values()
    np.testing.assert_allclose(logits.numpy(), et.reference_logits(x_test), atol=2e-5)
    assert sorted(os.listdir(tmp_path)) == ["student_saved_model"]


def test_saved_model_failure_keeps_the_previous_folder(tmp_path, monkeypatch):
    target = tmp_path / "sm"
    target.mkdir()
    (target / "keep.txt").write_text("previous export")

    def broken(*args, **kwargs):
        raise RuntimeError("export crashed")

    if _compat.LEGACY_KERAS:
        monkeypatch.setattr(tf.saved_model, "save", broken)
    else:
        monkeypatch.setattr(keras.Model, "export", broken)
    with pytest.raises(RuntimeError, match="export crashed"):
        export_saved_model(et.trained_student(), target)
    assert os.listdir(target) == ["keep.txt"]
    assert os.listdir(tmp_path) == ["sm"]


def test_saved_model_under_a_file_raises_value_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot be written"):
        export_saved_model(et.trained_student(), blocker / "sm")


def qat_student():
    """The trained student's Dense layers, prepared for QAT (tf_keras only).

    quantize_model refuses Normalization, so the QAT model takes standardized
    input; that is the compress module's concern, not export's.
    """
    tfmot = _compat.import_tfmot()
    weights = et.trained_weights()
    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.set_weights(list(weights[-4:]))
    qat = tfmot.quantization.keras.quantize_model(model)
    qat.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x_train, y_train = et.digits()[:2]
    mean, variance = et.normalization_stats()
    standardized = ((x_train - mean) / np.sqrt(variance)).astype("float32")
    qat.fit(standardized, y_train, epochs=1, batch_size=64, verbose=0)
    return qat


@tf_keras_only
@pytest.mark.parametrize("int8_io", [False, True])
def test_qat_model_converts_to_int8_without_representative_data(tmp_path, int8_io):
    qat = qat_student()
    assert convert_module.is_qat_model(qat)
    path = export_tflite(
        qat, tmp_path / "qat.tflite", quantization="int8", int8_io=int8_io
    )
    io_type = np.int8 if int8_io else np.float32
    interpreter = Interpreter(model_path=str(path))
    assert interpreter.get_input_details()[0]["dtype"] == io_type
    assert np.int8 in {d["dtype"] for d in interpreter.get_tensor_details()}
    _, _, x_test, y_test = et.digits()
    mean, variance = et.normalization_stats()
    standardized = ((x_test - mean) / np.sqrt(variance)).astype("float32")
    report = verify_tflite(path, standardized, y_test, keras_model=qat)
    assert report.top1_agreement >= 0.95
    assert report.accuracy >= report.keras_accuracy - 0.03


@tf_keras_only
def test_qat_model_refuses_float_export():
    with pytest.raises(ValueError, match="quantization='int8'"):
        convert_tflite(qat_student(), quantization="float16")


@tf_keras_only
def test_pruning_wrapped_model_asks_for_strip_pruning():
    tfmot = _compat.import_tfmot()
    dense = tfmot.sparsity.keras.prune_low_magnitude(keras.layers.Dense(2))
    pruned = keras.Sequential([keras.Input(shape=(4,)), dense])
    with pytest.raises(ValueError, match="strip_pruning"):
        convert_tflite(pruned)


def test_export_modules_import_no_keras_or_tfmot_directly():
    # Importing TF-MOT flips TF_USE_LEGACY_KERAS, and the Keras flavour is chosen
    # in _compat only: the export modules must import neither (a static check,
    # so it holds whatever other tests imported first).
    banned = {"keras", "tf_keras", "tensorflow_model_optimization"}
    folder = pathlib.Path(convert_module.__file__).parent
    for source in folder.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            roots = {name.split(".")[0] for name in names}
            assert not roots & banned, f"{source.name} imports {roots & banned}"


def test_export_api_is_curated_and_moved_names_still_resolve():
    import keras_distill.export as export

    assert sorted(export.__all__) == sorted(
        [
            "QUANTIZATIONS",
            "TFLiteConversionError",
            "TFLiteReport",
            "count_macs",
            "export_and_verify",
            "export_saved_model",
            "export_tflite",
            "find_float_ops",
            "macs_by_layer",
            "measure_latency",
            "verify_tflite",
            "write_labels",
        ]
    )
    for name in export.__all__:
        assert getattr(export, name) is not None
    assert export.convert_tflite is convert_module.convert_tflite
    with pytest.raises(AttributeError, match="no_such_name"):
        export.no_such_name  # noqa: B018
