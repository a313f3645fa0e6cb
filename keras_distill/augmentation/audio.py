"""Waveform augmentations for keyword spotting, as Keras layers for both flavours.

The Distiller applies them to each training batch of waveforms `(batch,
samples)` (float32 in [-1, 1], as `DataBundle`s with a `sample_rate` hold) and
feeds the same augmented clips to teacher and student. They follow the training
of the Speech Commands models (Warden 2018) and Hello Edge (Zhang et al. 2017):
random time shifts, background noise, and SpecAugment's masks (Park et al.
2019). Each is active only with `training=True`; randomness comes from
`tf.random` ops, seeded by `keras.utils.set_random_seed`, as in
`RandomResizedCrop`.
"""

import math

import numpy as np
import tensorflow as tf

from keras_distill._compat import keras
from keras_distill._numbers import check_int
from keras_distill._numbers import check_real


def _waveforms(layer, inputs):
    """`inputs` as a float32 tensor `(batch, samples)`, or a clear error."""
    if not tf.is_tensor(inputs) and len(tf.nest.flatten(inputs)) != 1:
        raise ValueError(
            f"{type(layer).__name__} augments one batch of waveforms (batch, "
            "samples); got nested inputs. Apply it to the waveform input only."
        )
    x = tf.convert_to_tensor(tf.nest.flatten(inputs)[0])
    if len(x.shape) != 2:
        raise ValueError(
            f"{type(layer).__name__} augments waveforms (batch, samples); got "
            f"inputs of shape {tuple(x.shape)}. Reshape mono clips to (batch, "
            "samples) before the augmentation (a Reshape inside the model can add "
            "a channel axis afterwards)."
        )
    if not x.dtype.is_floating:
        raise TypeError(
            f"{type(layer).__name__} augments float waveforms in [-1, 1]; got "
            f"{x.dtype.name} inputs. Convert 16-bit PCM with "
            "`x.astype('float32') / 32768`."
        )
    return tf.cast(x, tf.float32)


def _count(share: float, length) -> tf.Tensor:
    """floor(share * length) as an int32 scalar; exact for shares like 0.1."""
    if isinstance(length, int):
        return tf.constant(math.floor(share * length + 1e-9), tf.int32)
    product = share * tf.cast(length, tf.float64) + 1e-9
    return tf.cast(tf.floor(product), tf.int32)


def _spans(batch, length, count: int, max_width) -> tf.Tensor:
    """A bool mask `(batch, length)`: the union of `count` random spans per row.

    Each span has a width uniform in {0, ..., max_width} (capped at `length`) and
    a start uniform among the places where it fits, as SpecAugment draws its
    masks.
    """
    max_width = tf.minimum(max_width, length)
    widths = tf.random.uniform([batch, count], 0, max_width + 1, dtype=tf.int32)
    # Per-span ranges: integer uniform needs scalar bounds, so scale a float.
    room = tf.cast(length - widths + 1, tf.float32)
    starts = tf.cast(tf.floor(tf.random.uniform([batch, count]) * room), tf.int32)
    starts = tf.minimum(starts, length - widths)
    positions = tf.range(length)[None, None, :]
    inside = (positions >= starts[..., None]) & (
        positions < (starts + widths)[..., None]
    )
    return tf.reduce_any(inside, axis=1)


@keras.saving.register_keras_serializable(package="keras_distill")
class TimeShift(keras.layers.Layer):
    """Shifts each clip in time by a random number of samples, filling with zeros.

    Each clip of the batch gets its own shift `s`, an integer uniform in
    `[-floor(max_shift * samples), floor(max_shift * samples)]`: the output is
    `y[t] = x[t - s]` where `0 <= t - s < samples`, else 0 (a positive shift
    delays the word). This is Speech Commands' `time_shift_ms` (100 ms of a 1 s
    clip is `max_shift=0.1`), so a keyword spotter does not rely on where the
    word sits in the window.

    Active only with `training=True`: the Distiller calls augmentation layers
    that way in `train_step` and never in `evaluate`.

    Args:
        max_shift: float in [0, 1), the largest shift as a share of the clip's
            length. Defaults to 0.1.
        **kwargs: passed to `keras.layers.Layer` (`name`, ...).

    Returns:
        Called on waveforms `(batch, samples)`: waveforms of the same shape in
        the layer's dtype (float32 by default, as Keras layers cast float
        inputs; the arithmetic is float32 under mixed precision too).

    Raises:
        TypeError: if `max_shift` is not a number; when called, for integer
            inputs.
        ValueError: if `max_shift` is outside [0, 1); when called, for inputs
            that are not `(batch, samples)`.

    Example:
    ```python
    waveforms = np.random.uniform(-0.5, 0.5, (4, 16000)).astype("float32")
    shifted = keras_distill.augmentation.TimeShift(0.1)(waveforms, training=True)
    ```
    """

    def __init__(self, max_shift: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.max_shift = check_real(
            "max_shift",
            max_shift,
            low=0.0,
            high=1.0,
            high_inclusive=False,
            hint="It is the largest shift as a share of the clip (0.1 shifts a "
            "1 s clip by up to 100 ms either way).",
        )

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = _waveforms(self, inputs)
        batch, length = tf.shape(x)[0], x.shape[1] or tf.shape(x)[1]
        limit = _count(self.max_shift, length)
        shift = tf.random.uniform([batch], -limit, limit + 1, dtype=tf.int32)
        source = tf.range(length)[None, :] - shift[:, None]
        valid = (source >= 0) & (source < length)
        moved = tf.gather(x, tf.clip_by_value(source, 0, length - 1), batch_dims=1)
        shifted = tf.where(valid, moved, tf.zeros_like(moved))
        return tf.cast(shifted, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "max_shift": self.max_shift}


def _check_noise(noise):
    """`noise` as a float32 array `(clips, samples)` of finite, non-silent clips."""
    if noise is None:
        return None
    try:
        array = np.asarray(noise, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            "`noise` must be None (white noise) or an array of noise clips "
            f"(clips, samples); got a {type(noise).__name__} that is not numeric."
        ) from None
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(
            "`noise` must be None (white noise) or a non-empty array of noise "
            f"clips (clips, samples); got shape {array.shape}. For one long "
            "recording pass `noise[None]`, or cut it into clips."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("`noise` holds NaN or infinite values; remove those clips.")
    silent = np.flatnonzero(~np.any(array != 0, axis=1))
    if silent.size:
        raise ValueError(
            f"`noise` clips {silent[:10].tolist()} are all zeros: they cannot be "
            "scaled to an SNR. Remove them."
        )
    return array


@keras.saving.register_keras_serializable(package="keras_distill")
class BackgroundNoise(keras.layers.Layer):
    """Adds noise to a random share of the clips, each at a random SNR.

    For each clip `x` that gets noise (a share `probability` of them), a noise
    clip `n` is drawn and added as `x + g * n`, with the signal-to-noise ratio
    `snr ~ Uniform(snr_db)` in dB relative to the clip's own RMS:
    `g = rms(x) / rms(n) * 10 ** (-snr / 20)`, so that
    `10 * log10(sum(x**2) / sum((g * n)**2)) = snr` exactly. Silent clips (RMS 0)
    stay silent. The output is not clipped to [-1, 1], so the SNR holds for loud
    clips too.

    `noise=None` draws white Gaussian noise. Otherwise `noise` is an array of
    recorded noise clips (Speech Commands' `_background_noise_` folder, cut to
    clips): each clip of the batch takes a random noise clip and, if the noise
    clips are longer than the inputs, a random window of it. This is the
    background mixing of Speech Commands training (`background_frequency=0.8`),
    with the volume set by an SNR rather than an absolute scale.

    Active only with `training=True`. The noise clips are kept in the layer's
    config (as a list), so keep the bank to what you need.

    Args:
        snr_db: pair of floats `(min, max)`, min <= max, the range of the SNR
            in dB. Defaults to (5.0, 30.0).
        noise: None, or an array `(clips, noise_samples)` of noise clips with
            `noise_samples` at least the inputs' length. Defaults to None.
        probability: float in [0, 1], the share of clips that get noise.
            Defaults to 0.8.
        **kwargs: passed to `keras.layers.Layer` (`name`, ...).

    Returns:
        Called on waveforms `(batch, samples)`: waveforms of the same shape in
        the layer's dtype (float32 by default, as Keras layers cast float
        inputs; the arithmetic is float32 under mixed precision too).

    Raises:
        TypeError: for non-numeric `probability`; when called, integer inputs.
        ValueError: for `snr_db` that is not a finite `(min, max)` pair with
            min <= max, `probability` outside [0, 1], `noise` that is not a
            non-empty 2-D array of finite, non-silent clips; when called, for
            inputs that are not `(batch, samples)` or longer than the noise
            clips.

    Example:
    ```python
    waveforms = np.random.uniform(-0.5, 0.5, (4, 16000)).astype("float32")
    hum = np.sin(np.arange(3 * 16000) * 0.05).reshape(3, 16000)
    noisy = keras_distill.augmentation.BackgroundNoise(
        snr_db=(5.0, 20.0), noise=hum)(waveforms, training=True)
    ```
    """

    def __init__(self, snr_db=(5.0, 30.0), noise=None, probability=0.8, **kwargs):
        super().__init__(**kwargs)
        message = (
            "`snr_db` must be two finite numbers (min, max) in dB with min <= "
            f"max, e.g. (5.0, 30.0); got {snr_db!r}."
        )
        try:
            low, high = (float(v) for v in snr_db)
        except (TypeError, ValueError):
            raise ValueError(message) from None
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(message)
        self.snr_db = (low, high)
        self.probability = check_real(
            "probability",
            probability,
            low=0.0,
            high=1.0,
            hint="It is the share of clips that get noise (Speech Commands uses 0.8).",
        )
        self.noise = _check_noise(noise)
        self._bank = None if self.noise is None else tf.constant(self.noise)

    def _draw(self, batch, length):
        """Noise clips `(batch, length)`: white, or windows of the bank's clips."""
        if self._bank is None:
            return tf.random.normal([batch, length])
        clips, noise_length = self.noise.shape
        if isinstance(length, int) and length > noise_length:
            raise ValueError(
                f"BackgroundNoise got clips of {length} samples but its noise "
                f"clips have {noise_length}: pass noise clips at least as long "
                "as the inputs."
            )
        pick = tf.random.uniform([batch], 0, clips, dtype=tf.int32)
        room = tf.cast(noise_length - length + 1, tf.float32)
        offset = tf.cast(tf.floor(tf.random.uniform([batch]) * room), tf.int32)
        offset = tf.minimum(offset, noise_length - length)
        # Indexing the flat bank reads only the windows, never whole clips.
        index = (pick * noise_length + offset)[:, None] + tf.range(length)[None, :]
        return tf.gather(tf.reshape(self._bank, [-1]), index)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = _waveforms(self, inputs)
        batch, length = tf.shape(x)[0], x.shape[1] or tf.shape(x)[1]
        noise = self._draw(batch, length)
        snr = tf.random.uniform([batch], self.snr_db[0], self.snr_db[1])
        signal_rms = tf.sqrt(tf.reduce_mean(tf.square(x), axis=1))
        noise_rms = tf.sqrt(tf.reduce_mean(tf.square(noise), axis=1))
        gain = signal_rms / tf.maximum(noise_rms, 1e-12) * 10.0 ** (-snr / 20.0)
        noisy = tf.random.uniform([batch]) < self.probability
        gain = tf.where(noisy, gain, tf.zeros_like(gain))
        return tf.cast(x + gain[:, None] * noise, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "snr_db": list(self.snr_db),
            "noise": None if self.noise is None else self.noise.tolist(),
            "probability": self.probability,
        }


@keras.saving.register_keras_serializable(package="keras_distill")
class SpecAugmentMasks(keras.layers.Layer):
    """SpecAugment's time and frequency masks (Park et al. 2019), on the waveform.

    SpecAugment masks a log-mel spectrogram: `time_masks` spans of frames and
    `frequency_masks` bands of mel channels, each of a width uniform in
    `[0, max]` at a uniform position. Here teacher and student each compute their
    own front end (log-mel, MFCC) inside the model, so the masks are applied to
    the waveform they both receive:

    - a frequency mask zeroes a band of the clip's spectrum: `rfft` over the
      whole clip, bins `[f0, f0 + width)` set to 0, `irfft` back. Widths are in
      Hz (`max_frequency`), converted to bins with `sample_rate`;
    - a time mask zeroes a span of samples (`max_time` is a share of the clip).

    Frequency masks come first, so the time masks stay exact zeros.

    How this differs from masking mel bins: the band is uniform in Hz, not in
    mel channels (a mel-bin mask of fixed width covers fewer Hz at low
    frequencies), and it is removed from the whole clip at once rather than from
    each STFT frame; the model's window then spreads the band's edges into
    neighbouring bins a little. Masked regions become silence, so the model's
    log-mel shows its log floor there, not the zero (the mean of normalized
    features) SpecAugment writes. Time warping is not done.

    Active only with `training=True`.

    Args:
        time_masks: int >= 0, the number of time masks per clip. Defaults to 2.
        max_time: float in [0, 1], the widest time mask as a share of the clip
            (0.1 of a 1 s clip is 100 ms). Defaults to 0.1.
        frequency_masks: int >= 0, the number of frequency masks per clip.
            Defaults to 2.
        max_frequency: float in [0, sample_rate / 2] or None, the widest
            frequency band in Hz; None for a sixteenth of the sample rate (an
            eighth of the spectrum, 1000 Hz at 16 kHz). Defaults to None.
        sample_rate: int > 0, the inputs' sample rate in Hz. Defaults to 16000.
        **kwargs: passed to `keras.layers.Layer` (`name`, ...).

    Returns:
        Called on waveforms `(batch, samples)`: waveforms of the same shape in
        the layer's dtype (float32 by default, as Keras layers cast float
        inputs; the arithmetic is float32 under mixed precision too).

    Raises:
        TypeError: for non-numeric arguments; when called, integer inputs.
        ValueError: for values out of range, or no masks at all (leave the
            layer out instead); when called, for inputs that are not
            `(batch, samples)`.

    Example:
    ```python
    waveforms = np.random.uniform(-0.5, 0.5, (4, 16000)).astype("float32")
    masked = keras_distill.augmentation.SpecAugmentMasks(
        time_masks=2, max_time=0.1, frequency_masks=2, max_frequency=1000.0,
        sample_rate=16000)(waveforms, training=True)
    ```
    """

    def __init__(
        self,
        time_masks: int = 2,
        max_time: float = 0.1,
        frequency_masks: int = 2,
        max_frequency: "float | None" = None,
        sample_rate: int = 16000,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sample_rate = check_int(
            "sample_rate", sample_rate, 1, hint="Give the inputs' rate in Hz."
        )
        self.time_masks = check_int("time_masks", time_masks, 0)
        self.frequency_masks = check_int("frequency_masks", frequency_masks, 0)
        self.max_time = check_real(
            "max_time",
            max_time,
            low=0.0,
            high=1.0,
            hint="It is the widest time mask as a share of the clip.",
        )
        if max_frequency is None:
            max_frequency = self.sample_rate / 16
        self.max_frequency = check_real(
            "max_frequency",
            max_frequency,
            low=0.0,
            high=self.sample_rate / 2,
            hint="It is the widest band in Hz, up to half the sample rate "
            f"({self.sample_rate} Hz).",
        )
        if self.time_masks == 0 and self.frequency_masks == 0:
            raise ValueError(
                "SpecAugmentMasks with time_masks=0 and frequency_masks=0 masks "
                "nothing: leave the layer out of the augmentation instead."
            )

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = _waveforms(self, inputs)
        batch, length = tf.shape(x)[0], x.shape[1] or tf.shape(x)[1]
        if self.frequency_masks:
            spectrum = tf.signal.rfft(x, fft_length=[length])
            bins = length // 2 + 1
            # Bin k is k * sample_rate / length Hz.
            width = _count(self.max_frequency / self.sample_rate, length)
            band = _spans(batch, bins, self.frequency_masks, width)
            spectrum = tf.where(band, tf.zeros_like(spectrum), spectrum)
            x = tf.signal.irfft(spectrum, fft_length=[length])
        if self.time_masks:
            width = _count(self.max_time, length)
            span = _spans(batch, length, self.time_masks, width)
            x = tf.where(span, tf.zeros_like(x), x)
        return tf.cast(x, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "time_masks": self.time_masks,
            "max_time": self.max_time,
            "frequency_masks": self.frequency_masks,
            "max_frequency": self.max_frequency,
            "sample_rate": self.sample_rate,
        }


def speech_augmentation(sample_rate: int = 16000, noise=None) -> list:
    """The waveform augmentations of keyword spotting, as a list for the Distiller.

    A time shift of up to 10% of the clip (`TimeShift(0.1)`), background noise
    on 80% of the clips at 5-30 dB SNR (`BackgroundNoise`), then SpecAugment's
    masks (`SpecAugmentMasks`: two time masks up to 10% of the clip, two bands
    up to a sixteenth of the sample rate wide), as Speech Commands / Hello Edge
    training with SpecAugment (Park et al. 2019) does. Pass the list as
    `Distiller(augmentation=...)`: the Distiller applies the steps in order to
    each training batch (never in `evaluate`) and teacher and student see the
    same augmented clips. For other settings, build the list from the layers.

    Args:
        sample_rate: int > 0, the waveforms' sample rate in Hz
            (`DataBundle.sample_rate`). Defaults to 16000.
        noise: None for white noise, or an array `(clips, noise_samples)` of
            background noise clips at least as long as the inputs. Defaults to
            None.

    Returns:
        A list `[TimeShift, BackgroundNoise, SpecAugmentMasks]`.

    Raises:
        TypeError: for a non-integer `sample_rate`.
        ValueError: for `sample_rate` < 1 or a bad `noise` array.

    Example:
    ```python
    inputs = keras.Input((1000,))
    h = keras.layers.Reshape((1000, 1))(inputs)
    h = keras.layers.Conv1D(4, 16, strides=8, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    student = keras.Model(inputs, keras.layers.Dense(3)(h))
    teacher = keras.models.clone_model(student)
    clips = np.random.uniform(-0.5, 0.5, (8, 1000)).astype("float32")
    distiller = keras_distill.Distiller(
        student=student, teacher=teacher,
        augmentation=keras_distill.augmentation.speech_augmentation(8000))
    distiller.compile(optimizer="adam", loss=loss)
    distiller.fit(clips, np.arange(8) % 3, epochs=1, batch_size=4, verbose=0)
    ```
    """
    return [
        TimeShift(0.1, name="time_shift"),
        BackgroundNoise((5.0, 30.0), noise=noise, probability=0.8, name="noise"),
        SpecAugmentMasks(sample_rate=sample_rate, name="spec_augment_masks"),
    ]
