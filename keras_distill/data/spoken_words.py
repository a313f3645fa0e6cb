"""Writes a folder of spoken words synthesized offline: keyword-spotting data.

The clips are spoken by espeak-ng (a formant synthesizer, Debian package
`espeak-ng`) in many English accents and voice variants, at random speeds and
pitches, placed at a random onset within one second and mixed with coloured
noise at a random signal-to-noise ratio. The folder has Speech Commands'
layout (Warden, 2018, arXiv:1804.03209) and file names
(`<word>/<speaker>_nohash_<n>.wav`), so `load_audio_folder` splits it by
speaker. Synthetic voices are far easier than people: use it to test and time
a keyword-spotting pipeline offline, not to judge a model's real accuracy.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from keras_distill import _atomic
from keras_distill._numbers import check_int
from keras_distill._numbers import check_real
from keras_distill.data.audio_folder import BACKGROUND_NOISE_FOLDER
from keras_distill.data.wav_file import write_wav

__all__ = ["DEFAULT_VOICES", "DEFAULT_WORDS", "make_spoken_words_folder"]

DEFAULT_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
# espeak-ng's own English accents (`espeak-ng --voices=en`, the eSpeak voices,
# not the MBROLA ones, which need another program) and voice variants
# (`espeak-ng --voices=variant`): male, female and Klatt-synthesized voices.
ACCENTS = (
    "en",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-us-nyc",
)
VARIANTS = (
    *(f"m{i}" for i in range(1, 8)),
    *(f"f{i}" for i in range(1, 6)),
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
)
# All 128 accent+variant pairs, ordered so that any first few differ in both.
DEFAULT_VOICES = tuple(
    f"{ACCENTS[i % len(ACCENTS)]}+{VARIANTS[(i // len(ACCENTS) + i) % len(VARIANTS)]}"
    for i in range(len(ACCENTS) * len(VARIANTS))
)
ESPEAK_RATE = 22050  # espeak-ng's output rate, kept: the loader resamples
_SPEED_WPM = (130, 200)
_PITCH = (25, 75)
_PEAK = (0.3, 0.9)
_WORD = re.compile(r"^[\w' -]+$")


def _espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise FileNotFoundError(
            "make_spoken_words_folder needs the espeak-ng speech synthesizer, "
            "which is not on PATH. Install it with `sudo apt-get install "
            "espeak-ng` (Debian/Ubuntu), `brew install espeak-ng` (macOS) or "
            "from https://github.com/espeak-ng/espeak-ng/releases."
        )
    return path


def _espeak_voices(espeak: str) -> tuple[set[str], set[str]]:
    """The names `-v` accepts before a `+` (languages, voice names and files) and
    after it (variants), from `espeak-ng --voices` and `--voices=variant`."""

    def listing(option: str) -> list[str]:
        out = subprocess.run(
            [espeak, option], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        return out.splitlines()[1:]

    names = set()
    for line in listing("--voices"):
        fields = line.split()
        if len(fields) >= 5:
            # Pty, Language, Age/Gender, VoiceName, File, (other language, pty)...
            names.update((fields[1], fields[3], fields[4], fields[4].split("/")[-1]))
            names.update(field[1:] for field in fields[5:] if field.startswith("("))
    variants = {line.split("!v/", 1)[1].strip() for line in listing("--voices=variant")}
    return names, variants


def _check_words(words) -> tuple[str, ...]:
    if isinstance(words, str) or not isinstance(words, Sequence):
        raise TypeError(
            f"`words` must be a sequence of words, e.g. ('yes', 'no'), got {words!r}."
        )
    words = tuple(words)
    for word in words:
        if (
            not isinstance(word, str)
            or not _WORD.match(word)
            or word[0] in "_-' "
            or word == BACKGROUND_NOISE_FOLDER
        ):
            raise ValueError(
                f"`words` must hold words of letters, digits, spaces, ' and - "
                f"(each one is spoken and names a folder), got {word!r}."
            )
    if len(words) < 2 or len({word.lower() for word in words}) != len(words):
        raise ValueError(
            f"`words` must hold at least 2 different words (a classifier needs 2 "
            f"classes; folder names ignore case on some systems), got {words!r}."
        )
    return words


def _check_voices(voices, espeak: str) -> tuple[str, ...]:
    if voices is None:
        return DEFAULT_VOICES
    if isinstance(voices, (int, np.integer)) and not isinstance(voices, bool):
        if not 1 <= voices <= len(DEFAULT_VOICES):
            raise ValueError(
                f"`voices` as a number must be in [1, {len(DEFAULT_VOICES)}] (the "
                f"built-in accent+variant speakers), got {voices}."
            )
        return DEFAULT_VOICES[:voices]
    if isinstance(voices, str) or not isinstance(voices, Sequence) or not voices:
        raise TypeError(
            "`voices` must be None, a number of speakers or a sequence of "
            f"espeak-ng voices such as ('en-us+m3', 'en-gb-scotland+f2'), got "
            f"{voices!r}."
        )
    languages, variants = _espeak_voices(espeak)
    for voice in voices:
        accent, _, variant = str(voice).partition("+")
        if (
            not isinstance(voice, str)
            or accent not in languages
            or (variant and variant not in variants)
            or "_nohash_" in voice
        ):
            raise ValueError(
                f"`voices` entry {voice!r} is not an espeak-ng voice '<language>' "
                "or '<language>+<variant>'; see `espeak-ng --voices=en` and "
                "`espeak-ng --voices=variant`, e.g. 'en-us+m3'."
            )
    if len(set(voices)) != len(voices):
        raise ValueError(f"`voices` must not repeat a voice, got {voices!r}.")
    return tuple(voices)


def _check_snr(snr_db) -> tuple[float, float]:
    message = (
        "`snr_db` must be (low, high) in dB with low <= high, e.g. (10, 40), or "
        f"None for clean clips, got {snr_db!r}."
    )
    if not isinstance(snr_db, (tuple, list)) or len(snr_db) != 2:
        raise TypeError(message)
    low = check_real("snr_db[0]", snr_db[0], hint=message)
    high = check_real("snr_db[1]", snr_db[1], hint=message)
    if low > high:
        raise ValueError(message)
    return low, high


def _clip_rng(seed: int, word: str, voice: str, n: int) -> np.random.Generator:
    # Per clip, not per call: the same clip whatever order the workers run in.
    digest = hashlib.sha256(f"{seed}:{word}:{voice}:{n}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _parse_stdout_wav(data: bytes) -> np.ndarray:
    """espeak-ng's `--stdout` WAV (its sizes are placeholders) as float64."""
    start = data.find(b"data", 12)
    if data[:4] != b"RIFF" or start < 0:
        raise RuntimeError("espeak-ng wrote no WAV to its standard output")
    (rate,) = struct.unpack("<I", data[24:28])
    if rate != ESPEAK_RATE:
        raise RuntimeError(f"espeak-ng wrote {rate} Hz audio, {ESPEAK_RATE} expected")
    body = data[start + 8 :]
    return np.frombuffer(body[: len(body) // 2 * 2], "<i2") / 32768.0


def mix_noise(
    speech: np.ndarray, snr_db: float, rng: np.random.Generator
) -> np.ndarray:
    """`speech` plus coloured Gaussian noise at `snr_db` dB below its power.

    The noise is white noise smoothed by a random 1-8 tap moving average (white
    to dull), scaled so that `10 log10(mean(speech**2) / mean(noise**2))` is
    `snr_db`, with the speech power measured where the speech is (between its
    first and last sample above 1% of its peak), so leading silence does not
    lower it.

    Args:
        speech: float array `(samples,)`, a clip with the word somewhere in it.
        snr_db: float, the signal-to-noise ratio in dB.
        rng: np.random.Generator, the noise's randomness.

    Returns:
        float64 array `(samples,)`, not clipped.
    """
    taps = int(rng.integers(1, 9))
    noise = np.convolve(rng.normal(size=len(speech) + taps - 1), np.ones(taps), "valid")
    loud = np.flatnonzero(np.abs(speech) > 0.01 * np.max(np.abs(speech)))
    power = np.mean(speech[loud[0] : loud[-1] + 1] ** 2) if loud.size else 0.0
    noise *= np.sqrt(power / 10 ** (snr_db / 10) / np.mean(noise**2))
    return speech + noise


def _synthesize(espeak, word, voice, n, seed, snr_db, timeout, path: Path):
    rng = _clip_rng(seed, word, voice, n)
    speed = int(rng.integers(_SPEED_WPM[0], _SPEED_WPM[1] + 1))
    pitch = int(rng.integers(_PITCH[0], _PITCH[1] + 1))
    command = [espeak, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout"]
    try:
        done = subprocess.run(
            [*command, word], capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(
            f"espeak-ng took over {timeout:g} s to say {word!r} as {voice!r}; "
            "raise `timeout` on a loaded machine."
        ) from err
    if done.returncode != 0 or done.stderr.strip():
        raise RuntimeError(
            f"espeak-ng failed to say {word!r} as {voice!r} (exit "
            f"{done.returncode}): {done.stderr.decode(errors='replace').strip()}"
        )
    speech = _parse_stdout_wav(done.stdout)
    loud = np.flatnonzero(np.abs(speech) > 0.01 * np.max(np.abs(speech)))
    if not loud.size:
        raise RuntimeError(f"espeak-ng said nothing for {word!r} as {voice!r}.")
    speech = speech[loud[0] : loud[-1] + 1][:ESPEAK_RATE]
    speech *= rng.uniform(*_PEAK) / np.max(np.abs(speech))
    clip = np.zeros(ESPEAK_RATE)
    onset = int(rng.integers(0, ESPEAK_RATE - len(speech) + 1))
    clip[onset : onset + len(speech)] = speech
    if snr_db is not None:
        clip = mix_noise(clip, rng.uniform(*snr_db), rng)
    write_wav(path, clip, ESPEAK_RATE)


def make_spoken_words_folder(
    directory: str | os.PathLike,
    *,
    words: Sequence[str] = DEFAULT_WORDS,
    voices: int | Sequence[str] | None = None,
    clips_per_voice: int = 1,
    seed: int = 0,
    snr_db: tuple[float, float] | None = (10.0, 40.0),
    workers: int = 2,
    timeout: float = 10.0,
) -> Path:
    """Writes one-second WAV clips of spoken words, one folder per word.

    Each clip is `directory/<word>/<speaker>_nohash_<n>.wav`, Speech Commands'
    layout, where a speaker is an espeak-ng voice `<accent>+<variant>` (e.g.
    `en-gb-scotland+f2`) and `n` counts that speaker's clips of the word. Per
    clip, with a seeded generator of its own: a speed of 130-200 words per
    minute (`-s`) and a pitch of 25-75 (`-p`); espeak-ng's leading and trailing
    silence is trimmed, the word scaled to a peak of 0.3-0.9 and placed at a
    random onset within one second (cut to one second if longer), and coloured
    noise is added at a random SNR within `snr_db` (see `mix_noise`). Clips are
    mono 16-bit PCM at espeak-ng's 22,050 Hz, so `load_audio_folder` resamples
    them (to 16 kHz by default). The same arguments write the same files (with
    the same espeak-ng version). The folder appears whole or not at all: it is
    written aside and renamed into place.

    The defaults, 10 words x 128 speakers (8 accents x 16 variants) x 1 clip,
    write 1,280 clips (~56 MB), in about 15 s with 2 workers; a test split of
    0.2 holds out 26 speakers.

    Args:
        directory: str or path-like, the folder to write; it must not exist or
            be empty.
        words: sequence of str, at least 2 different words (letters, digits,
            spaces, `'` and `-`): the classes. Defaults to Speech Commands' ten
            command words `("yes", "no", "up", "down", "left", "right", "on",
            "off", "stop", "go")`.
        voices: None (all 128 built-in speakers, `DEFAULT_VOICES`), an int n
            (the first n of them, which differ in accent and variant), or a
            sequence of espeak-ng voices, `"<language>"` or
            `"<language>+<variant>"`. Defaults to None.
        clips_per_voice: int >= 1, clips of each word by each speaker (each
            with its own speed, pitch, onset and noise). Defaults to 1.
        seed: int >= 0, seed of every clip's speed, pitch, loudness, onset and
            noise. Defaults to 0.
        snr_db: (low, high) in dB, the range of the signal-to-noise ratio, or
            None for no noise. Defaults to (10.0, 40.0).
        workers: int >= 1, espeak-ng processes run at once. Defaults to 2.
        timeout: float > 0, seconds one espeak-ng call may take. Defaults to
            10.0.

    Returns:
        The folder, as an absolute `Path`.

    Raises:
        FileNotFoundError: if espeak-ng is not installed (the message says how
            to install it).
        FileExistsError: if `directory` exists and is not an empty folder.
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range, a word is not a usable
            folder name, or a voice is not one espeak-ng has.
        RuntimeError: if espeak-ng fails or times out on a clip.

    Example:

    ```python
    import tempfile

    from keras_distill.data import load_audio_folder

    folder = make_spoken_words_folder(
        f"{tempfile.mkdtemp()}/words", words=("yes", "no"), voices=3
    )
    sorted(path.name for path in (folder / "yes").iterdir())
    # ['en+m1_nohash_0.wav', 'en-gb-scotland+m3_nohash_0.wav', 'en-us+m2_nohash_0.wav']
    data = load_audio_folder(folder, test_fraction=0.3)
    ```
    """
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(
            f"`directory` must be a path to a folder, got {type(directory).__name__}."
        )
    words = _check_words(words)
    clips_per_voice = check_int("clips_per_voice", clips_per_voice, 1)
    seed = check_int("seed", seed, 0)
    if snr_db is not None:
        snr_db = _check_snr(snr_db)
    workers = check_int("workers", workers, 1)
    timeout = check_real("timeout", timeout, low=0, low_inclusive=False)
    root = Path(directory).expanduser().absolute()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(
            f"`directory` {str(root)!r} exists and is not an empty folder; pick a "
            "new path or delete it first."
        )
    espeak = _espeak()
    voices = _check_voices(voices, espeak)
    root.parent.mkdir(parents=True, exist_ok=True)
    with _atomic.atomic_directory(root) as staging:
        jobs = []
        for word in words:
            (staging / word).mkdir(parents=True)
            for voice in voices:
                for n in range(clips_per_voice):
                    path = staging / word / f"{voice}_nohash_{n}.wav"
                    jobs.append((espeak, word, voice, n, seed, snr_db, timeout, path))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_synthesize, *job) for job in jobs]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                # The first failure ends the run (and drops the folder) at once.
                pool.shutdown(cancel_futures=True)
                raise
    return root
