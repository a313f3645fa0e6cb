"""A folder of WAV clips with one sub-folder per word (Speech Commands' layout)."""

from __future__ import annotations

import functools
import hashlib
import math
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_distill._numbers import check_int
from keras_distill._numbers import check_real
from keras_distill._optional import require
from keras_distill.data._checks import check_batch_size
from keras_distill.data._checks import check_folder_path
from keras_distill.data._checks import check_pipeline_options
from keras_distill.data._checks import check_seed
from keras_distill.data._checks import check_split_fractions
from keras_distill.data.audio_split import split_clips
from keras_distill.data.cache import save_npz_atomically
from keras_distill.data.class_folders import class_subfolders
from keras_distill.data.class_folders import walk_sorted
from keras_distill.data.data_bundle import DataBundle
from keras_distill.data.image_folder import _stacklevel_outside_this_package
from keras_distill.data.input_normalization import InputNormalization
from keras_distill.data.pipeline import batched
from keras_distill.data.wav_file import MAX_SAMPLE_RATE
from keras_distill.data.wav_file import MIN_SAMPLE_RATE
from keras_distill.data.wav_file import WavError
from keras_distill.data.wav_file import read_wav

__all__ = ["BACKGROUND_NOISE_FOLDER", "load_audio_folder"]

# Speech Commands keeps long noise recordings here, for mixing into clips.
BACKGROUND_NOISE_FOLDER = "_background_noise_"
MAX_CLIP_SECONDS = 10.0
_CACHE_VERSION = 1
_LAYOUT = (
    "expected a folder with one sub-folder per word, each holding that word's "
    ".wav clips, e.g. speech/yes/a1b2_nohash_0.wav, speech/no/c3d4_nohash_0.wav"
)


def _list_clips(directory: Path) -> tuple[tuple[str, ...], list[tuple[str, int]]]:
    """Class names and `(relative path, label)` of every file of each class."""
    classes = class_subfolders(
        directory, _LAYOUT, kind="word", excluded=BACKGROUND_NOISE_FOLDER
    )
    files = [
        (Path(path).relative_to(directory).as_posix(), label)
        for label, name in enumerate(classes)
        for path in walk_sorted(directory / name)
    ]
    return tuple(classes), files


@functools.lru_cache(maxsize=8)
def _lowpass(up: int, down: int) -> np.ndarray:
    """The anti-aliasing filter `resample_poly(x, up, down)` designs by default.

    Designed once per rate pair: designing it on every call takes twice as long
    as the resampling itself.
    """
    signal = require("scipy.signal", "Resampling audio clips")
    max_rate = max(up, down)
    return signal.firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))


def _resample(waveform: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    if rate == sample_rate:
        return waveform
    signal = require("scipy.signal", "Resampling audio clips")
    divisor = math.gcd(rate, sample_rate)
    up, down = sample_rate // divisor, rate // divisor
    resampled = signal.resample_poly(
        waveform.astype(np.float64), up, down, window=_lowpass(up, down)
    )
    # The anti-aliasing filter can overshoot a full-scale clip a little.
    return np.clip(resampled, -1.0, 1.0).astype(np.float32)


def _fit_length(waveform: np.ndarray, samples: int) -> np.ndarray:
    """Zeros appended to a short clip, the end of a long one cut off.

    The same as Speech Commands' `decode_wav(desired_samples=...)`: the clip
    keeps its start, where the recordings put the word.
    """
    if len(waveform) >= samples:
        return waveform[:samples]
    return np.pad(waveform, (0, samples - len(waveform)))


def _decode_all(directory: Path, files, sample_rate: int, samples: int):
    """Decoded clips (float32 `(n, samples)`), their paths, rates and the skipped."""
    waveforms, kept, rates, skipped = [], [], [], []
    for path, label in files:
        if not path.lower().endswith(".wav"):
            skipped.append((path, "not a .wav file"))
            continue
        try:
            waveform, rate = read_wav(directory / path)
        except WavError as err:
            skipped.append((path, str(err)))
            continue
        waveforms.append(_fit_length(_resample(waveform, rate, sample_rate), samples))
        kept.append((path, label))
        rates.append(rate)
    stacked = np.stack(waveforms) if waveforms else np.zeros((0, samples), np.float32)
    return stacked, kept, rates, skipped


def _cache_file(prefix: str, directory: Path, files, sample_rate, samples) -> Path:
    """`<prefix>-<hash of the files (names, sizes, mtimes) and options>.npz`."""
    digest = hashlib.sha256(f"{_CACHE_VERSION}:{sample_rate}:{samples}".encode())
    for path, label in files:
        stat = (directory / path).stat()
        digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return Path(f"{prefix}-{digest.hexdigest()[:16]}.npz").expanduser()


def _decode_cached(cache, directory: Path, files, sample_rate: int, samples: int):
    if not (isinstance(cache, str) and cache):
        return _decode_all(directory, files, sample_rate, samples)
    path = _cache_file(cache, directory, files, sample_rate, samples)
    if path.is_file():
        with np.load(path) as stored:
            labels = dict(files)
            kept = [(p, labels[p]) for p in stored["kept"].tolist()]
            skipped = list(zip(stored["skipped"].tolist(), stored["why"].tolist()))
            return stored["waveforms"], kept, stored["rates"].tolist(), skipped
    waveforms, kept, rates, skipped = _decode_all(
        directory, files, sample_rate, samples
    )
    save_npz_atomically(
        path,
        waveforms=waveforms,
        kept=np.array([p for p, _ in kept], dtype=str),
        rates=np.array(rates, np.int64),
        skipped=np.array([p for p, _ in skipped], dtype=str),
        why=np.array([why for _, why in skipped], dtype=str),
    )
    return waveforms, kept, rates, skipped


def _skipped_summary(skipped, first: int = 3) -> str:
    shown = ", ".join(f"{path}: {why}" for path, why in skipped[:first])
    extra = len(skipped) - first
    more = f", and {extra} more" if extra > 0 else ""
    return f"{len(skipped)} file(s) ({shown}{more})"


def load_audio_folder(
    directory: str | os.PathLike,
    *,
    batch_size: int = 32,
    seed: int = 0,
    sample_rate: int = 16000,
    clip_seconds: float = 1.0,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.0,
    cache: bool | str = True,
    shuffle_buffer: int = 10_000,
) -> DataBundle:
    """WAV clips in word sub-folders (keyword spotting) as tf.data pipelines.

    Layout: Speech Commands' (Warden, 2018, arXiv:1804.03209),
    `directory/<word>/<clips>.wav` (nested folders allowed); the class names
    are the sorted sub-folder names (label 0 is the first). Hidden files and
    folders are ignored, and so is a `_background_noise_` folder (Speech
    Commands' noise recordings: not a word).

    Every clip is decoded once, here, into memory: mono or stereo (channels
    averaged), 8-48 kHz, 8/16/24/32-bit integer PCM or 32/64-bit float WAV,
    scaled to [-1, 1] (int16 / 32768, ...); resampled to `sample_rate` with
    `scipy.signal.resample_poly` (polyphase, anti-aliased) when its rate
    differs; then made `round(clip_seconds * sample_rate)` samples long as
    Speech Commands does: zeros appended to a shorter clip, the end of a longer
    one cut off (the start, where the word is, is kept). Files that cannot be
    read (not `.wav`, not RIFF/WAVE, truncated, unsupported encoding or rate,
    a `.wav` holding text) are skipped with one warning naming how many and the
    first few, and the count is in `description`.

    The split is leak-free and seeded: by speaker when every clip is named
    Speech Commands' way, `<speaker>_nohash_<n>.wav` (all of a speaker's clips
    in one split, so test accuracy is on voices never heard in training), else
    by file, stratified per class; see `audio_split.split_clips`.
    `description` says which.

    The pipelines yield `(float32 waveform (batch, samples), int32 label)`;
    the waveforms stay raw, in [-1, 1] (normalization is `Rescaling(1.0)`: a
    spectrogram front end inside the model does the rest). The clips are also
    on the bundle as NumPy arrays (`x_train`, ...): about 64 KB per
    one-second clip at 16 kHz, so ~85 MB for Speech Commands' 1,300-clip demo
    size; a folder of 100,000 clips needs ~6 GB.

    Args:
        directory: str or path-like, the root folder.
        batch_size: int, examples per batch. Defaults to 32.
        seed: int, seed of the split, of each split's example order and of the
            training shuffle. Defaults to 0.
        sample_rate: int in [8000, 48000], the rate (Hz) every clip is
            resampled to. Defaults to 16000 (Speech Commands').
        clip_seconds: float in (0, 10], the length every clip is padded or cut
            to. Defaults to 1.0.
        test_fraction: float in (0, 1), the part held out as `test` (of the
            speakers, or of each class's files). Defaults to 0.2.
        validation_fraction: float in [0, 1), the part held out as
            `validation`. Defaults to 0.0 (none).
        cache: bool or str. The clips are decoded once per call and held in
            memory whether True or False; a str is a file prefix: the decoded
            clips are saved to `<prefix>-<fingerprint>.npz` (the fingerprint
            covers the files' names, sizes and times and the options) and read
            back by the next call instead of decoding again. Defaults to True.
        shuffle_buffer: int, the most examples in the training shuffle buffer.
            Defaults to 10000.

    Returns:
        A `DataBundle` with `input_shape=(samples,)`, `sample_rate` set (so
        `modality == "audio"`) and the clips as NumPy arrays.

    Raises:
        ValueError: if the folder does not exist, has fewer than two word
            sub-folders or one without a readable clip, a split would be empty,
            a class would keep no training clip, or an argument is out of
            range.
        TypeError: if an argument has the wrong type (`sample_rate` or `seed`
            not an integer, a fraction or `clip_seconds` not a number).

    Example:

    ```python
    import tempfile

    from keras_distill.data import make_spoken_words_folder

    folder = make_spoken_words_folder(
        f"{tempfile.mkdtemp()}/words", words=("yes", "no"), voices=3
    )
    data = load_audio_folder(folder, test_fraction=0.3)
    data.class_names  # ('no', 'yes')
    data.input_shape  # (16000,)
    data.description  # '... split by speaker (... 3 speakers, 2 train / 1 test ...'
    ```
    """
    check_folder_path(directory)
    batch_size = check_batch_size(batch_size)
    seed = check_seed(seed)
    sample_rate = check_int(
        "sample_rate", sample_rate, MIN_SAMPLE_RATE, "For example 16000."
    )
    if sample_rate > MAX_SAMPLE_RATE:
        raise ValueError(
            f"`sample_rate` must be an integer in [{MIN_SAMPLE_RATE}, "
            f"{MAX_SAMPLE_RATE}] Hz, got {sample_rate}. For example 16000."
        )
    clip_seconds = check_real(
        "clip_seconds",
        clip_seconds,
        low=0,
        high=MAX_CLIP_SECONDS,
        low_inclusive=False,
        hint="Keyword clips are about 1.0 s.",
    )
    samples = round(clip_seconds * sample_rate)
    if samples < 1:
        raise ValueError(
            f"`clip_seconds`={clip_seconds} at {sample_rate} Hz is less than one "
            "sample; use e.g. 1.0."
        )
    test_fraction, validation_fraction = check_split_fractions(
        test_fraction, validation_fraction, "clips"
    )
    check_pipeline_options(shuffle_buffer, cache)
    directory = Path(directory).expanduser().absolute()
    class_names, files = _list_clips(directory)
    waveforms, kept, rates, skipped = _decode_cached(
        cache, directory, files, sample_rate, samples
    )
    readable = Counter(label for _, label in kept)
    empty = [name for i, name in enumerate(class_names) if not readable[i]]
    if empty:
        raise ValueError(
            f"Word folder(s) {empty} in {str(directory)!r} hold no readable clip "
            "(.wav files: 8/16/24/32-bit PCM or float, 8-48 kHz); add clips or "
            "remove the folder(s)."
        )
    splits, how = split_clips(
        kept,
        class_names,
        test_fraction=test_fraction,
        validation_fraction=validation_fraction,
        seed=seed,
    )
    if skipped:
        warnings.warn(
            f"Skipped {_skipped_summary(skipped)} in {str(directory)!r}: not "
            "readable WAV clips. Remove or fix them to silence this warning.",
            stacklevel=_stacklevel_outside_this_package(),
        )
    row = {path: i for i, (path, _) in enumerate(kept)}
    arrays = {}
    for split, examples in splits.items():
        index = np.array([row[path] for path, _ in examples], np.int64)
        labels = np.array([label for _, label in examples], np.int32)
        arrays[split] = (np.ascontiguousarray(waveforms[index]), labels)
    examples = {
        split: tf.data.Dataset.from_tensor_slices(xy) for split, xy in arrays.items()
    }
    num_examples = {split: len(y) for split, (_, y) in arrays.items()}

    def pipeline(split: str) -> tf.data.Dataset:
        return batched(
            examples[split],
            batch_size=batch_size,
            training=split == "train",
            seed=seed,
            shuffle_buffer=min(shuffle_buffer, num_examples["train"]),
        )

    counts = " / ".join(f"{n} {split}" for split, n in num_examples.items())
    source_rates = ", ".join(
        f"{n} at {rate} Hz" for rate, n in sorted(Counter(rates).items())
    )
    skipped_text = (
        f" Skipped {_skipped_summary(skipped)}: not readable WAV clips."
        if skipped
        else ""
    )
    x_val, y_val = arrays.get("validation", (None, None))
    return DataBundle(
        name=str(directory),
        train=pipeline("train"),
        test=pipeline("test"),
        validation=pipeline("validation") if "validation" in arrays else None,
        input_shape=(samples,),
        num_classes=len(class_names),
        class_names=class_names,
        normalization=InputNormalization.rescale(1.0),
        batch_size=batch_size,
        examples=examples,
        num_examples=num_examples,
        x_train=arrays["train"][0],
        y_train=arrays["train"][1],
        x_val=x_val,
        y_val=y_val,
        x_test=arrays["test"][0],
        y_test=arrays["test"][1],
        sample_rate=sample_rate,
        description=(
            f"Audio folder {directory}: {len(class_names)} words, {counts} clips "
            f"({how}). Clips ({source_rates}) mixed to mono, resampled to "
            f"{sample_rate} Hz (polyphase) and padded/cut at the end to "
            f"{clip_seconds:g} s ({samples} samples); waveforms in [-1, 1]."
            f"{skipped_text}"
        ),
    )
