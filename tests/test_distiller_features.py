"""Feature distillation through the Distiller: layer taps, adapters, bad models."""

import numpy as np
import pytest
from models import blobs
from models import sparse_ce
from reference import attention_per_example
from reference import kl_per_example

import keras_distill
from keras_distill._compat import keras
from keras_distill.losses import AttentionTransfer
from keras_distill.losses import Hint


def _sequential(widths, name):
    layers = [keras.Input((8,))]
    layers += [
        keras.layers.Dense(w, activation="relu", name=f"{name}_hidden{i}")
        for i, w in enumerate(widths)
    ]
    layers.append(keras.layers.Dense(4, name=f"{name}_logits"))
    return keras.Sequential(layers, name=name)


def _functional(widths, name):
    inputs = keras.Input((8,))
    h = inputs
    for i, w in enumerate(widths):
        h = keras.layers.Dense(w, activation="relu", name=f"{name}_hidden{i}")(h)
    return keras.Model(
        inputs, keras.layers.Dense(4, name=f"{name}_logits")(h), name=name
    )


def _conv(filters, name, length=12):
    inputs = keras.Input((length, 2))
    h = keras.layers.Conv1D(
        filters, 3, padding="same", activation="relu", name=f"{name}_conv"
    )(inputs)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inputs, keras.layers.Dense(4)(h), name=name)


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(4)

    def call(self, x):
        return self.out(self.hidden(x))


def _hint_distiller(student, teacher, hint, **compile_kw):
    d = keras_distill.Distiller(
        student=student,
        teacher=teacher,
        alpha=0.0,
        temperature=2.0,
        distillation_losses=["kl", hint],
        distillation_loss_weights=[1.0, 0.5],
    )
    d.compile(**compile_kw)
    return d


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_hint_with_adapter_matches_float64_reference(build):
    x, y = blobs(32)
    teacher, student = build((16,), "teacher"), build((6,), "student")
    hint = Hint("teacher_hidden0", "student_hidden0")
    d = _hint_distiller(student, teacher, hint, optimizer="sgd")
    logs = d.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)

    def features(model, name):
        tap = keras.Model(model.inputs, model.get_layer(name).output)
        return tap.predict(x, verbose=0).astype(np.float64)

    kernel, bias = (w.numpy().astype(np.float64) for w in hint.projection.weights)
    adapted = features(student, "student_hidden0") @ kernel + bias
    want_hint = ((adapted - features(teacher, "teacher_hidden0")) ** 2).mean(-1).mean()
    want_kl = kl_per_example(
        teacher.predict(x, verbose=0), student.predict(x, verbose=0), 2.0
    ).mean()
    np.testing.assert_allclose(logs[f"{hint.name}_loss"], want_hint, rtol=1e-5)
    np.testing.assert_allclose(
        logs["distillation_loss"], want_kl + 0.5 * want_hint, rtol=1e-5
    )


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_adapter_trains_with_the_student_but_never_ships_in_it(build, tmp_path):
    x, y = blobs(64)
    teacher, student = build((16,), "teacher"), build((6,), "student")
    student_params = student.count_params()
    hint = Hint("teacher_hidden0", "student_hidden0")
    d = _hint_distiller(student, teacher, hint, optimizer=keras.optimizers.SGD(0.1))
    adapter_before = [w.numpy().copy() for w in hint.projection.weights]
    d.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert any(
        not np.array_equal(b, w.numpy())
        for b, w in zip(adapter_before, hint.projection.weights)
    )
    adapter_ids = {id(w) for w in hint.projection.weights}
    assert not adapter_ids & {id(w) for w in d.student.weights}
    assert d.student.count_params() == student_params
    path = tmp_path / "student.keras"
    d.student.save(path)
    loaded = keras.models.load_model(path)
    assert [layer.name for layer in loaded.layers] == [
        layer.name for layer in student.layers
    ]
    assert loaded.count_params() == student_params


def test_attention_transfer_between_conv_layers_matches_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 12, 2)).astype("float32")
    y = rng.integers(0, 4, size=16)
    teacher, student = _conv(8, "teacher"), _conv(3, "student")
    at = AttentionTransfer("teacher_conv", "student_conv")
    d = keras_distill.Distiller(
        student=student,
        teacher=teacher,
        alpha=0.0,
        distillation_losses=["kl", at],
    )
    d.compile(optimizer="sgd")
    logs = d.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)

    def features(model, name):
        return keras.Model(model.inputs, model.get_layer(name).output).predict(
            x, verbose=0
        )

    want = attention_per_example(
        features(teacher, "teacher_conv"), features(student, "student_conv")
    ).mean()
    np.testing.assert_allclose(logs[f"{at.name}_loss"], want, rtol=1e-4)
    d.fit(x, y, epochs=1, verbose=0)


@pytest.mark.parametrize("which", ["student", "teacher"])
def test_subclassed_model_with_feature_loss_names_the_functional_api(which):
    models = {
        "student": _sequential((6,), "student"),
        "teacher": _sequential((16,), "teacher"),
    }
    subclassed = Subclassed()
    subclassed(np.zeros((1, 8), "float32"))
    models[which] = subclassed
    with pytest.raises(TypeError, match=f"`{which}`.*subclassed.*Functional API"):
        keras_distill.Distiller(
            **models,
            distillation_losses=[Hint("teacher_hidden0", "student_hidden0")],
        )


def test_subclassed_models_still_distil_on_logits():
    x, y = blobs(32)
    teacher = Subclassed()
    teacher(x[:1])
    d = keras_distill.Distiller(student=_sequential((6,), "student"), teacher=teacher)
    d.compile(optimizer="sgd", loss=sparse_ce())
    history = d.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("which", ["student", "teacher"])
def test_unknown_layer_name_lists_the_available_layers(which):
    names = {"teacher": "teacher_hidden0", "student": "student_hidden0"}
    names[which] = "no_such_layer"
    with pytest.raises(
        ValueError,
        match=rf"`{which}` has no layer named \['no_such_layer'\]. Available "
        rf"layers: \[.*'{which}_hidden0'.*\]",
    ):
        keras_distill.Distiller(
            student=_sequential((6,), "student"),
            teacher=_sequential((16,), "teacher"),
            distillation_losses=[Hint(names["teacher"], names["student"])],
        )


@pytest.mark.parametrize(
    ("loss", "match"),
    [
        (Hint("teacher_conv", "student_hidden0"), "cannot align the teacher feature"),
        (
            Hint("teacher_conv", "student_hidden0", adapter="none"),
            "cannot align the teacher feature",
        ),
        (
            AttentionTransfer("teacher_conv", "student_hidden0"),
            "cannot align the teacher feature",
        ),
    ],
)
def test_features_that_cannot_be_aligned_are_refused_before_training(loss, match):
    teacher = _conv(8, "teacher")
    inputs = keras.Input((12, 2))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(6, activation="relu", name="student_hidden0")(h)
    student = keras.Model(inputs, keras.layers.Dense(4)(h))
    with pytest.raises(ValueError, match=match):
        keras_distill.Distiller(
            student=student, teacher=teacher, distillation_losses=[loss]
        )


def test_hint_without_adapter_refuses_different_widths_in_the_distiller():
    with pytest.raises(ValueError, match="16 channels .* 6.*adapter='auto'"):
        keras_distill.Distiller(
            student=_sequential((6,), "student"),
            teacher=_sequential((16,), "teacher"),
            distillation_losses=[
                Hint("teacher_hidden0", "student_hidden0", adapter="none")
            ],
        )


def test_feature_loss_with_several_teachers_is_refused():
    with pytest.raises(ValueError, match="one teacher for feature losses"):
        keras_distill.Distiller(
            student=_sequential((6,), "student"),
            teacher=[_sequential((16,), "teacher"), _sequential((16,), "teacher")],
            distillation_losses=[Hint("teacher_hidden0", "student_hidden0")],
        )
