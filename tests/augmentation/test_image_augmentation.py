"""image_augmentation: the recipe, and teacher and student seeing the same batch."""

import numpy as np
import pytest
from spy import seen
from spy import spied_model

import keras_distill
from keras_distill._compat import keras
from keras_distill.augmentation import CutMix
from keras_distill.augmentation import Mixup
from keras_distill.augmentation import RandomResizedCrop
from keras_distill.augmentation import image_augmentation

BATCH = (16, 16, 16, 3)


def _images():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=BATCH).astype("float32")
    return x, np.arange(BATCH[0]) % 3


def _distiller(augmentation):
    d = keras_distill.Distiller(
        student=spied_model(BATCH, name="student"),
        teacher=spied_model(BATCH, name="teacher"),
        alpha=0.0,
        augmentation=augmentation,
    )
    d.compile(optimizer=keras.optimizers.SGD(0.0))
    return d


def test_recipe_lists_geometric_steps_then_the_mixing():
    steps = image_augmentation(crop=0.3, flip=True, rotation=12.0, cutmix=0.5)
    assert [type(s) for s in steps] == [
        RandomResizedCrop,
        keras.layers.RandomFlip,
        keras.layers.RandomRotation,
        CutMix,
    ]
    assert steps[0].scale == (0.3, 1.0)
    assert steps[1].mode == "horizontal"
    factor = np.abs(np.ravel(steps[2].get_config()["factor"]))  # a or (-a, a)
    np.testing.assert_allclose(factor, 12.0 / 360)
    assert steps[3].alpha == 0.5


def test_recipe_defaults_crop_and_rotate_but_never_flip_or_mix():
    steps = image_augmentation()
    assert [type(s) for s in steps] == [RandomResizedCrop, keras.layers.RandomRotation]
    assert type(image_augmentation(crop=None, rotation=0, mixup=1.0)[0]) is Mixup


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mixup": 1.0, "cutmix": 1.0}, ValueError, "Choose one"),
        ({"crop": None, "rotation": 0}, ValueError, "augments nothing"),
        ({"rotation": 200}, ValueError, "`rotation`"),
        ({"flip": "yes"}, TypeError, "`flip`"),
        ({"crop": 0.0}, ValueError, "`crop`"),
        ({"crop": "big"}, TypeError, "`crop`"),
    ],
)
def test_recipe_refuses_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        image_augmentation(**kwargs)


@pytest.mark.parametrize("mixing", [{"cutmix": 1.0}, {"mixup": 1.0}, {}])
def test_teacher_and_student_receive_the_same_augmented_batch(mixing):
    x, y = _images()
    d = _distiller(image_augmentation(crop=0.3, flip=True, rotation=15.0, **mixing))
    d.fit(x, y, batch_size=BATCH[0], epochs=1, shuffle=False, verbose=0)
    student_input, teacher_input = seen(d.student), seen(d.teacher)
    assert student_input.shape == x.shape and student_input.dtype == np.float32
    np.testing.assert_array_equal(teacher_input, student_input)
    assert np.abs(student_input - x).mean() > 1.0  # really augmented


def test_evaluate_and_predict_never_augment():
    x, y = _images()
    d = _distiller(image_augmentation(crop=0.3, flip=True, cutmix=1.0))
    d.evaluate(x, y, batch_size=BATCH[0], verbose=0)
    np.testing.assert_array_equal(seen(d.student), x)
    np.testing.assert_array_equal(seen(d.teacher), x)


def test_recipe_survives_the_distillers_config_round_trip():
    d = keras_distill.Distiller(
        student=spied_model(BATCH),
        teacher=spied_model(BATCH),
        augmentation=image_augmentation(crop=0.4, flip=True, rotation=5.0, cutmix=0.7),
    )
    restored = keras_distill.Distiller.from_config(d.get_config())
    steps = restored.augmentation
    assert [type(s) for s in steps] == [
        RandomResizedCrop,
        keras.layers.RandomFlip,
        keras.layers.RandomRotation,
        CutMix,
    ]
    assert steps[0].scale == (0.4, 1.0) and steps[3].alpha == pytest.approx(0.7)
