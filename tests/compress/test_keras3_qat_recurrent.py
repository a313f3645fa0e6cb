"""Tests for our Keras 3 QAT engine on Bidirectional (LSTM, GRU, SimpleRNN)
and SimpleRNN students: the quantized math against a float64 NumPy reference,
saving and loading in a new process, the int8 file in LiteRT, pruning."""

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import keras3_only
from tflite_files import fully_connected_input_dtypes

from keras_distill._compat import keras
from keras_distill.compress import prune
from keras_distill.compress import pruning_callbacks
from keras_distill.compress import quantize
from keras_distill.compress import sparsity_report
from keras_distill.compress import strip_pruning
from keras_distill.compress._keras3 import qat
from keras_distill.export import export_and_verify

pytestmark = keras3_only

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
STEPS, FEATURES, CLASSES = 4, 3, 3
RNN = {"lstm": L.LSTM, "gru": L.GRU, "simple": L.SimpleRNN}
CELL = {
    "lstm": "QuantizedLSTMCell",
    "gru": "QuantizedGRUCell",
    "simple": "QuantizedSimpleRNNCell",
}


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, STEPS, FEATURES)).astype("float32")
    return x, np.arange(n) % CLASSES


def bidirectional_student(kind, merge_mode="concat", second=None, seed=0):
    """Bidirectional(`kind`, 4 units, return_sequences) -> Bidirectional(
    `second` or `kind`, 3 units) -> Dense logits, both with `merge_mode`."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((STEPS, FEATURES), name="seq")
    h = L.Bidirectional(
        RNN[kind](4, return_sequences=True), merge_mode=merge_mode, name="bi1"
    )(x)
    if merge_mode is None:  # two outputs, one per direction
        h = L.Concatenate(name="both")(h)
    h = L.Bidirectional(
        RNN[second or kind](3), merge_mode=merge_mode or "concat", name="bi2"
    )(h)
    return keras.Model(x, L.Dense(CLASSES, name="logits")(h), name=f"bi_{kind}")


def simple_rnn_student(seed=0):
    """SimpleRNN (tanh, return_sequences) -> SimpleRNN (relu) -> Dense."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((STEPS, FEATURES), name="seq")
    h = L.SimpleRNN(4, return_sequences=True, name="r1")(x)
    h = L.SimpleRNN(4, activation="relu", name="r2")(h)
    return keras.Model(x, L.Dense(CLASSES, name="logits")(h), name="simple_rnn")


def output_step(model):
    q = model.get_layer("quant_logits").output_quantizer
    return (float(q.range_max.numpy()) - float(q.range_min.numpy())) / 255.0


def fit_one_epoch(model, x, y, learning_rate=1e-3):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=LOSS)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return model


# (a) What `quantize` builds.


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple"])
def test_bidirectional_becomes_two_rnns_of_quantized_cells_with_the_weights(kind):
    float_student = bidirectional_student(kind, merge_mode="sum")
    q = quantize(float_student)
    new, old = q.get_layer("quant_bi1"), float_student.get_layer("bi1")
    assert type(new) is L.Bidirectional and new.merge_mode == "sum"
    assert new.return_sequences
    for rnn, original in (
        (new.forward_layer, old.forward_layer),
        (new.backward_layer, old.backward_layer),
    ):
        assert type(rnn) is L.RNN and type(rnn.cell).__name__ == CELL[kind]
        assert rnn.go_backwards == original.go_backwards
        for got, want in zip(rnn.cell.float_weights(), original.cell.weights):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert qat.quantizable(old)


def test_simple_rnn_becomes_an_rnn_of_quantized_simple_rnn_cells():
    float_student = simple_rnn_student()
    q = quantize(float_student)
    for name, activation in (("r1", "tanh"), ("r2", "relu")):
        cell = q.get_layer(f"quant_{name}").cell
        assert type(cell).__name__ == "QuantizedSimpleRNNCell"
        assert keras.activations.serialize(cell.activation) == activation
        original = float_student.get_layer(name).cell
        np.testing.assert_array_equal(cell.kernel.numpy(), original.kernel.numpy())


def test_layers_the_cells_cannot_compute_are_still_refused_by_name():
    x = keras.Input((STEPS, FEATURES))
    h = L.Bidirectional(L.GRU(4, reset_after=False), name="bi")(x)
    student = keras.Model(x, L.Dense(2, name="out")(h))
    with pytest.raises(ValueError, match=r"'bi' \(Bidirectional\).*layers=\['out'\]"):
        quantize(student)
    q = quantize(student, layers=["out"])  # the Bidirectional stays float
    assert type(q.get_layer("bi").forward_layer) is L.GRU


# (b) The quantized math: float64 NumPy reference.


def fake_quant(x, lo, hi, narrow=False):
    """TF's 8-bit FakeQuantWithMinMaxVars in float64: [lo, hi] nudged to put 0
    on the grid, then rounded half up."""
    q_min = 1.0 if narrow else 0.0
    scale = (hi - lo) / (255.0 - q_min)
    zero = np.clip(np.floor(q_min - lo / scale + 0.5), q_min, 255.0)
    low, high = (q_min - zero) * scale, (255.0 - zero) * scale
    return np.floor((np.clip(x, low, high) - low) / scale + 0.5) * scale + low


def reference_rnn(rnn, x):
    """The outputs (batch, steps, units) of an RNN of a quantized cell on `x`
    (batch, steps, features), in float64, in inference mode."""
    cell = rnn.cell

    def act(name, value):
        quantizer = getattr(cell, name)
        lo, hi = (float(v.numpy()) for v in (quantizer.range_min, quantizer.range_max))
        return fake_quant(value, lo, hi)

    def weight(variable):
        w = variable.numpy().astype("float64")
        m = max(np.abs(w).max(), 1e-8)
        return fake_quant(w, -m, m, narrow=True)

    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    activation = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0)}[
        keras.activations.serialize(cell.activation)
    ]
    kernel, recurrent = weight(cell.kernel), weight(cell.recurrent_kernel)
    bias = cell.bias.numpy().astype("float64")
    kind = type(cell).__name__
    h = np.zeros((len(x), cell.units))
    c = np.zeros_like(h)
    outputs = []
    steps = range(x.shape[1])
    for t in reversed(steps) if rnn.go_backwards else steps:
        x_t = act("input_quantizer", x[:, t].astype("float64"))
        h_q = act("state_quantizer", h)
        b_x, b_h = (bias[0], bias[1]) if kind == "QuantizedGRUCell" else (bias, 0.0)
        m_x = act("input_projection_quantizer", x_t @ kernel + b_x)
        m_h = act("recurrent_projection_quantizer", h_q @ recurrent + b_h)
        if kind == "QuantizedSimpleRNNCell":
            h = activation(m_x + m_h)
        elif kind == "QuantizedGRUCell":
            x_z, x_r, x_h = np.split(m_x, 3, axis=-1)
            h_z, h_r, h_h = np.split(m_h, 3, axis=-1)
            z, r = sigmoid(x_z + h_z), sigmoid(x_r + h_r)
            h = z * h + (1 - z) * activation(x_h + r * h_h)
        else:
            i, f, g, o = np.split(m_x + m_h, 4, axis=-1)
            c = sigmoid(f) * c + sigmoid(i) * activation(g)
            h = sigmoid(o) * activation(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


MERGE = {
    "concat": lambda f, b: np.concatenate([f, b], axis=-1),
    "sum": lambda f, b: f + b,
    "ave": lambda f, b: (f + b) / 2,
    "mul": lambda f, b: f * b,
}


@pytest.mark.parametrize(
    ("kind", "merge_mode"),
    [("lstm", "concat"), ("gru", "ave"), ("simple", "mul"), ("gru", "sum")],
)
def test_bidirectional_computes_the_float64_fake_quantized_math(kind, merge_mode):
    x, _ = data(16)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((STEPS, FEATURES))
    bi = L.Bidirectional(
        RNN[kind](4, return_sequences=True, bias_initializer="random_normal"),
        merge_mode=merge_mode,
        name="bi",
    )
    q = qat.calibrate(quantize(keras.Model(inputs, bi(inputs))), x)
    layer = q.get_layer("quant_bi")
    forward = reference_rnn(layer.forward_layer, x)
    backward = reference_rnn(layer.backward_layer, x)[:, ::-1]  # time order
    want = MERGE[merge_mode](forward, backward)
    got = q.predict(x, verbose=0)
    # float32 against float64: a value on a rounding boundary may land one
    # 8-bit step apart, and that step then travels through the recurrence.
    close = np.abs(got - want) <= 1e-5
    assert close.mean() >= 0.97, close.mean()
    assert np.abs(got - want).max() <= 0.1, np.abs(got - want).max()


def test_simple_rnn_computes_the_float64_fake_quantized_math():
    x, _ = data(16)
    q = qat.calibrate(quantize(simple_rnn_student()), x)
    first = reference_rnn(q.get_layer("quant_r1"), x)
    second = reference_rnn(q.get_layer("quant_r2"), first)[:, -1]
    probe = keras.Model(q.input, q.get_layer("quant_r2").output)
    got = probe.predict(x, verbose=0)
    close = np.abs(got - second) <= 1e-5
    assert close.mean() >= 0.97, close.mean()


@pytest.mark.parametrize(
    ("student", "merge_mode", "limit"),
    [
        ("gru", "concat", 5.0),
        ("lstm", None, 6.0),
        ("simple", "ave", 11.0),
        ("simple_rnn", None, 30.0),
    ],
)
def test_calibrated_student_predicts_like_the_float_one(student, merge_mode, limit):
    x, _ = data(64)
    if student == "simple_rnn":
        float_student = simple_rnn_student()
    else:
        float_student = bidirectional_student(student, merge_mode)
    q = qat.calibrate(quantize(float_student), x)
    expected, got = float_student.predict(x, verbose=0), q.predict(x, verbose=0)
    steps = np.abs(got - expected) / output_step(q)
    # Measured 90th percentiles (output steps): 3.9 (Bidirectional GRU), 5.1
    # (LSTM, merge_mode=None), 9.1 (SimpleRNN, "ave"), 24.3 (SimpleRNN tanh
    # then relu, whose state is unbounded). The calibrated ranges average the
    # batch ranges, so they clip the extremes (an untrained tanh state of
    # +-0.99 gets a range of about +-0.87 over 4 steps), and the error adds up
    # over the steps; the logits' own spread is 100-400 steps.
    assert np.quantile(steps, 0.9) <= limit, np.quantile(steps, 0.9)
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.9


# (c) Serializable, in a new process.


def test_student_with_kept_zeros_saves_and_loads_in_a_new_process(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from test_saved_files_load import _load_and_predict

    keras.utils.set_random_seed(0)
    inputs = keras.Input((STEPS, FEATURES))
    h = L.Bidirectional(L.GRU(4, return_sequences=True), name="bi_gru")(inputs)
    h = L.Bidirectional(
        L.LSTM(3, return_sequences=True), merge_mode="sum", name="bi_lstm"
    )(h)
    h = L.SimpleRNN(3, name="rnn")(h)
    student = keras.Model(inputs, L.Dense(CLASSES, name="logits")(h))
    for variable in student.weights:
        if variable.path.endswith("kernel"):  # half of every kernel zero
            w = variable.numpy()
            w[np.abs(w) < np.median(np.abs(w))] = 0
            variable.assign(w)
    x, _ = data()
    q = qat.calibrate(quantize(student, preserve="sparsity"), x)
    q.save(tmp_path / "qat.keras")
    np.save(tmp_path / "x.npy", x)
    name, got = _load_and_predict(tmp_path / "qat.keras", tmp_path / "x.npy", tmp_path)
    assert name == "Functional"
    np.testing.assert_array_equal(got, q.predict(x, verbose=0))


# (d) Pruning, then training with QAT keeping the zeros.


def test_pruned_bidirectional_and_simple_rnn_keep_their_zeros_through_qat():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((STEPS, FEATURES))
    h = L.Bidirectional(L.GRU(4, return_sequences=True), name="bi")(inputs)
    h = L.SimpleRNN(4, name="rnn")(h)
    student = keras.Model(inputs, L.Dense(CLASSES, name="logits")(h))
    x, y = data()
    pruned = prune(
        student,
        target_sparsity=0.5,
        schedule="constant",
        frequency=1,
        skip_layers=["logits"],
    )
    pruned.compile(optimizer="adam", loss=LOSS)
    pruned.fit(x, y, batch_size=16, verbose=0, callbacks=pruning_callbacks())
    stripped = strip_pruning(pruned)
    report = sparsity_report(stripped)
    assert report["bi"]["sparsity"] == report["rnn"]["sparsity"] == 0.5
    zeros = [
        w.numpy() == 0
        for w in stripped.weights
        if w.path.endswith("kernel") and not w.path.startswith("logits")
    ]
    assert len(zeros) == 6  # kernel and recurrent kernel of 3 cells

    q = quantize(stripped, preserve="sparsity")
    before = [w.numpy().copy() for w in q.trainable_weights]
    fit_one_epoch(q, x, y, 1e-2)
    moved = [
        not np.array_equal(b, w.numpy()) for b, w in zip(before, q.trainable_weights)
    ]
    assert all(moved), [w.path for w, m in zip(q.trainable_weights, moved) if not m]
    bi = q.get_layer("quant_bi")
    cells = [
        bi.forward_layer.cell,
        bi.backward_layer.cell,
        q.get_layer("quant_rnn").cell,
    ]
    kernels = [w for cell in cells for w in (cell.kernel, cell.recurrent_kernel)]
    for want, variable in zip(zeros, kernels):
        got = variable.numpy()
        assert np.all(got[want] == 0) and np.all(got[~want] != 0), variable.path
    assert sparsity_report(q) == report  # the float layers' names and numbers


# (e) The int8 file, in LiteRT.

# What an int8 recurrent step leaves in float: the gates and their products
# (as for LSTM/GRU), the (de)quantization around them, and moving the float
# sequence (unstacking the time steps, reversing the backward one, the zero
# initial state of a free batch, the concatenated directions).
FLOAT_OPS = {
    *("LOGISTIC", "TANH", "MUL", "ADD", "SUB", "SPLIT", "FILL"),
    *("QUANTIZE", "DEQUANTIZE"),
    *("TRANSPOSE", "UNPACK", "PACK", "REVERSE_V2", "CONCATENATION"),
    *("SHAPE", "STRIDED_SLICE"),
}


@pytest.mark.parametrize("student", ["bidirectional", "simple_rnn"])
def test_int8_file_runs_every_projection_as_int8_fully_connected(student, tmp_path):
    x, _ = data()
    if student == "simple_rnn":
        float_student, layers = simple_rnn_student(), 2
    else:  # GRU then LSTM, both directions
        float_student = bidirectional_student("gru", "concat", second="lstm")
        layers = 4
    q = qat.calibrate(quantize(float_student), x)
    report = export_and_verify(
        q,
        tmp_path / "s.tflite",
        "int8",
        x_eval=x,
        latency_runs=1,
        latency_threads=(1,),
    )
    # Measured: 2.0 output steps (Bidirectional GRU + LSTM, 0.0054), 3.0
    # (SimpleRNN tanh + relu, 0.043; its relu step's ADD runs in int8).
    steps = report.max_abs_logit_diff / output_step(q)
    assert steps <= 3.01, steps
    # Two projections (x W + b, h U) per unrolled step of each recurrent
    # layer (and direction), and the logits: all int8.
    dtypes = fully_connected_input_dtypes((tmp_path / "s.tflite").read_bytes())
    assert dtypes == [("int8", "int8")] * (2 * layers * STEPS + 1)
    kinds = {op.split(" ")[0] for op in report.float_ops}
    assert "TANH" in kinds and kinds <= FLOAT_OPS, kinds
