"""CutMix: pasted boxes, their pixel share as label weight, inside the Distiller."""

import numpy as np
import pytest
import tensorflow as tf
from models import sparse_ce
from reference import sparse_ce_per_example
from spy import seen
from spy import spied_model

import keras_distill
from keras_distill._compat import keras
from keras_distill.augmentation import CutMix
from keras_distill.augmentation import Mixup


def _box_of(mask):
    rows, cols = np.nonzero(mask)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_cutmix_pastes_one_box_and_lam_is_the_float64_share_of_own_pixels(dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 12, 10, 3)).astype(dtype)
    mixed, partner, lam = CutMix(1.0).mix(tf.constant(x))
    mixed, partner, lam = mixed.numpy(), partner.numpy(), lam.numpy()
    assert mixed.shape == x.shape and mixed.dtype == x.dtype
    assert sorted(partner) == list(range(64))
    assert lam.dtype == np.float32
    pasted_count = 0
    for i, p in enumerate(partner):
        if p == i:
            continue
        # Pixels differing from the own image come from the partner, in one
        # box (random colour pixels of two images coincide with p ~ 256**-3).
        pasted = np.any(mixed[i] != x[i], axis=-1)
        np.testing.assert_array_equal(mixed[i][pasted], x[p][pasted])
        own_share = 1.0 - pasted.astype(np.float64).mean()
        np.testing.assert_allclose(lam[i], own_share, rtol=0, atol=1e-6)
        if pasted.any():
            pasted_count += 1
            r0, r1, c0, c1 = _box_of(pasted)
            box = np.zeros_like(pasted)
            box[r0:r1, c0:c1] = True
            np.testing.assert_array_equal(pasted, box)  # a rectangle
    assert pasted_count > 40
    assert 0.3 < lam.mean() < 0.9


def test_cutmix_weight_counts_exactly_the_pasted_pixels_of_distinct_images():
    x = np.arange(1, 33, dtype="float32")[:, None, None, None] * np.ones((1, 9, 7, 2))
    mixed, partner, lam = CutMix(0.5).mix(tf.constant(x, tf.float32))
    own = (mixed.numpy()[..., 0] == x[..., 0]).astype(np.float64).mean(axis=(1, 2))
    moved = partner.numpy() != np.arange(32)
    np.testing.assert_allclose(lam.numpy()[moved], own[moved], rtol=0, atol=1e-6)


def test_cutmix_refuses_non_images_and_nested_inputs():
    with pytest.raises(ValueError, match="got inputs of shape"):
        CutMix().mix(tf.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="nested inputs"):
        CutMix().mix({"a": tf.zeros((4, 5, 5, 3)), "b": tf.zeros((4, 5, 5, 3))})


@pytest.mark.parametrize(("alpha", "error"), [(0, ValueError), ("1", TypeError)])
def test_cutmix_refuses_a_concentration_that_is_not_positive(alpha, error):
    with pytest.raises(error, match="`alpha` must be a (finite )?number > 0"):
        CutMix(alpha)


def test_cutmix_counts_as_the_distillers_one_mixing():
    student, teacher = spied_model((4, 8, 8, 1)), spied_model((4, 8, 8, 1))
    with pytest.raises(ValueError, match="more than one Mixup"):
        keras_distill.Distiller(
            student=student, teacher=teacher, augmentation=[Mixup(), CutMix()]
        )


def test_distiller_mixes_the_student_loss_by_the_share_of_pixels_each_label_shows():
    n = 16
    # Image i is the constant 10 * (i + 1): every pixel tells whose it is.
    x = (10.0 * np.arange(1, n + 1))[:, None, None, None] * np.ones((1, 8, 8, 1))
    x = x.astype("float32")
    y = np.arange(n) % 3
    student = spied_model((n, 8, 8, 1), flatten=True, name="student")
    teacher = spied_model((n, 8, 8, 1), flatten=True, name="teacher")
    d = keras_distill.Distiller(
        student=student, teacher=teacher, alpha=0.5, augmentation=CutMix(1.0)
    )
    d.compile(optimizer=keras.optimizers.SGD(0.0), loss=sparse_ce())
    history = d.fit(x, y, batch_size=n, epochs=1, shuffle=False, verbose=0)
    mixed = seen(student)
    np.testing.assert_array_equal(seen(teacher), mixed)
    owner = np.rint(mixed[..., 0] / 10.0).astype(int) - 1  # whose pixel
    lam = np.empty(n)
    partner = np.arange(n)
    for i in range(n):
        lam[i] = (owner[i] == i).astype(np.float64).mean()
        others = set(owner[i].ravel()) - {i}
        assert len(others) <= 1
        if others:
            partner[i] = others.pop()
    assert np.any((lam > 0) & (lam < 1))
    logits = student.predict(mixed, batch_size=n, verbose=0).astype(np.float64)
    want = (
        lam * sparse_ce_per_example(y, logits)
        + (1 - lam) * sparse_ce_per_example(y[partner], logits)
    ).mean()
    np.testing.assert_allclose(history.history["student_loss"][0], want, rtol=1e-5)


def test_cutmix_survives_serialization():
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(CutMix(0.4))
    )
    assert type(restored) is CutMix and restored.alpha == pytest.approx(0.4)
