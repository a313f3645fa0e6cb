"""Mixup and the Distiller's augmentation: float64 references of the mixing."""

import numpy as np
import pytest
import tensorflow as tf
from models import blobs
from models import mlp
from models import sparse_ce
from reference import kl_per_example
from reference import sparse_ce_per_example
from scipy import stats

import keras_distill
from keras_distill._compat import keras
from keras_distill.augmentation import Mixup
from keras_distill.augmentation.mixup import sample_gamma


class FixedMixup(Mixup):
    """Mixup with given partners and weights, so a test knows the mixed batch."""

    def __init__(self, partner, lam):
        super().__init__(alpha=1.0)
        self.partner = np.asarray(partner, "int32")
        self.lam = np.asarray(lam, "float32")

    def mix(self, x):
        lam = tf.constant(self.lam)
        weight = tf.reshape(lam, [-1] + [1] * (len(x.shape) - 1))
        mixed = weight * x + (1.0 - weight) * tf.gather(x, self.partner)
        return mixed, tf.constant(self.partner), lam


def _frozen_distiller(augmentation, alpha=0.0, temperature=2.0, **compile_kw):
    """A Distiller whose training step computes losses but changes no weight."""
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,), name="student"),
        teacher=mlp(hidden=(32,), name="teacher"),
        alpha=alpha,
        temperature=temperature,
        augmentation=augmentation,
    )
    compile_kw.setdefault("loss", sparse_ce() if alpha > 0 else None)
    d.compile(optimizer=keras.optimizers.SGD(0.0), **compile_kw)
    return d


def _mix_reference(x, partner, lam):
    x = np.asarray(x, np.float64)
    weight = np.asarray(lam, np.float64).reshape([-1] + [1] * (x.ndim - 1))
    return weight * x + (1 - weight) * x[partner]


@pytest.mark.parametrize("shape", [(32, 5), (16, 6, 3), (8, 4, 4, 2)])
def test_mix_equals_float64_reference_for_its_partners_and_weights(shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    mixed, partner, lam = Mixup(0.4).mix(tf.constant(x))
    partner, lam = partner.numpy(), lam.numpy()
    assert sorted(partner) == list(range(shape[0]))  # a permutation of the batch
    assert lam.shape == (shape[0],) and np.all((lam >= 0) & (lam <= 1))
    np.testing.assert_allclose(
        mixed.numpy(), _mix_reference(x, partner, lam), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("dtype", ["uint8", "int32"])
def test_integer_inputs_are_mixed_in_float32_with_the_real_weights(dtype):
    x = np.random.default_rng(2).integers(0, 256, size=(32, 4, 4, 1)).astype(dtype)
    mixed, partner, lam = Mixup(1.0).mix(tf.constant(x))
    assert mixed.dtype == tf.float32
    np.testing.assert_allclose(
        mixed.numpy(),
        _mix_reference(x, partner.numpy(), lam.numpy()),
        rtol=1e-5,
        atol=1e-3,
    )


def test_nested_inputs_are_mixed_with_the_same_partners_and_weights():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(16, 3)).astype("float32")
    b = rng.normal(size=(16, 2, 2)).astype("float32")
    mixed, partner, lam = Mixup().mix({"a": tf.constant(a), "b": tf.constant(b)})
    for key, value in (("a", a), ("b", b)):
        np.testing.assert_allclose(
            mixed[key].numpy(),
            _mix_reference(value, partner.numpy(), lam.numpy()),
            rtol=1e-6,
            atol=1e-6,
        )


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_mixing_weights_follow_the_beta_distribution(alpha):
    lam = np.concatenate([Mixup(alpha).mix(tf.zeros((2000, 1)))[2] for _ in range(3)])
    result = stats.kstest(lam, stats.beta(alpha, alpha).cdf)
    assert result.pvalue > 1e-3, result


@pytest.mark.parametrize("concentration", [0.3, 1.0, 5.0])
def test_xla_compatible_gamma_sampler_follows_the_gamma_distribution(concentration):
    samples = sample_gamma(6000, concentration).numpy()
    result = stats.kstest(samples, stats.gamma(concentration).cdf)
    assert result.pvalue > 1e-3, result


@pytest.mark.parametrize(
    ("alpha", "error"),
    [
        (0, ValueError),
        (-1.0, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("1", TypeError),
        (True, TypeError),
    ],
)
def test_mixup_refuses_a_concentration_that_is_not_positive(alpha, error):
    with pytest.raises(error, match="`alpha` must be a (finite )?number > 0.*Mixup"):
        Mixup(alpha)


def test_teacher_and_student_see_the_same_mixed_batch_and_labels_are_mixed():
    x, y = blobs(16)
    partner = np.roll(np.arange(16), 3)
    lam = np.linspace(0.05, 0.95, 16)
    d = _frozen_distiller(
        FixedMixup(partner, lam),
        alpha=0.4,
        temperature=2.0,
        metrics=["sparse_categorical_accuracy"],
    )
    history = d.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    mixed = _mix_reference(x, partner, lam).astype("float32")
    t = d.teacher.predict(mixed, verbose=0)
    s = d.student.predict(mixed, verbose=0)
    student_loss = (
        lam * sparse_ce_per_example(y, s)
        + (1 - lam) * sparse_ce_per_example(y[partner], s)
    ).mean()
    distill = kl_per_example(t, s, 2.0).mean()
    logs = {k: v[0] for k, v in history.history.items()}
    np.testing.assert_allclose(logs["distillation_loss"], distill, rtol=1e-5)
    np.testing.assert_allclose(logs["student_loss"], student_loss, rtol=1e-5)
    np.testing.assert_allclose(
        logs["loss"], 0.4 * student_loss + 0.6 * distill, rtol=1e-5
    )
    dominant = np.where(lam >= 0.5, y, y[partner])
    np.testing.assert_allclose(
        logs["sparse_categorical_accuracy"], (s.argmax(-1) == dominant).mean()
    )
    # Unmixed inputs give another loss: the step really used the mixed batch.
    unmixed = kl_per_example(
        d.teacher.predict(x, verbose=0), d.student.predict(x, verbose=0), 2.0
    ).mean()
    assert abs(unmixed - distill) > 1e-3


@pytest.mark.parametrize("weighting", ["sample_weight", "class_weight"])
def test_mixed_example_weight_blends_its_own_and_its_partners_weight(weighting):
    x, y = blobs(16)
    partner = np.roll(np.arange(16), 5)
    lam = np.linspace(0.1, 0.9, 16)
    class_weight = {c: 0.5 + c for c in range(int(y.max()) + 1)}
    w = np.array([class_weight[int(c)] for c in y], "float32")
    if weighting == "sample_weight":
        w = np.random.default_rng(3).uniform(0.0, 2.0, size=16).astype("float32")
        kw = {"sample_weight": w}
    else:
        kw = {"class_weight": class_weight}
    d = _frozen_distiller(FixedMixup(partner, lam), alpha=0.5, temperature=2.0)
    history = d.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, **kw)
    mixed = _mix_reference(x, partner, lam).astype("float32")
    t = d.teacher.predict(mixed, verbose=0)
    s = d.student.predict(mixed, verbose=0)
    mixed_w = lam * w + (1 - lam) * w[partner]
    student_loss = (
        mixed_w
        * (
            lam * sparse_ce_per_example(y, s)
            + (1 - lam) * sparse_ce_per_example(y[partner], s)
        )
    ).mean()
    distill = (mixed_w * kl_per_example(t, s, 2.0)).mean()
    logs = {k: v[0] for k, v in history.history.items()}
    np.testing.assert_allclose(logs["student_loss"], student_loss, rtol=1e-5)
    np.testing.assert_allclose(logs["distillation_loss"], distill, rtol=1e-5)


def test_keras_preprocessing_layer_augments_teacher_and_student_inputs():
    x, y = blobs(32)
    d = _frozen_distiller(keras.layers.Rescaling(0.5, offset=1.0))
    history = d.fit(x, y, batch_size=32, epochs=1, verbose=0)
    scaled = 0.5 * x + 1.0
    want = kl_per_example(
        d.teacher.predict(scaled, verbose=0), d.student.predict(scaled, verbose=0), 2.0
    ).mean()
    np.testing.assert_allclose(history.history["distillation_loss"][0], want, rtol=1e-5)


def test_plain_callable_augments_and_evaluate_never_augments():
    x, y = blobs(32)
    d = _frozen_distiller(lambda batch: batch[:, ::-1])
    history = d.fit(x, y, batch_size=32, epochs=1, verbose=0)
    flipped = x[:, ::-1]
    want = kl_per_example(
        d.teacher.predict(flipped, verbose=0),
        d.student.predict(flipped, verbose=0),
        2.0,
    ).mean()
    np.testing.assert_allclose(history.history["distillation_loss"][0], want, rtol=1e-5)
    logs = d.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    plain = kl_per_example(
        d.teacher.predict(x, verbose=0), d.student.predict(x, verbose=0), 2.0
    ).mean()
    np.testing.assert_allclose(logs["distillation_loss"], plain, rtol=1e-5)


def test_augmentations_in_a_list_apply_in_order():
    x, y = blobs(16)
    partner = np.arange(16)[::-1]
    lam = np.full(16, 0.25)
    steps = [lambda batch: batch * 2.0, FixedMixup(partner, lam)]
    d = _frozen_distiller(steps)
    history = d.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    mixed = _mix_reference(2.0 * x, partner, lam).astype("float32")
    want = kl_per_example(
        d.teacher.predict(mixed, verbose=0), d.student.predict(mixed, verbose=0), 2.0
    ).mean()
    np.testing.assert_allclose(history.history["distillation_loss"][0], want, rtol=1e-5)


@pytest.mark.slow
def test_mixup_with_alpha_zero_distils_on_unlabelled_data():
    x, y = blobs(256)
    teacher = mlp(hidden=(32,), name="teacher")
    teacher.compile(keras.optimizers.Adam(0.01), sparse_ce())
    teacher.fit(x, y, epochs=20, verbose=0)
    student = mlp(hidden=(16,), name="student")
    d = keras_distill.Distiller(
        student=student,
        teacher=teacher,
        alpha=0.0,
        temperature=2.0,
        augmentation=Mixup(1.0),
    )
    d.compile(optimizer=keras.optimizers.Adam(0.01))
    unlabelled = tf.data.Dataset.from_tensor_slices(x).batch(32)
    history = d.fit(unlabelled, epochs=8, shuffle=False, verbose=0)
    assert history.history["student_loss"] == [0.0] * 8
    losses = history.history["distillation_loss"]
    assert losses[-1] < 0.5 * losses[0]
    agreement = (
        student.predict(x, verbose=0).argmax(-1)
        == teacher.predict(x, verbose=0).argmax(-1)
    ).mean()
    assert agreement > 0.9


@pytest.mark.slow
def test_mixup_trains_under_xla_compilation():
    x, y = blobs(64)
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,)),
        teacher=mlp(hidden=(16,)),
        alpha=0.5,
        augmentation=Mixup(),
    )
    d.compile(optimizer="adam", loss=sparse_ce(), jit_compile=True)
    history = d.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize(
    ("augmentation", "error", "match"),
    [
        ("mixup", TypeError, "`augmentation` must be"),
        ([Mixup(), Mixup()], ValueError, "more than one Mixup"),
        ([], ValueError, "empty list"),
    ],
)
def test_bad_augmentation_is_refused_at_construction(augmentation, error, match):
    with pytest.raises(error, match=match):
        keras_distill.Distiller(
            student=mlp(hidden=(8,)), teacher=mlp(), augmentation=augmentation
        )


def test_mixup_survives_config_round_trip_inside_the_distiller():
    d = keras_distill.Distiller(
        student=mlp(hidden=(8,)), teacher=mlp(), augmentation=Mixup(0.3)
    )
    restored = keras_distill.Distiller.from_config(d.get_config())
    assert isinstance(restored.augmentation, Mixup)
    assert restored.augmentation.alpha == pytest.approx(0.3)
