"""WAV files read into float32 waveforms in [-1, 1], and 16-bit PCM written.

A small RIFF reader in NumPy rather than `wave` (which reads integer PCM only)
or `scipy.io.wavfile` (which warns on unknown chunks and raises several
different errors): every way a file can be unreadable becomes one `WavError`
whose message says why, so a folder loader can skip the file and name it.
"""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path

import numpy as np

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 48_000
_PCM = 0x0001
_IEEE_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE
_FORMAT_NAMES = {
    0x0002: "MS ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
}


class WavError(ValueError):
    """A file that is not a WAV file this module can read; the message says why."""


def _parse_fmt(body: bytes) -> tuple[int, int, int, int]:
    """`(format code, channels, sample rate, bits per sample)` of a fmt chunk."""
    if len(body) < 16:
        raise WavError("truncated fmt chunk")
    code, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if code == _EXTENSIBLE:
        # WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's
        # first two bytes.
        if len(body) < 26:
            raise WavError("truncated WAVE_FORMAT_EXTENSIBLE fmt chunk")
        (code,) = struct.unpack("<H", body[24:26])
    return code, channels, rate, bits


def _chunks(data: bytes):
    """`(chunk id, body)` of each RIFF chunk; the data chunk must be whole."""
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack("<4sI", data[offset : offset + 8])
        start = offset + 8
        if start + size > len(data):
            if chunk_id == b"data":
                raise WavError(
                    f"truncated (the data chunk announces {size} bytes, the file "
                    f"holds {len(data) - start})"
                )
            return
        yield chunk_id, data[start : start + size]
        offset = start + size + (size & 1)  # chunks are padded to even sizes


def _samples(body: bytes, code: int, bits: int, channels: int) -> np.ndarray:
    """The frames of a data chunk as float64 `(frames, channels)` in [-1, 1]."""
    width = bits // 8
    frames = len(body) // (width * channels)
    raw = np.frombuffer(body, np.uint8, count=frames * width * channels)
    if code == _IEEE_FLOAT and bits in (32, 64):
        values = raw.view("<f4" if bits == 32 else "<f8").astype(np.float64)
        if not np.all(np.isfinite(values)):
            raise WavError("holds NaN or infinite samples")
        values = np.clip(values, -1.0, 1.0)
    elif code == _PCM and bits == 8:
        values = (raw.astype(np.float64) - 128.0) / 128.0  # 8-bit PCM is unsigned
    elif code == _PCM and bits in (16, 32):
        values = raw.view("<i2" if bits == 16 else "<i4") / float(2 ** (bits - 1))
    elif code == _PCM and bits == 24:
        # Three little-endian bytes into the top of an int32: the sign comes along.
        padded = np.zeros((frames * channels, 4), np.uint8)
        padded[:, 1:] = raw.reshape(-1, 3)
        values = padded.reshape(-1).view("<i4") / float(2**31)
    else:
        name = _FORMAT_NAMES.get(code, f"format code 0x{code:04x}")
        kind = "float" if code == _IEEE_FLOAT else ("PCM" if code == _PCM else name)
        raise WavError(
            f"unsupported encoding ({bits}-bit {kind}; readable: 8/16/24/32-bit "
            "integer PCM and 32/64-bit float)"
        )
    return values.reshape(frames, channels)


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Decodes the bytes of a WAV file into a mono float32 waveform.

    Integer PCM is scaled by its full scale (8-bit unsigned: `(x - 128) / 128`;
    16-bit: `x / 32768`; 24-bit: `x / 2**23`; 32-bit: `x / 2**31`), float is
    clipped to [-1, 1], and channels are averaged into one (a mix-down).

    Args:
        data: bytes, a whole RIFF/WAVE file.

    Returns:
        `(waveform, sample_rate)`: float32 `(frames,)` in [-1, 1] and int Hz.

    Raises:
        WavError: if the bytes are not a RIFF/WAVE file, are truncated, use an
            unsupported encoding or a sample rate outside 8-48 kHz, or hold no
            samples.

    Example:

    >>> import io, wave
    >>> buffer = io.BytesIO()
    >>> with wave.open(buffer, "wb") as file:
    ...     file.setnchannels(1)
    ...     file.setsampwidth(2)
    ...     file.setframerate(16000)
    ...     file.writeframes(np.array([0, 16384, -32768], "<i2").tobytes())
    >>> waveform, rate = decode_wav(buffer.getvalue())
    >>> waveform.tolist(), rate
    ([0.0, 0.5, -1.0], 16000)
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file (bad header)")
    fmt = body = None
    for chunk_id, chunk in _chunks(data):
        if chunk_id == b"fmt " and fmt is None:
            fmt = _parse_fmt(chunk)
        elif chunk_id == b"data" and body is None:
            body = chunk
    if fmt is None:
        raise WavError("no fmt chunk")
    if body is None:
        raise WavError("no data chunk (or truncated before it)")
    code, channels, rate, bits = fmt
    if channels < 1:
        raise WavError("0 channels")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise WavError(
            f"unsupported sample rate {rate} Hz (readable: {MIN_SAMPLE_RATE}-"
            f"{MAX_SAMPLE_RATE} Hz)"
        )
    if bits not in (8, 16, 24, 32, 64):
        raise WavError(f"unsupported encoding ({bits} bits per sample)")
    frames = _samples(body, code, bits, channels)
    if len(frames) == 0:
        raise WavError("holds no samples")
    return frames.mean(axis=1).astype(np.float32), int(rate)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Reads a WAV file into a mono float32 waveform in [-1, 1] (see `decode_wav`).

    Args:
        path: str or path-like, the file.

    Returns:
        `(waveform, sample_rate)`.

    Raises:
        WavError: if the file cannot be read or decoded; the message says why.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise WavError(f"cannot be read ({err.strerror})") from err
    return decode_wav(data)


def write_wav(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int) -> None:
    """Writes a mono waveform in [-1, 1] as a 16-bit PCM WAV file.

    Samples are clipped to [-1, 1], scaled by 32767 and rounded.

    Args:
        path: str or path-like, the file to write.
        waveform: array of shape `(frames,)`.
        sample_rate: int, samples per second.
    """
    pcm = np.round(np.clip(np.asarray(waveform, np.float64), -1.0, 1.0) * 32767.0)
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(int(sample_rate))
        file.writeframes(pcm.astype("<i2").tobytes())
