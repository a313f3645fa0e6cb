"""Tests for keras_distill.compress.sparsity_report (both Keras flavours)."""

import numpy as np
import pytest
from compress_models import data
from compress_models import keras3_mlp
from compress_models import mlp
from conftest import keras3_only

from keras_distill._compat import keras
from keras_distill.compress import sparsity_report


def _zero_out(model, fraction, seed=0):
    """Sets a random `fraction` of every kernel to zero; returns the kernels."""
    rng = np.random.default_rng(seed)
    kernels = {}
    for layer in model.layers[1:]:
        kernel, bias = layer.get_weights()
        kernel[rng.random(kernel.shape) < fraction] = 0.0
        layer.set_weights([kernel, bias])
        kernels[layer.name] = kernel
    return kernels


def test_sparsity_report_matches_a_numpy_count_of_zeros():
    model = mlp(units=(16, 8))
    kernels = _zero_out(model, 0.7)
    report = sparsity_report(model)
    assert list(report) == ["d0", "d1", "out"]
    for name, kernel in kernels.items():
        zeros = int(np.sum(kernel.astype(np.float64) == 0.0))
        assert report[name]["zeros"] == zeros
        assert report[name]["params"] == kernel.size
        assert report[name]["sparsity"] == zeros / kernel.size


def test_sparsity_report_leaves_biases_out_and_reports_dense_as_zero():
    report = sparsity_report(mlp())
    assert report["d0"] == {
        "sparsity": 0.0,
        "zeros": 0,
        "params": 12 * 16,
        "structured_2_4": False,
    }


def test_sparsity_report_detects_two_four_structure_along_input_channels():
    x = keras.Input((8,))
    model = keras.Model(x, keras.layers.Dense(2, name="d")(x))
    kernel = np.ones((8, 2), np.float32)  # [in, out]
    kernel[[0, 1, 4, 5], 0] = 0.0  # 2 zeros in each group of 4 inputs
    kernel[[2, 3, 6, 7], 1] = 0.0
    model.get_layer("d").set_weights([kernel, np.zeros(2, np.float32)])
    assert sparsity_report(model)["d"]["structured_2_4"] is True
    kernel[[0, 1], 0] = 1.0  # group 0 of output 0 now has no zero
    model.get_layer("d").set_weights([kernel, np.zeros(2, np.float32)])
    assert sparsity_report(model)["d"]["structured_2_4"] is False


def test_sparsity_report_leaves_out_the_rank_2_biases_of_attention():
    x = keras.Input((5, 8))
    mha = keras.layers.MultiHeadAttention(2, 4, name="mha")
    model = keras.Model(x, mha(x, x))
    # Query, key, value (8, 2, 4) and output (2, 4, 8) kernels; the (2, 4)
    # biases, all zeros, would make a dense layer look 8.6 % sparse.
    assert sparsity_report(model)["mha"]["params"] == 4 * 64
    assert sparsity_report(model)["mha"]["zeros"] == 0


def test_sparsity_report_names_layers_of_nested_models():
    inner = mlp(units=(4,), name="inner")
    x = keras.Input((12,))
    outer = keras.Model(x, keras.layers.Dense(2, name="head")(inner(x)))
    assert list(sparsity_report(outer)) == ["inner/d0", "inner/out", "head"]


def test_sparsity_report_rejects_non_models():
    with pytest.raises(TypeError, match="Keras model"):
        sparsity_report("model.keras")


@keras3_only
def test_sparsity_report_works_on_keras3_models_without_tfmot():
    model = keras3_mlp()
    assert list(sparsity_report(model).values())[0]["params"] == 36


def test_sparsity_report_gives_same_numbers_for_wrapped_and_stripped_models():
    from keras_distill.compress import prune
    from keras_distill.compress import pruning_callbacks
    from keras_distill.compress import quantize
    from keras_distill.compress import strip_pruning

    x, y = data(n=64)
    pruned = prune(mlp(), target_sparsity=0.5, schedule="constant", frequency=1)
    pruned.compile(optimizer="adam", loss="mse")
    pruned.fit(x, np.eye(3)[y], epochs=1, verbose=0, callbacks=pruning_callbacks())
    stripped = strip_pruning(pruned)
    assert sparsity_report(pruned) == sparsity_report(stripped)
    # A QAT wrapper detaches the kernel from the wrapped layer (TF-MOT) or
    # holds a mask of the zeros next to it (ours); only the kernels count.
    assert sparsity_report(quantize(stripped)) == sparsity_report(stripped)
    preserving = quantize(stripped, preserve="sparsity")
    assert sparsity_report(preserving) == sparsity_report(stripped)


def _sequence_student(kind):
    """A tiny Transformer encoder (Embedding, MultiHeadAttention, EinsumDense,
    Dense, LayerNormalization) or a stacked LSTM/GRU student, and its data."""
    layers, seq = keras.layers, 6
    rng = np.random.default_rng(0)
    if kind == "transformer":
        ids = keras.Input((seq,), dtype="int32")
        h = layers.Embedding(20, 8, name="emb")(ids)
        a = layers.MultiHeadAttention(2, 4, name="mha")(h, h)
        h = layers.LayerNormalization(name="ln")(h + a)
        h = layers.EinsumDense("abc,cd->abd", (None, 8), name="proj")(h)
        h = layers.GlobalAveragePooling1D()(h)
        h = layers.Dense(8, activation="relu", name="ffn")(h)
        x = rng.integers(0, 20, (32, seq)).astype("int32")
    else:
        rnn = {"lstm": layers.LSTM, "gru": layers.GRU}[kind]
        ids = keras.Input((seq, 3))
        h = rnn(4, name="rnn2")(rnn(6, return_sequences=True, name="rnn1")(ids))
        x = rng.normal(size=(32, seq, 3)).astype("float32")
    model = keras.Model(ids, layers.Dense(3, name="logits")(h))
    return model, x, (np.arange(32) % 3).astype("int64")


@keras3_only
@pytest.mark.parametrize("kind", ["transformer", "lstm", "gru"])
def test_sparsity_report_of_a_qat_sequence_student_matches_its_float_student(kind):
    from keras_distill.compress import prune
    from keras_distill.compress import pruning_callbacks
    from keras_distill.compress import quantize
    from keras_distill.compress import strip_pruning

    student, x, y = _sequence_student(kind)
    # The pruning engine has no EinsumDense entry: "proj" stays dense.
    pruned = prune(
        student,
        target_sparsity=0.5,
        schedule="constant",
        frequency=1,
        skip_layers=["proj"] if kind == "transformer" else None,
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    pruned.compile(optimizer="adam", loss=loss)
    pruned.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=pruning_callbacks())
    stripped = strip_pruning(pruned)
    expected = sparsity_report(stripped)
    names = ["emb", "mha", "ffn"] if kind == "transformer" else ["rnn1", "rnn2"]
    assert set(names) < set(expected)
    for name in names:  # pruned: about half of each kernel is zeros
        assert 0.4 <= expected[name]["sparsity"] <= 0.6, (name, expected[name])
    # Same keys (not quant_<name>) and counts: the masks that keep the zeros
    # (preserve="sparsity") and the quantizers are not counted as kernels.
    assert sparsity_report(quantize(stripped)) == expected
    assert sparsity_report(quantize(stripped, preserve="sparsity")) == expected
