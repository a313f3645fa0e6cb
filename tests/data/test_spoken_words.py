"""make_spoken_words_folder: espeak-ng clips in Speech Commands' layout, seeded."""

import shutil
import wave

import numpy as np
import pytest

from keras_distill.data import load_audio_folder
from keras_distill.data import make_spoken_words_folder
from keras_distill.data import spoken_words
from keras_distill.data.wav_file import read_wav

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install)"
)


@needs_espeak
def test_a_small_folder_has_speech_commands_layout_and_loads_split_by_speaker(
    tmp_path,
):
    folder = make_spoken_words_folder(
        tmp_path / "words", words=("yes", "no"), voices=2, clips_per_voice=2
    )
    voices = spoken_words.DEFAULT_VOICES[:2]
    for word in ("yes", "no"):
        names = sorted(path.name for path in (folder / word).iterdir())
        assert names == sorted(f"{v}_nohash_{n}.wav" for v in voices for n in (0, 1))
        for name in names:
            with wave.open(str(folder / word / name)) as file:
                assert file.getnchannels() == 1 and file.getsampwidth() == 2
                assert file.getframerate() == 22050 and file.getnframes() == 22050
            waveform, _ = read_wav(folder / word / name)
            # A word, not silence: loud somewhere, and quieter than full scale.
            assert 0.3 <= np.max(np.abs(waveform)) <= 1.0
    data = load_audio_folder(folder, test_fraction=0.5)
    assert data.class_names == ("no", "yes")
    assert data.num_examples == {"train": 4, "test": 4}
    assert data.input_shape == (16000,) and data.modality == "audio"
    assert "2 speakers, 1 train / 1 test" in data.description


@needs_espeak
def test_the_same_arguments_write_the_same_files(tmp_path):
    def clip(path, seed):
        folder = make_spoken_words_folder(
            tmp_path / path, words=("up", "go"), voices=("en-us+f2",), seed=seed
        )
        return (folder / "go" / "en-us+f2_nohash_0.wav").read_bytes()

    first = clip("a", 0)
    assert first == clip("b", 0)
    assert first != clip("c", 1)


def test_mix_noise_reaches_the_requested_snr_over_the_speech():
    speech = np.zeros(22050)
    # Loud from its first to its last sample: where mix_noise measures it.
    speech[5000:12000] = np.random.default_rng(1).choice([-0.4, 0.3], 7000)
    for snr_db in (10.0, 25.0, 40.0):
        mixed = spoken_words.mix_noise(speech, snr_db, np.random.default_rng(0))
        noise = mixed - speech
        power = np.mean(speech[5000:12000] ** 2)
        measured = 10 * np.log10(power / np.mean(noise**2))
        assert measured == pytest.approx(snr_db, abs=1e-6)
        assert np.mean(noise[:5000] ** 2) > 0  # noise over the silence too


@needs_espeak
def test_every_default_voice_is_one_espeak_ng_has():
    voices = spoken_words.DEFAULT_VOICES
    assert len(set(voices)) == len(voices) == 128
    # The first few differ in accent and in variant.
    first = [voice.split("+") for voice in voices[:8]]
    assert len({a for a, _ in first}) == len({v for _, v in first}) == 8
    assert spoken_words._check_voices(voices, shutil.which("espeak-ng")) == voices


def test_a_missing_espeak_ng_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng"):
        make_spoken_words_folder(tmp_path / "words")


@needs_espeak
def test_bad_arguments_are_refused_naming_the_argument(tmp_path):
    cases = [
        ({"words": "yes"}, TypeError, "`words`"),
        ({"words": ("yes",)}, ValueError, "at least 2"),
        ({"words": ("yes", "Yes")}, ValueError, "at least 2 different"),
        ({"words": ("yes", "../up")}, ValueError, r"'\.\./up'"),
        ({"words": ("yes", "_background_noise_")}, ValueError, "`words`"),
        ({"voices": 0}, ValueError, r"\[1, 128\]"),
        ({"voices": 129}, ValueError, r"\[1, 128\]"),
        ({"voices": "en-us"}, TypeError, "`voices`"),
        ({"voices": ("xx-nope",)}, ValueError, "'xx-nope' is not an espeak-ng"),
        ({"voices": ("en+nope",)}, ValueError, "--voices=variant"),
        ({"voices": ("en", "en")}, ValueError, "repeat"),
        ({"clips_per_voice": 0}, ValueError, "`clips_per_voice`"),
        ({"seed": 1.5}, TypeError, "`seed`"),
        ({"snr_db": (40, 10)}, ValueError, "low <= high"),
        ({"snr_db": 20}, TypeError, "`snr_db`"),
        ({"workers": 0}, ValueError, "`workers`"),
        ({"timeout": 0}, ValueError, "`timeout`"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            make_spoken_words_folder(tmp_path / "words", **kwargs)
    assert not (tmp_path / "words").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        make_spoken_words_folder(tmp_path / "full")


@needs_espeak
def test_a_failing_clip_leaves_no_folder_behind(tmp_path):
    with pytest.raises(RuntimeError, match="raise `timeout`"):
        make_spoken_words_folder(
            tmp_path / "words", words=("yes", "no"), voices=2, timeout=1e-6
        )
    assert not (tmp_path / "words").exists()
    assert list(tmp_path.iterdir()) == []
