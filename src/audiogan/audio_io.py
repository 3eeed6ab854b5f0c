"""Decode any audio file to mono float32 at a chosen rate, resample, and write WAV files.

Files libsndfile reads (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ...) are decoded in-process with
soundfile, which costs no process start per clip. Everything else (m4a/AAC, webm, mp4, wma, ...)
goes through one ffmpeg subprocess per file. Both paths average the channels and resample with
soxr, so a file gives the same audio whichever decoder read it.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from .atomic import atomic_path

log = logging.getLogger(__name__)

# Extensions tried with libsndfile first; a failure there still falls back to ffmpeg.
SOUNDFILE_EXTENSIONS = frozenset(
    "wav wave flac ogg oga opus mp3 aiff aif aifc au snd caf w64 rf64 sd2 voc".split()
)

# Files with more samples than this are read and resampled in blocks, so memory stays bounded.
STREAM_THRESHOLD_SAMPLES = 1 << 25
BLOCK_FRAMES = 1 << 20

_FFMPEG_TIMEOUT_S = 3600


class AudioDecodeError(RuntimeError):
    """A file could not be decoded to audio; carries the path and a one-line reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample 1-D (or [frames, channels]) float audio with soxr; a no-op when the rates match."""
    audio = np.asarray(audio, dtype=np.float32)
    if int(from_rate) == int(to_rate) or audio.shape[0] == 0:
        return audio
    return soxr.resample(audio, int(from_rate), int(to_rate))


def load_mono(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Decode `path` to a 1-D float32 array: the average of its channels, at `sample_rate` Hz.

    Raises AudioDecodeError for a missing, empty, corrupt or non-audio file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise AudioDecodeError(path, f"cannot open file ({error.strerror or error})") from None
    if not path.is_file():
        raise AudioDecodeError(path, "not a regular file")
    if size == 0:
        raise AudioDecodeError(path, "empty file (0 bytes)")

    audio = None
    soundfile_reason = ""
    if path.suffix.lower().lstrip(".") in SOUNDFILE_EXTENSIONS:
        try:
            audio = _load_soundfile(path, sample_rate)
        except (sf.LibsndfileError, RuntimeError) as error:
            # Not readable by libsndfile (wrong extension, unsupported codec, damage): let
            # ffmpeg try, it reads more and is more forgiving.
            soundfile_reason = _one_line(str(error)).replace(f"Error opening {str(path)!r}: ", "")
    if audio is None:
        audio = _load_ffmpeg(path, sample_rate, soundfile_reason)
    if audio.size == 0:
        raise AudioDecodeError(path, "no audio samples decoded")
    if not np.isfinite(audio).all():
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    return audio


def write_audio(
    path: str | os.PathLike, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16"
) -> None:
    """Write 1-D (mono) or [frames, channels] audio as a WAV file, atomically."""
    audio = np.asarray(audio, dtype=np.float32)
    if subtype.startswith("PCM"):
        # Integer formats wrap around on overflow in some readers; clip instead.
        audio = np.clip(audio, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, int(sample_rate), subtype=subtype, format="WAV")


def _to_mono(block: np.ndarray) -> np.ndarray:
    if block.shape[1] == 1:
        return block[:, 0]
    return block.mean(axis=1, dtype=np.float32)


def _load_soundfile(path: Path, sample_rate: int) -> np.ndarray:
    with sf.SoundFile(path) as handle:
        rate, channels, frames = handle.samplerate, handle.channels, handle.frames
        if frames * channels <= STREAM_THRESHOLD_SAMPLES:
            data = handle.read(dtype="float32", always_2d=True)
            return np.ascontiguousarray(resample(_to_mono(data), rate, sample_rate))
        log.info("%s: long file (%d frames), decoding in blocks", path, frames)
        return _resample_blocks(
            (_to_mono(block) for block in handle.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True)),
            rate,
            sample_rate,
        )


def _resample_blocks(blocks, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a stream of mono blocks; the result equals a one-shot soxr.resample."""
    stream = None if from_rate == to_rate else soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32")
    parts = []
    for block in blocks:
        parts.append(block.copy() if stream is None else stream.resample_chunk(block))
    if stream is not None:
        parts.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _ffmpeg_binary() -> str:
    binary = shutil.which("ffmpeg")
    if binary is None:
        raise RuntimeError("ffmpeg is not installed (needed to decode formats libsndfile cannot read)")
    return binary


def _load_ffmpeg(path: Path, sample_rate: int, soundfile_reason: str = "") -> np.ndarray:
    """Decode with one ffmpeg process: float32 WAV on stdout at `sample_rate`, all channels.

    ffmpeg's own down-mix (`-ac 1`) is not an average (stereo gets 0.707 gains), so the channels
    are kept and averaged here, block by block as they arrive.
    """
    command = [
        _ffmpeg_binary(), "-nostdin", "-hide_banner", "-v", "error",
        "-i", str(path),
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1", "-fflags", "+bitexact",
        "-af", f"aresample={int(sample_rate)}:resampler=soxr:precision=28",
        "-c:a", "pcm_f32le", "-f", "wav", "-",
    ]  # fmt: skip
    # stderr goes to a file: a pipe could fill up and block ffmpeg on a badly damaged file.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        try:
            audio = _read_wav_stream(process.stdout)
        except ValueError as error:
            audio, parse_error = None, str(error)
        finally:
            process.stdout.read()  # drain, so ffmpeg can exit
            process.stdout.close()
            code = process.wait(timeout=_FFMPEG_TIMEOUT_S)
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
    if code != 0 or audio is None:
        if "matches no streams" in stderr or "does not contain any stream" in stderr:
            reason = "no audio stream"
        else:
            message = _one_line(stderr).replace(f"{path}: ", "")
            reason = message or (parse_error if audio is None else f"ffmpeg exited with status {code}")
        detail = f"not decodable as audio (ffmpeg: {reason}"
        detail += f"; libsndfile: {soundfile_reason})" if soundfile_reason else ")"
        raise AudioDecodeError(path, detail)
    return audio


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError("no audio output")
    return data


def _read_wav_stream(stream: BinaryIO) -> np.ndarray:
    """Read ffmpeg's streamed float32 WAV (sizes unknown) from a pipe and average the channels."""
    header = _read_exact(stream, 12)
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise ValueError("ffmpeg produced no WAV output")
    channels = 0
    while True:
        chunk_id, chunk_size = struct.unpack("<4sI", _read_exact(stream, 8))
        if chunk_id == b"data":
            break
        body = _read_exact(stream, chunk_size + (chunk_size & 1))
        if chunk_id == b"fmt ":
            channels = struct.unpack("<H", body[2:4])[0]
    if channels < 1:
        raise ValueError("ffmpeg WAV output has no format chunk")
    frame_bytes = 4 * channels
    block_bytes = frame_bytes * BLOCK_FRAMES
    parts, pending = [], b""
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        data = pending + data
        usable = len(data) - len(data) % frame_bytes
        pending = data[usable:]
        frames = np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)
        parts.append(_to_mono(frames).astype(np.float32, copy=True))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
