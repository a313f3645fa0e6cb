"""Teacher and student models for the demo, chosen by the shape of the data.

Every preset takes raw examples: it starts with the dataset's own normalization
layer (`DataBundle.preprocessing_layer()`: standardization for MNIST-1D,
rescaling for pixels), so the exported `.tflite` file reads what the app has
(sensor values, pixel values) and no preprocessing is needed outside the model.
Every preset outputs logits (layer "logits"), and students are Functional
(TF-MOT prunes and quantizes them). Feature layers have stable names for feature
distillation: the teacher's "features" (its last hidden representation), the
MLP student's "hidden1"/"hidden2", the CNN student's "features".

- Vectors (MNIST-1D: 40 values): the teacher is a small 1-D CNN (three
  convolutions of 64 channels), the default student an MLP with two hidden
  layers of 100 units (the MNIST-1D paper's MLP, about 68 % when trained on
  labels alone).
- Images `(height, width, channels)`: a small Conv2D teacher and a tiny Conv2D
  student, both ending in global average pooling so any image size works.
"""

from keras_distill._compat import keras

STUDENT_PRESETS = ("mlp", "mlp-small", "cnn-tiny")


def _is_image(input_shape) -> bool:
    return len(input_shape) == 3


def _body_input(data):
    inputs = keras.Input(shape=tuple(data.input_shape), name="input")
    return inputs, data.preprocessing_layer(name="normalization")(inputs)


def teacher_preset(data) -> "keras.Model":
    """The default teacher for data of `input_shape`.

    Args:
        data: `keras_distill.data.DataBundle`, the dataset (its input shape,
            classes and normalization).

    Returns:
        An uncompiled Functional model named "teacher" that outputs logits.
    """
    input_shape = tuple(data.input_shape)
    inputs, x = _body_input(data)
    if _is_image(input_shape):
        for filters in (32, 64):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = keras.layers.MaxPooling2D(padding="same")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(128, activation="relu", name="features")(x)
    elif len(input_shape) == 1:
        # Three 1-D convolutions over the signal (64 channels, kernel 5).
        x = keras.layers.Reshape((input_shape[0], 1))(x)
        for i, strides in enumerate((1, 2, 2), start=1):
            x = keras.layers.Conv1D(
                64,
                5,
                strides=strides,
                padding="same",
                activation="relu",
                name=f"conv{i}",
            )(x)
        x = keras.layers.Flatten(name="features")(x)
    else:
        raise ValueError(
            f"No teacher preset for examples of shape {tuple(input_shape)}: presets "
            "cover vectors (features,) and images (height, width, channels). Pass "
            "your own teacher with --teacher model.keras."
        )
    outputs = keras.layers.Dense(data.num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="teacher")


def default_student_preset(input_shape) -> str:
    """The student preset the demo uses for data of `input_shape`."""
    return "cnn-tiny" if _is_image(input_shape) else "mlp"


def student_preset(name: str, data) -> "keras.Model":
    """A student model by preset name.

    Args:
        name: str, one of `STUDENT_PRESETS`: `"mlp"` (two hidden layers of 100
            units), `"mlp-small"` (one of 32), `"cnn-tiny"` (two small Conv2D
            layers, for images; vectors are reshaped to 1-D and flattened).
        data: `keras_distill.data.DataBundle`, the dataset (its input shape,
            classes and normalization).

    Returns:
        An uncompiled Functional model named "student" that outputs logits.

    Raises:
        ValueError: an unknown preset name, or "cnn-tiny" on vectors.
    """
    if name not in STUDENT_PRESETS:
        raise ValueError(
            f"Unknown student preset {name!r}. Choose one of {STUDENT_PRESETS}, or "
            "pass a .keras file."
        )
    input_shape = tuple(data.input_shape)
    inputs, x = _body_input(data)
    if name == "cnn-tiny":
        if not _is_image(input_shape):
            raise ValueError(
                f"Student preset 'cnn-tiny' is for images (height, width, channels); "
                f"these examples have shape {tuple(input_shape)}. Use 'mlp'."
            )
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    else:
        if len(input_shape) != 1:
            x = keras.layers.Flatten()(x)
        widths = (100, 100) if name == "mlp" else (32,)
        for i, units in enumerate(widths, start=1):
            x = keras.layers.Dense(units, activation="relu", name=f"hidden{i}")(x)
    outputs = keras.layers.Dense(data.num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="student")
