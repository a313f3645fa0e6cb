"""Waveform augmentations: shifts, noise at an SNR, masks, and the Distiller."""

import numpy as np
import pytest
import tensorflow as tf
from spy import seen
from spy import spied_model

import keras_distill
from keras_distill._compat import keras
from keras_distill.augmentation import BackgroundNoise
from keras_distill.augmentation import SpecAugmentMasks
from keras_distill.augmentation import TimeShift
from keras_distill.augmentation import speech_augmentation


def _clips(batch=16, samples=200, seed=0):
    """Clips with no zero sample, so zero fill and masks are recognisable."""
    rng = np.random.default_rng(seed)
    magnitude = rng.uniform(0.05, 0.5, size=(batch, samples))
    return (magnitude * rng.choice([-1.0, 1.0], size=magnitude.shape)).astype("float32")


def _shifted(row, shift):
    """float64 NumPy reference: `row` delayed by `shift` samples, zero filled."""
    out = np.zeros(len(row))
    if shift >= 0:
        out[shift:] = row[: len(row) - shift]
    else:
        out[:shift] = row[-shift:]
    return out


def _zero_runs(row):
    """(start, length) of each maximal run of exact zeros in `row`."""
    padded = np.concatenate([[False], row == 0, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return [(a, b - a) for a, b in zip(edges[::2], edges[1::2])]


def _snr_db(x, noisy):
    x, noise = x.astype("float64"), noisy.astype("float64") - x.astype("float64")
    return 10 * np.log10(np.sum(x**2, axis=1) / np.sum(noise**2, axis=1))


LAYERS = [
    TimeShift(0.2),
    BackgroundNoise(probability=1.0),
    SpecAugmentMasks(sample_rate=8000),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_layer_is_identity_outside_training_and_keeps_shape_when_training(layer):
    x = _clips()
    for training in (False, None):
        np.testing.assert_array_equal(layer(x, training=training), x)
    out = layer(x.astype("float64"), training=True)
    assert out.shape == x.shape and out.dtype == tf.float32
    assert np.abs(out.numpy() - x).max() > 1e-3  # really augmented


def test_time_shift_is_a_zero_filled_roll_within_bounds_per_clip():
    x = _clips(batch=32, samples=200)
    out = TimeShift(max_shift=0.1)(x, training=True).numpy()
    shifts = []
    for row, got in zip(x, out):
        matches = [s for s in range(-20, 21) if np.array_equal(_shifted(row, s), got)]
        assert len(matches) == 1, "output is no zero-filled shift within 20 samples"
        shifts.append(matches[0])
    assert len(set(shifts)) > 10  # each clip draws its own shift
    assert min(shifts) < -10 and max(shifts) > 10


def test_time_shift_of_zero_returns_the_clips():
    x = _clips()
    np.testing.assert_array_equal(TimeShift(0.0)(x, training=True), x)


def test_white_noise_lands_within_the_snr_range_for_every_clip():
    x = _clips(batch=64, samples=400)
    out = BackgroundNoise(snr_db=(5.0, 30.0), probability=1.0)(x, training=True)
    snr = _snr_db(x, out.numpy())
    assert np.all(snr >= 5.0 - 1e-3) and np.all(snr <= 30.0 + 1e-3)
    assert snr.min() < 10.0 and snr.max() > 25.0  # drawn per clip


def test_noise_comes_from_a_window_of_the_given_clips():
    rng = np.random.default_rng(1)
    bank = rng.normal(size=(5, 260)).astype("float32")
    x = _clips(batch=24, samples=200)
    layer = BackgroundNoise(snr_db=(10.0, 20.0), noise=bank, probability=1.0)
    added = layer(x, training=True).numpy().astype("float64") - x
    windows = np.stack(
        [bank[j, o : o + 200] for j in range(5) for o in range(61)]
    ).astype("float64")
    cosine = (added @ windows.T) / np.outer(
        np.linalg.norm(added, axis=1), np.linalg.norm(windows, axis=1)
    )
    np.testing.assert_allclose(cosine.max(axis=1), 1.0, atol=1e-5)
    picked = cosine.argmax(axis=1)
    assert len(set(picked // 61)) > 2 and len(set(picked % 61)) > 5
    snr = _snr_db(x, x + added)
    assert np.all((snr > 10.0 - 1e-3) & (snr < 20.0 + 1e-3))


def test_noise_probability_is_the_share_of_noisy_clips():
    x = _clips(batch=400, samples=50)
    for probability, low, high in [(0.0, 0, 0), (0.5, 0.4, 0.6), (1.0, 1, 1)]:
        out = BackgroundNoise(probability=probability)(x, training=True).numpy()
        share = np.mean(np.any(out != x, axis=1))
        assert low <= share <= high, (probability, share)


def test_silent_clip_stays_silent():
    x = _clips(batch=4)
    x[1] = 0.0
    out = BackgroundNoise(probability=1.0)(x, training=True).numpy()
    np.testing.assert_array_equal(out[1], 0.0)


def test_noise_shorter_than_the_clips_is_refused_when_called():
    layer = BackgroundNoise(noise=np.ones((2, 100)))
    with pytest.raises(ValueError, match="at least as long"):
        layer(_clips(samples=200), training=True)


def test_time_mask_zeroes_one_span_of_bounded_width():
    x = _clips(batch=32, samples=400)
    layer = SpecAugmentMasks(time_masks=1, max_time=0.1, frequency_masks=0)
    out = layer(x, training=True).numpy()
    widths = []
    for row, got in zip(x, out):
        runs = _zero_runs(got)
        assert len(runs) <= 1
        kept = got != 0
        np.testing.assert_array_equal(got[kept], row[kept])
        widths.append(runs[0][1] if runs else 0)
    assert max(widths) <= 40 and max(widths) > 20


def test_two_time_masks_zero_at_most_two_spans():
    x = _clips(batch=32, samples=400)
    out = SpecAugmentMasks(time_masks=2, max_time=0.05, frequency_masks=0)(
        x, training=True
    ).numpy()
    counts = [len(_zero_runs(row)) for row in out]
    assert max(counts) == 2 and np.all(np.sum(out == 0, axis=1) <= 40)


def test_frequency_mask_zeroes_one_band_and_keeps_the_rest_of_the_spectrum():
    x = _clips(batch=16, samples=320)
    layer = SpecAugmentMasks(
        time_masks=0, frequency_masks=1, max_frequency=1000.0, sample_rate=16000
    )
    out = layer(x, training=True).numpy()
    spectrum_in = np.fft.rfft(x.astype("float64"), axis=1)
    spectrum_out = np.fft.rfft(out.astype("float64"), axis=1)
    scale = np.abs(spectrum_in).max()
    widths = []
    for before, after in zip(spectrum_in, spectrum_out):
        masked = np.abs(after) < 1e-4 * scale
        band = np.flatnonzero(masked)
        if band.size:  # one contiguous band of at most 1000 Hz = 20 bins
            assert band[-1] - band[0] + 1 == band.size
            assert np.all(np.abs(before[band]) > 1e-2 * scale)  # really removed
        widths.append(band.size)
        np.testing.assert_allclose(
            after[~masked], before[~masked], rtol=0, atol=1e-4 * scale
        )
    assert max(widths) <= 20 and max(widths) > 10


def test_speech_augmentation_lists_shift_noise_and_masks():
    noise = np.ones((1, 16000), "float32")
    steps = speech_augmentation(sample_rate=8000, noise=noise)
    assert [type(s) for s in steps] == [TimeShift, BackgroundNoise, SpecAugmentMasks]
    assert steps[0].max_shift == 0.1 and steps[1].snr_db == (5.0, 30.0)
    np.testing.assert_array_equal(steps[1].noise, noise)
    assert steps[2].sample_rate == 8000 and steps[2].max_frequency == 500.0


def test_teacher_and_student_receive_the_same_augmented_clips():
    batch = (8, 256)
    x, y = _clips(*batch), np.arange(batch[0]) % 3
    d = keras_distill.Distiller(
        student=spied_model(batch, name="student", flatten=True),
        teacher=spied_model(batch, name="teacher", flatten=True),
        alpha=0.5,
        augmentation=speech_augmentation(sample_rate=16000),
    )
    d.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = d.fit(x, y, batch_size=batch[0], epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    student_input, teacher_input = seen(d.student), seen(d.teacher)
    np.testing.assert_array_equal(teacher_input, student_input)
    assert student_input.shape == x.shape
    assert np.abs(student_input - x).mean() > 1e-2  # really augmented


@pytest.mark.parametrize(
    "layer",
    [
        TimeShift(0.25, name="shift"),
        BackgroundNoise((0.0, 12.5), noise=np.arange(1, 7).reshape(2, 3), name="n"),
        SpecAugmentMasks(3, 0.2, 1, 300.0, 8000, name="masks"),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layer_survives_serialization(layer):
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is type(layer) and restored.name == layer.name
    assert restored.get_config() == layer.get_config()


def test_speech_augmentation_survives_the_distillers_config_round_trip():
    batch = (8, 64)
    noise = np.linspace(-1, 1, 128).reshape(2, 64)
    d = keras_distill.Distiller(
        student=spied_model(batch, flatten=True),
        teacher=spied_model(batch, flatten=True),
        augmentation=speech_augmentation(sample_rate=8000, noise=noise),
    )
    steps = keras_distill.Distiller.from_config(d.get_config()).augmentation
    assert [type(s) for s in steps] == [TimeShift, BackgroundNoise, SpecAugmentMasks]
    np.testing.assert_allclose(steps[1].noise, noise, rtol=1e-6)
    assert steps[2].sample_rate == 8000


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: TimeShift(-0.1), ValueError, "`max_shift`"),
        (lambda: TimeShift(1.0), ValueError, "`max_shift`"),
        (lambda: TimeShift("0.1"), TypeError, "`max_shift`"),
        (lambda: BackgroundNoise(snr_db=(30.0, 5.0)), ValueError, "min <= max"),
        (lambda: BackgroundNoise(snr_db=10.0), ValueError, "`snr_db`"),
        (lambda: BackgroundNoise(snr_db=(0, np.inf)), ValueError, "`snr_db`"),
        (lambda: BackgroundNoise(probability=1.5), ValueError, "`probability`"),
        (lambda: BackgroundNoise(probability=-0.1), ValueError, "`probability`"),
        (lambda: BackgroundNoise(noise=np.ones(100)), ValueError, r"\(clips, samp"),
        (lambda: BackgroundNoise(noise=np.ones((2, 3, 4))), ValueError, "shape"),
        (lambda: BackgroundNoise(noise=np.ones((0, 4))), ValueError, "non-empty"),
        (lambda: BackgroundNoise(noise=np.zeros((2, 4))), ValueError, "all zeros"),
        (lambda: BackgroundNoise(noise=[[1.0, np.nan]]), ValueError, "NaN"),
        (lambda: BackgroundNoise(noise="hum.wav"), ValueError, "not numeric"),
        (lambda: SpecAugmentMasks(time_masks=-1), ValueError, "`time_masks`"),
        (lambda: SpecAugmentMasks(frequency_masks=1.5), TypeError, "`frequency"),
        (lambda: SpecAugmentMasks(max_time=1.5), ValueError, "`max_time`"),
        (lambda: SpecAugmentMasks(max_frequency=9000.0), ValueError, "8000"),
        (lambda: SpecAugmentMasks(sample_rate=0), ValueError, "`sample_rate`"),
        (lambda: SpecAugmentMasks(0, 0.1, 0), ValueError, "masks nothing"),
        (lambda: speech_augmentation(sample_rate=16000.0), TypeError, "`sample_r"),
    ],
)
def test_bad_arguments_are_refused_with_the_fix(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_inputs_that_are_not_float_waveforms_are_refused(layer):
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        layer(np.zeros((2, 100, 1), "float32"), training=True)
    with pytest.raises(TypeError, match="32768"):
        layer(tf.zeros((2, 100), tf.int16), training=True)
