"""Tests for the Keras 3 pruning engine (keras_distill.compress._keras3.pruning).

Expected sparsities come from a float64 NumPy version of TF-MOT's formulas
(`PolynomialDecay` and `pruning_impl._update_mask`'s `k = round(n(1 - s))`); the
mask cases are TF-MOT's own (`pruning_impl_test.py`, `pruning_utils_test.py`),
and one test runs TF-MOT itself in a tf_keras subprocess and compares masks
step by step.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from compress_models import LOSS
from compress_models import data
from compress_models import mlp
from conftest import keras3_only

from keras_distill import Distiller
from keras_distill._compat import keras
from keras_distill.compress import sparsity_report
from keras_distill.compress._keras3 import pruning
from keras_distill.compress._keras3.magnitude_mask import MagnitudeMask
from keras_distill.compress._keras3.magnitude_mask import m_by_n_mask
from keras_distill.compress._keras3.magnitude_mask import magnitude_mask
from keras_distill.compress._keras3.pruning import is_pruned
from keras_distill.compress._keras3.pruning import prunable_weights
from keras_distill.compress._keras3.pruning import prune
from keras_distill.compress._keras3.pruning import pruning_callbacks
from keras_distill.compress._keras3.pruning import strip_pruning
from keras_distill.compress._keras3.pruning_schedule import ConstantSparsity
from keras_distill.compress._keras3.pruning_schedule import PolynomialDecay

pytestmark = keras3_only


# --------------------------------------------------------------- references
def _kept(size, sparsity):
    """TF-MOT's number of weights kept: max(round(size * (1 - sparsity)), 1)."""
    return max(int(np.round(size * (1.0 - sparsity))), 1)


def _poly(step, initial, final, begin, end, power=3):
    p = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return final + (initial - final) * (1.0 - p) ** power


def _prune_steps(k, begin, end, frequency):
    """TF-MOT's pruning steps among training steps 1..k (step 0 never runs)."""
    return [
        s
        for s in range(1, k + 1)
        if s >= begin and (end < 0 or s <= end) and (s - begin) % frequency == 0
    ]


# ------------------------------------------------------------------- models
def cnn():
    """Conv2D + DepthwiseConv2D + SeparableConv2D + Dense, on 8x8x4 inputs."""
    x = keras.Input((8, 8, 4))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(x)
    h = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(h)
    h = keras.layers.SeparableConv2D(8, 3, padding="same", name="separable")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(3, name="out")(h), name="cnn")


def cnn_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 4), dtype=np.float32)
    y = np.minimum((x[..., 0].mean(axis=(1, 2)) * 6 - 2).astype("int64"), 2)
    return x, np.maximum(y, 0)


def _fit(model, x, y, epochs, batch_size, callbacks=(), optimizer="adam"):
    model.compile(optimizer=optimizer, loss=LOSS)
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=pruning_callbacks() + list(callbacks),
    )
    return model


def _pruned_kernel_sizes(model):
    """layer name -> (pruned kernel size, all kernel params in sparsity_report)."""
    sizes = {}
    for name, entry in sparsity_report(model).items():
        layer = model.get_layer(name)
        pruned = sum(int(np.prod(w.shape)) for w in prunable_weights(layer))
        sizes[name] = (pruned, entry["params"])
    return sizes


# ------------------------------------------------- reaching the target sparsity
@pytest.mark.parametrize("kind", ["polynomial", "constant"])
@pytest.mark.parametrize(
    "make, make_data, batch_size",
    [(mlp, data, 32), (cnn, cnn_data, 16)],
    ids=["mlp", "cnn"],
)
def test_prune_reaches_target_sparsity_exactly_at_end_step_per_layer(
    kind, make, make_data, batch_size
):
    x, y = make_data()
    steps = 3 * (len(x) // batch_size)
    if kind == "polynomial":
        schedule = PolynomialDecay(0.0, 0.8, 0, steps, frequency=steps // 4)
    else:
        schedule = ConstantSparsity(0.8, 0, steps, frequency=steps // 4)
    model = make()
    pruned = _fit(prune(model, schedule), x, y, 3, batch_size)

    report = sparsity_report(pruned)
    expected = {
        # TF-MOT keeps depthwise kernels dense (size 0 here); SeparableConv2D
        # loses pointwise weights only.
        name: size - _kept(size, 0.8) if size else 0
        for name, (size, _) in _pruned_kernel_sizes(pruned).items()
    }
    assert {name: entry["zeros"] for name, entry in report.items()} == expected
    if make is cnn:
        assert set(expected) == {"conv", "depthwise", "separable", "out"}
        assert expected["depthwise"] == 0 and expected["separable"] == 64 - 13


def test_prune_sparsity_at_every_step_follows_tfmot_polynomial_formula():
    x, y = data()
    begin, end, frequency = 1, 22, 3  # 24 training steps, 8 mask updates
    schedule = PolynomialDecay(0.1, 0.85, begin, end, frequency=frequency)
    pruned = prune(mlp(), schedule)
    seen = []

    class Record(keras.callbacks.Callback):
        # The weights each batch's forward pass sees (TF-MOT masks before it).
        def on_train_batch_begin(self, batch, logs=None):
            kernels = [v.numpy() for v, _ in pruning.pruned_variables(pruned)]
            seen.append([int(np.count_nonzero(k == 0)) for k in kernels])

    _fit(pruned, x, y, 3, 32, callbacks=[Record()])
    sizes = [int(np.prod(v.shape)) for v, _ in pruning.pruned_variables(pruned)]
    assert len(seen) == 24
    for k, zeros in enumerate(seen, start=1):
        done = _prune_steps(k, begin, end, frequency)
        sparsity = _poly(done[-1], 0.1, 0.85, begin, end) if done else None
        expected = [0 if not done else n - _kept(n, sparsity) for n in sizes]
        assert zeros == expected, f"training step {k}"
    # Step 1 is begin_step: TF-MOT masks before the first forward pass.
    assert seen[0] == [192 - _kept(192, 0.1), 48 - _kept(48, 0.1)]


def test_pruned_weights_stay_zero_after_every_optimizer_step():
    x, y = data()
    pruned = prune(mlp(), PolynomialDecay(0.0, 0.7, 0, 16, frequency=2))
    checked = []

    class Check(keras.callbacks.Callback):
        previous = None

        def on_train_batch_end(self, batch, logs=None):
            zeros = []
            for variable, mask in pruning.pruned_variables(pruned):
                kernel, keep = variable.numpy(), mask.mask.numpy()
                # Adam's momentum would move them; the constraint puts them back.
                assert np.all(kernel[keep == 0] == 0)
                zeros.append(kernel == 0)
            if self.previous is not None:
                for now, before in zip(zeros, self.previous):
                    assert np.all(now[before]), "a pruned weight came back"
            self.previous = zeros
            checked.append(sum(int(z.sum()) for z in zeros))

    _fit(pruned, x, y, 3, 32, callbacks=[Check()])
    assert len(checked) == 24 and checked[-1] > 0


def test_pruned_student_distilled_with_distiller_reaches_target():
    x, y = data()
    schedule = PolynomialDecay(0.0, 0.75, 0, 24, frequency=6)
    student = prune(mlp(), schedule)
    distiller = Distiller(student=student, teacher=mlp(units=(32,), name="teacher"))
    distiller.compile(optimizer="adam", loss=LOSS)
    distiller.fit(
        x, y, batch_size=32, epochs=3, verbose=0, callbacks=pruning_callbacks()
    )
    report = sparsity_report(strip_pruning(distiller.student))
    assert report["d0"]["zeros"] == 192 - _kept(192, 0.75)
    assert report["out"]["zeros"] == 48 - _kept(48, 0.75)


class BlockStudent(keras.Model):
    """A subclassed student: a Dense layer inside a custom sublayer."""

    def __init__(self, units=16, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.head = keras.layers.Dense(3)

    def call(self, inputs):
        return self.head(self.hidden(inputs))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_prune_subclassed_model_reaches_target_and_keeps_its_class():
    x, y = data()
    student = BlockStudent()
    student(x[:1])
    pruned = _fit(prune(student, ConstantSparsity(0.5, 0, frequency=8)), x, y, 2, 32)
    assert type(pruned) is BlockStudent
    kernels = [v.numpy() for v, _ in pruning.pruned_variables(pruned)]
    assert [int(np.count_nonzero(k == 0)) for k in kernels] == [96, 24]


def test_prune_subclassed_model_without_get_config_raises_type_error():
    class Opaque(keras.Model):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def call(self, inputs):
            return self.layer(inputs)

    model = Opaque(keras.layers.Dense(3))
    model(np.zeros((1, 12), np.float32))
    with pytest.raises(TypeError, match="Opaque.*get_config"):
        prune(model, ConstantSparsity(0.5, 0))


def test_prune_leaves_the_student_unmodified():
    x, y = data()
    student = mlp()
    before = [w.copy() for w in student.get_weights()]
    pruned = _fit(prune(student, ConstantSparsity(0.5, 0, frequency=4)), x, y, 1, 32)
    assert is_pruned(pruned) and not is_pruned(student)
    assert all(v.constraint is None for v in student.weights)
    for now, then in zip(student.get_weights(), before):
        np.testing.assert_array_equal(now, then)
    assert not {id(v) for v in pruned.weights} & {id(v) for v in student.weights}


# ------------------------------------------------------------------- strip
def test_strip_pruning_returns_plain_layers_original_constraint_same_predictions():
    x, y = data()
    inputs = keras.Input((12,))
    hidden = keras.layers.Dense(
        16, activation="relu", kernel_constraint=keras.constraints.NonNeg(), name="d0"
    )(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(hidden))
    pruned = prune(model, ConstantSparsity(0.6, 0, frequency=4))
    constraint = pruned.get_layer("d0").kernel.constraint
    assert isinstance(constraint, MagnitudeMask)
    assert isinstance(constraint.constraint, keras.constraints.NonNeg)
    _fit(pruned, x, y, 2, 32)
    # The old constraint ran first: no negative weight survived.
    assert pruned.get_layer("d0").kernel.numpy().min() >= 0

    stripped = strip_pruning(pruned)
    assert not is_pruned(stripped)
    assert [type(layer) for layer in stripped.layers] == [
        type(layer) for layer in pruned.layers
    ]
    assert isinstance(
        stripped.get_layer("d0").kernel.constraint, keras.constraints.NonNeg
    )
    assert stripped.get_layer("out").kernel.constraint is None
    np.testing.assert_allclose(
        stripped.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-6
    )
    assert sparsity_report(stripped) == sparsity_report(pruned)


def test_strip_pruning_of_an_unpruned_model_returns_an_equivalent_copy():
    model = mlp()
    x, _ = data(n=8)
    copy = strip_pruning(model)
    assert copy is not model
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0))


def test_pruned_model_saved_and_reloaded_is_plain_with_its_zeros(tmp_path):
    x, y = data()
    pruned = _fit(prune(mlp(), ConstantSparsity(0.7, 0, frequency=4)), x, y, 1, 32)
    path = tmp_path / "pruned.keras"
    pruned.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert not is_pruned(loaded)
    assert sparsity_report(loaded) == sparsity_report(pruned)
    assert sparsity_report(loaded)["d0"]["zeros"] == 192 - _kept(192, 0.7)


def test_pruned_weights_file_restores_masks_and_plain_weights_load_into_it(tmp_path):
    x, y = data()
    pruned = _fit(prune(mlp(), ConstantSparsity(0.7, 0, frequency=4)), x, y, 1, 32)
    masks = [m.mask.numpy() for _, m in pruning.pruned_variables(pruned)]
    pruned.save_weights(tmp_path / "pruned.weights.h5")
    mlp().save_weights(tmp_path / "plain.weights.h5")

    fresh = prune(mlp(), ConstantSparsity(0.7, 0, frequency=4))
    fresh.load_weights(tmp_path / "plain.weights.h5")  # no pruning state: kept
    assert all(m.mask.numpy().all() for _, m in pruning.pruned_variables(fresh))
    fresh.load_weights(tmp_path / "pruned.weights.h5")
    for want, (_, mask) in zip(masks, pruning.pruned_variables(fresh)):
        np.testing.assert_array_equal(mask.mask.numpy(), want)
    assert (masks[0] == 0).sum() == 192 - _kept(192, 0.7)


# ---------------------------------------------------------------- 2:4 masks
def test_two_four_gives_two_zeros_in_every_four_input_weights():
    x = keras.Input((8, 8, 8))
    h = keras.layers.Conv2D(8, 3, name="conv")(x)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(10, name="d0")(h)  # 288 inputs
    model = keras.Model(x, keras.layers.Dense(3, name="out")(h))  # 10: padded
    rng = np.random.default_rng(0)
    xs = rng.random((32, 8, 8, 8), dtype=np.float32)
    ys = rng.integers(0, 3, 32)
    pruned = _fit(prune(model, ConstantSparsity(0.5, 0), m_by_n=(2, 4)), xs, ys, 2, 8)
    report = sparsity_report(pruned)
    assert all(entry["structured_2_4"] for entry in report.values()), report
    assert report["conv"]["sparsity"] == 0.5 and report["d0"]["sparsity"] == 0.5


def test_two_four_on_other_kernel_ranks_names_the_layers():
    model = keras.Sequential(
        [
            keras.Input((6, 4)),
            keras.layers.Conv1D(4, 3, name="c1"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="out"),
        ]
    )
    with pytest.raises(ValueError, match=r"'c1' \(Conv1D\).*skip_layers"):
        prune(model, ConstantSparsity(0.5, 0), m_by_n=(2, 4))
    assert is_pruned(
        prune(model, ConstantSparsity(0.5, 0), m_by_n=(2, 4), skip_layers=["c1"])
    )


@pytest.mark.parametrize(
    "rows, m_by_n, expected",
    [  # TF-MOT pruning_utils_test.GenerateMbyNMaskTest, in its row layout.
        ([[1.24], [1.11]], (2, 4), [[1], [1]]),
        ([[-0.49, -0.66, 0.42], [0.31, 0.63, -1.63]], (2, 4), [[1, 1, 0], [0, 1, 1]]),
        ([[-0.49, -0.66, 0.42], [0.31, 0.63, -1.63]], (1, 2), [[0, 1, 1], [0, 1, 1]]),
        (
            [[0.25, -1.33, 0.43, -0.11], [0.47, 0.92, -0.13, -2.23]],
            (2, 4),
            [[0, 1, 1, 0], [0, 1, 0, 1]],
        ),
        (
            [[1.71, -0.27, -0.3, -0.61, -0.19], [-0.4, 1.12, 0.46, -1.12, 0.17]],
            (3, 5),
            [[1, 0, 0, 1, 0], [0, 1, 0, 1, 0]],
        ),
    ],
)
def test_m_by_n_mask_matches_tfmot_generate_m_by_n_mask(rows, m_by_n, expected):
    # A Dense kernel is [in, out]; TF-MOT's rows are its transpose.
    kernel = np.asarray(rows, np.float32).T
    np.testing.assert_array_equal(np.asarray(m_by_n_mask(kernel, m_by_n)).T, expected)


@pytest.mark.parametrize(
    "kernel, expected, m_by_n",
    [  # TF-MOT pruning_impl_test.testSparsityMbyNMaskingSimple (kernel layout).
        (
            [[0.74, 0.68], [-0.89, -0.45], [-1.68, 1.24], [0.31, -0.6]],
            [[0, 1], [1, 0], [1, 1], [0, 0]],
            (2, 4),
        ),
        (
            [[[[-0.36, -0.77], [-0.43, -0.18], [0.12, 1.36], [0.77, 0.96]]]],
            [[[[0, 0], [1, 0], [0, 1], [1, 1]]]],
            (2, 4),
        ),
        (
            [[[[-0.36, -0.77], [-0.43, -0.18], [0.12, 1.36], [0.77, 0.96]]]],
            [[[[0, 1], [1, 0], [0, 1], [1, 0]]]],
            (1, 2),
        ),
        (
            [[1.92, -0.21], [-0.19, 0.57], [1.1, -0.42]],
            [[1, 0], [0, 1], [1, 1]],
            (2, 4),
        ),
        (
            [[[[-0.37, 1.85], [0.82, 0.07], [1.17, 0.5]]]],
            [[[[0, 1], [1, 0], [1, 1]]]],
            (2, 4),
        ),
    ],
)
def test_m_by_n_mask_matches_tfmot_sparsity_m_by_n_masking(kernel, expected, m_by_n):
    mask = m_by_n_mask(np.asarray(kernel, np.float32), m_by_n)
    np.testing.assert_array_equal(np.asarray(mask), expected)


# ------------------------------------------------ unstructured mask (TF-MOT)
def test_magnitude_mask_keeps_one_weight_at_extreme_sparsity():
    mask, _ = magnitude_mask(np.linspace(1.0, 100.0, 100).astype("float32"), 0.9999)
    assert int(np.count_nonzero(mask)) == 1


def test_magnitude_mask_half_sparsity_keeps_half():
    mask, _ = magnitude_mask(np.linspace(1.0, 100.0, 100).astype("float32"), 0.5)
    assert int(np.count_nonzero(mask)) == 50


def test_magnitude_mask_constructs_mask_and_threshold_correctly():
    # TF-MOT testConstructsMaskAndThresholdCorrectly: "sparsity math often
    # returns values with small tolerances".
    mask, threshold = magnitude_mask(np.arange(1, 11).astype("float32"), 0.200000018)
    assert float(threshold) == 3.0
    np.testing.assert_array_equal(mask, np.concatenate([np.zeros(2), np.ones(8)]))


# --------------------------------------------------------- errors and layers
def test_training_without_the_callback_raises_before_any_weight_changes_then_trains():
    x, y = data()
    pruned = prune(mlp(), ConstantSparsity(0.5, 0, frequency=1))
    pruned.compile(optimizer="adam", loss=LOSS)
    before = [w.copy() for w in pruned.get_weights()]
    with pytest.raises(
        RuntimeError, match=r"callbacks=keras_distill\.compress\.pruning_callbacks\(\)"
    ):
        pruned.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert int(pruned.optimizer.iterations) == 0
    for now, then in zip(pruned.get_weights(), before):
        np.testing.assert_array_equal(now, then)
    # Keras built the optimizer in the stopped step: its state is unusable
    # until the model is compiled again, which the next error says.
    with pytest.raises(RuntimeError, match="Compile the model again"):
        pruned.fit(x, y, epochs=1, verbose=0, callbacks=pruning_callbacks())
    pruned.compile(optimizer="adam", loss=LOSS)
    # A second fit continues from the optimizer's step.
    for _ in range(2):
        pruned.fit(
            x, y, batch_size=32, epochs=1, verbose=0, callbacks=pruning_callbacks()
        )
    assert int(pruned.optimizer.iterations) == 16
    assert sparsity_report(pruned)["d0"]["zeros"] == 96


def test_callback_on_a_model_without_pruned_kernels_raises_value_error():
    x, y = data()
    model = mlp()
    model.compile(optimizer="adam", loss=LOSS)
    with pytest.raises(ValueError, match="no pruned kernel"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=pruning_callbacks())


class _Scale(keras.layers.Layer):
    """A custom layer with a rank-2 trainable weight the engine does not know."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1], 1))

    def call(self, inputs):
        return inputs * keras.ops.reshape(self.scale, [-1])


class _PrunableScale(_Scale):
    def get_prunable_weights(self):
        return [self.scale]


def _model_with(*layers):
    x = keras.Input((12,))
    h = x
    for layer in layers:
        h = layer(h)
    return keras.Model(x, keras.layers.Dense(3, name="out")(h))


def test_prune_unknown_layers_are_all_named_in_one_error():
    model = _model_with(_Scale(name="s1"), _Scale(name="s2"))
    with pytest.raises(
        ValueError, match=r"'s1' \(_Scale\), 's2' \(_Scale\).*skip_layers"
    ):
        prune(model, ConstantSparsity(0.5, 0))


def test_prune_skip_layers_and_get_prunable_weights():
    model = _model_with(_Scale(name="s1"), _PrunableScale(name="s2"))
    pruned = prune(model, ConstantSparsity(0.5, 0), skip_layers=["s1"])
    masked = {mask.path for _, mask in pruning.pruned_variables(pruned)}
    assert masked == {"s2/scale", "out/kernel"}


def test_prunable_weights_follows_tfmot_registry():
    layers = {
        "dense": keras.layers.Dense(2),
        "depthwise": keras.layers.DepthwiseConv2D(3),
        "separable": keras.layers.SeparableConv2D(2, 3),
        "batch_norm": keras.layers.BatchNormalization(),
    }
    for layer in layers.values():
        layer.build((None, 8, 8, 4))
    names = {k: [w.name for w in prunable_weights(v)] for k, v in layers.items()}
    assert names == {
        "dense": ["kernel"],
        "depthwise": [],
        "separable": ["pointwise_kernel"],
        "batch_norm": [],
    }


class _Residual(keras.layers.Layer):
    """A custom layer whose kernel lives in a Dense sublayer."""

    def build(self, input_shape):
        self.dense = keras.layers.Dense(input_shape[-1], name="inner")
        self.dense.build(input_shape)

    def call(self, inputs):
        return inputs + self.dense(inputs)


def test_prune_walks_sublayers_of_custom_layers():
    model = _model_with(_Residual(name="residual"))
    pruned = prune(model, ConstantSparsity(0.5, 0))
    masked = {mask.path for _, mask in pruning.pruned_variables(pruned)}
    assert masked == {"residual/inner/kernel", "out/kernel"}


def test_prune_walks_nested_models():
    inner = keras.Sequential(
        [keras.Input((12,)), keras.layers.Dense(8, name="inner_dense")], name="inner"
    )
    x = keras.Input((12,))
    model = keras.Model(x, keras.layers.Dense(3, name="out")(inner(x)))
    pruned = prune(model, ConstantSparsity(0.5, 0))
    masked = {mask.path for _, mask in pruning.pruned_variables(pruned)}
    assert masked == {"inner/inner_dense/kernel", "out/kernel"}
    assert not is_pruned(inner)


def test_pruning_summaries_write_sparsity_and_threshold(tmp_path):
    import tensorflow as tf

    x, y = data()
    pruned = prune(mlp(), ConstantSparsity(0.5, 0, frequency=2))
    pruned.compile(optimizer="adam", loss=LOSS)
    pruned.fit(x, y, epochs=1, verbose=0, callbacks=pruning_callbacks(str(tmp_path)))
    tags = {}
    for path in (tmp_path / "metrics").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags[value.tag] = float(tf.make_ndarray(value.tensor))
    assert tags["d0/kernel/sparsity"] == pytest.approx(0.5)
    assert tags["d0/kernel/threshold"] > 0


# ------------------------------------------------- against TF-MOT itself
_TFMOT_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import numpy as np, tf_keras as keras, tensorflow_model_optimization as tfmot
    d = np.load(sys.argv[1], allow_pickle=True)
    s = tfmot.sparsity.keras
    out = {}
    for kind in ("polynomial", "constant", "2:4"):
        x = keras.Input((12,))
        h = keras.layers.Dense(16, activation="relu", name="d0")(x)
        m = keras.Model(x, keras.layers.Dense(3, name="out")(h))
        m.set_weights(list(d["weights"]))
        schedule = s.PolynomialDecay(0.1, 0.8, 3, 23, frequency=4)
        if kind != "polynomial":
            schedule = s.ConstantSparsity(0.6, 3, frequency=4)
        p = s.prune_low_magnitude(m, pruning_schedule=schedule,
                                  sparsity_m_by_n=(2, 4) if kind == "2:4" else None)
        p.compile(keras.optimizers.SGD(0.05),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        masks = []
        class Record(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                masks.append([l.pruning_vars[0][1].numpy()
                              for l in p.layers if hasattr(l, "pruning_vars")])
        p.fit(d["x"], d["y"], batch_size=32, epochs=3, shuffle=False, verbose=0,
              callbacks=[s.UpdatePruningStep(), Record()])
        out[kind] = masks
        out[kind + "/final"] = s.strip_pruning(p).get_weights()
    np.save(sys.argv[2], np.array([out], dtype=object))
    """
)


def _masks_seen_by_each_batch(pruned, x, y):
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append([m.mask.numpy() for _, m in pruning.pruned_variables(pruned)])

    sgd = keras.optimizers.SGD(0.05)
    _fit(pruned, x, y, 3, 32, callbacks=[Record()], optimizer=sgd)
    return seen


@pytest.mark.slow
def test_masks_match_tfmot_step_by_step(tmp_path):
    """TF-MOT (tf_keras, in a subprocess) and this engine, same weights, data
    and SGD: the mask every training batch sees, and the final stripped
    weights, must be identical."""
    x, y = data(n=320)
    model = mlp()
    np.savez(
        tmp_path / "in.npz",
        weights=np.array(model.get_weights(), dtype=object),
        x=x,
        y=y,
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run(
        [sys.executable, "-c", _TFMOT_SCRIPT, tmp_path / "in.npz", tmp_path / "o.npy"],
        check=True,
        env=env,
        timeout=300,
    )
    reference = np.load(tmp_path / "o.npy", allow_pickle=True)[0]
    schedules = {
        "polynomial": (PolynomialDecay(0.1, 0.8, 3, 23, frequency=4), None),
        "constant": (ConstantSparsity(0.6, 3, frequency=4), None),
        "2:4": (ConstantSparsity(0.5, 0), (2, 4)),
    }
    for kind, (schedule, m_by_n) in schedules.items():
        pruned = prune(model, schedule, m_by_n=m_by_n)
        seen = _masks_seen_by_each_batch(pruned, x, y)
        assert len(seen) == len(reference[kind]) == 30
        for step, (ours, theirs) in enumerate(zip(seen, reference[kind]), start=1):
            for a, b in zip(ours, theirs):
                np.testing.assert_array_equal(a, b, err_msg=f"{kind} step {step}")
        final = strip_pruning(pruned).get_weights()
        for a, b in zip(final, reference[kind + "/final"]):
            np.testing.assert_allclose(a, b, atol=1e-6, err_msg=kind)
            np.testing.assert_array_equal(a == 0, b == 0, err_msg=kind)


# ------------------------------------------- every layer in the registry
def _registry_cases():
    layers = keras.layers
    return {
        "Conv1D": (lambda: layers.Conv1D(2, 3), (6, 4)),
        "Conv2D": (lambda: layers.Conv2D(2, 3), (6, 6, 4)),
        "Conv2DTranspose": (lambda: layers.Conv2DTranspose(2, 3), (6, 6, 4)),
        "Conv3D": (lambda: layers.Conv3D(2, 3), (4, 4, 4, 2)),
        "Conv3DTranspose": (lambda: layers.Conv3DTranspose(2, 3), (4, 4, 4, 2)),
        "Dense": (lambda: layers.Dense(4), (6,)),
        "DepthwiseConv2D": (lambda: layers.DepthwiseConv2D(3), (6, 6, 4)),
        "Embedding": (lambda: layers.Embedding(10, 4), (5,)),
        "SeparableConv1D": (lambda: layers.SeparableConv1D(2, 3), (6, 4)),
        "SeparableConv2D": (lambda: layers.SeparableConv2D(2, 3), (6, 6, 4)),
        "MultiHeadAttention": (lambda: layers.MultiHeadAttention(2, 2), (5, 4)),
        "GRUCell": (lambda: layers.GRU(3), (5, 4)),
        "LSTMCell": (lambda: layers.LSTM(3), (5, 4)),
        "SimpleRNNCell": (lambda: layers.SimpleRNN(3), (5, 4)),
    }


def test_registry_cases_cover_every_registered_layer():
    assert set(_registry_cases()) == {c.__name__ for c in pruning.PRUNABLE_WEIGHTS}


@pytest.mark.parametrize("name", sorted(_registry_cases()))
def test_prune_every_registered_layer_reaches_target(name):
    make, shape = _registry_cases()[name]
    layer = make()
    embedding = name == "Embedding"
    x = keras.Input(shape, dtype="int32" if embedding else "float32")
    h = layer(x, x) if name == "MultiHeadAttention" else layer(x)
    model = keras.Model(
        x, keras.layers.Dense(1, name="head")(keras.layers.Flatten()(h))
    )
    rng = np.random.default_rng(0)
    xs = rng.integers(0, 10, (8,) + shape) if embedding else rng.random((8,) + shape)
    pruned = prune(model, ConstantSparsity(0.5, 0, frequency=1), skip_layers=["head"])
    expected = {"MultiHeadAttention": 4, "DepthwiseConv2D": 0}.get(name, 1)
    expected = 2 if name.endswith("Cell") else expected
    if not expected:  # TF-MOT keeps depthwise kernels dense
        assert not is_pruned(pruned)
        return
    pruned.compile(optimizer="adam", loss="mse")
    pruned.fit(
        xs, rng.random((8, 1)), epochs=1, verbose=0, callbacks=pruning_callbacks()
    )
    kernels = [v.numpy() for v, _ in pruning.pruned_variables(pruned)]
    assert len(kernels) == expected
    for kernel in kernels:
        assert np.count_nonzero(kernel == 0) == kernel.size - _kept(kernel.size, 0.5)
