"""Token masking: random tokens become the unknown-word id, padding never does."""

import numpy as np
import pytest

from keras_distill._compat import keras
from keras_distill.augmentation import TokenMasking


def _ids(batch=256, length=64, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, 500, size=(batch, length)).astype("int32")
    lengths = rng.integers(1, length + 1, size=batch)
    ids[np.arange(length)[None, :] >= lengths[:, None]] = 0  # padding at the end
    return ids


def test_masks_tokens_at_the_asked_rate_and_never_padding():
    ids = _ids()
    keras.utils.set_random_seed(0)
    out = np.asarray(TokenMasking(0.2)(ids, training=True))
    assert out.dtype == np.int32 and out.shape == ids.shape
    changed = out != ids
    # Only real tokens change, and only to the unknown-word id 1.
    assert not np.any(changed & (ids == 0))
    assert np.all(out[changed] == 1)
    # 256 texts of ~32 tokens: ~8,000 draws, so the share is 0.2 within 0.02.
    share = changed.sum() / (ids != 0).sum()
    assert share == pytest.approx(0.2, abs=0.02)
    # Each text gets its own draws: not the same positions in every row.
    assert len({row.tobytes() for row in changed[:, :8]}) > 10


def test_other_ids_and_int64():
    ids = np.array([[7, 7, 3, 3, 3, 3]] * 200, dtype="int64")
    out = np.asarray(TokenMasking(0.5, mask_id=9, padding_id=3)(ids, training=True))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out[:, 2:], 3)
    assert set(np.unique(out[:, :2])) == {7, 9}


def test_is_the_identity_outside_training_and_at_rate_zero():
    ids = _ids(batch=8)
    np.testing.assert_array_equal(np.asarray(TokenMasking(0.5)(ids)), ids)
    np.testing.assert_array_equal(
        np.asarray(TokenMasking(0.0)(ids, training=True)), ids
    )


def test_config_round_trip():
    layer = TokenMasking(0.3, mask_id=2, padding_id=1, name="mask")
    again = TokenMasking.from_config(layer.get_config())
    assert (again.rate, again.mask_id, again.padding_id, again.name) == (
        0.3,
        2,
        1,
        "mask",
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"rate": 1.0}, ValueError, "rate"),
        ({"rate": -0.1}, ValueError, "rate"),
        ({"rate": "0.1"}, TypeError, "rate"),
        ({"mask_id": -1}, ValueError, "mask_id"),
    ],
)
def test_refuses_bad_arguments_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        TokenMasking(**kwargs)


def test_refuses_float_or_flat_inputs_saying_what_it_takes():
    with pytest.raises(TypeError, match="integer token ids"):
        TokenMasking()(np.zeros((2, 4), "float32"), training=True)
    with pytest.raises(ValueError, match=r"\(batch, sequence_length\)"):
        TokenMasking()(np.zeros((2, 4, 1), "int32"), training=True)
