"""The demo's stage helpers: progress lines, teacher cache, students, compression."""

import numpy as np
import pytest

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.compress import sparsity_report
from keras_distill.demo import compression
from keras_distill.demo import dataset
from keras_distill.demo import methods
from keras_distill.demo import run
from keras_distill.demo import teacher as teacher_stage
from keras_distill.demo import training
from keras_distill.demo.config import DemoConfig
from keras_distill.demo.config import UsageError
from keras_distill.demo.plan import make_plan
from keras_distill.demo.progress import EpochProgress
from keras_distill.demo.progress import StageClock


@pytest.fixture(scope="module")
def digits():
    return dataset.smoke_subset(dataset.load_data("digits", batch_size=64))


def _tiny_vector_model(with_normalization=True):
    inputs = keras.Input((6,))
    x = inputs
    if with_normalization:
        x = keras.layers.Normalization(mean=0.0, variance=1.0, name="normalization")(x)
    x = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def test_stage_clock_prints_one_numbered_line_per_stage(capsys):
    clock = StageClock()
    clock.done("data", "loaded")
    clock.done("teacher", "trained")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[1/7] data: loaded (")
    assert lines[1].startswith("[2/7] teacher: trained (")
    assert set(clock.seconds) == {"data", "teacher"}
    assert clock.total() >= sum(clock.seconds.values()) - 0.05


def test_epoch_progress_prints_plain_lines_when_output_is_not_a_terminal(capsys):
    model = _tiny_vector_model(with_normalization=False)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.zeros((8, 6), "float32")
    y = np.zeros((8,), "int32")
    model.fit(x, y, epochs=3, verbose=0, callbacks=[EpochProgress(3, log_seconds=0)])
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch" in line]
    assert [line.split(" - ")[0].strip() for line in lines] == [
        "epoch 1/3",
        "epoch 2/3",
        "epoch 3/3",
    ]
    assert "loss:" in lines[-1]


def test_teacher_is_trained_once_then_reused_from_the_cache(digits, tmp_path):
    first, source = teacher_stage.get_teacher(digits, cache_dir=tmp_path, epochs=1)
    assert source == "trained"
    # The smoke subset's teacher is not the full run's: its name says how many
    # examples it saw.
    (cached,) = tmp_path.glob("teacher_digits_*_1ep_1280ex_*.keras")
    again, source = teacher_stage.get_teacher(digits, cache_dir=tmp_path, epochs=1)
    assert source == "cache"
    x, _ = digits.arrays("test", 16)
    np.testing.assert_allclose(
        np.asarray(again(x)), np.asarray(first(x)), rtol=1e-5, atol=1e-5
    )
    _, source = teacher_stage.get_teacher(
        digits, cache_dir=tmp_path, epochs=1, retrain=True
    )
    assert source == "trained"
    assert list(tmp_path.glob("*.keras")) == [cached]


def test_make_student_refuses_what_it_cannot_build(digits):
    assert training.make_student(digits).name == "student"
    with pytest.raises(UsageError, match="neither a preset"):
        training.make_student(digits, "resnet")
    vectors = dataset.load_data("mnist1d")
    with pytest.raises(UsageError, match="for images"):
        training.make_student(vectors, "cnn-tiny")


def test_compress_keeps_the_pruned_zeros_through_qat(digits):
    """Pruning-preserving QAT keeps the zeros of a student with input Rescaling."""
    student = training.make_student(digits)
    assert isinstance(
        student.layers[1], (keras.layers.Normalization, keras.layers.Rescaling)
    )
    result = compression.compress(
        student, student, digits, method=methods.get_method(None), epochs=2
    )
    assert result.pruned and result.qat
    assert result.engine == ("tfmot" if _compat.LEGACY_KERAS else "native")
    assert set(result.histories) == {"prune", "qat"}
    assert any(layer.name.startswith("quant_") for layer in result.model.layers)
    assert compression.zero_fraction(result.model) == result.sparsity
    # cnn-tiny's first convolution and its logits stay dense; the middle
    # convolution, the only other kernel, holds the zeros: half of its 1,152.
    convolutions = [
        layer.name for layer in student.layers if isinstance(layer, keras.layers.Conv2D)
    ]
    assert result.dense_layers == (convolutions[0], "logits")
    zeros = {
        name: entry["zeros"] for name, entry in sparsity_report(result.model).items()
    }
    assert zeros == {convolutions[0]: 0, convolutions[1]: 576, "logits": 0}
    assert result.sparsity == pytest.approx(576 / 1384, abs=0.01)
    # The int8 file's float twin: the same zeros, no quantizers.
    twin = result.pruned_model
    assert not any(layer.name.startswith("quant_") for layer in twin.layers)
    assert sparsity_report(twin)[convolutions[1]]["zeros"] == 576


def test_only_image_students_keep_their_first_and_last_layers_dense():
    mnist1d = dataset.load_data("mnist1d")
    mlp = training.make_student(mnist1d)
    assert compression.layers_kept_dense(mlp, mnist1d) == ()
    images = dataset.smoke_subset(dataset.load_data("digits", batch_size=64))
    assert compression.layers_kept_dense(training.make_student(images), images)
    linear = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    linear.add(keras.layers.Dense(10, name="logits"))
    assert compression.layers_kept_dense(linear, images) == ()  # nothing left


def test_compression_distils_with_the_temperature_and_alpha_of_the_plan(
    digits, tmp_path, monkeypatch
):
    """--temperature and --alpha reach every distillation, compression included."""
    config = DemoConfig(
        fast=True, temperature=7.0, alpha=0.3, output_dir=str(tmp_path / "out")
    )
    plan = make_plan(config)
    seen = []
    real = training.make_distiller

    def spy(*args, **kwargs):
        distiller = real(*args, **kwargs)
        seen.append((distiller.temperature, distiller.alpha))
        return distiller

    monkeypatch.setattr(training, "make_distiller", spy)
    student = training.make_student(digits)
    teacher = run.TeacherResult(student, "file", 0.0)
    run.compress(plan, digits, teacher, run.StudentResult(student, 0.0, {}))
    # Pruning, then QAT; the Distiller keeps alpha in a float32 variable.
    np.testing.assert_allclose(seen, [(7.0, 0.3), (7.0, 0.3)], rtol=1e-6)


def test_student_file_is_loaded_and_checked_against_the_data(digits, tmp_path):
    path = tmp_path / "student.keras"
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    keras.Model(inputs, keras.layers.Dense(10)(x), name="mine").save(path)
    assert training.make_student(digits, str(path)).name == "mine"
    wrong = tmp_path / "wrong.keras"
    keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)]).save(wrong)
    with pytest.raises(UsageError, match=r"takes inputs \(64,\)"):
        training.make_student(digits, str(wrong))
