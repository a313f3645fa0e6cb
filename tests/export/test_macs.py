"""Tests for count_macs and macs_by_layer: hand-counted layers and known models.

Each expected count is written out from the layer's configuration (output
positions x output channels x inputs per output), not from kernel shapes as the
implementation does, so the two can disagree.
"""

import numpy as np
import pytest

from keras_distill._compat import keras
from keras_distill.export import count_macs
from keras_distill.export import macs_by_layer
from keras_distill.export.convert import convert_tflite
from keras_distill.export.macs import count_tflite_macs


def single_layer_macs(input_shape, layer) -> int:
    inputs = keras.Input(input_shape)
    return count_macs(keras.Model(inputs, layer(inputs)))


@pytest.mark.parametrize(
    ("input_shape", "layer", "expected"),
    [
        # Dense: in_features x units, once per position between batch and features.
        ((64,), keras.layers.Dense(32), 64 * 32),
        ((5, 8), keras.layers.Dense(4), 5 * 8 * 4),
        # Conv2D: 8x8 outputs x 4 filters x (3x3 kernel x 3 input channels).
        ((8, 8, 3), keras.layers.Conv2D(4, 3, padding="same"), 8 * 8 * 4 * 9 * 3),
        ((8, 8, 3), keras.layers.Conv2D(4, 3, strides=2), 3 * 3 * 4 * 9 * 3),
        # Grouped Conv1D: 8 outputs x 6 filters x (3 taps x 4/2 channels).
        ((10, 4), keras.layers.Conv1D(6, 3, groups=2), 8 * 6 * 3 * 2),
        # Depthwise: 4x4 outputs x (3 channels x 2 multiplier) x 3x3 taps.
        (
            (8, 8, 3),
            keras.layers.DepthwiseConv2D(
                3, strides=2, depth_multiplier=2, padding="same"
            ),
            4 * 4 * 6 * 9,
        ),
        # Separable: depthwise 8x8x3 x 3x3, then pointwise 8x8 x 3 -> 5.
        (
            (8, 8, 3),
            keras.layers.SeparableConv2D(5, 3, padding="same"),
            8 * 8 * 3 * 9 + 8 * 8 * 3 * 5,
        ),
        # Transposed: each of 4x4 inputs x 3 channels meets 3x3 taps x 4 filters.
        (
            (4, 4, 3),
            keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same"),
            4 * 4 * 3 * 9 * 4,
        ),
        # No multiply-accumulates worth counting.
        ((8, 8, 3), keras.layers.BatchNormalization(), 0),
        ((8, 8, 3), keras.layers.MaxPooling2D(), 0),
        ((8, 8, 3), keras.layers.ReLU(), 0),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, keras.layers.Layer) else None,
)
def test_single_layer_macs_match_hand_count(input_shape, layer, expected):
    assert single_layer_macs(input_shape, layer) == expected


def test_sequential_sums_its_layers():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    assert count_macs(model) == 8 * 8 * 2 * 9 + 8 * 8 * 2 * 10
    assert [(row.class_name, row.macs) for row in macs_by_layer(model)] == [
        ("Conv2D", 1152),
        ("Flatten", 0),
        ("Dense", 1280),
    ]


def test_shared_layer_counts_every_call():
    dense = keras.layers.Dense(4)
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], keras.layers.Add()([dense(a), dense(b)]))
    assert count_macs(model) == 2 * 3 * 4


def test_nested_model_is_opened_and_named_by_path():
    base = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(base(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(features))
    assert count_macs(base) > 1_000_000
    assert count_macs(model) == count_macs(base) + 1280 * 10
    names = [row.name for row in macs_by_layer(model)]
    assert f"{base.name}/Conv1" in names and names[-1] == model.layers[-1].name


class Scale(keras.layers.Layer):
    """A custom layer with weights: count_macs cannot know what it computes."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


def test_layers_with_unknown_macs_are_listed_not_counted():
    model = keras.Sequential(
        [keras.Input((4,)), Scale(name="scale"), keras.layers.Dense(2)]
    )
    rows = macs_by_layer(model)
    assert [(row.class_name, row.counted) for row in rows] == [
        ("Scale", False),
        ("Dense", True),
    ]
    assert count_macs(model) == 4 * 2


def test_free_spatial_dimensions_raise_with_the_fix():
    model = keras.Sequential(
        [keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3)], name="free"
    )
    with pytest.raises(ValueError, match="free spatial dimensions.*fixed input"):
        count_macs(model)


def test_rejects_what_is_not_a_model():
    with pytest.raises(TypeError):
        count_macs(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="`model` is required"):
        count_macs(None)


@pytest.mark.slow
def test_mobilenet_v2_matches_the_papers_300m_multiply_adds():
    # Sandler et al. 2018, Table 4 and keras.applications: 300M at 224x224, 1.0.
    model = keras.applications.MobileNetV2(
        input_shape=(224, 224, 3), alpha=1.0, include_top=True, weights=None
    )
    assert count_macs(model) == pytest.approx(300e6, rel=0.01)


@pytest.mark.slow
def test_mobilenet_v3_small_matches_the_papers_56m_multiply_adds():
    # Howard et al. 2019, Table 3: MobileNetV3-Small 1.0, 56M MAdds (the SE
    # blocks' and hard-swish's elementwise products are not MACs).
    model = keras.applications.MobileNetV3Small(
        input_shape=(224, 224, 3), include_top=True, weights=None
    )
    assert count_macs(model) == pytest.approx(56e6, rel=0.03)


def every_counted_layer_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.SeparableConv2D(6, 3, padding="same")(x)
    x = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_tflite_file_has_the_keras_models_macs(quantization):
    model = every_counted_layer_model()
    data = np.random.default_rng(0).uniform(size=(8, 8, 8, 3)).astype("float32")
    content = convert_tflite(
        model,
        quantization=quantization,
        representative_data=data if quantization == "int8" else None,
        calibration_samples=8,
    )
    expected = (
        4 * 4 * 8 * 9 * 3  # Conv2D
        + 4 * 4 * 8 * 9  # DepthwiseConv2D
        + 4 * 4 * 8 * 9
        + 4 * 4 * 8 * 6  # SeparableConv2D
        + 4 * 4 * 6 * 9 * 4  # Conv2DTranspose
        + 8 * 8 * 4 * 5  # Dense
    )
    assert count_macs(model) == expected
    assert count_tflite_macs(content) == expected


def test_tflite_macs_reject_free_dimensions_and_bad_bytes():
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.Conv1D(2, 1)])
    with pytest.raises(ValueError, match="free dimensions"):
        count_tflite_macs(convert_tflite(model))
    with pytest.raises(ValueError, match="not a valid .tflite"):
        count_tflite_macs(b"not a flatbuffer")


def test_quantization_aware_model_has_the_plain_models_macs():
    """Either engine's QAT layers (TF-MOT wrappers, our FusedQuantize) are opened."""
    from keras_distill.compress import quantize

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)  # folded into the conv by our engine
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(5)(x))
    expected = 8 * 8 * 4 * 9 * 3 + 8 * 8 * 4 * 5
    assert count_macs(model) == expected
    qat = quantize(model)
    assert count_macs(qat) == expected
    assert all(row.counted for row in macs_by_layer(qat))
