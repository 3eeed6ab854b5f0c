"""Helpers that synthesize test audio files and converted shards (no network, no stored data)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from audiogan.tsv import write_tsv

FORMATS = {  # extension -> (soundfile format, subtype)
    "wav": ("WAV", "FLOAT"),
    "flac": ("FLAC", "PCM_24"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}


def tone(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 0.5, phase: float = 0.0) -> np.ndarray:
    """A float32 sine of `seconds` at `rate`."""
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def stereo(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.stack([left, right], axis=1), dtype=np.float32)


def write_file(path: Path, audio: np.ndarray, rate: int) -> Path:
    """Write audio in the format named by the path's extension (wav, flac, ogg, mp3)."""
    fmt, subtype = FORMATS[path.suffix.lstrip(".").lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, rate, format=fmt, subtype=subtype)
    return path


def ffmpeg_encode(source: Path, target: Path, *codec_args: str) -> Path:
    """Encode `source` with the real ffmpeg (e.g. to AAC in .m4a)."""
    command = [shutil.which("ffmpeg") or "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source),
               *codec_args, str(target)]  # fmt: skip
    subprocess.run(command, check=True)
    return target


def dominant_frequency(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / rate)[np.argmax(spectrum)])


def write_shard(folder: Path, name: str, items: dict[str, np.ndarray], license_: str = "CC0-1.0",
                rejects: list[tuple[str, str]] = (), labels: dict[str, str] | None = None) -> dict[str, str]:  # fmt: skip
    """Write a converted shard (.npy + index + rejects) as the convert stage would; return its layout
    entry. `labels`: file -> label (others unlabelled)."""
    folder.mkdir(parents=True, exist_ok=True)
    pieces, index, start = [], [], 0
    for file, audio in items.items():
        audio = np.asarray(audio, dtype=np.float32)
        pieces.append(audio)
        index.append({"file": file, "license": license_, "start": start, "length": audio.size,
                      "label": (labels or {}).get(file, "")})  # fmt: skip
        start += audio.size
    paths = {key: str(folder / f"{name}{suffix}") for key, suffix in
             (("audio", ".npy"), ("index", ".tsv"), ("rejects", ".rejects.tsv"))}  # fmt: skip
    np.save(paths["audio"], np.concatenate(pieces) if pieces else np.zeros(0, np.float32))
    write_tsv(paths["index"], index, ("file", "license", "start", "length", "label"))
    write_tsv(paths["rejects"], [{"file": f, "reason": r} for f, r in rejects], ("file", "reason"))
    return paths


def write_failures(path: Path, failures: list[tuple[str, str]]) -> str:
    write_tsv(path, [{"file": f, "reason": r} for f, r in failures], ("file", "reason"))
    return str(path)
