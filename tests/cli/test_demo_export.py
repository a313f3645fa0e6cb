"""The demo's export stage: the students' files, then the float teacher's.

Untrained models on the digits smoke subset: what is tested is what the stage
writes and reports, not how accurate the models are.
"""

import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from keras_distill.demo import compression
from keras_distill.demo import dataset
from keras_distill.demo import presets
from keras_distill.demo import run
from keras_distill.demo import training
from keras_distill.demo.config import DemoConfig
from keras_distill.demo.plan import make_plan
from keras_distill.demo.report import EXPORT_KEYS
from keras_distill.demo.report import build_report
from keras_distill.demo.report import check_report
from keras_distill.demo.report import format_table
from keras_distill.demo.report import history_entries
from keras_distill.demo.report import model_entries
from keras_distill.export import TFLiteConversionError
from keras_distill.export import count_macs


@pytest.fixture(scope="module")
def digits():
    return dataset.smoke_subset(dataset.load_data("digits", batch_size=64))


def _results(digits):
    teacher = presets.teacher_preset(digits)
    student = training.make_student(digits)
    compressed = compression.CompressResult(
        model=training.make_student(digits),
        engine="native",
        pruned=False,
        qat=False,
        target_sparsity=0.0,
        sparsity=0.0,
        epochs=0,
        histories={},
    )
    return (
        run.TeacherResult(teacher, "file", 0.5),
        run.StudentResult(student, 0.25, {}),
        compressed,
    )


def _report(plan, digits, teacher, student, compressed, files):
    return build_report(
        plan,
        digits,
        teacher,
        compressed,
        models=model_entries(plan, teacher, student, student, compressed, files),
        history=history_entries(student, student, compressed),
        input_pipeline=run.input_pipeline(digits, student),
        plots=[],
        elapsed={"total": 1.0},
    )


def _spy_on_export(monkeypatch, fail_for=None):
    """Records the names `run.export` writes; raises for `fail_for`."""
    written = []
    real = run.export

    def spy(model, data, output_dir, name, quantization, **kwargs):
        written.append(name)
        if name == fail_for:
            raise TFLiteConversionError(
                "The TFLite converter rejected `model` (teacher):\nthese ops "
                "have no TFLite builtin kernel: Bogus."
            )
        return real(model, data, output_dir, name, quantization, **kwargs)

    monkeypatch.setattr(run, "export", spy)
    return written


def test_teacher_is_exported_after_the_students_and_timed_like_them(
    digits, tmp_path, monkeypatch
):
    plan = make_plan(DemoConfig(fast=True, output_dir=str(tmp_path)))
    teacher, student, compressed = _results(digits)
    written = _spy_on_export(monkeypatch)
    files = run.export_files(plan, digits, student, compressed, teacher)
    assert written == ["distilled_student", "compressed_student", "teacher"]
    assert files.teacher_error is None

    # An Android-usable file: float32 in (raw pixels) and logits out, in LiteRT.
    path = tmp_path / "teacher_float32.tflite"
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (inputs,), (outputs,) = (
        interpreter.get_input_details(),
        interpreter.get_output_details(),
    )
    assert inputs["dtype"] == np.float32 and list(inputs["shape"][1:]) == [8, 8, 1]
    assert outputs["dtype"] == np.float32 and outputs["shape"][-1] == 10
    x, _ = digits.arrays("test", 4)
    interpreter.resize_tensor_input(inputs["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inputs["index"], x)
    interpreter.invoke()
    np.testing.assert_allclose(
        interpreter.get_tensor(outputs["index"]),
        np.asarray(teacher.model(x)),
        rtol=1e-4,
        atol=1e-4,
    )
    saved = json.loads((tmp_path / "teacher_float32.json").read_text())
    assert saved["quantization"] == "float32"
    # One labels file, the same for every model.
    labels = (tmp_path / "labels.txt").read_text().splitlines()
    assert labels == list(digits.class_names)

    report = _report(plan, digits, teacher, student, compressed, files)
    check_report(report)
    models = {model["name"]: model for model in report["models"]}
    entry = models["teacher"]
    assert set(EXPORT_KEYS) <= set(entry)
    assert entry["tflite"] == "teacher_float32.tflite"
    assert entry["tflite_bytes"] == path.stat().st_size
    assert (
        entry["macs"] == count_macs(teacher.model) > models["distilled_student"]["macs"]
    )
    # The teacher's accuracy is its file's in LiteRT, like the students'.
    assert entry["accuracy"] == files.teacher.accuracy
    for name in ("teacher", "distilled_student", "compressed_student"):
        by_threads = models[name]["latency_ms_by_threads"]
        assert set(by_threads) == {"1", "4"}
        for stats in by_threads.values():
            assert stats["p90"] >= stats["median"] > 0
        assert models[name]["latency_ms"] == by_threads["1"]["median"]
        assert models[name]["latency_ms_p90"] == by_threads["1"]["p90"]
    # The baseline has no file, but the same MACs as the distilled student.
    assert "latency_ms" not in models["baseline_student"]
    assert models["baseline_student"]["macs"] == models["distilled_student"]["macs"]

    line = run._export_line(files)
    assert line.index("distilled_student") < line.index("teacher_float32.tflite")
    teacher_row = format_table(report["models"]).splitlines()[2]
    assert teacher_row.split()[0] == "teacher"
    for stats in entry["latency_ms_by_threads"].values():
        assert f"{stats['median']:.3g} / {stats['p90']:.3g}" in teacher_row


def test_a_teacher_that_does_not_export_is_reported_and_the_students_kept(
    digits, tmp_path, monkeypatch
):
    plan = make_plan(DemoConfig(fast=True, output_dir=str(tmp_path)))
    teacher, student, compressed = _results(digits)
    _spy_on_export(monkeypatch, fail_for="teacher")
    # An earlier run's teacher file must not pass for this teacher's.
    (tmp_path / "teacher_float32.tflite").write_bytes(b"earlier run")
    files = run.export_files(plan, digits, student, compressed, teacher)
    assert files.teacher is None
    assert files.teacher_error.startswith("TFLiteConversionError: The TFLite")
    assert "\n" not in files.teacher_error and "Bogus" in files.teacher_error
    assert "removed teacher_float32.tflite of an earlier run" in files.teacher_error
    assert sorted(p.name for p in tmp_path.glob("*.tflite")) == [
        "compressed_student_int8.tflite",
        "distilled_student_float32.tflite",
    ]
    assert "teacher was not exported: TFLiteConversionError" in run._export_line(files)

    report = _report(plan, digits, teacher, student, compressed, files)
    check_report(report)  # a teacher with `export_error` needs no file fields
    entry = report["models"][0]
    assert entry["export_error"] == files.teacher_error
    assert "tflite" not in entry and "latency_ms" not in entry
    assert entry["accuracy"] == teacher.accuracy  # the Keras model's, then
    assert entry["macs"] == count_macs(teacher.model)
    del entry["export_error"]
    with pytest.raises(ValueError, match="'teacher' lacks"):
        check_report(report)


def test_interrupting_the_teacher_export_is_not_swallowed(
    digits, tmp_path, monkeypatch
):
    plan = make_plan(DemoConfig(fast=True, output_dir=str(tmp_path)))
    teacher, student, compressed = _results(digits)
    real = run.export

    def interrupted(model, data, output_dir, name, quantization, **kwargs):
        if name == "teacher":
            raise KeyboardInterrupt
        return real(model, data, output_dir, name, quantization, **kwargs)

    monkeypatch.setattr(run, "export", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run.export_files(plan, digits, student, compressed, teacher)


def test_a_users_teacher_file_is_exported_as_it_loads(digits, tmp_path):
    from keras_distill._compat import keras
    from keras_distill.demo import teacher as teacher_stage

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 16)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    saved = keras.Model(inputs, keras.layers.Dense(10)(x), name="my_teacher")
    saved.save(tmp_path / "my_teacher.keras")
    model, source = teacher_stage.get_teacher(
        digits, path=str(tmp_path / "my_teacher.keras")
    )
    assert source == "file"
    plan = make_plan(DemoConfig(fast=True, output_dir=str(tmp_path / "out")))
    _, student, compressed = _results(digits)
    teacher = run.TeacherResult(model, source, dataset.evaluate(model, digits))
    files = run.export_files(plan, digits, student, compressed, teacher)
    assert files.teacher_error is None
    assert files.teacher.path.endswith("teacher_float32.tflite")
    assert files.teacher.top1_agreement == 1.0
    assert files.teacher.macs == 6 * 6 * 4 * 9 + 6 * 6 * 4 * 10
