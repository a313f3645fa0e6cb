"""Tests for our Keras 3 QAT engine on sequence students: a tiny Transformer
encoder (Embedding, MultiHeadAttention, LayerNormalization) and LSTM/GRU."""

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.interpreter import OpResolverType
from conftest import keras3_only
from tensorflow.lite.python import schema_py_generated as schema

from keras_distill._compat import keras
from keras_distill.compress import quantize
from keras_distill.compress._keras3 import qat

pytestmark = keras3_only

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
SEQ, VOCAB = 8, 20


def transformer(seed=0):
    """Embedding (dim 8) -> MHA (2 heads) + residual -> LayerNorm -> FFN +
    residual -> LayerNorm -> mean over tokens -> Dense logits."""
    keras.utils.set_random_seed(seed)
    ids = keras.Input((SEQ,), dtype="int32", name="ids")
    h = L.Embedding(VOCAB, 8, name="emb")(ids)
    a = L.MultiHeadAttention(2, 4, name="mha")(h, h)
    h = L.LayerNormalization(name="ln1")(L.Add(name="res1")([h, a]))
    f = L.Dense(8, name="ff2")(L.Dense(16, activation="relu", name="ff1")(h))
    h = L.LayerNormalization(name="ln2")(L.Add(name="res2")([h, f]))
    h = L.GlobalAveragePooling1D(name="gap")(h)
    return keras.Model(ids, L.Dense(3, name="logits")(h), name="encoder")


def recurrent(kind, seed=0):
    """Two stacked LSTM or GRU layers (units 6 then 4) -> Dense logits."""
    keras.utils.set_random_seed(seed)
    layer = {"lstm": L.LSTM, "gru": L.GRU}[kind]
    x = keras.Input((SEQ, 3), name="seq")
    h = layer(6, return_sequences=True, name="r1")(x)
    h = layer(4, name="r2")(h)
    return keras.Model(x, L.Dense(3, name="logits")(h), name=kind)


def data(kind, n=32, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "transformer":
        x = rng.integers(0, VOCAB, (n, SEQ)).astype("int32")
        return x, (x[:, 0] % 3).astype("int64")
    x = rng.normal(size=(n, SEQ, 3)).astype("float32")
    return x, (x[:, :, 0].sum(1) > 0).astype("int64")


def student(kind):
    return transformer() if kind == "transformer" else recurrent(kind)


def convert_batch_one(model, x, tmp_path):
    """The int8 file of a fixed batch-1 signature (Optimize.DEFAULT, builtins
    only, no representative data)."""
    saved = str(tmp_path / "saved_model")
    spec = tf.TensorSpec((1, *x.shape[1:]), x.dtype)
    model.export(saved, format="tf_saved_model", verbose=False, input_signature=[spec])
    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def ops_in_every_subgraph(content):
    """[(op name, [input tensor types])] of all subgraphs (WHILE bodies
    included), read from the flatbuffer."""
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items()}
    type_names = {v: k for k, v in vars(schema.TensorType).items()}
    found = []
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            name = op_names[max(code.builtinCode, code.deprecatedBuiltinCode)]
            inputs = [type_names[graph.tensors[i].type] for i in op.inputs if i >= 0]
            found.append((name, inputs))
    return found


def run_litert(content, x):
    it = Interpreter(
        model_content=content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    rows = []
    for row in x:
        it.set_tensor(inp["index"], row[None])
        it.invoke()
        rows.append(it.get_tensor(out["index"])[0])
    return np.stack(rows)


def output_step(model):
    q = model.get_layer("quant_logits").output_quantizer
    return (float(q.range_max.numpy()) - float(q.range_min.numpy())) / 255.0


def fit_one_step(model, x, y):
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS)
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    return model


# (a) What `quantize` builds with its defaults.


def test_transformer_quantizes_with_defaults_and_keeps_layer_norm_float():
    q = quantize(transformer())
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert kinds["quant_emb"] == "QuantizedEmbedding"
    assert kinds["quant_mha"] == "QuantizedMultiHeadAttention"
    assert kinds["quant_ff1"] == kinds["quant_logits"] == "FusedQuantize"
    assert kinds["ln1"] == kinds["ln2"] == "LayerNormalization"
    assert kinds["quant_ln1_output"] == "ActivationQuantizer"  # int8 into ff1
    mha = q.get_layer("quant_mha")
    assert type(mha._query_dense).__name__ == "QuantizedEinsumDense"
    assert type(mha._output_dense).__name__ == "QuantizedEinsumDense"


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_layers_become_rnns_of_quantized_cells(kind):
    float_student = recurrent(kind)
    q = quantize(float_student)
    cell = q.get_layer("quant_r1").cell
    assert (
        type(cell).__name__
        == {"lstm": "QuantizedLSTMCell", "gru": "QuantizedGRUCell"}[kind]
    )
    original = float_student.get_layer("r1").cell
    np.testing.assert_array_equal(cell.kernel.numpy(), original.kernel.numpy())
    np.testing.assert_array_equal(
        cell.recurrent_kernel.numpy(), original.recurrent_kernel.numpy()
    )


@pytest.mark.parametrize("kind", ["transformer", "lstm", "gru"])
def test_calibrated_sequence_student_predicts_like_the_float_one(kind):
    float_student = student(kind)
    x, _ = data(kind, 64)
    q = qat.calibrate(quantize(float_student), x)
    expected, got = float_student.predict(x, verbose=0), q.predict(x, verbose=0)
    steps = np.abs(got - expected) / output_step(q)
    # Measured 90th percentiles: 1.9 (Transformer), 3.1 (LSTM), 3.0 (GRU)
    # output steps; the recurrent error adds up over the 8 time steps.
    assert np.quantile(steps, 0.9) <= 4.0, np.quantile(steps, 0.9)
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.9


# (b) Trainable and serializable.


@pytest.mark.parametrize("kind", ["transformer", "lstm", "gru"])
def test_one_training_step_then_save_and_load_predicts_identically(kind, tmp_path):
    x, y = data(kind)
    q = quantize(student(kind))
    before = [w.numpy().copy() for w in q.trainable_weights]
    fit_one_step(q, x, y)
    moved = [
        not np.array_equal(b, w.numpy()) for b, w in zip(before, q.trainable_weights)
    ]
    assert all(moved), [w.path for w, m in zip(q.trainable_weights, moved) if not m]
    path = tmp_path / "qat.keras"
    q.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), q.predict(x, verbose=0))
    assert qat.is_qat_model(loaded)


def test_preserve_sparsity_keeps_embedding_and_attention_zeros(tmp_path):
    float_student = transformer()
    kernels = {
        "emb": float_student.get_layer("emb").embeddings,
        "query": float_student.get_layer("mha")._query_dense.kernel,
    }
    for variable in kernels.values():
        w = variable.numpy()
        w[np.abs(w) < np.quantile(np.abs(w), 0.5)] = 0
        variable.assign(w)
    zeros = {name: v.numpy() == 0 for name, v in kernels.items()}
    q = quantize(float_student, preserve="sparsity")
    x, y = data("transformer")
    q.compile(optimizer=keras.optimizers.Adam(1e-2), loss=LOSS)
    q.fit(x, y, batch_size=8, epochs=1, verbose=0)
    emb = q.get_layer("quant_emb").layer.embeddings.numpy()
    query = q.get_layer("quant_mha")._query_dense.layer.kernel.numpy()
    assert np.all(emb[zeros["emb"]] == 0) and np.any(emb[~zeros["emb"]] != 0)
    assert np.all(query[zeros["query"]] == 0)
    q.save(tmp_path / "q.keras")
    loaded = keras.models.load_model(tmp_path / "q.keras")
    mask = loaded.get_layer("quant_mha")._query_dense.sparsity_mask.numpy()
    np.testing.assert_array_equal(mask == 0, zeros["query"])


# (c) The int8 file.


def test_transformer_file_runs_embedding_attention_and_dense_in_int8(tmp_path):
    x, y = data("transformer")
    q = fit_one_step(quantize(transformer()), x, y)
    content = convert_batch_one(q, x, tmp_path)
    ops = ops_in_every_subgraph(content)
    int8 = {name for name, types in ops if types[:1] == ["INT8"]}
    # GATHER: the int8 table; BATCH_MATMUL: QK^T and PV; MUL: 1/sqrt(d).
    assert {"GATHER", "FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX", "MUL"} <= int8
    for name, types in ops:
        if name in ("FULLY_CONNECTED", "BATCH_MATMUL"):
            assert types[:2] == ["INT8", "INT8"], (name, types)
        if name == "GATHER":
            assert types[0] == "INT8"
    floats = {name for name, types in ops if "FLOAT32" in types[:1]}
    assert floats <= {
        "RSQRT",
        "MUL",
        "ADD",
        "SQUARED_DIFFERENCE",
        "MEAN",
        "NEG",
        "QUANTIZE",
    }, floats  # LayerNormalization only
    # Measured: at most 2 output steps (0.027, LSTM 0.0034, GRU 0.0059).
    got = run_litert(content, x[:16])
    steps = np.abs(got - q.predict(x[:16], verbose=0)) / output_step(q)
    assert steps.max() <= 2.01, steps.max()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_file_runs_every_matrix_product_in_int8(kind, tmp_path):
    x, y = data(kind)
    q = fit_one_step(quantize(recurrent(kind)), x, y)
    content = convert_batch_one(q, x, tmp_path)
    ops = ops_in_every_subgraph(content)
    names = [name for name, _ in ops]
    assert names.count("WHILE") == 2
    fcs = [types for name, types in ops if name == "FULLY_CONNECTED"]
    assert len(fcs) == 5  # x W and h U in each loop body, and the logits
    assert all(types[:2] == ["INT8", "INT8"] for types in fcs), fcs
    # Measured: at most 2 output steps (0.027, LSTM 0.0034, GRU 0.0059).
    got = run_litert(content, x[:16])
    steps = np.abs(got - q.predict(x[:16], verbose=0)) / output_step(q)
    assert steps.max() <= 2.01, steps.max()


def token_projection(kind, seq):
    """One Dense (ReLU) or EinsumDense (`abc,cde->abde`, as MHA's query)
    on (batch, `seq` tokens, 8), with a non-zero bias: a zero bias hid the
    float FULLY_CONNECTED, the converter dropping its ADD."""
    keras.utils.set_random_seed(0)
    tokens = keras.Input((seq, 8), name="tokens")
    if kind == "Dense":
        layer = L.Dense(
            8, activation="relu", bias_initializer="random_normal", name="proj"
        )
    else:
        layer = L.EinsumDense(
            "abc,cde->abde",
            (seq, 2, 4),
            bias_axes="de",
            bias_initializer="random_normal",
            name="proj",
        )
    return keras.Model(tokens, layer(tokens))


@pytest.mark.parametrize(
    ("kind", "seq"), [("Dense", SEQ), ("EinsumDense", SEQ), ("Dense", None)]
)
def test_projection_of_every_token_runs_as_one_int8_fully_connected(kind, seq):
    from keras_distill.export.convert import convert_tflite

    x = np.random.default_rng(0).normal(size=(16, SEQ, 8)).astype("float32")
    q = qat.calibrate(quantize(token_projection(kind, seq)), x)
    # A free batch size (a free sequence length too for seq=None), as
    # export_tflite writes it: with batch 1 the converter folded the bias.
    content = convert_tflite(q, quantization="int8")
    ops = ops_in_every_subgraph(content)
    fcs = [types for name, types in ops if name == "FULLY_CONNECTED"]
    assert fcs == [["INT8", "INT8", "INT32"]], ops
    names = [name for name, _ in ops]
    assert names[0] == "QUANTIZE" and names[-1] == "DEQUANTIZE", names
    assert not [name for name, types in ops[1:] if "FLOAT32" in types], ops
    it = Interpreter(
        model_content=content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], x.shape)
    it.allocate_tensors()
    it.set_tensor(inp["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    quantizer = q.get_layer("quant_proj").output_quantizer
    step = (quantizer.range_max.numpy() - quantizer.range_min.numpy()) / 255.0
    # Measured: at most 1.00 output step for each case.
    assert np.abs(got - q.predict(x, verbose=0)).max() / step <= 1.01


@pytest.mark.parametrize(
    ("equation", "axes"),
    [
        ("abc,cde->abde", (1, 2)),
        ("abcd,cde->abe", (2, 1)),
        ("abc,cd->abd", (1, 1)),
        ("...b,bc->...c", (1, 1)),
        ("abc,dc->abd", None),  # kernel transposed
        ("abc,cd->adb", None),  # output axes reordered
        ("aab,bc->aac", None),  # a repeated axis
    ],
)
def test_matrix_product_axes_finds_the_contracted_and_free_axes(equation, axes):
    from keras_distill.compress._keras3 import quantized_einsum_dense

    assert quantized_einsum_dense.matrix_product_axes(equation) == axes


@pytest.mark.parametrize(
    ("equation", "input_shape", "output_shape", "bias_axes"),
    [
        ("abc,cde->abde", (SEQ, 8), (SEQ, 2, 4), "de"),
        ("abc,cde->abde", (SEQ, 8), (SEQ, 2, 4), "d"),
        ("abcd,cde->abe", (SEQ, 2, 4), (SEQ, 8), "e"),
        ("...b,bc->...c", (3, SEQ, 8), (5,), None),
    ],
)
def test_quantized_einsum_dense_as_a_matrix_product_equals_its_einsum(
    monkeypatch, equation, input_shape, output_shape, bias_axes
):
    from keras_distill.compress._keras3 import quantized_einsum_dense

    rng = np.random.default_rng(0)
    layer = L.EinsumDense(
        equation, output_shape, bias_axes=bias_axes, activation="gelu"
    )
    layer.build((None, *input_shape))
    for weight in layer.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    quantized = quantized_einsum_dense.QuantizedEinsumDense(layer)
    x = rng.normal(size=(4, *input_shape)).astype("float32")
    quantized(x, training=True)  # sets the ranges from this batch
    flattened = quantized(x).numpy()
    monkeypatch.setattr(quantized_einsum_dense, "matrix_product_axes", lambda e: None)
    np.testing.assert_allclose(flattened, quantized(x).numpy(), rtol=0, atol=1e-6)


# A bias of one vector per token (`bias_axes` beyond the output columns), as
# the MNIST-1D Transformer's patch embedding: a learned positional embedding.
TOKENS, PATCH = 10, 4


def patch_embedding_student(seed=0):
    """Input (10, 4) -> EinsumDense `btp,pd->btd` with `bias_axes="td"` and a
    non-zero bias -> Dense (ReLU) -> Flatten -> Dense logits."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((TOKENS, PATCH), name="patches")
    h = L.EinsumDense(
        "btp,pd->btd",
        (TOKENS, 6),
        bias_axes="td",
        bias_initializer="random_normal",
        name="patch_embedding",
    )(x)
    h = L.Flatten()(L.Dense(8, activation="relu", name="d")(h))
    return keras.Model(x, L.Dense(3, name="logits")(h))


def patch_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, TOKENS, PATCH)).astype("float32")
    return x, rng.integers(0, 3, n)


def reference_activation_quant(x, lo, hi):
    """TF's 8-bit FakeQuantWithMinMaxVars in float64: the range [lo, hi]
    nudged to put 0 on the grid of 255 steps, then round to nearest."""
    scale = (hi - lo) / 255.0
    zero = np.clip(np.round(-lo / scale), 0, 255)
    low, high = -zero * scale, (255 - zero) * scale
    return np.floor((np.clip(x, low, high) - low) / scale + 0.5) * scale + low


@pytest.mark.parametrize(
    ("equation", "bias_axes", "expected"),
    [
        ("btp,pd->btd", "td", True),
        ("btp,pd->btd", "d", False),
        ("abc,cde->abde", "be", True),
        ("abc,cde->abde", "de", False),
        ("...b,bc->...c", "c", False),
        ("abc,dc->abd", "bd", False),  # not a matrix product: einsum
        ("btp,pd->btd", None, False),
    ],
)
def test_bias_reaches_rows_when_it_has_axes_before_the_columns(
    equation, bias_axes, expected
):
    from keras_distill.compress._keras3 import quantized_einsum_dense

    assert quantized_einsum_dense.bias_reaches_rows(equation, bias_axes) == expected


@pytest.mark.parametrize("activation", ["linear", "gelu"])
def test_per_token_bias_einsum_dense_equals_float64_fake_quantized_math(
    activation,
):
    from math import erf

    from keras_distill.compress._keras3 import quantized_einsum_dense

    rng = np.random.default_rng(0)
    layer = L.EinsumDense(
        "btp,pd->btd", (TOKENS, 6), bias_axes="td", activation=activation
    )
    layer.build((None, TOKENS, PATCH))
    for weight in layer.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    quantized = quantized_einsum_dense.QuantizedEinsumDense(layer)
    x = rng.normal(size=(4, TOKENS, PATCH)).astype("float32")
    quantized(x, training=True)  # sets the ranges from this batch
    got = quantized(x).numpy()

    def q(quantizer, v):
        lo, hi = (float(w.numpy()) for w in (quantizer.range_min, quantizer.range_max))
        return reference_activation_quant(v, lo, hi), (hi - lo) / 255.0

    w = layer.kernel.numpy().astype(np.float64)
    b = layer.bias.numpy().astype(np.float64)
    qw = np.round(w / (np.abs(w).max() / 127)) * np.abs(w).max() / 127
    qb = np.round(b / (np.abs(b).max() / 127)) * np.abs(b).max() / 127
    y, _ = q(quantized.product_quantizer, x.astype(np.float64) @ qw)
    y = y + qb
    if activation == "gelu":
        y, _ = q(quantized.pre_activation_quantizer, y)
        y = 0.5 * y * (1 + np.vectorize(erf)(y / np.sqrt(2)))
    expected, step = q(quantized.output_quantizer, y)
    # float32 vs float64 can round a value at a half step the other way.
    np.testing.assert_allclose(got, expected, rtol=0, atol=step * 1.001)
    assert np.mean(np.abs(got - expected) < 1e-5) >= 0.98


def test_per_token_bias_runs_as_int8_fully_connected_then_int8_add(tmp_path):
    from keras_distill.export import export_and_verify

    x, y = patch_data()
    q = quantize(patch_embedding_student())
    q.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS)
    q.fit(x, y, batch_size=16, epochs=1, verbose=0)  # sets the ranges
    path = tmp_path / "student_int8.tflite"
    report = export_and_verify(
        q, path, "int8", x_eval=x[:16], latency_runs=1, latency_threads=(1,)
    )
    # Before: DEQUANTIZE, float FULLY_CONNECTED, float ADD, QUANTIZE.
    assert report.float_ops == [], report.float_ops
    assert report.input_shape == [-1, TOKENS, PATCH]
    ops = ops_in_every_subgraph(path.read_bytes())
    names = [name for name, _ in ops]
    # Measured: QUANTIZE, RESHAPE, FULLY_CONNECTED (no bias), RESHAPE, ADD.
    assert names[:5] == ["QUANTIZE", "RESHAPE", "FULLY_CONNECTED", "RESHAPE", "ADD"]
    assert ops[2][1] == ["INT8", "INT8"] and ops[4][1] == ["INT8", "INT8"], ops
    assert [types for name, types in ops if name == "FULLY_CONNECTED"][1:] == [
        ["INT8", "INT8", "INT32"]
    ] * 2, ops
    assert not [name for name, types in ops[1:-1] if "FLOAT32" in types], ops
    # A batch of 16 at once in the free-batch file, against Keras.
    it = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], (16, TOKENS, PATCH))
    it.allocate_tensors()
    it.set_tensor(inp["index"], x[:16])
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    steps = np.abs(got - q.predict(x[:16], verbose=0)) / output_step(q)
    # Measured: at most 1.00 output step, in both.
    assert steps.max() <= 1.01, steps.max()
    assert report.max_abs_logit_diff <= 1.01 * output_step(q)


def test_per_token_bias_config_round_trips_and_old_configs_keep_einsum():
    from keras_distill.compress._keras3 import quantized_einsum_dense

    layer = L.EinsumDense("btp,pd->btd", (TOKENS, 6), bias_axes="td", name="pe")
    quantized = quantized_einsum_dense.QuantizedEinsumDense(layer, name="quant_pe")
    config = quantized.get_config()
    assert config["quantize_product"] is True
    clone = quantized_einsum_dense.QuantizedEinsumDense.from_config(config)
    assert clone.get_config() == config and clone.product_quantizer is not None
    # A QAT model saved before `quantize_product` existed has no such key and
    # no product quantizer weights: it loads as it was, `einsum + bias`.
    del config["quantize_product"]
    old = quantized_einsum_dense.QuantizedEinsumDense.from_config(config)
    assert old.product_quantizer is None
    assert old.get_config()["quantize_product"] is False


def test_per_token_bias_quantizer_and_sparsity_survive_save_and_load(tmp_path):
    float_student = patch_embedding_student()
    kernel = float_student.get_layer("patch_embedding").kernel
    w = kernel.numpy()
    w[np.abs(w) < np.quantile(np.abs(w), 0.5)] = 0
    kernel.assign(w)
    q = quantize(float_student, preserve="sparsity")
    x, y = patch_data()
    q.compile(optimizer=keras.optimizers.Adam(1e-2), loss=LOSS)
    q.fit(x, y, batch_size=16, epochs=1, verbose=0)
    layer = q.get_layer("quant_patch_embedding")
    assert np.all(layer.layer.kernel.numpy()[w == 0] == 0)
    ranges = [v.numpy() for v in layer.product_quantizer.weights]
    assert ranges[2] == 4 and ranges[0] < 0 < ranges[1]  # 4 training batches
    q.save(tmp_path / "q.keras")
    loaded = keras.models.load_model(tmp_path / "q.keras")
    loaded_layer = loaded.get_layer("quant_patch_embedding")
    for got, expected in zip(loaded_layer.product_quantizer.weights, ranges):
        np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(loaded_layer.sparsity_mask.numpy() == 0, w == 0)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), q.predict(x, verbose=0))


# (d) What the engine still refuses.
