"""1-D signal augmentation: shifts and noise, for the demo's teacher on MNIST-1D."""

import numpy as np
import pytest
from test_audio_augmentation import _shifted

from keras_distill._compat import keras
from keras_distill.augmentation import TimeShift
from keras_distill.augmentation import signal_augmentation
from keras_distill.data import load_dataset
from keras_distill.demo import methods


def _signals(batch=64, length=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, size=(batch, length)).astype("float32")


def test_shifts_each_signal_then_adds_noise_of_the_asked_deviation():
    shift, noise = signal_augmentation(max_shift=0.1, noise=0.05)
    assert isinstance(shift, TimeShift) and shift.max_shift == 0.1
    x = _signals()
    shifted = np.asarray(shift(x, training=True))
    moved = 0
    for row, out in zip(x, shifted):
        # 0.1 of 40 steps: every output is its row moved by -4..4 steps.
        found = [s for s in range(-4, 5) if np.array_equal(out, _shifted(row, s))]
        assert found, "not a shift of at most 4 steps"
        moved += found[0] != 0
    assert moved > len(x) // 2
    noisy = np.asarray(noise(shifted, training=True), dtype=np.float64)
    assert np.std(noisy - shifted) == pytest.approx(0.05, rel=0.1)


def test_is_the_identity_outside_training():
    x = _signals()
    y = x
    for step in signal_augmentation():
        y = step(y, training=False)
    np.testing.assert_array_equal(np.asarray(y), x)


@pytest.mark.parametrize(
    "noise, error, match",
    [
        (-0.1, ValueError, "negative"),
        ("0.1", TypeError, "number"),
        (True, TypeError, "number"),
    ],
)
def test_refuses_a_bad_noise_level_naming_it(noise, error, match):
    with pytest.raises(error, match=match):
        signal_augmentation(noise=noise)


def test_the_demo_teacher_gets_it_on_mnist1d_only():
    mnist1d = load_dataset("mnist1d")
    assert mnist1d.signal
    method = methods.get_method("mixup-kd")
    steps = method.teacher_augmentation(mnist1d.modality, mnist1d.signal)
    assert [type(s) for s in steps] == [TimeShift, keras.layers.GaussianNoise]
    # Tabular vectors have no time axis: no shifts for their teacher.
    assert method.teacher_augmentation("vector", False) is None
    # The student distils with Mixup only, as before.
    assert type(method.make_augmentation("vector")).__name__ == "Mixup"


def test_signal_kd_distils_on_the_shifts_its_teacher_learned_from():
    method = methods.get_method("signal-kd")
    steps = method.make_augmentation("vector", signal=True)
    assert [type(s) for s in steps] == [TimeShift, keras.layers.GaussianNoise]
    assert method.make_augmentation("vector", signal=False) is None
    with pytest.raises(ValueError, match="signal-kd"):
        methods.get_method("signal-kd", "image")


def test_a_distiller_of_signal_kd_shifts_what_teacher_and_student_see():
    from keras_distill.demo import training

    def model():
        inputs = keras.Input((40,))
        return keras.Model(inputs, keras.layers.Dense(10)(inputs))

    distiller = training.make_distiller(
        model(), model(), methods.get_method("signal-kd"), signal=True
    )
    assert [type(s) for s in distiller.augmentation] == [
        TimeShift,
        keras.layers.GaussianNoise,
    ]
