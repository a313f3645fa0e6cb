"""Tests for keras_distill.compress.pruning (TF-MOT magnitude pruning)."""

import math

import numpy as np
import pytest
import tensorflow as tf
from compress_models import LOSS
from compress_models import data
from compress_models import keras3_mlp
from compress_models import mlp
from compress_models import subclassed
from conftest import keras3_only
from conftest import tf_keras_only

from keras_distill import Distiller
from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.compress import _engine
from keras_distill.compress import prune
from keras_distill.compress import pruning
from keras_distill.compress import pruning_callbacks
from keras_distill.compress import pruning_end_step
from keras_distill.compress import sparsity_report
from keras_distill.compress import strip_pruning


def _fit(model, x, y, epochs, batch_size=32, callbacks=None):
    model.compile(optimizer="adam", loss=LOSS)
    return model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        verbose=0,
        callbacks=pruning_callbacks() if callbacks is None else callbacks,
    )


def _overall(report):
    return sum(r["zeros"] for r in report.values()) / sum(
        r["params"] for r in report.values()
    )


# ------------------------------------------------------------ the two flavours
@keras3_only
def test_prune_given_a_tf_keras_model_on_keras3_raises_type_error_naming_the_switch():
    import tf_keras

    x = tf_keras.Input((12,))
    model = tf_keras.Model(x, tf_keras.layers.Dense(3)(x))
    with pytest.raises(TypeError, match="tf_keras.*TF_USE_LEGACY_KERAS"):
        prune(model, schedule="constant")


@tf_keras_only
def test_prune_given_a_keras3_model_raises_type_error_naming_the_switch():
    with pytest.raises(TypeError, match="Keras 3 model.*TF_USE_LEGACY_KERAS=1"):
        prune(keras3_mlp(), schedule="constant")


# ------------------------------------------------------------ pruning_end_step
def test_pruning_end_step_rounds_down_to_the_last_mask_update():
    assert pruning_end_step(4, 125, frequency=50) == 500
    assert pruning_end_step(3, 125, frequency=50) == 350
    assert pruning_end_step(3, 125, begin_step=20, frequency=50) == 370


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"epochs": 0, "steps_per_epoch": 10}, ValueError),
        ({"epochs": 1.5, "steps_per_epoch": 10}, TypeError),
        ({"epochs": 1, "steps_per_epoch": 10, "frequency": 20}, ValueError),
    ],
)
def test_pruning_end_step_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        pruning_end_step(**kwargs)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, float("nan")])
def test_prune_sparsity_outside_0_1_raises_value_error(sparsity):
    with pytest.raises(ValueError, match=r"target_sparsity.*\[0, 1\)"):
        prune(mlp(), target_sparsity=sparsity, schedule="constant")


@pytest.mark.parametrize("sparsity", ["0.8", True])
def test_prune_sparsity_of_wrong_type_raises_type_error(sparsity):
    with pytest.raises(TypeError, match="target_sparsity"):
        prune(mlp(), target_sparsity=sparsity, schedule="constant")


def test_prune_initial_sparsity_above_target_raises_value_error():
    with pytest.raises(ValueError, match="initial_sparsity"):
        prune(mlp(), target_sparsity=0.5, initial_sparsity=0.6, end_step=100)


def test_prune_polynomial_without_end_step_names_the_helper():
    with pytest.raises(ValueError, match="pruning_end_step"):
        prune(mlp())


def test_prune_end_step_between_mask_updates_suggests_the_last_update():
    with pytest.raises(ValueError, match="end_step=300"):
        prune(mlp(), end_step=375, frequency=100)


def test_prune_unknown_schedule_and_structure_raise_value_error():
    with pytest.raises(ValueError, match="schedule"):
        prune(mlp(), schedule="cubic", end_step=100)
    with pytest.raises(ValueError, match="structure"):
        prune(mlp(), structure="1:4", schedule="constant")


def test_prune_two_four_with_other_sparsity_raises_value_error():
    with pytest.raises(ValueError, match="2:4.*0.5"):
        prune(mlp(), structure="2:4", target_sparsity=0.8)


@tf_keras_only
def test_prune_subclassed_model_raises_type_error_naming_functional():
    with pytest.raises(TypeError, match="subclassed.*Functional or Sequential"):
        prune(subclassed(), schedule="constant")


def test_prune_unbuilt_sequential_raises_value_error():
    model = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="not built"):
        prune(model, schedule="constant")


def test_prune_unknown_skip_layer_lists_available_names():
    with pytest.raises(ValueError, match=r"\['nope'\].*'d0', 'out'"):
        prune(mlp(), schedule="constant", skip_layers=["nope"])


def test_prune_skip_layers_as_a_single_string_raises_type_error():
    with pytest.raises(TypeError, match="list of layer names"):
        prune(mlp(), schedule="constant", skip_layers="d0")


def test_pruning_an_already_pruned_model_asks_to_strip_first():
    pruned = prune(mlp(), schedule="constant")
    with pytest.raises(ValueError, match="strip_pruning"):
        prune(pruned, schedule="constant")


class _Scale(keras.layers.Layer):
    """A custom layer with a trainable weight TF-MOT knows nothing about."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1], 1))

    def call(self, inputs):
        return inputs * tf.reshape(self.scale, [-1])


def _model_with_custom_layer():
    x = keras.Input((12,))
    h = _Scale(name="scale")(x)
    return keras.Model(x, keras.layers.Dense(3, name="out")(h))


def test_prune_unsupported_layer_is_named_in_the_error():
    with pytest.raises(ValueError, match=r"cannot prune.*'scale' \(_Scale\).*skip"):
        prune(_model_with_custom_layer(), schedule="constant")


def test_prune_skip_layers_keeps_an_unsupported_layer_dense():
    pruned = prune(
        _model_with_custom_layer(),
        schedule="constant",
        skip_layers=["scale"],
        frequency=1,
    )
    x, y = data(n=64)
    _fit(pruned, x, y, epochs=1)
    report = sparsity_report(strip_pruning(pruned))
    assert report["scale"]["zeros"] == 0
    assert report["out"]["sparsity"] == pytest.approx(0.8, abs=0.1)


def test_prune_two_four_names_layers_with_kernels_it_cannot_structure():
    model = keras.Sequential(
        [
            keras.Input((16, 2)),
            keras.layers.Conv1D(4, 3, name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="out"),
        ]
    )
    with pytest.raises(ValueError, match=r"'conv' \(Conv1D"):
        prune(model, structure="2:4")
    pruned = prune(model, structure="2:4", skip_layers=["conv"])
    if _compat.LEGACY_KERAS:
        names = ["conv", "flat", "prune_low_magnitude_out"]
        assert [layer.name for layer in pruned.layers] == names


# ------------------------------------------------------------------ behaviour
def test_prune_leaves_the_student_unchanged():
    student = mlp(units=(16, 8))
    before = [w.copy() for w in student.get_weights()]
    pruned = prune(student, target_sparsity=0.5, schedule="constant", frequency=1)
    if _compat.LEGACY_KERAS:  # TF-MOT wraps; our engine keeps the layers
        assert [layer.name for layer in pruned.layers[1:]] == [
            "prune_low_magnitude_d0",
            "prune_low_magnitude_d1",
            "prune_low_magnitude_out",
        ]
    x, y = data()
    _fit(pruned, x, y, epochs=1)
    for old, new in zip(before, student.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_polynomial_pruning_reaches_target_sparsity_measured_after_strip():
    x, y = data(n=256)
    steps = math.ceil(len(x) / 32)
    end = pruning_end_step(3, steps, frequency=4)
    pruned = prune(mlp(units=(32,)), target_sparsity=0.8, end_step=end, frequency=4)
    _fit(pruned, x, y, epochs=3)
    report = sparsity_report(strip_pruning(pruned))
    assert set(report) == {"d0", "out"}
    for name, entry in report.items():
        # TF-MOT rounds the number of pruned weights to an integer.
        assert entry["sparsity"] == pytest.approx(0.8, abs=1 / entry["params"]), name


def test_constant_pruning_reaches_target_sparsity():
    x, y = data(n=128)
    pruned = prune(mlp(), target_sparsity=0.6, schedule="constant", frequency=2)
    _fit(pruned, x, y, epochs=1)
    assert _overall(sparsity_report(strip_pruning(pruned))) == pytest.approx(
        0.6, abs=0.01
    )


def test_two_four_pruning_gives_two_zeros_in_every_four_input_weights():
    x, y = data(n=128)
    pruned = prune(mlp(units=(16,)), structure="2:4", frequency=1)
    _fit(pruned, x, y, epochs=1)
    stripped = strip_pruning(pruned)
    for name, entry in sparsity_report(stripped).items():
        assert entry["structured_2_4"] is True, name
    # Independent check: Dense kernels are [in, out]; groups of 4 run along `in`.
    kernel = stripped.get_layer("d0").kernel.numpy()
    groups = kernel.T.reshape(16, 3, 4)
    assert np.all(np.count_nonzero(groups, axis=-1) <= 2)


def test_strip_pruning_removes_wrappers_and_keeps_predictions():
    x, y = data(n=64)
    pruned = prune(mlp(), target_sparsity=0.5, schedule="constant", frequency=1)
    _fit(pruned, x, y, epochs=1)
    stripped = strip_pruning(pruned)
    assert [type(layer).__name__ for layer in stripped.layers] == [
        "InputLayer",
        "Dense",
        "Dense",
    ]
    assert [layer.name for layer in stripped.layers[1:]] == ["d0", "out"]
    np.testing.assert_allclose(
        stripped.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-6
    )


@tf_keras_only
def test_strip_pruning_subclassed_model_raises_type_error():
    with pytest.raises(TypeError, match="Functional or Sequential"):
        strip_pruning(subclassed())


def test_prune_sequential_and_nested_models():
    inner = mlp(units=(8,), name="inner")
    x = keras.Input((12,))
    outer = keras.Model(x, keras.layers.Dense(3, name="head")(inner(x)))
    pruned = prune(outer, schedule="constant", skip_layers=["head"], frequency=1)
    sequential = keras.Sequential([keras.Input((12,)), keras.layers.Dense(4, name="a")])
    pruned_sequential = prune(sequential, schedule="constant")
    x, y = data(n=64)
    _fit(pruned, x, y, epochs=1)
    report = sparsity_report(strip_pruning(pruned))
    assert report["inner/d0"]["sparsity"] == pytest.approx(0.8, abs=0.05)
    assert report["head"]["zeros"] == 0
    if _compat.LEGACY_KERAS:
        names = [layer.name for layer in pruned.get_layer("inner").layers[1:]]
        assert names == ["prune_low_magnitude_d0", "prune_low_magnitude_out"]
        names = [layer.name for layer in pruned_sequential.layers]
        assert names == ["prune_low_magnitude_a"]
    else:
        assert _engine.is_pruned(pruned_sequential)


# ----------------------------------------------------------------- callbacks
def test_pruning_callbacks_adds_summaries_only_with_a_log_dir(tmp_path):
    names = [type(c).__name__ for c in pruning_callbacks()]
    assert names == ["UpdatePruningStep"]
    names = [type(c).__name__ for c in pruning_callbacks(tmp_path / "logs")]
    assert names == ["UpdatePruningStep", "PruningSummaries"]


def test_pruning_callbacks_without_tensorboard_raises_import_error(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(pruning, "_tensorboard_installed", lambda: False)
    with pytest.raises(ImportError, match=r"keras-distill\[demo\]"):
        pruning_callbacks(tmp_path)
    with pytest.raises(TypeError, match="log_dir"):
        pruning_callbacks(42)


# --------------------------------------------------------------- distillation
def _teacher(x, y):
    teacher = mlp(units=(32, 32), name="teacher")
    teacher.compile(optimizer="adam", loss=LOSS)
    teacher.fit(x, y, epochs=5, batch_size=32, verbose=0)
    return teacher


def test_distilling_a_pruned_student_reaches_target_sparsity(tmp_path):
    x, y = data(n=256)
    teacher = _teacher(x, y)
    end = pruning_end_step(3, math.ceil(len(x) / 32), frequency=4)
    pruned = prune(mlp(units=(32,)), target_sparsity=0.8, end_step=end, frequency=4)
    distiller = Distiller(student=pruned, teacher=teacher, alpha=0.1)
    distiller.compile(optimizer="adam", loss=LOSS)
    history = distiller.fit(
        x,
        y,
        batch_size=32,
        epochs=3,
        verbose=0,
        callbacks=pruning_callbacks(tmp_path / "logs"),
    )
    assert set(history.history) >= {"loss", "student_loss", "distillation_loss"}
    report = sparsity_report(strip_pruning(distiller.student))
    for name, entry in report.items():
        assert entry["sparsity"] == pytest.approx(0.8, abs=1 / entry["params"]), name
    # PruningSummaries wrote TensorBoard event files.
    assert list((tmp_path / "logs" / "metrics").glob("events.out.tfevents.*"))


# ------------------------------------------------------------------- resuming
class _Preempted(keras.callbacks.Callback):
    """Stops training at the end of epoch `at`, after BackupAndRestore saved it."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise RuntimeError("pre-empted")


def test_backup_and_restore_resumes_pruning_with_its_masks_past_end_step(tmp_path):
    x, y = data(n=128)
    teacher = mlp(units=(8,), name="teacher")
    student = mlp(units=(16,))
    # 4 steps per epoch: sparsity reaches 0.8 at step 8, the run stops after 12.
    end = pruning_end_step(2, 4, frequency=2)

    def fit(callbacks):
        pruned = prune(student, target_sparsity=0.8, end_step=end, frequency=2)
        distiller = Distiller(student=pruned, teacher=teacher, alpha=0.1)
        distiller.compile(optimizer="adam", loss=LOSS)
        backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
        distiller.fit(
            x,
            y,
            batch_size=32,
            epochs=5,
            verbose=0,
            callbacks=[backup, *pruning_callbacks(), *callbacks],
        )
        return distiller

    with pytest.raises(RuntimeError, match="pre-empted"):
        fit([_Preempted(at=2)])
    resumed = fit([])  # a new process would prune the student again, then resume
    assert int(resumed.optimizer.iterations) == 20
    report = sparsity_report(strip_pruning(resumed.student))
    for name, entry in report.items():
        # Past end_step the schedule never updates the masks again: only the
        # restored masks can keep these weights at zero.
        assert entry["sparsity"] == pytest.approx(0.8, abs=1 / entry["params"]), name
