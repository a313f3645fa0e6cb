"""load_audio_folder: WAV formats vs a float64 reference, resampling, splits, errors."""

import itertools
import math
import struct
import sys
import warnings
import wave

import numpy as np
import pytest

from keras_distill.data import audio_folder as audio_folder_module
from keras_distill.data import load_audio_folder
from keras_distill.data.wav_file import WavError
from keras_distill.data.wav_file import decode_wav

RATE = 16000


def _riff(code, channels, rate, bits, payload, extensible=False):
    """A RIFF/WAVE file's bytes, written by hand (wave cannot write float)."""
    block = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH",
        0xFFFE if extensible else code,
        channels,
        rate,
        rate * block,
        block,
        bits,
    )
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", code) + guid_tail
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _encode(bits, kind, frames, channels, rng):
    """Random samples as WAV bytes, and their float64 values in [-1, 1]."""
    shape = (frames, channels)
    if kind == "float":
        values = rng.uniform(-1, 1, shape)
        dtype = "<f4" if bits == 32 else "<f8"
        stored = values.astype(dtype)
        return _riff(3, channels, RATE, bits, stored.tobytes()), stored.astype(float)
    if bits == 8:
        ints = rng.integers(0, 256, shape)
        return (
            _riff(1, channels, RATE, 8, ints.astype(np.uint8).tobytes()),
            (ints - 128) / 128.0,
        )
    full = 2 ** (bits - 1)
    ints = rng.integers(-full, full, shape)
    if bits == 24:
        payload = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints.flat)
    else:
        payload = ints.astype(f"<i{bits // 8}").tobytes()
    return _riff(1, channels, RATE, bits, payload), ints / float(full)


FORMATS = [(8, "pcm"), (16, "pcm"), (24, "pcm"), (32, "pcm")]
FORMATS += [(32, "float"), (64, "float")]


def test_decode_wav_matches_a_float64_reference_mixed_to_mono():
    for (bits, kind), channels in itertools.product(FORMATS, (1, 2)):
        rng = np.random.default_rng(bits)
        data, reference = _encode(bits, kind, 500, channels, rng)
        waveform, rate = decode_wav(data)
        assert rate == RATE and waveform.dtype == np.float32
        np.testing.assert_allclose(
            waveform,
            reference.mean(axis=1),
            rtol=0,
            atol=1e-7,
            err_msg=f"{bits}-bit {kind}, {channels} channel(s)",
        )
        assert reference.min() < -0.9 and reference.max() > 0.9  # full scale


def test_decode_wav_reads_wave_format_extensible_24_bit():
    ints = np.array([-(2**23), -1, 0, 1, 2**23 - 1])
    payload = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    waveform, _ = decode_wav(_riff(1, 1, RATE, 24, payload, extensible=True))
    np.testing.assert_allclose(waveform, ints / 2**23, rtol=0, atol=1e-7)


def test_decode_wav_reads_what_the_wave_module_writes(tmp_path):
    ints = np.array([[0, 100], [-32768, 32767], [1000, -1000]], "<i2")
    _write(tmp_path / "a.wav", ints, rate=44100, channels=2)
    waveform, rate = decode_wav((tmp_path / "a.wav").read_bytes())
    assert rate == 44100
    np.testing.assert_allclose(waveform, ints.mean(axis=1) / 32768.0, atol=1e-7)


UNREADABLE = [
    (b"hello, I am text in a .wav file", "not a RIFF/WAVE"),
    (_riff(1, 1, RATE, 16, b"\x00\x01" * 100)[:-50], "truncated"),
    (_riff(2, 1, RATE, 4, b"\x00" * 64), "unsupported encoding"),
    (_riff(3, 1, RATE, 16, b"\x00" * 64), "unsupported encoding"),
    (_riff(1, 1, 96000, 16, b"\x00" * 64), "unsupported sample rate 96000"),
    (_riff(1, 1, RATE, 16, b""), "no samples"),
    (_riff(3, 1, RATE, 32, np.array([np.nan], "<f4").tobytes()), "NaN"),
    (b"RIFF\x04\x00\x00\x00WAVE", "no fmt chunk"),
]


def test_decode_wav_refuses_unreadable_data_saying_why():
    for data, reason in UNREADABLE:
        with pytest.raises(WavError, match=reason):
            decode_wav(data)


def _write(path, ints, rate=RATE, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(np.asarray(ints, "<i2").tobytes())


def _sine(rate, seconds=1.0, amplitude=0.5, frequency=1000.0):
    t = np.arange(round(seconds * rate)) / rate
    return np.round(amplitude * 32767 * np.sin(2 * np.pi * frequency * t))


def _speaker_folder(root, n_speakers, clips=2, words=("no", "yes")):
    """Clips whose constant value encodes their speaker: k * 256 / 32768."""
    for word in words:
        for k in range(1, n_speakers + 1):
            for n in range(clips):
                _write(root / word / f"s{k:02d}_nohash_{n}.wav", np.full(800, k * 256))
    return root


def test_resampling_keeps_a_1khz_sine_at_1khz_and_its_amplitude(tmp_path):
    rates = (8000, 22050, 44100, 48000)
    for rate in rates:
        for n in range(2):
            _write(tmp_path / f"r{rate}" / f"{n}.wav", _sine(rate), rate=rate)
    data = load_audio_folder(tmp_path, test_fraction=0.5)
    assert data.class_names == ("r22050", "r44100", "r48000", "r8000")
    reference = 0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(RATE) / RATE)
    for waveform, label in zip(data.x_train, data.y_train, strict=True):
        name = data.class_names[label]
        waveform = waveform.astype(np.float64)
        spectrum = np.abs(np.fft.rfft(waveform))
        assert np.argmax(spectrum) * RATE / len(waveform) == 1000.0, name
        # Away from the filter's start and end transients, the amplitude is kept.
        middle = waveform[2000:-2000]
        assert np.max(np.abs(middle)) == pytest.approx(0.5, rel=0.01), name
        np.testing.assert_allclose(middle, reference[2000:-2000], atol=0.01)
    assert "2 at 8000 Hz, 2 at 22050 Hz, 2 at 44100 Hz" in data.description


def test_clips_are_padded_and_cut_at_the_end(tmp_path):
    short = np.arange(8000) - 4000  # 0.5 s
    long = (np.arange(24000) % 20000) - 10000  # 1.5 s
    for word in ("a", "b"):
        _write(tmp_path / word / "short.wav", short)
        _write(tmp_path / word / "long.wav", long)
    data = load_audio_folder(tmp_path, test_fraction=0.5)
    x = np.concatenate([data.x_train, data.x_test]).astype(np.float64)
    padded = [row for row in x if row[-1] == 0.0]
    cut = [row for row in x if row[-1] != 0.0]
    assert len(padded) == len(cut) == 2
    for row in padded:
        np.testing.assert_array_equal(row, np.pad(short / 32768.0, (0, 8000)))
    for row in cut:
        np.testing.assert_array_equal(row, long[:RATE] / 32768.0)


def test_clip_seconds_and_sample_rate_set_the_input_shape(tmp_path):
    _speaker_folder(tmp_path, 5)
    data = load_audio_folder(tmp_path, sample_rate=8000, clip_seconds=0.25)
    assert data.input_shape == (2000,)
    assert data.sample_rate == 8000
    assert "8000 Hz" in data.description and "0.25 s (2000 samples)" in data.description


def test_bundle_is_audio_with_float32_waveforms_and_int32_labels(tmp_path):
    _speaker_folder(tmp_path, 5)
    data = load_audio_folder(tmp_path, batch_size=4)
    assert data.modality == "audio"
    assert data.class_names == ("no", "yes")
    assert data.normalization.kind == "rescale" and data.normalization.scale == 1.0
    x, y = next(iter(data.train))
    assert x.dtype.name == "float32" and y.dtype.name == "int32"
    assert tuple(x.shape) == (4, RATE)
    x_test, y_test = data.arrays("test")
    assert x_test.shape == (data.num_examples["test"], RATE)
    assert sum(int(b[1].shape[0]) for b in data.test) == len(y_test)


def test_split_by_speaker_puts_each_speaker_in_one_split(tmp_path):
    _speaker_folder(tmp_path, 20, clips=3)
    data = load_audio_folder(tmp_path, test_fraction=0.2, validation_fraction=0.2)

    def speakers(x):
        return set(np.round(x[:, 0] * 32768 / 256).astype(int).tolist())

    train, val, test = (
        speakers(data.x_train),
        speakers(data.x_val),
        speakers(data.x_test),
    )
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(range(1, 21))
    assert len(test) == len(val) == 4
    # All 6 clips (2 words x 3) of a speaker are in its split.
    assert len(data.y_test) == 4 * 6
    assert "split by speaker" in data.description
    assert "20 speakers, 12 train / 4 test / 4 validation" in data.description


def test_split_is_seeded(tmp_path):
    _speaker_folder(tmp_path, 12)
    first = load_audio_folder(tmp_path, seed=3)
    again = load_audio_folder(tmp_path, seed=3)
    other = load_audio_folder(tmp_path, seed=4)
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert not np.array_equal(np.sort(first.x_test[:, 0]), np.sort(other.x_test[:, 0]))


def test_other_names_split_by_file_stratified_per_class(tmp_path):
    for word in ("a", "b", "c"):
        for n in range(10):
            _write(tmp_path / word / f"take{n}.wav", np.full(100, n))
    data = load_audio_folder(tmp_path, test_fraction=0.2)
    assert np.bincount(data.y_test).tolist() == [2, 2, 2]
    assert np.bincount(data.y_train).tolist() == [8, 8, 8]
    assert "split by file, stratified per class" in data.description


def test_background_noise_and_hidden_files_are_not_classes(tmp_path):
    _speaker_folder(tmp_path, 5)
    _write(tmp_path / "_background_noise_" / "white.wav", np.zeros(100))
    _write(tmp_path / ".hidden" / "x.wav", np.zeros(100))
    (tmp_path / "yes" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "README.md").write_text("not a class")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_audio_folder(tmp_path)
    assert data.class_names == ("no", "yes")
    assert sum(data.num_examples.values()) == 20


def test_unreadable_files_are_skipped_with_one_warning_and_counted(tmp_path):
    _speaker_folder(tmp_path, 5)
    (tmp_path / "yes" / "text_nohash_0.wav").write_text("not audio")
    (tmp_path / "yes" / "cut_nohash_0.wav").write_bytes(
        _riff(1, 1, RATE, 16, b"\x00\x01" * 800)[:-100]
    )
    (tmp_path / "no" / "adpcm_nohash_0.wav").write_bytes(
        _riff(2, 1, RATE, 4, b"\0" * 8)
    )
    (tmp_path / "no" / "notes_nohash_0.txt").write_text("hi")
    with pytest.warns(UserWarning, match=r"Skipped 4 file\(s\)") as record:
        data = load_audio_folder(tmp_path)
    assert len(record) == 1
    assert "and 1 more" in str(record[0].message)
    assert "Skipped 4 file(s)" in data.description
    assert sum(data.num_examples.values()) == 20


def test_a_cache_prefix_saves_the_decoded_clips_and_reads_them_back(
    tmp_path, monkeypatch
):
    folder = _speaker_folder(tmp_path / "words", 5)
    first = load_audio_folder(folder, cache=str(tmp_path / "clips"))
    assert len(list(tmp_path.glob("clips-*.npz"))) == 1

    def no_reading(path):
        raise AssertionError(f"read {path} although it is cached")

    monkeypatch.setattr(audio_folder_module, "read_wav", no_reading)
    again = load_audio_folder(folder, cache=str(tmp_path / "clips"))
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)


BAD_ARGUMENTS = [
    ({"sample_rate": 7999}, ValueError, r"`sample_rate`.*>= 8000"),
    ({"sample_rate": 48001}, ValueError, r"\[8000, 48000\]"),
    ({"sample_rate": 16000.0}, TypeError, "`sample_rate`"),
    ({"sample_rate": True}, TypeError, "`sample_rate`"),
    ({"clip_seconds": 0}, ValueError, r"`clip_seconds`.*\(0, 10\]"),
    ({"clip_seconds": 10.5}, ValueError, "`clip_seconds`"),
    ({"clip_seconds": math.nan}, ValueError, "`clip_seconds`"),
    ({"clip_seconds": "1"}, TypeError, "`clip_seconds`"),
    ({"clip_seconds": 1e-6}, ValueError, "less than one sample"),
    ({"test_fraction": 0}, ValueError, "`test_fraction`"),
    ({"validation_fraction": 1}, ValueError, "`validation_fraction`"),
    ({"test_fraction": 0.5, "validation_fraction": 0.5}, ValueError, "below 1"),
    ({"batch_size": 0}, ValueError, "`batch_size`"),
    ({"seed": -1}, ValueError, "`seed`"),
    ({"cache": 3}, TypeError, "`cache`"),
    ({"shuffle_buffer": 0}, ValueError, "`shuffle_buffer`"),
]


def test_bad_arguments_are_refused_naming_the_argument(tmp_path):
    _speaker_folder(tmp_path, 5)
    for kwargs, error, match in BAD_ARGUMENTS:
        with pytest.raises(error, match=match):
            load_audio_folder(tmp_path, **kwargs)


def test_bad_folders_are_refused_saying_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_audio_folder(tmp_path / "missing")
    with pytest.raises(TypeError, match="`directory`"):
        load_audio_folder(123)
    _write(tmp_path / "one" / "yes" / "a_nohash_0.wav", np.zeros(10))
    _write(tmp_path / "one" / "_background_noise_" / "n.wav", np.zeros(10))
    with pytest.raises(ValueError, match="at least 2"):
        load_audio_folder(tmp_path / "one")
    _speaker_folder(tmp_path / "empty", 5)
    (tmp_path / "empty" / "up").mkdir()
    (tmp_path / "empty" / "up" / "a.wav").write_text("text")
    with pytest.raises(ValueError, match=r"\['up'\].*no readable clip"):
        load_audio_folder(tmp_path / "empty")


def test_too_few_speakers_to_split_is_refused(tmp_path):
    _speaker_folder(tmp_path, 2)
    with pytest.raises(ValueError, match="2 speakers .* too few"):
        load_audio_folder(tmp_path, test_fraction=0.2, validation_fraction=0.2)


def test_resampling_without_scipy_names_the_extra_to_install(tmp_path, monkeypatch):
    for word in ("a", "b"):
        _write(tmp_path / word / "0.wav", _sine(8000), rate=8000)
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.signal", None)
    with pytest.raises(ImportError, match=r"pip install 'keras-distill\[demo\]'"):
        load_audio_folder(tmp_path, test_fraction=0.5)
