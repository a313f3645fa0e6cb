"""Speech presets: raw waveform in, log-mel inside, logits out, int8 in LiteRT."""

import dataclasses

import numpy as np
import pytest
from conftest import keras3_only
from conftest import tf_keras_only

from keras_distill._compat import keras
from keras_distill.data import InputNormalization
from keras_distill.data.pipeline import bundle_from_arrays
from keras_distill.demo import presets
from keras_distill.demo import speech_presets

RATE = 16_000
SAMPLES = 8_000  # 0.5 s clips keep the tests fast
CLASSES = 4


def waveforms(n=24, samples=SAMPLES, classes=CLASSES):
    """Seeded random waveforms in [-1, 1]: a tone per class plus noise."""
    rng = np.random.default_rng(0)
    y = (np.arange(n) % classes).astype("int32")
    t = np.arange(samples) / RATE
    tones = np.sin(2 * np.pi * (300.0 + 400.0 * y[:, None]) * t)
    x = 0.3 * tones + 0.05 * rng.normal(size=(n, samples))
    x = np.clip(x, -1, 1).astype("float32")
    split = n - min(8, n // 2)
    data = bundle_from_arrays(
        "toy-speech",
        x_train=x[:split],
        y_train=y[:split],
        x_test=x[split:],
        y_test=y[split:],
        class_names=tuple(f"word{c}" for c in range(classes)),
        normalization_for=lambda _: InputNormalization.rescale(1.0),
        batch_size=8,
        seed=0,
        validation_fraction=0.0,
        description="test data",
    )
    return dataclasses.replace(data, sample_rate=RATE)


def log_mel_reference(x, rate=RATE):
    """Float64 NumPy log-mel: centred reflect-padded frames, periodic Hann
    window of 40 ms inside a 1024-point FFT, HTK mel filters (20 Hz to
    Nyquist, 40 bins, DC bin excluded), 10 log10(max(power, 1e-10)); then the
    presets' fixed rescaling."""
    x = np.asarray(x, np.float64)
    window, stride, fft = 640, 320, 1024
    x = np.pad(x, [(0, 0), (fft // 2, fft // 2)], mode="reflect")
    frames = 1 + (x.shape[1] - fft) // stride
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)
    left = (fft - window) // 2
    padded = np.zeros(fft)
    padded[left : left + window] = hann
    idx = np.arange(fft)[None, :] + stride * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(x[:, idx] * padded, axis=-1)) ** 2

    def mel(f):
        return 1127.0 * np.log1p(f / 700.0)

    bins = mel(np.linspace(0, rate / 2, fft // 2 + 1)[1:])[:, None]
    edges = np.linspace(mel(20.0), mel(rate / 2), 40 + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(
        0,
        np.minimum(
            (bins - lower) / (center - lower), (upper - bins) / (upper - center)
        ),
    )
    weights = np.concatenate([np.zeros((1, 40)), weights])
    db = 10 * np.log10(np.maximum(power @ weights, 1e-10))
    return db * speech_presets.DB_SCALE + speech_presets.DB_OFFSET


def front_end(model):
    return keras.Model(model.input, model.get_layer("log_mel_scale").output)


def fit_one_step(model, x, y):
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def all_models(data):
    return {
        "teacher": presets.teacher_preset(data),
        **{name: presets.student_preset(name, data) for name in ("ds-cnn", "gru")},
    }


@keras3_only
def test_log_mel_front_end_matches_float64_numpy_reference():
    data = waveforms(n=4)
    model = presets.student_preset("ds-cnn", data)
    x, _ = data.arrays("train")
    got = front_end(model).predict(x, verbose=0)
    want = log_mel_reference(x)
    assert got.shape == want.shape == (len(x), 26, 40)  # 0.5 s: 1 + 8000 // 320
    np.testing.assert_allclose(got, want, atol=2e-4)


@keras3_only
def test_log_mel_of_one_clip_does_not_depend_on_its_batch():
    data = waveforms(n=4)
    model = front_end(presets.student_preset("gru", data))
    x, _ = data.arrays("train")
    x[0] *= 0.001  # a quiet clip next to loud ones
    alone = model.predict(x[:1], verbose=0)
    batched = model.predict(x, verbose=0)[:1]
    np.testing.assert_allclose(alone, batched, atol=1e-5)


@keras3_only
@pytest.mark.parametrize("name", ["teacher", "ds-cnn", "gru"])
def test_speech_preset_takes_raw_waveform_trains_and_round_trips(name, tmp_path):
    data = waveforms()
    if name == "teacher":
        model = presets.teacher_preset(data)
    else:
        model = presets.student_preset(name, data)
    assert model.name == ("teacher" if name == "teacher" else "student")
    assert tuple(model.input_shape) == (None, SAMPLES)
    assert model.layers[1].name == "normalization"
    assert isinstance(model.get_layer("log_mel"), keras.layers.MelSpectrogram)
    assert len(model.get_layer("features").output.shape) == 2
    logits = model.get_layer("logits")
    assert model.layers[-1] is logits
    assert logits.activation is keras.activations.linear
    x, y = data.arrays("train")
    fit_one_step(model, x, y)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5
    )


@keras3_only
def test_ds_cnn_is_hello_edge_ds_cnn_s_sized():
    data = waveforms(classes=12, n=24)
    student = presets.student_preset("ds-cnn", data)
    # conv 10x4x64 + BN, 4 x (3x3 depthwise + BN + 1x1 64->64 + BN), Dense.
    block = 9 * 64 + 4 * 64 + 64 * 64 + 4 * 64
    assert student.count_params() == 40 * 64 + 4 * 64 + 4 * block + 64 * 12 + 12
    assert 24_000 <= student.count_params() <= 39_000
    conv = student.get_layer("conv")
    assert conv.kernel_size == (10, 4) and conv.strides == (2, 2)
    depthwise = [
        layer
        for layer in student.layers
        if isinstance(layer, keras.layers.DepthwiseConv2D)
    ]
    assert len(depthwise) == 4


@keras3_only
def test_teacher_is_larger_than_the_students():
    data = waveforms()
    models = all_models(data)
    teacher = models.pop("teacher").count_params()
    assert all(teacher > 4 * m.count_params() for m in models.values())


@keras3_only
def test_ds_cnn_int8_file_takes_float_waveform_and_only_front_end_stays_float(
    tmp_path,
):
    from ai_edge_litert.interpreter import Interpreter

    from keras_distill.compress import quantize
    from keras_distill.export import export_and_verify

    data = waveforms()
    x, y = data.arrays("train")
    student = presets.student_preset("ds-cnn", data)
    fit_one_step(student, x, y)  # BatchNormalization statistics to fold
    qat = quantize(student)
    fit_one_step(qat, x, y)
    x_test, y_test = data.arrays("test")
    report = export_and_verify(
        qat,
        tmp_path / "kws_int8.tflite",
        "int8",
        x_eval=x_test,
        y_eval=y_test,
        latency_runs=2,
        latency_threads=(1,),
    )
    assert report.input_dtype == "float32"
    assert report.input_shape == [-1, SAMPLES]
    assert report.top1_agreement == 1.0
    # Only the log-mel front end (and its fixed rescaling) computes in float.
    assert report.float_ops
    assert {"RFFT2D", "LOG"} <= {op.split(" ")[0] for op in report.float_ops}
    assert all(
        "'log_mel'" in op or "'log_mel_scale'" in op for op in report.float_ops
    ), report.float_ops
    interpreter = Interpreter(model_path=str(tmp_path / "kws_int8.tflite"))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not any(op.startswith(("Flex", "CUSTOM")) for op in ops), ops


@keras3_only
def test_pruning_accepts_the_weightless_front_end():
    from keras_distill.compress import prune
    from keras_distill.compress import pruning_callbacks
    from keras_distill.compress import strip_pruning

    data = waveforms()
    x, y = data.arrays("train")
    pruned = prune(
        presets.student_preset("ds-cnn", data),
        target_sparsity=0.5,
        schedule="constant",
        frequency=1,
    )
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pruned.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=pruning_callbacks())
    kernel = strip_pruning(pruned).get_layer("ds1_pointwise").kernel.numpy()
    assert np.mean(kernel == 0) == pytest.approx(0.5, abs=0.01)


@keras3_only
def test_default_student_for_audio_is_ds_cnn():
    assert presets.default_student_preset(waveforms()) == "ds-cnn"
    assert presets.presets_for("audio") == ("ds-cnn", "gru")


@keras3_only
@pytest.mark.parametrize("name", ["mlp", "transformer", "cnn1d", "mobilenet_v2"])
def test_preset_that_does_not_read_audio_is_refused_naming_those_that_do(name):
    with pytest.raises(
        ValueError, match=r"for audio choose one of \('ds-cnn', 'gru'\)"
    ):
        presets.student_preset(name, waveforms())


def test_ds_cnn_on_vectors_is_refused_naming_the_vector_presets():
    data = dataclasses.replace(waveforms(), sample_rate=None)
    with pytest.raises(ValueError, match=r"'ds-cnn' is for audio.*'mlp'"):
        presets.student_preset("ds-cnn", data)


@keras3_only
def test_clip_shorter_than_one_window_is_refused():
    data = waveforms(samples=600)  # 37.5 ms < the 40 ms window
    with pytest.raises(ValueError, match="windows of 640 samples.*600 samples"):
        presets.student_preset("ds-cnn", data)


@tf_keras_only
@pytest.mark.parametrize("name", ["teacher", "ds-cnn", "gru"])
def test_speech_presets_on_tf_keras_say_they_need_keras_3(name):
    data = waveforms()
    with pytest.raises(ValueError, match="Keras 3 only.*Unset TF_USE_LEGACY_KERAS"):
        if name == "teacher":
            presets.teacher_preset(data)
        else:
            presets.student_preset(name, data)
