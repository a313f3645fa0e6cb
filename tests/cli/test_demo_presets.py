"""Demo model presets: the MobileNet students, the ResNet teacher, the old presets."""

import time

import numpy as np
import pytest
from sklearn.datasets import load_digits

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.data import InputNormalization
from keras_distill.data.pipeline import bundle_from_arrays
from keras_distill.demo import presets

MOBILENETS = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_small_minimalistic"]


def _bundle(x, y, *, n_train, num_classes=10, batch_size=16):
    return bundle_from_arrays(
        "toy",
        x_train=x[:n_train],
        y_train=y[:n_train],
        x_test=x[n_train:],
        y_test=y[n_train:],
        class_names=tuple(str(c) for c in range(num_classes)),
        normalization_for=lambda _: InputNormalization.rescale(1 / 255),
        batch_size=batch_size,
        seed=0,
        validation_fraction=0.0,
        description="test data",
    )


def digits_32x32x3():
    """scikit-learn's 8x8 digits upscaled to 32x32 colour pixels 0..255."""
    digits = load_digits()
    x = np.kron(digits.images, np.ones((4, 4)))[..., None].repeat(3, axis=-1)
    return (x * (255.0 / 16.0)).astype("float32"), digits.target.astype("int32")


def _images(size, n=8, classes=3, channels=3):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(n, size, size, channels)).astype("float32")
    return _bundle(x, np.arange(n) % classes, n_train=n - 2, num_classes=classes)


def _nested_models(model):
    return [layer.name for layer in model.layers if isinstance(layer, keras.Model)]


@pytest.mark.parametrize("name", MOBILENETS)
def test_mobilenet_student_is_one_flat_model_from_raw_pixels_to_logits(name):
    data = _images(32, classes=5)
    student = presets.student_preset(name, data)
    assert student.name == "student"
    assert _nested_models(student) == []  # QAT cannot rewrite a nested Model
    kinds = {type(layer).__name__ for layer in student.layers}
    assert {"Conv2D", "DepthwiseConv2D", "BatchNormalization"} <= kinds
    # Scaled once, by the dataset's layer (MobileNetV3's own one is off).
    rescalings = [ly for ly in student.layers if isinstance(ly, keras.layers.Rescaling)]
    assert [ly.name for ly in rescalings] == ["normalization"]
    assert student.layers[1] is rescalings[0]
    logits = student.get_layer("logits")
    assert isinstance(logits, keras.layers.Dense)
    assert logits.activation is keras.activations.linear
    assert student.layers[-1] is logits
    assert tuple(student.input_shape) == (None, 32, 32, 3)
    assert tuple(student.output_shape) == (None, 5)
    assert isinstance(
        student.get_layer("features"), keras.layers.GlobalAveragePooling2D
    )
    momenta = {
        layer.momentum
        for layer in student.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert momenta == {0.9}  # not keras.applications' 0.999: few steps here


@pytest.mark.parametrize(
    ("name", "default_alpha", "other_alpha"),
    [
        ("mobilenet_v2", 0.35, 1.0),
        ("mobilenet_v3_small", 0.75, 1.0),
        ("mobilenet_v3_small_minimalistic", 1.0, 0.5),
    ],
)
def test_mobilenet_width_multiplier_defaults_to_the_narrowest_published(
    name, default_alpha, other_alpha
):
    data = _images(32)
    default = presets.student_preset(name, data).count_params()
    same = presets.student_preset(name, data, alpha=default_alpha).count_params()
    other = presets.student_preset(name, data, alpha=other_alpha).count_params()
    assert default == same
    assert max(other, default) > 1.5 * min(other, default)


def test_minimalistic_mobilenet_v3_has_no_squeeze_excite_or_hard_swish():
    data = _images(32)
    full = presets.student_preset("mobilenet_v3_small", data, alpha=1.0)
    minimal = presets.student_preset("mobilenet_v3_small_minimalistic", data)
    # Squeeze-and-excite scales channels with a Multiply, in both flavours;
    # hard-swish is an Activation (Keras 3) or TF-op layers (tf_keras). The
    # minimalistic one has neither: its only non-linearity is ReLU.
    assert any(isinstance(ly, keras.layers.Multiply) for ly in full.layers)
    kinds = {type(layer).__name__ for layer in minimal.layers}
    assert "Multiply" not in kinds and "Activation" not in kinds
    assert not any("Lambda" in kind for kind in kinds)
    assert "ReLU" in kinds
    kernels = {
        layer.kernel_size
        for layer in minimal.layers
        if isinstance(layer, keras.layers.DepthwiseConv2D)
    }
    assert kernels == {(3, 3)}  # the full one also has 5x5


@pytest.mark.parametrize("name", MOBILENETS)
@pytest.mark.parametrize("size", [8, 31])
def test_mobilenet_refuses_images_below_32_pixels_naming_the_smallest_size(name, size):
    with pytest.raises(ValueError, match=r"at least 32x32 pixels; these are"):
        presets.student_preset(name, _images(size))


@pytest.mark.parametrize("name", MOBILENETS)
def test_mobilenet_refuses_vectors_and_a_bad_width(name):
    vectors = _bundle(
        np.zeros((6, 5), "float32"), np.arange(6) % 2, n_train=4, num_classes=2
    )
    with pytest.raises(ValueError, match="is for images"):
        presets.student_preset(name, vectors)
    with pytest.raises(ValueError, match="width multiplier"):
        presets.student_preset(name, _images(32), alpha=0)


def test_width_and_weights_are_refused_for_presets_without_them():
    with pytest.raises(ValueError, match="no width multiplier"):
        presets.student_preset("cnn-tiny", _images(32), alpha=0.5)


def test_missing_weights_file_is_refused_before_building(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        presets.student_preset(
            "mobilenet_v2", _images(32), weights=tmp_path / "absent.h5"
        )


def _conv1(model):
    return model.get_layer("Conv1").get_weights()[0]


def test_mobilenet_v2_loads_a_legacy_h5_with_another_head_by_name(tmp_path):
    pretrained = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=7
    )
    path = str(tmp_path / "pretrained.h5")
    pretrained.save(path)  # a full legacy .h5 model, ImageNet-style head included
    student = presets.student_preset("mobilenet_v2", _images(32), weights=path)
    np.testing.assert_array_equal(_conv1(student), _conv1(pretrained))
    fresh = presets.student_preset("mobilenet_v2", _images(32))
    assert not np.allclose(_conv1(fresh), _conv1(pretrained))


def test_mobilenet_v3_loads_body_weights_h5_of_the_same_body(tmp_path):
    body = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3),
        alpha=0.75,
        include_top=False,
        weights=None,
        include_preprocessing=False,
    )
    path = str(tmp_path / "body.weights.h5")
    body.save_weights(path)
    student = presets.student_preset("mobilenet_v3_small", _images(32), weights=path)
    for layer in body.layers:
        if layer.weights:
            for want, got in zip(
                layer.get_weights(), student.get_layer(layer.name).get_weights()
            ):
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mlp", (6,)), ("mlp-small", (6,)), ("cnn-tiny", (8, 8, 1)), ("mlp", (4, 4, 1))],
)
def test_existing_presets_still_build_and_output_logits(name, shape):
    x = np.random.default_rng(0).uniform(0, 255, size=(6, *shape)).astype("float32")
    data = _bundle(x, np.arange(6) % 3, n_train=4, num_classes=3)
    student = presets.student_preset(name, data)
    assert tuple(student.output_shape) == (None, 3)
    assert student.layers[-1].name == "logits"
    assert student.predict(x, verbose=0).shape == (6, 3)


@pytest.mark.parametrize(
    ("size", "stages"), [(8, ["stage1"]), (32, ["stage1", "stage2", "stage3"])]
)
def test_resnet_teacher_downsamples_until_8_pixels(size, stages):
    teacher = presets.teacher_preset(_images(size))
    names = [layer.name for layer in teacher.layers]
    found = sorted({n.split("_")[0] for n in names if n.startswith("stage")})
    assert found == stages
    assert any(isinstance(ly, keras.layers.BatchNormalization) for ly in teacher.layers)
    assert any(isinstance(ly, keras.layers.Add) for ly in teacher.layers)
    assert teacher.layers[-1].name == "logits"
    assert tuple(teacher.get_layer("features").output.shape) == (
        None,
        16 * 2 ** (len(stages) - 1),
    )


def test_resnet_teacher_learns_upscaled_digits_in_a_few_epochs():
    x, y = digits_32x32x3()
    data = _bundle(x[:720], y[:720], n_train=320)  # 400 held out
    teacher = presets.teacher_preset(data)
    teacher.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    teacher.fit(data.train, epochs=3, verbose=0)
    accuracy = teacher.evaluate(data.test, verbose=0, return_dict=True)["accuracy"]
    print(
        f"ResNet teacher: {accuracy:.3f} after 3 epochs on 320 digits "
        f"({time.perf_counter() - start:.1f} s)"
    )
    assert accuracy > 0.5  # chance is 0.1


@pytest.mark.parametrize(
    "name",
    [
        "mobilenet_v2",
        pytest.param(
            "mobilenet_v3_small",
            marks=pytest.mark.xfail(
                _compat.LEGACY_KERAS,
                reason="tf_keras' MobileNetV3 builds hard-swish from TFOpLambda "
                "layers, which TF-MOT's quantize_model cannot clone",
                strict=True,
            ),
        ),
        "mobilenet_v3_small_minimalistic",  # no hard-swish: TF-MOT takes it
    ],
)
def test_flat_mobilenet_student_can_be_prepared_for_quantization_aware_training(
    name,
):
    from keras_distill.compress import quantize

    student = presets.student_preset(name, _images(32))
    qat = quantize(student)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    assert tuple(qat(x, training=False).shape) == (2, 3)
    convolutions = [
        layer.name
        for layer in student.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
    ]
    assert len(convolutions) > 30
    quantized = {layer.name for layer in qat.layers}
    assert {f"quant_{n}" for n in convolutions} <= quantized
