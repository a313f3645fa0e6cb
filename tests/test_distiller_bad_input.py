"""Every bad argument is refused at construction or compile, naming the fix."""

import math

import numpy as np
import pytest
from models import mlp
from models import sparse_ce

import keras_distill
from keras_distill import _compat
from keras_distill._compat import keras


def _pair():
    return mlp(hidden=(8,), name="student"), mlp(hidden=(16,), name="teacher")


@pytest.mark.parametrize("missing", ["student", "teacher"])
def test_missing_model_is_refused(missing):
    student, teacher = _pair()
    kwargs = {"student": student, "teacher": teacher, missing: None}
    with pytest.raises(ValueError, match=f"`{missing}` is required"):
        keras_distill.Distiller(**kwargs)


def test_non_model_is_refused():
    student, _ = _pair()
    with pytest.raises(TypeError, match="`teacher` must be a Keras model"):
        keras_distill.Distiller(student=student, teacher=np.zeros(3))


def test_teacher_that_is_the_student_is_refused():
    student, _ = _pair()
    with pytest.raises(ValueError, match="same model object"):
        keras_distill.Distiller(student=student, teacher=student)


def test_different_input_shapes_are_refused():
    student = mlp(input_dim=8)
    teacher = mlp(input_dim=9)
    with pytest.raises(ValueError, match="input shapes differ. Teacher: .*9.*Student"):
        keras_distill.Distiller(student=student, teacher=teacher)


def test_different_output_shapes_are_refused():
    student = mlp(classes=4)
    teacher = mlp(classes=5)
    with pytest.raises(ValueError, match="teacher's is .*5.*student's is .*4"):
        keras_distill.Distiller(student=student, teacher=teacher)


def test_teachers_with_different_outputs_are_refused():
    student = mlp(classes=4)
    with pytest.raises(ValueError, match="teachers' output shapes differ"):
        keras_distill.Distiller(
            student=student, teacher=[mlp(classes=4), mlp(classes=3)]
        )


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-1.5, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        ("3", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_bad_temperature_is_refused(value, error):
    student, teacher = _pair()
    with pytest.raises(error, match="`temperature` must be"):
        keras_distill.Distiller(student=student, teacher=teacher, temperature=value)


@pytest.mark.parametrize(
    ("value", "error"),
    [(-0.1, ValueError), (1.5, ValueError), (math.nan, ValueError), ("0.5", TypeError)],
)
def test_alpha_outside_unit_interval_is_refused(value, error):
    student, teacher = _pair()
    with pytest.raises(error, match="`alpha` must be"):
        keras_distill.Distiller(student=student, teacher=teacher, alpha=value)


def test_bad_values_in_compile_are_refused_and_keep_settings():
    student, teacher = _pair()
    d = keras_distill.Distiller(student=student, teacher=teacher, temperature=2.0)
    with pytest.raises(ValueError, match="`temperature` must be"):
        d.compile(loss=sparse_ce(), temperature=0)
    with pytest.raises(ValueError, match="`alpha` must be"):
        d.compile(loss=sparse_ce(), alpha=2)
    # A valid temperature next to an invalid loss is not half-applied either.
    with pytest.raises(ValueError, match="expects probabilities"):
        d.compile(loss="sparse_categorical_crossentropy", temperature=7.0)
    assert d.temperature == 2.0
    assert d.alpha == pytest.approx(0.1)


def test_keras_io_loss_does_not_silently_replace_constructor_losses():
    student, teacher = _pair()
    d = keras_distill.Distiller(
        student=student,
        teacher=teacher,
        distillation_losses=[keras_distill.losses.LogitMSE()],
    )
    with pytest.raises(ValueError, match="would replace the distillation losses"):
        d.compile(loss=sparse_ce(), distillation_loss_fn=keras.losses.KLDivergence())
    assert [type(loss) for loss in d.distillation_losses] == [
        keras_distill.losses.LogitMSE
    ]


def test_keras_io_loss_equal_to_the_constructor_loss_is_accepted():
    student, teacher = _pair()
    given = keras_distill.losses.ProbabilityLoss(keras.losses.KLDivergence())
    d = keras_distill.Distiller(
        student=student, teacher=teacher, distillation_losses=[given]
    )
    d.compile(loss=sparse_ce(), distillation_loss_fn=keras.losses.KLDivergence())
    assert d.distillation_losses == [given]
    with pytest.raises(ValueError, match="would replace the distillation losses"):
        d.compile(
            loss=sparse_ce(), distillation_loss_fn=keras.losses.MeanSquaredError()
        )
    assert d.distillation_losses == [given]


def test_setting_a_bad_temperature_later_is_refused():
    student, teacher = _pair()
    d = keras_distill.Distiller(student=student, teacher=teacher)
    with pytest.raises(ValueError, match="`temperature` must be"):
        d.temperature = -1.0


def test_non_callable_distillation_loss_is_refused():
    student, teacher = _pair()
    d = keras_distill.Distiller(student=student, teacher=teacher)
    with pytest.raises(TypeError, match="must be callable"):
        d.compile(loss=sparse_ce(), distillation_loss_fn="not a function")


def test_unknown_distillation_loss_name_is_refused():
    student, teacher = _pair()
    with pytest.raises(ValueError, match="Unknown distillation loss 'hinton'"):
        keras_distill.Distiller(
            student=student, teacher=teacher, distillation_losses="hinton"
        )


def test_loss_weight_count_must_match_losses():
    student, teacher = _pair()
    with pytest.raises(
        ValueError, match="one finite number >= 0 per distillation loss"
    ):
        keras_distill.Distiller(
            student=student, teacher=teacher, distillation_loss_weights=[1.0, 2.0]
        )


def test_teacher_weight_count_must_match_teachers():
    student, teacher = _pair()
    with pytest.raises(ValueError, match="one number >= 0 per teacher"):
        keras_distill.Distiller(
            student=student, teacher=[teacher], teacher_weights=[1, 1]
        )


def test_positive_alpha_without_student_loss_is_refused():
    student, teacher = _pair()
    # The default alpha, 0.1, is a float32 variable: shown as 0.1, not 0.100000001.
    d = keras_distill.Distiller(student=student, teacher=teacher)
    with pytest.raises(ValueError, match=r"alpha=0\.1 weights .* none was given"):
        d.compile(optimizer="adam")


@pytest.mark.parametrize(
    "loss",
    ["sparse_categorical_crossentropy", keras.losses.SparseCategoricalCrossentropy()],
    ids=["string", "from_logits_false"],
)
def test_probability_loss_on_logits_student_is_refused(loss):
    student, teacher = _pair()
    d = keras_distill.Distiller(student=student, teacher=teacher)
    with pytest.raises(ValueError, match="from_logits=True"):
        d.compile(loss=loss)


def test_student_loss_given_twice_is_refused():
    student, teacher = _pair()
    d = keras_distill.Distiller(student=student, teacher=teacher)
    with pytest.raises(ValueError, match="once"):
        d.compile(loss=sparse_ce(), student_loss_fn=sparse_ce())


def test_models_ending_in_softmax_get_a_warning_that_explains():
    student, _ = _pair()
    teacher = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, activation="softmax")]
    )
    with pytest.warns(UserWarning, match="ends in a softmax.*expects logits"):
        keras_distill.Distiller(student=student, teacher=teacher)


def test_model_of_the_other_keras_flavour_is_refused_with_the_switch():
    if _compat.LEGACY_KERAS:
        import keras as other  # Keras 3, while keras_distill runs on tf_keras
    else:
        import tf_keras as other
    foreign = other.Sequential([other.Input((8,)), other.layers.Dense(4)])
    student, _ = _pair()
    with pytest.raises(TypeError, match="TF_USE_LEGACY_KERAS=1"):
        keras_distill.Distiller(student=student, teacher=foreign)


def test_unbuilt_models_with_different_class_counts_fail_before_any_update():
    # Without an Input there are no shapes at construction; the first step's
    # trace is where the class counts meet, before any weight changes.
    student = keras.Sequential([keras.layers.Dense(8), keras.layers.Dense(4)])
    teacher = mlp(hidden=(16,), classes=5, name="teacher")
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    d = keras_distill.Distiller(student=student, teacher=teacher)
    d.compile(optimizer="sgd", loss=sparse_ce())
    x = np.random.default_rng(0).normal(size=(16, 8)).astype("float32")
    y = np.zeros(16, "int64")
    with pytest.raises(ValueError, match="teacher outputs 5 classes but the student"):
        d.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="same classes"):
        d.evaluate(x, y, verbose=0)
    for a, b in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
