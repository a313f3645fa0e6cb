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
  convolutions of 64 channels; on a signal such as MNIST-1D it trains with
  random shifts and noise, `DemoMethod.teacher_augmentation`), the default
  student an MLP with two hidden
  layers of 100 units (the MNIST-1D paper's MLP, about 68 % when trained on
  labels alone).
- Images `(height, width, channels)`: a ResNet-style teacher (batch-normalized
  residual blocks, as many stride-2 stages as the image size allows) and a tiny
  Conv2D student, both ending in global average pooling so any image size
  works. The students deployed on phones in practice are also here:
  `"mobilenet_v2"`, `"mobilenet_v3_small"` and its minimalistic
  `"mobilenet_v3_small_minimalistic"` from `keras.applications`, at the
  data's resolution, built flat (their layers are the student's own layers, so
  pruning and quantization-aware training can rewrite them).
- Vectors read as sequences (MNIST-1D as 40 steps of one value): `"cnn1d"`,
  `"gru"`, `"lstm"` and `"transformer"` students, about as large as the MLP
  (`keras_distill.demo.sequence_students`).
- Audio waveforms (`DataBundle.sample_rate` set; Keras 3 only): log-mel
  features inside the model, a ResNet-style teacher on them, and the `"ds-cnn"`
  (default) and `"gru"` students (`keras_distill.demo.speech_presets`).
- Text token ids (`DataBundle.tokenizer` set): a Transformer-encoder teacher,
  and the `"transformer"` (default) and `"cnn1d"` students
  (`keras_distill.demo.text_presets`).

The names `"cnn1d"`, `"gru"` and `"transformer"` build the student of the
data's modality; `presets_for(modality)` lists the names each modality takes.
"""

import os

from keras_distill._compat import keras
from keras_distill.data.data_bundle import DataBundle
from keras_distill.demo import speech_presets
from keras_distill.demo import text_presets
from keras_distill.demo.sequence_students import SEQUENCE_PRESETS
from keras_distill.demo.sequence_students import sequence_student

STUDENT_PRESETS = (
    "mlp",
    "mlp-small",
    "cnn-tiny",
    *SEQUENCE_PRESETS,
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_small_minimalistic",
    "ds-cnn",
)

# keras.applications students: the constructor, the default width multiplier
# (the narrowest Keras publishes ImageNet weights for), the smallest
# height/width, and the constructor's other arguments. MobileNetV3 refuses
# images below 32x32; MobileNetV2 declares 32 as its minimum too (it only checks
# it when given `input_shape`). The minimalistic MobileNetV3 (Keras's
# `minimalistic=True`: MobileNetV3's layer sizes without squeeze-and-excite,
# hard-swish or 5x5 kernels) keeps only layers int8 kernels run fast: its int8
# file was the fastest preset on this project's CPU (docs/export.md).
_BN_MOMENTUM = 0.9  # of every BatchNormalization in the image presets

_MODALITY_PRESETS = {
    "vector": ("mlp", "mlp-small", *SEQUENCE_PRESETS),
    "image": (
        "mlp",
        "mlp-small",
        "cnn-tiny",
        "mobilenet_v2",
        "mobilenet_v3_small",
        "mobilenet_v3_small_minimalistic",
    ),
    "audio": speech_presets.SPEECH_PRESETS,
    "text": text_presets.TEXT_PRESETS,
}

_APPLICATIONS = {
    "mobilenet_v2": ("MobileNetV2", 0.35, 32, {}),
    "mobilenet_v3_small": ("MobileNetV3Small", 0.75, 32, {}),
    "mobilenet_v3_small_minimalistic": (
        "MobileNetV3Small",
        1.0,
        32,
        {"minimalistic": True},
    ),
}


def presets_for(modality: str) -> tuple:
    """The student preset names that fit data of `modality`.

    Args:
        modality: str, `DataBundle.modality`: `"vector"`, `"image"`, `"audio"`
            or `"text"`.

    Returns:
        A tuple of names from `STUDENT_PRESETS`.

    Raises:
        ValueError: an unknown modality.
    """
    if modality not in _MODALITY_PRESETS:
        raise ValueError(
            f"Unknown modality {modality!r}: choose one of {tuple(_MODALITY_PRESETS)}."
        )
    return _MODALITY_PRESETS[modality]


def _is_image(input_shape) -> bool:
    return len(input_shape) == 3


def _body_input(data):
    inputs = keras.Input(shape=tuple(data.input_shape), name="input")
    return inputs, data.preprocessing_layer(name="normalization")(inputs)


def teacher_preset(data) -> "keras.Model":
    """The default teacher for data of `input_shape`.

    For audio waveforms, log-mel features and the same ResNet-style CNN on
    them (`speech_presets.speech_teacher`); for text token ids, a Transformer
    encoder (`text_presets.text_teacher`). For images, a ResNet-style CNN (He
    et al. 2016) sized to the data: a 3x3
    stem of 16 channels, then stages of two residual blocks (3x3 convolutions
    with batch normalization, momentum 0.9 so the moving statistics settle in
    the few hundred steps of a small dataset), doubling the channels (16, 32,
    64, 128: the widths of the CIFAR ResNets, cheap enough to train on a CPU)
    and halving the resolution at each stage until the feature map is
    at most 8 pixels high or wide; images of 64 pixels or more first go through
    a stride-2 stem and max pooling, as in ResNet. Global average pooling gives
    the "features". Batch normalization and the skip connections are what let
    it train with Adam at 3e-3 where the plain CNN before it stayed at chance.

    Args:
        data: `keras_distill.data.DataBundle`, the dataset (its input shape,
            classes and normalization).

    Returns:
        An uncompiled Functional model named "teacher" that outputs logits.

    Raises:
        ValueError: for examples that are neither vectors, images, audio nor
            text; for audio on tf_keras (the log-mel layer needs Keras 3).

    Example:
    ```python
    teacher = teacher_preset(keras_distill.data.load_dataset("digits"))
    ```
    """
    if data.modality == "audio":
        return speech_presets.speech_teacher(data, _resnet_body)
    if data.modality == "text":
        return text_presets.text_teacher(data)
    input_shape = tuple(data.input_shape)
    inputs, x = _body_input(data)
    if _is_image(input_shape):
        x = _resnet_body(x, input_shape)
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


def _conv_bn(x, filters, strides, name, relu=True):
    x = keras.layers.Conv2D(
        filters,
        3,
        strides=strides,
        padding="same",
        use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual_block(x, filters, strides, name):
    """Two 3x3 convolutions and a skip connection (a 1x1 projection when the
    shape changes), as in ResNet-18/34."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(
            filters, 1, strides=strides, use_bias=False, name=f"{name}_proj_conv"
        )(x)
        shortcut = keras.layers.BatchNormalization(
            momentum=_BN_MOMENTUM, name=f"{name}_proj_bn"
        )(shortcut)
    x = _conv_bn(x, filters, strides, f"{name}_a")
    x = _conv_bn(x, filters, 1, f"{name}_b", relu=False)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def _resnet_body(x, input_shape):
    """The ResNet-style teacher's body, from normalized images to "features"."""
    side = min(input_shape[0], input_shape[1])
    if side >= 64:
        x = keras.layers.Conv2D(
            16, 7, strides=2, padding="same", use_bias=False, name="stem_conv"
        )(x)
        x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name="stem_bn")(x)
        x = keras.layers.ReLU(name="stem_relu")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)
        side = -(-side // 4)
    else:
        x = _conv_bn(x, 16, 1, "stem")
    for stage, filters in enumerate((16, 32, 64, 128), start=1):
        strides = 1 if stage == 1 else 2
        if stage > 1 and side <= 8:
            break
        side = -(-side // strides)
        for block in (1, 2):
            x = _residual_block(
                x, filters, strides if block == 1 else 1, f"stage{stage}_block{block}"
            )
    return keras.layers.GlobalAveragePooling2D(name="features")(x)


def is_mobile_sized(input_shape) -> bool:
    """Whether the examples are images the MobileNet presets take (>= 32x32)."""
    smallest = min(minimum for _, _, minimum, _ in _APPLICATIONS.values())
    return _is_image(input_shape) and min(input_shape[:2]) >= smallest


def default_student_preset(data) -> str:
    """The student preset the demo uses for `data`.

    "ds-cnn" for audio, "transformer" for text, "mlp" for vectors; for
    images, "mobilenet_v3_small_minimalistic" (a MobileNet as Android apps
    ship them, the variant whose int8 file ran fastest here) from its
    smallest size (32x32) up, and "cnn-tiny" below it. On the 32x32 colour
    digits of `benchmarks/images.py` it beat width-0.35 MobileNetV2, with
    about as many parameters, on distilled accuracy and on int8 latency
    (docs/images.md, docs/export.md).

    Args:
        data: `keras_distill.data.DataBundle`, or the shape of one example
            (a tuple, read as vectors or images: audio and text need the
            DataBundle).

    Returns:
        str, a name from `presets_for(data.modality)`.
    """
    if isinstance(data, DataBundle):
        if data.modality == "audio":
            return "ds-cnn"
        if data.modality == "text":
            return "transformer"
        input_shape = tuple(data.input_shape)
    else:
        input_shape = tuple(data)
    if not _is_image(input_shape):
        return "mlp"
    if is_mobile_sized(input_shape):
        return "mobilenet_v3_small_minimalistic"
    return "cnn-tiny"


def student_preset(
    name: str, data, *, alpha: "float | None" = None, weights=None
) -> "keras.Model":
    """A student model by preset name.

    Args:
        name: str, one of `STUDENT_PRESETS`: `"mlp"` (two hidden layers of 100
            units), `"mlp-small"` (one of 32), `"cnn-tiny"` (two small Conv2D
            layers, for images; vectors are reshaped to 1-D and flattened),
            `"cnn1d"`, `"gru"`, `"lstm"`, `"transformer"` (vectors read as
            sequences of one feature, see `sequence_students`),
            `"mobilenet_v2"`, `"mobilenet_v3_small"` or
            `"mobilenet_v3_small_minimalistic"` (see `application_student`,
            images of at least 32x32), `"ds-cnn"` (audio). For audio, `"gru"`
            and `"ds-cnn"` build `speech_presets.speech_student`; for text,
            `"transformer"` and `"cnn1d"` build `text_presets.text_student`.
        data: `keras_distill.data.DataBundle`, the dataset (its input shape,
            classes and normalization).
        alpha: float, the MobileNets' width multiplier; only for those presets.
            Defaults to None (0.35 for MobileNetV2, 0.75 for MobileNetV3Small,
            1.0 for its minimalistic variant).
        weights: path of a local weights file for the MobileNets' body; only for
            those presets. Defaults to None (random initialization).

    Returns:
        An uncompiled Functional model named "student" that outputs logits.

    Raises:
        ValueError: an unknown preset name, a preset that does not fit the
            data's modality (the message names those that do), audio on
            tf_keras, "cnn-tiny" or a MobileNet on vectors,
            a sequence student on images, images too small for a MobileNet, or
            `alpha`/`weights` for a preset without them.

    Example:
    ```python
    import tempfile

    from keras_distill.data import load_dataset
    from keras_distill.data import make_digits_image_folder

    folder = make_digits_image_folder(f"{tempfile.mkdtemp()}/d", n_per_class=10)
    data = load_dataset(str(folder), image_size=32)  # 32x32 RGB digits
    student = student_preset("mobilenet_v2", data, alpha=0.35)
    ```
    """
    if name not in STUDENT_PRESETS:
        raise ValueError(
            f"Unknown student preset {name!r}. Choose one of {STUDENT_PRESETS}, or "
            "pass a .keras file."
        )
    modality = data.modality
    if modality in ("audio", "text"):
        if name not in presets_for(modality):
            raise ValueError(
                f"Student preset {name!r} does not fit {modality} examples; for "
                f"{modality} choose one of {presets_for(modality)}, or pass a "
                ".keras file."
            )
    elif name not in presets_for("vector") + presets_for("image"):
        # Names only audio or text take; vectors and images keep their
        # preset-specific messages (e.g. 'cnn-tiny' on vectors).
        raise ValueError(
            f"Student preset {name!r} is for audio waveforms; these are "
            f"{modality} examples, for which the presets are "
            f"{presets_for(modality)}."
        )
    if name in _APPLICATIONS:
        return application_student(name, data, alpha=alpha, weights=weights)
    if alpha is not None or weights is not None:
        raise ValueError(
            f"Student preset {name!r} has no width multiplier or pretrained "
            f"weights (got alpha={alpha!r}, weights={weights!r}); they are for "
            f"{tuple(_APPLICATIONS)}."
        )
    if modality == "audio":
        return speech_presets.speech_student(name, data)
    if modality == "text":
        return text_presets.text_student(name, data)
    input_shape = tuple(data.input_shape)
    inputs, x = _body_input(data)
    if name in SEQUENCE_PRESETS:
        return sequence_student(name, data, inputs, x)
    if name == "cnn-tiny":
        if not _is_image(input_shape):
            raise ValueError(
                f"Student preset 'cnn-tiny' is for images (height, width, channels); "
                f"these examples have shape {tuple(input_shape)}. Use 'mlp' or "
                "'cnn1d'."
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


def application_student(
    name: str, data, *, alpha: "float | None" = None, weights=None
) -> "keras.Model":
    """A MobileNet student from `keras.applications`, flat and ending in logits.

    The students people ship on Android, at the data's resolution: the
    application without its ImageNet head (`include_top=False`), then global
    average pooling ("features") and `Dense(num_classes, name="logits")`, no
    softmax. It reads raw pixels: the dataset's own normalization layer comes
    first (`DataBundle.preprocessing_layer()`, for images `x / 255`), and
    MobileNetV3's built-in `include_preprocessing` is turned off so nothing is
    scaled twice.

    The application is called on the normalized tensor (`input_tensor=`), so
    its Conv2D, DepthwiseConv2D and BatchNormalization layers are layers of the
    student itself, not of a nested Model: TF-MOT's quantization-aware training
    and pruning can only rewrite layers of the model they are given. Under
    tf_keras, `keras_distill.compress.quantize` prepares `"mobilenet_v2"` for
    QAT, but not `"mobilenet_v3_small"`: tf_keras builds its hard-swish from
    TF-op layers (`TFOpLambda`) that TF-MOT cannot clone.

    Batch normalization uses momentum 0.9 instead of keras.applications' 0.999,
    as in the ResNet teacher preset: small datasets train for a few hundred
    steps, after which 0.999 leaves the moving statistics near their initial
    values and inference far from training.

    Args:
        name: str, `"mobilenet_v2"`, `"mobilenet_v3_small"` or
            `"mobilenet_v3_small_minimalistic"` (MobileNetV3Small without
            squeeze-and-excite and hard-swish, `minimalistic=True`: its int8
            file ran at 0.53-0.55x the float file's latency on this project's
            CPU, where width-0.35 MobileNetV2 ran at 0.63-0.89x;
            docs/export.md).
        data: `keras_distill.data.DataBundle` of images, at least 32x32 pixels
            (MobileNetV3 refuses less and Keras declares 32 as MobileNetV2's
            minimum).
        alpha: float > 0, the width multiplier (channels scaled by alpha).
            Defaults to None (0.35 for MobileNetV2, 0.75 for MobileNetV3Small,
            1.0 for the minimalistic one: the narrowest widths Keras publishes
            ImageNet weights for).
        weights: str or os.PathLike, a local weights file for the body (nothing
            is downloaded), loaded into the headless application before the new
            head exists, so the head never has to match. A legacy `.h5` file,
            such as Keras's own `mobilenet_v2_weights_..._0.35_224_no_top.h5`
            or a full model saved as `.h5`, is loaded `by_name=True`: layers
            are matched by name and layers in the file but not in the body (an
            ImageNet head) are ignored. A `.weights.h5` or `.keras` file must come
            from the same body (same preset and alpha, `include_top=False`) and
            is loaded with `skip_mismatch=True`: variables of another shape are
            skipped with a warning. Width (`alpha`) must match the file. The
            ImageNet MobileNets were trained on pixels scaled to [-1, 1]; to
            fine-tune them, load the data with
            `InputNormalization.rescale(1 / 127.5, offset=-1)`.
            Defaults to None (random initialization, `weights=None`).

    Returns:
        An uncompiled Functional model named "student" that outputs logits.

    Raises:
        ValueError: for an unknown name, data that are not images, images
            smaller than the preset's smallest size, or an alpha <= 0.
        FileNotFoundError: for a `weights` path that does not exist.

    Example:
    ```python
    import tempfile

    from keras_distill.data import load_dataset
    from keras_distill.data import make_digits_image_folder

    folder = make_digits_image_folder(f"{tempfile.mkdtemp()}/d", n_per_class=10)
    data = load_dataset(str(folder), image_size=32)  # 32x32 RGB digits
    student = application_student("mobilenet_v2", data, alpha=0.35)
    assert any(isinstance(layer, keras.layers.DepthwiseConv2D)
               for layer in student.layers)
    ```
    """
    if name not in _APPLICATIONS:
        raise ValueError(
            f"Unknown application student {name!r}: choose one of "
            f"{tuple(_APPLICATIONS)}."
        )
    constructor, default_alpha, min_size, options = _APPLICATIONS[name]
    input_shape = tuple(data.input_shape)
    if not _is_image(input_shape):
        raise ValueError(
            f"Student preset {name!r} is for images (height, width, channels); "
            f"these examples have shape {input_shape}. Use 'mlp'."
        )
    if min(input_shape[:2]) < min_size:
        raise ValueError(
            f"Student preset {name!r} needs images of at least {min_size}x"
            f"{min_size} pixels; these are {input_shape[0]}x{input_shape[1]}. "
            "Resize the images (e.g. load them with a larger image size) or use "
            "'cnn-tiny'."
        )
    alpha = default_alpha if alpha is None else alpha
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ValueError(
            f"`alpha` (width multiplier) must be a number > 0, got {alpha!r}; "
            f"{default_alpha} is the narrowest with published ImageNet weights."
        )
    if weights is not None and not os.path.isfile(weights):
        raise FileNotFoundError(
            f"Weights file {os.fspath(weights)!r} for the {name!r} student does "
            "not exist. Pass the path of a local .h5, .weights.h5 or .keras file "
            "(nothing is downloaded)."
        )
    inputs, x = _body_input(data)
    if "V3" in constructor:
        options = {**options, "include_preprocessing": False}
    body = getattr(keras.applications, constructor)(
        input_tensor=x,
        include_top=False,
        weights=None,
        alpha=float(alpha),
        **options,
    )
    for layer in body.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # keras.applications uses 0.999, fit for
            # ImageNet's million steps; after the few hundred steps of a small
            # dataset the moving statistics would still be at their initial
            # values and inference would drift far from training.
            layer.momentum = _BN_MOMENTUM
    if weights is not None:
        _load_body_weights(body, os.fspath(weights))
    x = keras.layers.GlobalAveragePooling2D(name="features")(body.output)
    outputs = keras.layers.Dense(data.num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="student")


def _load_body_weights(body, path: str) -> None:
    """Loads `path` into the headless application `body` (see
    `application_student`)."""
    lower = path.lower()
    legacy_h5 = lower.endswith((".h5", ".hdf5")) and not lower.endswith(".weights.h5")
    if legacy_h5:
        body.load_weights(path, by_name=True)
    else:
        body.load_weights(path, skip_mismatch=True)
