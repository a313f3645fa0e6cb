"""Tests for our Keras 3 QAT engine (keras_distill.compress._keras3.qat)."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.interpreter import OpResolverType
from conftest import keras3_only

from keras_distill._compat import keras
from keras_distill.compress._keras3 import qat
from keras_distill.compress._keras3.quantizers import ActivationQuantizer
from keras_distill.compress._keras3.quantizers import FusedQuantize
from keras_distill.compress._keras3.quantizers import fake_quant_weights

pytestmark = keras3_only

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
INT8_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _randomize_bn(model, rng):
    """Non-trivial BatchNormalization parameters and statistics, so folding
    them is actually tested."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, n),
                    rng.normal(0, 0.1, n),
                    rng.normal(0, 0.2, n),
                    rng.uniform(0.5, 2.0, n),
                ]
            )


def mobilenet_block(seed=0):
    """Rescaling -> Conv+BN+ReLU6 -> Depthwise+BN+ReLU6 -> 1x1 Conv+BN -> Add
    (residual) -> GlobalAveragePooling2D -> Dense logits."""
    x = keras.Input((8, 8, 3), name="pixels")
    h = L.Rescaling(1 / 255, name="rescale")(x)
    h = L.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(h)
    h = L.BatchNormalization(name="bn0")(h)
    skip = L.ReLU(6.0, name="relu0")(h)
    h = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(skip)
    h = L.BatchNormalization(name="bn1")(h)
    h = L.ReLU(6.0, name="relu1")(h)
    h = L.Conv2D(8, 1, use_bias=False, name="project")(h)
    h = L.BatchNormalization(name="bn2")(h)
    h = L.Add(name="add")([skip, h])
    h = L.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(x, L.Dense(4, name="logits")(h), name="block")
    _randomize_bn(model, np.random.default_rng(seed))
    return model


def image_data(n=128, seed=0):
    """Raw pixels in [0, 255]; the label is the brightest colour channel."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, 8, 8, 3)).astype("float32")
    y = np.argmax(x.mean(axis=(1, 2)), axis=1) % 4
    return x, y


def normalized_mlp(x):
    """Input -> Normalization (adapted) -> Dense ReLU -> Dense."""
    norm = L.Normalization(name="norm")
    norm.adapt(x)
    inputs = keras.Input((x.shape[1],), name="features")
    h = L.Dense(16, activation="relu", name="d0")(norm(inputs))
    return keras.Model(inputs, L.Dense(3, name="out")(h), name="mlp")


def tabular_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(5.0, 3.0, (n, 12))).astype("float32")
    y = (x[:, 0] > 5.0).astype("int64") + (x[:, 1] > 5.0).astype("int64")
    return x, y


def fit(model, x, y, steps, lr=1e-3, batch_size=16):
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=LOSS)
    epochs = -(-steps * batch_size // len(x))
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=False)
    return model


def convert(model, tmp_path):
    """TFLiteConverter + Optimize.DEFAULT, no representative data."""
    saved = str(tmp_path / "saved_model")
    model.export(saved, format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def interpreter(content):
    # No default (XNNPACK) delegate, so the ops and constant tensors stay readable.
    it = Interpreter(
        model_content=content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    it.allocate_tensors()
    return it


def ops_with_dtypes(it):
    """[(op name, [input dtypes], [input tensor indices])] of the file."""
    dtypes = {t["index"]: np.dtype(t["dtype"]) for t in it.get_tensor_details()}
    return [
        (op["op_name"], [dtypes[i] for i in op["inputs"] if i >= 0], list(op["inputs"]))
        for op in it._get_ops_details()
    ]


def run(it, x):
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(inp["index"], x.shape)
    it.allocate_tensors()
    it.set_tensor(inp["index"], x)
    it.invoke()
    return it.get_tensor(out["index"]), out


def output_step(model):
    """The quantization step of the model's last output quantizer."""
    last = model.layers[-1]
    q = last.output_quantizer if isinstance(last, FusedQuantize) else last
    return (float(q.range_max.numpy()) - float(q.range_min.numpy())) / 255.0


# (a) The numbers, against float64 NumPy.


def reference_weight_quant(w, axis):
    """Symmetric narrow-range int8: w -> clip(round(w / s), -127, 127) * s,
    s = max|w| / 127 per channel (or per tensor)."""
    w = np.asarray(w, np.float64)
    if axis is None:
        scale = np.abs(w).max() / 127.0
    else:
        others = tuple(i for i in range(w.ndim) if i != axis)
        scale = np.abs(w).max(axis=others, keepdims=True) / 127.0
    return np.clip(np.round(w / scale), -127, 127) * scale, scale


@pytest.mark.parametrize(
    "shape, axis", [((3, 3, 4, 5), 3), ((3, 3, 6, 1), 2), ((7, 5), None)]
)
def test_weight_fake_quant_matches_float64_symmetric_narrow_range_reference(
    shape, axis
):
    rng = np.random.default_rng(1)
    # Channels of very different magnitudes: per-channel ranges must differ.
    w = rng.normal(size=shape) * rng.uniform(0.01, 3.0, size=shape[-1])
    w = w.astype("float32")
    expected, scale = reference_weight_quant(w, axis)
    got = np.asarray(fake_quant_weights(w, axis))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.max(scale))
    assert np.all(got[w == 0] == 0)


def test_weight_fake_quant_of_a_zero_channel_gives_zeros_not_nan():
    w = np.ones((2, 2, 3, 4), "float32")
    w[..., 1] = 0
    got = np.asarray(fake_quant_weights(w, 3))
    assert np.all(np.isfinite(got)) and np.all(got[..., 1] == 0)
    np.testing.assert_allclose(got[..., 0], 1.0, rtol=1e-6)


@pytest.mark.parametrize("kind", ["Conv2D", "DepthwiseConv2D"])
def test_folded_kernel_and_bias_match_float64_batch_norm_folding(kind):
    rng = np.random.default_rng(2)
    conv = (
        L.Conv2D(5, 3, name="c") if kind == "Conv2D" else L.DepthwiseConv2D(3, name="c")
    )
    bn = L.BatchNormalization(epsilon=1e-3)
    conv.build((None, 6, 6, 5))
    conv.bias.assign(rng.normal(size=5).astype("float32"))
    bn.build((None, 4, 4, 5))
    gamma, beta = rng.uniform(0.5, 1.5, 5), rng.normal(size=5)
    mean, var = rng.normal(size=5), rng.uniform(0.1, 2.0, 5)
    bn.set_weights([gamma, beta, mean, var])
    # Frozen from the start: training calls fold the moving statistics too.
    fused = FusedQuantize(conv, batch_norm=bn, activation="relu6", freeze_bn_delay=0)
    fused.build((None, 6, 6, 5))
    kernel, bias = (np.asarray(t) for t in fused.folded_kernel_and_bias())

    factor = gamma / np.sqrt(var + 1e-3)
    w = conv.kernel.numpy().astype(np.float64)
    expected_kernel = w * (factor if kind == "Conv2D" else factor[:, None])
    expected_bias = beta + (conv.bias.numpy().astype(np.float64) - mean) * factor
    np.testing.assert_allclose(kernel, expected_kernel, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bias, expected_bias, rtol=1e-5, atol=1e-6)

    # The float fused layer (before quantization) equals conv -> BN -> ReLU6.
    x = rng.normal(size=(2, 6, 6, 5)).astype("float32")
    reference = np.minimum(np.maximum(bn(conv(x), training=False), 0), 6)
    got = np.asarray(fused(x, training=True))  # training: the range fits x
    step = (float(fused.output_quantizer.range_max.numpy())) / 255
    assert np.max(np.abs(got - reference)) < 3 * step


def test_activation_quantizer_first_batch_sets_range_then_warm_up_ema():
    q = ActivationQuantizer()
    batches = [np.array([[-1.0, 2.0]]), np.array([[0.5, 4.0]]), np.array([[1.0, 3.0]])]
    lo, hi = 0.0, 0.0
    for n, batch in enumerate(batches):
        q(batch.astype("float32"), training=True)
        b_lo, b_hi = min(batch.min(), 0.0), max(batch.max(), 0.0)
        decay = 0.0 if n == 0 else min(0.999, (1 + n) / (10 + n))
        lo, hi = decay * lo + (1 - decay) * b_lo, decay * hi + (1 - decay) * b_hi
        np.testing.assert_allclose(float(q.range_min.numpy()), lo, rtol=1e-6)
        np.testing.assert_allclose(float(q.range_max.numpy()), hi, rtol=1e-6)
    # Inference uses the stored range and does not move it; values clip to it.
    y = np.asarray(q(np.array([[100.0]], "float32"), training=False))
    assert float(q.range_max.numpy()) == pytest.approx(hi)
    assert y[0, 0] <= hi + 1e-6


# (b) A MobileNet-style block: int8 ops and agreement with the file.


def test_mobilenet_block_converts_to_int8_ops_that_match_keras(tmp_path):
    student = mobilenet_block()
    before = [w.copy() for w in student.get_weights()]
    # 8 steps with batch statistics, then 8 frozen: the model exported is the
    # one trained last (measured: 95 % of logits bit-exact; 74 % when the
    # export comes before the freeze, still within 2 steps).
    q = qat.quantize(student, freeze_bn_delay=8)
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert kinds["quant_conv"] == kinds["quant_dw"] == "FusedQuantize"
    assert kinds["quant_project"] == kinds["quant_logits"] == "FusedQuantize"
    assert not {"bn0", "bn1", "bn2", "relu0", "relu1"} & set(kinds)  # fused
    assert q.get_layer("quant_dw").activation == "relu6"
    x, y = image_data()
    fit(q, x, y, steps=16)
    for old, new in zip(before, student.get_weights()):
        np.testing.assert_array_equal(old, new)  # the student is untouched

    it = interpreter(convert(q, tmp_path))
    ops = ops_with_dtypes(it)
    names = [name for name, _, _ in ops]
    assert sorted(n for n in names if n in INT8_OPS) == [
        "CONV_2D",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
    ]
    for name, dtypes, _ in ops:
        if name in INT8_OPS:
            assert dtypes[:2] == [np.int8, np.int8], (name, dtypes)
    # Builtin ops only: the float Rescaling, then int8 to the end.
    assert set(names) <= {"MUL", "QUANTIZE", "DEQUANTIZE", "ADD", "MEAN", *INT8_OPS}, (
        names
    )

    # Keras' fake-quantized outputs and the file's dequantized int8 outputs lie
    # on the same grid (the output quantizer's); integer rounding inside the
    # file may move a logit by a step, and one step upstream can add one more.
    x_eval, _ = image_data(64, seed=1)
    expected = q.predict(x_eval, verbose=0)
    got, _ = run(it, x_eval)
    step = output_step(q)
    diff = np.abs(got - expected) / step
    assert diff.max() <= 2.01, diff.max()
    assert np.mean(diff < 0.01) >= 0.9  # most logits are bit-exact
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.95


def conv1d_model():
    i = keras.Input((16, 3))
    h = L.Conv1D(4, 3, padding="same", name="c")(i)
    h = L.BatchNormalization(name="bn")(h)
    h = L.GlobalAveragePooling1D()(L.ReLU()(h))
    model = keras.Model(i, L.Dense(2)(h))
    _randomize_bn(model, np.random.default_rng(0))  # a trained student's
    return model, (16, 3), ["CONV_2D", "FULLY_CONNECTED"], 2


def depthwise_multiplier_model():  # per-tensor weight range (multiplier 2)
    i = keras.Input((6, 6, 3))
    h = L.Flatten()(L.DepthwiseConv2D(3, depth_multiplier=2)(i))
    return (
        keras.Model(i, L.Dense(2)(h)),
        (6, 6, 3),
        [
            "DEPTHWISE_CONV_2D",
            "FULLY_CONNECTED",
        ],
        2,
    )


def concat_multiply_model():
    # Tolerance 3 steps: int8 SOFTMAX writes on its own fixed 1/256 grid,
    # requantized to the output quantizer's: one more rounding than Keras.
    i = keras.Input((6, 6, 3))
    a = L.Conv2D(4, 1)(i)
    b = L.Conv2D(4, 1, activation="relu")(i)
    h = L.Concatenate()([L.Concatenate()([a, b]), L.Multiply()([a, b])])
    h = L.Flatten()(L.MaxPooling2D()(h))
    return (
        keras.Model(i, L.Dense(3, activation="softmax")(h)),
        (6, 6, 3),
        [
            "CONV_2D",
            "CONV_2D",
            "FULLY_CONNECTED",
        ],
        3,
    )


def shared_dense_model():  # one layer called twice: one FusedQuantize
    i = keras.Input((6,))
    d = L.Dense(6, activation="relu", name="shared")
    return keras.Model(i, L.Dense(2)(d(d(i)))), (6,), ["FULLY_CONNECTED"] * 3, 2


@pytest.mark.parametrize(
    "build",
    [
        conv1d_model,
        depthwise_multiplier_model,
        concat_multiply_model,
        shared_dense_model,
    ],
)
def test_more_layer_kinds_convert_to_int8_ops_matching_keras(build, tmp_path):
    student, shape, expected_ops, tolerance_steps = build()
    x = np.random.default_rng(3).normal(size=(64, *shape)).astype("float32")
    q = qat.calibrate(qat.quantize(student), x)
    assert not any(
        type(layer).__name__ in ("Dense", "Conv1D", "Conv2D") for layer in q.layers
    )
    it = interpreter(convert(q, tmp_path))
    ops = ops_with_dtypes(it)
    int8_ops = [(name, dtypes[:2]) for name, dtypes, _ in ops if name in INT8_OPS]
    assert sorted(int8_ops) == sorted(
        (name, [np.int8, np.int8]) for name in expected_ops
    )
    got, _ = run(it, x[:16])
    steps = np.abs(got - q.predict(x[:16], verbose=0)) / output_step(q)
    assert steps.max() <= tolerance_steps + 0.01, steps.max()


# (c) An MLP starting with Normalization.


def test_mlp_with_input_normalization_gets_int8_fully_connected_ops(tmp_path):
    x, y = tabular_data()
    q = qat.quantize(normalized_mlp(x))
    kinds = [type(layer).__name__ for layer in q.layers]
    assert kinds == [
        "InputLayer",
        "Normalization",
        "ActivationQuantizer",
        "FusedQuantize",
        "FusedQuantize",
    ]
    fit(q, x, y, steps=32)
    it = interpreter(convert(q, tmp_path))
    fcs = [d for name, d, _ in ops_with_dtypes(it) if name == "FULLY_CONNECTED"]
    assert len(fcs) == 2 and all(d[:2] == [np.int8, np.int8] for d in fcs)
    x_eval, _ = tabular_data(64, seed=1)
    got, _ = run(it, x_eval)
    diff = np.abs(got - q.predict(x_eval, verbose=0)) / output_step(q)
    assert diff.max() <= 2.01, diff.max()


# (d) Selection and unsupported layers.


def test_layers_argument_quantizes_the_selected_layer_and_keeps_others_float():
    x, y = tabular_data()
    student = normalized_mlp(x)
    q = qat.quantize(student, layers=["out"])
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert kinds["quant_out"] == "FusedQuantize"
    assert kinds["d0"] == "Dense"  # float weights, float ReLU output ...
    assert kinds["quant_d0_output"] == "ActivationQuantizer"  # ... quantized for out
    np.testing.assert_array_equal(
        q.get_layer("d0").kernel.numpy(), student.get_layer("d0").kernel.numpy()
    )


class Scale(L.Layer):
    """A custom layer with a trainable weight."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.w


def test_unsupported_trainable_layers_are_all_named_with_the_fix():
    inputs = keras.Input((12,))
    h = L.BatchNormalization(name="lone_bn")(inputs)  # nothing to fold into
    h = L.Dense(8, name="d0")(h)
    h = L.LayerNormalization(name="ln")(h)
    h = Scale(name="scale")(h)
    student = keras.Model(inputs, L.Dense(3, name="out")(h))
    with pytest.raises(ValueError) as info:
        qat.quantize(student)
    message = str(info.value)
    for name in ("'lone_bn' (BatchNormalization)", "'scale' (Scale)"):
        assert name in message
    assert "'ln' (LayerNormalization)" not in message  # kept float
    assert "layers=['d0', 'ln', 'out']" in message and "Conv2D" in message
    q = qat.quantize(student, layers=["d0", "ln", "out"])  # the fix works
    assert type(q.get_layer("ln")).__name__ == "LayerNormalization"
    with pytest.raises(ValueError, match="already prepared for quantization"):
        qat.quantize(q)


@pytest.mark.parametrize(
    "layer, expected",
    [
        (L.Conv2D(2, 3), True),
        (L.Conv1D(2, 3, padding="causal"), False),
        (L.Conv2D(4, 3, groups=2), False),
        (L.Conv2DTranspose(2, 3), False),
        (L.SeparableConv2D(2, 3), False),
        (L.BatchNormalization(), False),
        (L.MaxPooling2D(), True),
        (L.Embedding(4, 2), True),
        (L.LayerNormalization(), False),  # kept float, not quantized
        (L.GRU(2, reset_after=False), False),
    ],
)
def test_quantizable_answers_the_registry_question(layer, expected):
    assert qat.quantizable(layer) is expected


# (e) Pruning-preserving QAT.


def pruned_cnn():
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(8, 3, activation="relu", name="conv")(x)
    h = L.Flatten(name="flat")(h)
    model = keras.Model(x, L.Dense(4, name="logits")(h))
    for name in ("conv", "logits"):
        kernel = model.get_layer(name).kernel
        w = kernel.numpy()
        w[np.abs(w) < np.quantile(np.abs(w), 0.6)] = 0  # 60 % sparse
        kernel.assign(w)
    return model


@pytest.mark.parametrize("preserve", ["sparsity", "none"])
def test_preserve_sparsity_keeps_zeros_through_training_and_into_the_file(
    preserve, tmp_path
):
    student = pruned_cnn()
    zeros = {n: student.get_layer(n).kernel.numpy() == 0 for n in ("conv", "logits")}
    q = qat.quantize(student, preserve=preserve)
    x, y = image_data(64)
    fit(q, x / 255.0, y, steps=8, lr=1e-2)
    kept = {
        n: bool(np.all(q.get_layer(f"quant_{n}").layer.kernel.numpy()[zeros[n]] == 0))
        for n in zeros
    }
    if preserve == "none":  # the control: without the mask, Adam moves them
        assert not any(kept.values())
        return
    assert all(kept.values())
    it = interpreter(convert(q, tmp_path))
    # TFLite stores conv kernels as [out, h, w, in] and Dense as [out, in].
    layout = {"CONV_2D": ("conv", (3, 0, 1, 2)), "FULLY_CONNECTED": ("logits", (1, 0))}
    checked = 0
    for name, dtypes, inputs in ops_with_dtypes(it):
        if name in layout:
            assert dtypes[1] == np.int8
            keras_name, axes = layout[name]
            weights = it.get_tensor(inputs[1])
            assert np.all(weights[np.transpose(zeros[keras_name], axes)] == 0)
            checked += 1
    assert checked == 2


# (f) Calibration.


def test_ranges_cover_the_data_after_30_training_steps():
    x, y = tabular_data(480)
    q = qat.quantize(normalized_mlp(x))
    fit(q, x, y, steps=30)
    normalized = np.asarray(q.get_layer("norm")(x))
    quantizer = q.get_layer("quant_norm_output")
    lo, hi = normalized.min(), normalized.max()
    batch_lo = np.mean([normalized[i : i + 16].min() for i in range(0, 480, 16)])
    batch_hi = np.mean([normalized[i : i + 16].max() for i in range(0, 480, 16)])
    got_lo, got_hi = (
        float(quantizer.range_min.numpy()),
        float(quantizer.range_max.numpy()),
    )
    # Inside the data's range, and near the typical batch's (an EMA of batch
    # ranges); TF-MOT would still be at ~[-5.8, 5.8] after 30 steps from [-6, 6].
    assert lo <= got_lo <= 0.8 * batch_lo and 0.8 * batch_hi <= got_hi <= hi


@pytest.mark.parametrize("which", ["block", "mlp"])
def test_calibrated_qat_model_predicts_like_the_float_student(which):
    # Weights rounded to 1/254 of their range and activations to 1/255 of
    # theirs: before training the QAT model is the student up to about one
    # output quantization step per quantized layer on the way. The ranges are
    # averages of batch ranges, so the rarest extreme values are clipped: the
    # bound is on the 90th percentile (measured: 1.2 steps for both models;
    # 99th: 2.0 and 18 steps).
    if which == "block":
        (x, _), student = image_data(), mobilenet_block()
    else:
        x = tabular_data()[0]
        student = normalized_mlp(x)
    q = qat.calibrate(qat.quantize(student), x)
    expected, got = student.predict(x, verbose=0), q.predict(x, verbose=0)
    steps = np.abs(got - expected) / output_step(q)
    assert np.quantile(steps, 0.5) <= 1.0 and np.quantile(steps, 0.9) <= 2.0
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.95


def test_calibrate_sets_ranges_without_training():
    x, _ = image_data(64)
    q = qat.quantize(mobilenet_block())
    bn_stats = q.get_layer("quant_conv").batch_norm.moving_mean.numpy().copy()
    qat.calibrate(q, x, batch_size=16)
    quantizer = q.get_layer("quant_rescale_output")
    assert float(quantizer.range_min.numpy()) == 0.0
    assert float(quantizer.range_max.numpy()) == pytest.approx(1.0, abs=0.01)
    assert float(quantizer.num_updates.numpy()) == 4
    np.testing.assert_array_equal(
        q.get_layer("quant_conv").batch_norm.moving_mean.numpy(), bn_stats
    )
    assert not quantizer.calibrating


# (g) Serialization.


@pytest.mark.parametrize("preserve", ["none", "sparsity"])
def test_saved_and_loaded_qat_model_predicts_identically(preserve, tmp_path):
    x, y = image_data(64)
    student = mobilenet_block() if preserve == "none" else pruned_cnn()
    q = fit(qat.quantize(student, preserve=preserve), x, y, steps=4)
    path = tmp_path / "qat.keras"
    q.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), q.predict(x, verbose=0))
    assert qat.is_qat_model(loaded)
    if preserve == "sparsity":  # the constraint is back after loading
        zeros = loaded.get_layer("quant_conv").sparsity_mask.numpy() == 0
        assert zeros.mean() > 0.5
        fit(loaded, x, y, steps=4, lr=1e-2)
        assert np.all(loaded.get_layer("quant_conv").layer.kernel.numpy()[zeros] == 0)


def test_layer_configs_round_trip_every_init_argument():
    fused = FusedQuantize(
        L.Dense(3, name="inner"),
        activation="tanh",
        preserve_sparsity=True,
        name="quant_inner",
    )
    config = fused.get_config()
    clone = FusedQuantize.from_config(config)
    assert clone.get_config() == config
    assert clone.pre_activation_quantizer is not None  # tanh needs one
    assert (
        ActivationQuantizer.from_config(ActivationQuantizer(name="q").get_config()).name
        == "q"
    )


def test_sequential_student_is_rebuilt_as_functional():
    student = keras.Sequential(
        [
            keras.Input((12,)),
            L.Dense(8, activation="relu", name="d0"),
            L.Dense(3, name="out"),
        ]
    )
    q = qat.quantize(student)
    assert [layer.name for layer in q.layers][-2:] == ["quant_d0", "quant_out"]
    assert q.get_layer("quant_d0").activation == "relu"


# (h) Export.


def test_export_and_verify_exports_a_qat_model_as_int8_without_calibration_data(
    tmp_path,
):
    from keras_distill.export import convert_tflite
    from keras_distill.export import export_and_verify
    from keras_distill.export import is_qat_model

    x, y = tabular_data()
    q = fit(qat.quantize(normalized_mlp(x)), x, y, steps=32)
    assert is_qat_model(q) and not is_qat_model(normalized_mlp(x))
    x_eval, y_eval = tabular_data(64, seed=1)
    report = export_and_verify(
        q, tmp_path / "qat.tflite", "int8", x_eval=x_eval, y_eval=y_eval
    )
    assert report.top1_agreement >= 0.95
    fcs = [
        d
        for name, d, _ in ops_with_dtypes(
            interpreter((tmp_path / "qat.tflite").read_bytes())
        )
        if name == "FULLY_CONNECTED"
    ]
    assert len(fcs) == 2 and all(d[:2] == [np.int8, np.int8] for d in fcs)
    with pytest.raises(ValueError, match="quantization='int8'"):
        convert_tflite(q, quantization="float16")


# (i) BatchNormalization folding: batch statistics, then frozen moving ones.


def dense_bn_student(seed=0):
    """Input -> Dense -> BatchNormalization -> ReLU -> Dense, BN trained."""
    inputs = keras.Input((12,), name="features")
    h = L.Dense(16, name="d0")(inputs)
    h = L.BatchNormalization(momentum=0.9, name="bn")(h)
    h = L.ReLU(name="relu")(h)
    model = keras.Model(inputs, L.Dense(3, name="out")(h), name="mlp_bn")
    _randomize_bn(model, np.random.default_rng(seed))
    return model


def test_dense_and_batch_norm_fold_into_one_fused_dense():
    q = qat.quantize(dense_bn_student())
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert kinds["quant_d0"] == "FusedQuantize" and not {"bn", "relu"} & set(kinds)
    fused = q.get_layer("quant_d0")
    assert fused.batch_norm.name == "bn" and fused.activation == "relu"
    assert fused.channel_axis() is None  # per tensor: the converter's limit


def test_training_call_before_the_delay_equals_dense_then_training_mode_bn():
    # float64 reference: y = x W + b, then BN with this batch's statistics
    # (biased variance, as Keras), ReLU; the moving statistics move by
    # momentum 0.9 towards the batch's.
    rng = np.random.default_rng(4)
    student = dense_bn_student()
    fused = qat.quantize(student, freeze_bn_delay=5).get_layer("quant_d0")
    bn = fused.batch_norm
    gamma, beta, mean0, var0 = (w.astype(np.float64) for w in bn.get_weights())
    w, b = (v.astype(np.float64) for v in fused.layer.get_weights())
    x = rng.normal(2.0, 3.0, (64, 12)).astype("float32")
    got = np.asarray(fused(x, training=True))
    y = x.astype(np.float64) @ w + b
    mean, var = y.mean(0), y.var(0)
    expected = np.maximum(gamma * (y - mean) / np.sqrt(var + bn.epsilon) + beta, 0)
    step = float(fused.output_quantizer.range_max.numpy()) / 255
    # Inference statistics (mean0, var0) would be far off: the check can fail.
    assert (
        np.max(
            np.abs(
                expected
                - np.maximum(gamma * (y - mean0) / np.sqrt(var0 + bn.epsilon) + beta, 0)
            )
        )
        > 20 * step
    )
    assert np.max(np.abs(got - expected)) < 3 * step
    np.testing.assert_allclose(
        bn.moving_mean.numpy(), 0.9 * mean0 + 0.1 * mean, rtol=1e-4
    )
    np.testing.assert_allclose(
        bn.moving_variance.numpy(), 0.9 * var0 + 0.1 * var, rtol=1e-4
    )
    assert int(fused.batch_norm_step.numpy()) == 1


@pytest.mark.parametrize("build", [dense_bn_student, mobilenet_block])
def test_moving_statistics_update_until_freeze_bn_delay_then_stay(build):
    student = build()
    x, y = (tabular_data if build is dense_bn_student else image_data)(64)
    q = qat.quantize(student, freeze_bn_delay=3)
    q.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS)
    fused = [
        layer
        for layer in q.layers
        if isinstance(layer, FusedQuantize) and layer.batch_norm is not None
    ]
    assert fused

    def stats():
        return [f.batch_norm.moving_mean.numpy().copy() for f in fused]

    history = [stats()]
    for i in range(5):
        q.train_on_batch(x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8])
        history.append(stats())
    for i in range(3):  # steps 1-3: every moving mean moved
        assert all(np.any(a != b) for a, b in zip(history[i], history[i + 1]))
    for i in (3, 4):  # steps 4-5: frozen
        assert all(np.array_equal(a, b) for a, b in zip(history[i], history[i + 1]))
    assert all(int(f.batch_norm_step.numpy()) == 5 for f in fused)


def test_freeze_bn_delay_zero_never_moves_the_statistics():
    x, y = tabular_data(64)
    q = qat.quantize(dense_bn_student(), freeze_bn_delay=0)
    before = q.get_layer("quant_d0").batch_norm.moving_mean.numpy().copy()
    fit(q, x, y, steps=4)
    after = q.get_layer("quant_d0").batch_norm.moving_mean.numpy()
    np.testing.assert_array_equal(before, after)


def test_bad_freeze_bn_delay_is_named_with_the_fix():
    from keras_distill.compress import quantize

    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="freeze_bn_delay.*integer >= 0"):
            quantize(dense_bn_student(), freeze_bn_delay=bad)


def test_dense_batch_norm_student_file_agrees_with_keras_in_int8(tmp_path):
    x, y = tabular_data()
    q = fit(qat.quantize(dense_bn_student(), freeze_bn_delay=8), x, y, steps=16)
    it = interpreter(convert(q, tmp_path))
    ops = ops_with_dtypes(it)
    fcs = [dtypes for name, dtypes, _ in ops if name == "FULLY_CONNECTED"]
    assert len(fcs) == 2 and all(d[:2] == [np.int8, np.int8] for d in fcs)
    # Folded: no float MUL/ADD of a BatchNormalization left in the file.
    assert {name for name, _, _ in ops} <= {"QUANTIZE", "DEQUANTIZE", "FULLY_CONNECTED"}
    x_eval, _ = tabular_data(64, seed=1)
    got, _ = run(it, x_eval)
    expected = q.predict(x_eval, verbose=0)
    # Same grid (the output quantizer's): integer rounding moves a logit by at
    # most a step per quantized layer on the way.
    steps = np.abs(got - expected) / output_step(q)
    assert steps.max() <= 2.01, steps.max()
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.95


def test_untrained_batch_norm_statistics_warn_with_the_fix():
    from keras_distill.compress import quantize

    inputs = keras.Input((12,))
    h = L.BatchNormalization(name="bn")(L.Dense(4, name="d")(inputs))
    untrained = keras.Model(inputs, h)
    with pytest.warns(UserWarning, match=r"\['bn'\].*untrained.*Train"):
        quantize(untrained)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quantize(dense_bn_student())  # trained statistics: no warning


def test_saved_and_loaded_model_keeps_the_batch_norm_step(tmp_path):
    x, y = tabular_data(64)
    q = qat.quantize(dense_bn_student(), freeze_bn_delay=4)
    q.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS)
    for i in range(2):
        q.train_on_batch(x[i * 16 : (i + 1) * 16], y[i * 16 : (i + 1) * 16])
    assert int(q.get_layer("quant_d0").batch_norm_step.numpy()) == 2
    path = tmp_path / "qat.keras"
    q.save(path)
    loaded = keras.models.load_model(path)
    fused = loaded.get_layer("quant_d0")
    assert int(fused.batch_norm_step.numpy()) == 2 and fused.freeze_bn_delay == 4
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), q.predict(x, verbose=0))
    loaded.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS)
    for i in range(4):  # steps 3, 4 move the statistics; 5, 6 do not
        before = fused.batch_norm.moving_mean.numpy().copy()
        loaded.train_on_batch(x[i * 16 : (i + 1) * 16], y[i * 16 : (i + 1) * 16])
        moved = np.any(fused.batch_norm.moving_mean.numpy() != before)
        assert moved == (i < 2), i
