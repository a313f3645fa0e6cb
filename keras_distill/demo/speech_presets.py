"""Keyword-spotting teacher and students that read raw waveforms.

Audio examples are float32 waveforms `(samples,)` in [-1, 1] at
`DataBundle.sample_rate` (Speech Commands: 16 kHz, 1 s = 16,000 samples). The
front end is a layer of every model, so the exported `.tflite` file takes the
waveform `[1, samples]` that an Android app reads from `AudioRecord` and needs
no feature code of its own:

1. the dataset's normalization layer (`DataBundle.preprocessing_layer()`);
2. log-mel features ("log_mel", `keras.layers.MelSpectrogram`) with Hello
   Edge's framing (Zhang et al. 2017, "Hello Edge: Keyword Spotting on
   Microcontrollers"): 40 ms Hann windows every 20 ms, 40 mel bins, in decibels
   (`10 log10(max(power, 1e-10))`). Keras centres the frames (the waveform is
   padded by half an FFT on each side), so 1 s gives 51 frames, not Hello
   Edge's 49. The converter turns it into builtin LiteRT ops (MIRROR_PAD,
   GATHER for the frames, RFFT2D, REAL, IMAG, FULLY_CONNECTED for the mel
   filters, LOG, ...) that stay float in an int8 file (28 ops; the mel matrix
   and window, about 85 kB of float32 constants, are most of a small student's
   file);
3. "time_major": the (mels, frames) output transposed to (frames, mels);
4. "log_mel_scale": a fixed rescaling of the decibels, `dB / 40 + 1` (silence,
   -100 dB, becomes -1.5; a loud frame, +40 dB, becomes 2), so training starts
   on values of order one. Fixed constants, not a BatchNormalization: a
   BatchNormalization without a Conv before it cannot be folded by the Keras 3
   QAT engine.

`keras.layers.MelSpectrogram` exists in Keras 3 only, so on tf_keras these
presets raise a ValueError that says to run on Keras 3.

Models:
- teacher: the ResNet-style body of `presets` (batch-normalized residual
  blocks) on the log-mel "image" `(frames, mels, 1)`;
- `"ds-cnn"` (the default student): Hello Edge's DS-CNN-S, a 10x4 stride-2
  convolution of 64 filters, then four depthwise-separable blocks of 64 (3x3
  depthwise, 1x1 pointwise, each with BatchNormalization and ReLU), global
  average pooling ("features");
- `"gru"`: one GRU of `GRU_UNITS` over the frames (its last state is the
  "features"); the exporter unrolls it.
"""

from keras_distill import _compat
from keras_distill._compat import keras

SPEECH_PRESETS = ("ds-cnn", "gru")

WINDOW_SECONDS = 0.040
STRIDE_SECONDS = 0.020
MEL_BINS = 40
MIN_POWER = 1e-10
# MelSpectrogram clips each batch at (its largest value - top_db); with
# MIN_POWER's floor of -100 dB and float32 audio in [-1, 1] (at most about
# +60 dB per bin), 200 dB never clips: the features of an example do not
# depend on the rest of its batch.
_TOP_DB = 200.0
DB_SCALE = 1 / 40
DB_OFFSET = 1.0

DS_CNN_FILTERS = 64
DS_CNN_BLOCKS = 4
GRU_UNITS = 64
_BN_MOMENTUM = 0.9


def check_audio(data, what: str) -> None:
    """Raises a ValueError if `data` is not audio or Keras is tf_keras."""
    if data.modality != "audio":
        raise ValueError(
            f"{what} reads audio waveforms (a DataBundle with `sample_rate`); "
            f"these examples are {data.modality} of shape {tuple(data.input_shape)}."
        )
    if _compat.LEGACY_KERAS:
        raise ValueError(
            f"{what} computes log-mel features with keras.layers.MelSpectrogram, "
            "which exists in Keras 3 only, but keras_distill is running on "
            "tf_keras (TF_USE_LEGACY_KERAS=1). Unset TF_USE_LEGACY_KERAS to use "
            "Keras 3, or pass your own model as a .keras file."
        )
    if len(tuple(data.input_shape)) != 1:
        raise ValueError(
            f"{what} reads waveforms of shape (samples,); these examples have "
            f"shape {tuple(data.input_shape)}."
        )
    window = _window(data.sample_rate)
    if data.input_shape[0] < window:
        raise ValueError(
            f"{what} frames the waveform in windows of {window} samples "
            f"({WINDOW_SECONDS * 1000:g} ms at {data.sample_rate} Hz); these clips "
            f"have {data.input_shape[0]} samples. Load longer clips."
        )


def _window(sample_rate: int) -> int:
    return int(round(WINDOW_SECONDS * sample_rate))


def log_mel_input(data):
    """The model input and its scaled log-mel features `(frames, mels)`.

    Args:
        data: `keras_distill.data.DataBundle` of waveforms (`sample_rate` set).

    Returns:
        `(inputs, features)`: the `keras.Input` of shape `(samples,)` and the
        scaled log-mel tensor of shape `(batch, frames, MEL_BINS)`.
    """
    inputs = keras.Input(shape=tuple(data.input_shape), name="input")
    x = data.preprocessing_layer(name="normalization")(inputs)
    window = _window(data.sample_rate)
    x = keras.layers.MelSpectrogram(
        fft_length=1 << (window - 1).bit_length(),
        sequence_stride=int(round(STRIDE_SECONDS * data.sample_rate)),
        sequence_length=window,
        sampling_rate=data.sample_rate,
        num_mel_bins=MEL_BINS,
        power_to_db=True,
        top_db=_TOP_DB,
        min_power=MIN_POWER,
        name="log_mel",
    )(x)
    x = keras.layers.Permute((2, 1), name="time_major")(x)
    x = keras.layers.Rescaling(DB_SCALE, offset=DB_OFFSET, name="log_mel_scale")(x)
    return inputs, x


def speech_teacher(data, resnet_body) -> "keras.Model":
    """The keyword-spotting teacher: log-mel front end and a ResNet-style CNN.

    Args:
        data: `keras_distill.data.DataBundle` of waveforms.
        resnet_body: `presets._resnet_body`, from a normalized image and its
            shape to the pooled "features".

    Returns:
        An uncompiled Functional model named "teacher" that outputs logits.

    Raises:
        ValueError: data that are not waveforms, clips shorter than one window,
            or tf_keras (no MelSpectrogram).
    """
    check_audio(data, "The speech teacher preset")
    inputs, x = log_mel_input(data)
    frames, mels = x.shape[1], x.shape[2]
    x = keras.layers.Reshape((frames, mels, 1), name="as_image")(x)
    x = resnet_body(x, (frames, mels, 1))
    outputs = keras.layers.Dense(data.num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="teacher")


def speech_student(name: str, data) -> "keras.Model":
    """A keyword-spotting student on raw waveforms: `"ds-cnn"` or `"gru"`.

    Args:
        name: str, `"ds-cnn"` (Hello Edge's DS-CNN-S, Zhang et al. 2017:
            24,332 parameters and 11.0 M MACs for 12 classes and 1 s clips) or
            `"gru"` (a GRU of 64 units over the log-mel frames: 21,132
            parameters for 12 classes; in an int8 file the unrolled GRU still
            computes in float, see `TFLiteReport.float_ops`).
        data: `keras_distill.data.DataBundle` of waveforms (`sample_rate` set).

    Returns:
        An uncompiled Functional model named "student" that outputs logits.

    Raises:
        ValueError: a name not in `SPEECH_PRESETS` (the message names those that
            are), data that are not waveforms, clips shorter than one window, or
            tf_keras (no MelSpectrogram).

    Example:
    ```python
    # doctest: +SKIP (Keras 3 only, and it needs a folder of WAV clips)
    from keras_distill.data import load_audio_folder

    data = load_audio_folder("speech_commands")  # word folders of .wav clips
    student = speech_student("ds-cnn", data)  # takes (16000,) waveforms
    ```
    """
    if name not in SPEECH_PRESETS:
        raise ValueError(
            f"Student preset {name!r} does not read audio; for waveforms choose "
            f"one of {SPEECH_PRESETS}, or pass a .keras file."
        )
    check_audio(data, f"Student preset {name!r}")
    inputs, x = log_mel_input(data)
    if name == "gru":
        x = keras.layers.GRU(GRU_UNITS, name="gru")(x)
        x = keras.layers.Identity(name="features")(x)
    else:
        x = _ds_cnn_body(x)
    outputs = keras.layers.Dense(data.num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="student")


def _conv_bn_relu(layer, x, name):
    x = layer(x)
    x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _ds_cnn_body(x):
    """DS-CNN-S (Hello Edge, Table 2) from log-mel `(frames, mels)` to
    "features"."""
    x = keras.layers.Reshape((x.shape[1], x.shape[2], 1), name="as_image")(x)
    x = _conv_bn_relu(
        keras.layers.Conv2D(
            DS_CNN_FILTERS,
            (10, 4),
            strides=2,
            padding="same",
            use_bias=False,
            name="conv",
        ),
        x,
        "conv",
    )
    for block in range(1, DS_CNN_BLOCKS + 1):
        name = f"ds{block}"
        x = _conv_bn_relu(
            keras.layers.DepthwiseConv2D(
                3, padding="same", use_bias=False, name=f"{name}_depthwise"
            ),
            x,
            f"{name}_depthwise",
        )
        x = _conv_bn_relu(
            keras.layers.Conv2D(
                DS_CNN_FILTERS, 1, use_bias=False, name=f"{name}_pointwise"
            ),
            x,
            f"{name}_pointwise",
        )
    return keras.layers.GlobalAveragePooling2D(name="features")(x)
