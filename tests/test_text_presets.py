"""Text presets: int32 token ids in, logits out, int8 in LiteRT."""

import dataclasses
import types

import numpy as np
import pytest
from conftest import keras3_only

from keras_distill._compat import keras
from keras_distill.data import InputNormalization
from keras_distill.data import TextTokenizer
from keras_distill.data.pipeline import bundle_from_arrays
from keras_distill.data.text_tokenizer import OOV_TOKEN
from keras_distill.data.text_tokenizer import PAD_TOKEN
from keras_distill.demo import presets
from keras_distill.demo import text_presets

LENGTH = 12
VOCABULARY = 40
CLASSES = 3


def token_ids(n=24, length=LENGTH, vocabulary=VOCABULARY, classes=CLASSES):
    """A text DataBundle of seeded random ids (0 pads the ends) and the ids
    themselves as int32 `(x, y)`, which is what the text pipelines yield."""
    rng = np.random.default_rng(0)
    x = rng.integers(2, vocabulary, size=(n, length)).astype("int32")
    x[:, length - 3 :] = 0  # padding
    y = (np.arange(n) % classes).astype("int32")
    x[:, 0] = 2 + y  # the first token gives the class away
    data = bundle_from_arrays(
        "toy-text",
        x_train=x[:16],
        y_train=y[:16],
        x_test=x[16:],
        y_test=y[16:],
        class_names=tuple(f"topic{c}" for c in range(classes)),
        normalization_for=lambda _: InputNormalization.rescale(1.0),
        batch_size=8,
        seed=0,
        validation_fraction=0.0,
        description="test data",
    )
    tokenizer = TextTokenizer(
        vocabulary=(PAD_TOKEN, OOV_TOKEN, *(f"w{i}" for i in range(2, vocabulary))),
        sequence_length=length,
    )
    return dataclasses.replace(data, tokenizer=tokenizer), x, y


def fit_one_step(model, x, y):
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def build(name, data):
    if name == "teacher":
        return presets.teacher_preset(data)
    return presets.student_preset(name, data)


@pytest.mark.parametrize("name", ["teacher", "transformer", "cnn1d"])
def test_text_preset_takes_int32_ids_and_trains(name):
    data, x, y = token_ids()
    model = build(name, data)
    assert model.name == ("teacher" if name == "teacher" else "student")
    assert tuple(model.input_shape) == (None, LENGTH)
    dtype = model.inputs[0].dtype
    assert getattr(dtype, "name", dtype) == "int32"
    assert model.layers[1].name == "normalization"
    embedding = model.get_layer("token_embedding")
    assert embedding.input_dim == VOCABULARY
    assert len(model.get_layer("features").output.shape) == 2
    logits = model.get_layer("logits")
    assert model.layers[-1] is logits
    assert logits.activation is keras.activations.linear
    assert model.predict(x[:4], verbose=0).shape == (4, CLASSES)
    fit_one_step(model, x, y)


@keras3_only
@pytest.mark.parametrize("name", ["teacher", "transformer", "cnn1d"])
def test_text_preset_round_trips_through_a_keras_file(name, tmp_path):
    data, x, _ = token_ids()
    model = build(name, data)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5
    )


def test_transformer_adds_one_learned_vector_per_position():
    data, x, _ = token_ids()
    student = presets.student_preset("transformer", data)
    positions = student.get_layer("position_embedding")
    assert tuple(positions.bias.shape) == (LENGTH, text_presets.STUDENT_WIDTH)
    # Same tokens at other positions give other features: order matters.
    features = keras.Model(student.input, student.get_layer("features").output)
    shuffled = x[:2, ::-1].copy()
    assert not np.allclose(
        features.predict(x[:2], verbose=0), features.predict(shuffled, verbose=0)
    )


def test_teacher_is_larger_than_the_students():
    data, _, _ = token_ids()
    teacher = presets.teacher_preset(data).count_params()
    for name in ("transformer", "cnn1d"):
        assert teacher > 4 * presets.student_preset(name, data).count_params()


@keras3_only
def test_cnn1d_int8_file_takes_int32_ids_and_is_fully_integer(tmp_path):
    from keras_distill.compress import quantize
    from keras_distill.export import export_and_verify

    data, x, y = token_ids()
    student = presets.student_preset("cnn1d", data)
    fit_one_step(student, x[:16], y[:16])
    qat = quantize(student)
    fit_one_step(qat, x[:16], y[:16])
    report = export_and_verify(
        qat,
        tmp_path / "text_int8.tflite",
        "int8",
        x_eval=x[16:],
        y_eval=y[16:],
        latency_runs=2,
        latency_threads=(1,),
    )
    assert report.input_dtype == "int32"
    assert report.input_shape == [-1, LENGTH]
    assert report.top1_agreement == 1.0
    assert report.float_ops == []


def test_default_student_for_text_is_the_transformer():
    data, _, _ = token_ids()
    assert presets.default_student_preset(data) == "transformer"
    assert presets.presets_for("text") == ("transformer", "cnn1d")


@pytest.mark.parametrize("name", ["mlp", "gru", "ds-cnn", "cnn-tiny"])
def test_preset_that_does_not_read_text_is_refused_naming_those_that_do(name):
    data, _, _ = token_ids()
    with pytest.raises(
        ValueError, match=r"for text choose one of \('transformer', 'cnn1d'\)"
    ):
        presets.student_preset(name, data)


def test_tokenizer_without_vocabulary_is_refused():
    data, _, _ = token_ids()
    data = dataclasses.replace(data, tokenizer=types.SimpleNamespace(vocabulary=()))
    with pytest.raises(ValueError, match="no vocabulary of at least 2 entries"):
        presets.teacher_preset(data)


def test_text_preset_on_audio_is_refused():
    data, _, _ = token_ids()
    data = dataclasses.replace(data, tokenizer=None, sample_rate=16_000)
    with pytest.raises(ValueError, match="read token ids.*audio"):
        text_presets.text_student("cnn1d", data)
