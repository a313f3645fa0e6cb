"""The demo's image recipe: augmented consistent teaching, and its teacher."""

import dataclasses

import numpy as np
import pytest

from keras_distill._compat import keras
from keras_distill.augmentation import Mixup
from keras_distill.augmentation import RandomResizedCrop
from keras_distill.demo import dataset
from keras_distill.demo import methods
from keras_distill.demo import teacher as teacher_stage
from keras_distill.demo import training
from keras_distill.demo.config import DemoConfig
from keras_distill.demo.config import UsageError
from keras_distill.demo.plan import make_plan


@pytest.fixture(scope="module")
def digits():
    return dataset.smoke_subset(dataset.load_data("digits", batch_size=64))


@dataclasses.dataclass
class _Shape:
    input_shape: tuple
    modality: str = ""

    def __post_init__(self):
        if not self.modality:
            self.modality = "image" if len(self.input_shape) == 3 else "vector"


def test_images_default_to_the_augmented_recipe_and_vectors_do_not():
    image = methods.get_method(None, "image")
    assert image.name == methods.BEST_IMAGE_METHOD == "augmented-kd"
    assert methods.get_method(None).name == methods.BEST_METHOD == "mixup-kd"
    steps = image.make_augmentation("image")
    assert [type(step) for step in steps] == [
        RandomResizedCrop,
        keras.layers.RandomRotation,
    ]
    assert image.make_augmentation("vector") is None
    # With a Mixup, the students get it after the crops; the teacher never does.
    mixing = dataclasses.replace(image, mixup_alpha=1.0)
    assert isinstance(mixing.make_augmentation("image")[-1], Mixup)
    assert isinstance(mixing.make_augmentation("vector"), Mixup)
    assert len(mixing.teacher_augmentation("image")) == 2
    assert [type(s) for s in image.teacher_augmentation("image")] == [
        RandomResizedCrop,
        keras.layers.RandomRotation,
    ]
    assert image.teacher_augmentation("vector") is None
    assert methods.get_method("mixup-kd").teacher_augmentation("image") is None
    assert "augmented-kd (default for images)" in methods.methods_help()


def test_plan_for_image_data_takes_the_image_recipe_with_the_run_overrides(tmp_path):
    images, vectors = _Shape((32, 32, 3)), _Shape((40,))
    plan = make_plan(DemoConfig(temperature=3.0, output_dir=str(tmp_path)))
    assert plan.method.name == "mixup-kd" and plan.epochs == 500
    assert plan.compress_epochs == 20
    for_images = plan.for_data(images)
    assert for_images.method.name == "augmented-kd"
    assert for_images.method.temperature == 3.0
    recipe = methods.get_method("augmented-kd")
    assert (for_images.epochs, for_images.compress_epochs) == (30, 10)
    assert (recipe.epochs, recipe.compress_epochs) == (30, 10)
    assert plan.for_data(vectors) is plan
    assert plan.for_data(_Shape((8, 8, 1))) is plan  # digits: crops cut them
    chosen = make_plan(DemoConfig(method="kd", output_dir=str(tmp_path)))
    assert chosen.for_data(images) is chosen
    fast = make_plan(DemoConfig(fast=True, output_dir=str(tmp_path))).for_data(images)
    assert fast.method.name == "augmented-kd" and fast.epochs == 2
    set_epochs = make_plan(
        DemoConfig(epochs=7, compress_epochs=3, output_dir=str(tmp_path))
    ).for_data(images)
    assert (set_epochs.epochs, set_epochs.compress_epochs) == (7, 3)


def test_plan_for_audio_and_text_takes_their_recipes(tmp_path):
    plan = make_plan(DemoConfig(alpha=0.2, output_dir=str(tmp_path)))
    audio = plan.for_data(_Shape((16000,), "audio"))
    assert audio.method.name == "speech-kd" and audio.method.alpha == 0.2
    # The teacher trains on augmented clips; the student is distilled on
    # the clips as they are.
    assert audio.method.make_augmentation("audio") is None
    steps = audio.method.teacher_augmentation("audio")
    assert [type(step).__name__ for step in steps] == [
        "TimeShift",
        "BackgroundNoise",
        "SpecAugmentMasks",
    ]
    text = plan.for_data(_Shape((64,), "text"))
    assert (
        text.method.name == "text-kd" and text.method.make_augmentation("text") is None
    )
    mixing = make_plan(DemoConfig(method="mixup-kd", output_dir=str(tmp_path)))
    with pytest.raises(UsageError, match="does not fit text data.*text-kd"):
        mixing.for_data(_Shape((64,), "text"))
    assert mixing.for_data(_Shape((16000,), "audio")) is mixing


def test_default_image_student_is_a_minimalistic_mobilenet_from_32_pixels():
    from keras_distill.demo import presets

    mobilenet = "mobilenet_v3_small_minimalistic"
    assert presets.default_student_preset((32, 32, 3)) == mobilenet
    assert presets.default_student_preset((64, 48, 1)) == mobilenet
    assert presets.default_student_preset((8, 8, 1)) == "cnn-tiny"
    assert presets.default_student_preset((31, 64, 3)) == "cnn-tiny"
    assert presets.default_student_preset((40,)) == "mlp"


def test_augmented_pipeline_changes_the_images_and_keeps_labels(digits):
    import tensorflow as tf

    steps = methods.get_method("augmented-kd").teacher_augmentation("image")
    x, y = digits.arrays("train", 64)
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    assert training.augmented(batches, None) is batches
    images, labels = next(iter(training.augmented(batches, steps)))
    assert images.shape == x.shape
    np.testing.assert_array_equal(np.asarray(labels), y)
    # Pixels 0..16 in digits: crops and rotations move them by whole units.
    assert np.abs(np.asarray(images) - x).mean() > 0.5


def test_teacher_trained_with_augmentation_is_cached_apart(digits, tmp_path):
    steps = methods.get_method("augmented-kd").teacher_augmentation("image")
    teacher = teacher_stage.presets.teacher_preset(digits)
    plain = teacher_stage.teacher_cache_path(tmp_path, digits, teacher, 1)
    augmented = teacher_stage.teacher_cache_path(tmp_path, digits, teacher, 1, steps)
    other = methods.DemoMethod(
        **{
            **dataclasses.asdict(methods.get_method("augmented-kd")),
            "image_augmentation": {"crop": 0.9, "rotation": 10.0},
        }
    ).teacher_augmentation("image")
    assert (
        len(
            {
                plain,
                augmented,
                teacher_stage.teacher_cache_path(tmp_path, digits, teacher, 1, other),
            }
        )
        == 3
    )
    _, source = teacher_stage.get_teacher(
        digits, cache_dir=tmp_path, epochs=1, augmentation=steps
    )
    assert source == "trained"
    assert [p.name for p in tmp_path.glob("*.keras")] == [augmented.name]


def test_a_model_with_free_image_size_fits_any_size(digits):
    from keras_distill.demo.config import UsageError
    from keras_distill.demo.model_files import check_fits

    inputs = keras.Input((None, None, 1))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    check_fits(keras.Model(inputs, keras.layers.Dense(10)(x)), digits, "teacher")
    inputs = keras.Input((None, None, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    with pytest.raises(UsageError, match=r"takes inputs \(None, None, 3\)"):
        check_fits(keras.Model(inputs, keras.layers.Dense(10)(x)), digits, "teacher")
