"""Reading the training dataset: one place that knows how clips are stored on disk.

Audio is stored as 16-bit PCM (`convert.dtype: int16`, the default) or float32. The conversion is
symmetric and exact at full scale:

    write:  q = clip(round(x * 32767), -32767, 32767)   as int16  (`to_pcm16`)
    read:   x = q / 32767                                as float32 (`samples_to_float32`)

so +-1.0 round-trips exactly, -32768 is never written, and the round-trip error is at most
0.5 / 32767 (about -96 dBFS).

The dataset is not a second copy of the audio. The segment stage writes, per converted shard, the
start of every kept clip and its normalization gain; `results/dataset/clips.json` lists the
converted shards and `clip_index.npy` (one row per clip: shard number, start sample, gain). A clip
is read as `clip(samples_to_float32(shard[start:start + clip_samples]) * gain, -1, 1)`, which is
exactly what the normalization (`audiogan.loudness.normalize`) computes, for every mode. One-shot
clips (`audio.segment: onsets`) take `length` samples, fade out over the last `fade_samples` of
them and are silent after (`place_clip`), as the segment stage planned them.

`clip_labels(manifest.tsv)` gives each clip's label as an integer id and the label names.

`open_clips(path)` accepts that `clips.json` or a plain 2-D `.npy` of clips (int16 or float32,
used by tests and the command line), and returns something indexed like an array of rows;
`clip_rows(clips, rows)` reads rows as float32. `read_summary` reads the dataset's `summary.json`,
whose `audio` section (sample rate, clip length) is what training builds its model for.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Union

import numpy as np

from .atomic import atomic_write_text
from .jobs import ExpectedError
from .npyfile import npy_appender
from .tsv import read_tsv_rows

PCM_SCALE = 32767.0
DTYPES = {"int16": np.int16, "float32": np.float32}  # convert.dtype -> stored sample type
FORMAT = "audiogan-clips/1"
# `length`: samples of the clip taken from the shard (less than clip_samples for a one-shot cut
# before the next hit: the rest is faded out and silent, see `place_clip`).
INDEX_DTYPE = np.dtype([("shard", "<u4"), ("start", "<i8"), ("gain", "<f4"), ("length", "<u4")])
# One shard's clips (the segment stage's table).
SHARD_CLIPS_DTYPE = np.dtype([("start", "<i8"), ("gain", "<f4"), ("length", "<u4")])
_HASH_BLOCK = 1 << 22


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16: round(x * 32767), clipped to +-32767."""
    scaled = np.rint(np.asarray(audio, dtype=np.float32) * np.float32(PCM_SCALE))
    return np.clip(scaled, -PCM_SCALE, PCM_SCALE, out=scaled).astype(np.int16)


def encode_samples(audio: np.ndarray, dtype: str) -> np.ndarray:
    """Samples as stored for `convert.dtype` ("int16" or "float32")."""
    if dtype not in DTYPES:
        raise ValueError(f"convert.dtype: {dtype!r} is not allowed; allowed: {', '.join(DTYPES)}")
    return to_pcm16(audio) if dtype == "int16" else np.asarray(audio, dtype=np.float32)


def samples_to_float32(samples: np.ndarray) -> np.ndarray:
    """Stored samples (int16 PCM or float) as float32 in [-1, 1]: int16 is divided by 32767."""
    samples = np.asarray(samples)
    if samples.dtype == np.int16:
        out = samples.astype(np.float32)
        out *= np.float32(1.0 / PCM_SCALE)
        return out
    return samples.astype(np.float32, copy=False)


class DatasetFormatError(ExpectedError, ValueError):
    """The dataset's files are missing, malformed or inconsistent."""


def clip_rows(clips: "Clips", rows: Any) -> np.ndarray:
    """The given rows (an index, slice or index array) of `open_clips` as float32 in [-1, 1]."""
    return samples_to_float32(clips[rows])


def read_summary(summary_path: str | os.PathLike) -> dict[str, Any]:
    """summary.json with its `audio` section checked (sample_rate, clip_samples, clip_seconds)."""
    path = Path(summary_path)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetFormatError(f"{path} does not exist (the dataset stage writes it beside the clips)") from None
    except json.JSONDecodeError as error:
        raise DatasetFormatError(f"{path} is not valid JSON: {error}") from None
    audio = summary.get("audio") if isinstance(summary, dict) else None
    missing = [k for k in ("sample_rate", "clip_samples", "clip_seconds") if not isinstance(audio, dict) or k not in audio]
    if missing:
        raise DatasetFormatError(f"{path}: the 'audio' section lacks {', '.join(missing)}")
    return summary


def place_clip(out: np.ndarray, samples: np.ndarray, fade_samples: int = 0) -> None:
    """Fill the clip row `out` with `samples` (stored or float), their last `fade_samples` faded out
    linearly to zero, and silence after them: how every clip is made, when planned and when read."""
    length = min(len(samples), len(out))
    out[:length] = samples_to_float32(samples[:length])
    out[length:] = 0.0
    ramp = min(int(fade_samples), length)
    if ramp:
        out[length - ramp : length] *= np.linspace(1.0, 0.0, ramp, dtype=np.float32)


class ClipSet:
    """The clips of `clips.json`: rows of normalized float32 audio read from the converted shards.

    Indexed like a 2-D array (an int, a slice or an array of row numbers); only the rows asked for
    are read, from memory-mapped shards. `nbytes` is the size of the rows as float32.
    """

    def __init__(self, path: Path, meta: dict[str, Any], index: np.ndarray, shards: list[np.ndarray]):
        self.path, self.meta, self.index, self.shards = path, meta, index, shards
        self.clip_samples = int(meta["clip_samples"])
        self.fade_samples = int(meta.get("fade_samples", 0))
        self.shape = (len(index), self.clip_samples)
        self.dtype = np.dtype(np.float32)
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.shape[1] * 4

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._rows(np.array([int(key)]))[0]
        if isinstance(key, slice):
            return self._rows(np.arange(*key.indices(len(self))))
        if isinstance(key, tuple):
            rows, *rest = key
            return self[rows][(slice(None), *rest)] if not isinstance(rows, (int, np.integer)) else self[rows][tuple(rest)]
        return self._rows(np.asarray(key))

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64, copy=False)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"clip index out of range for {len(self)} clips")
        entries = self.index[rows]
        full = [self.clip_samples] * len(rows)  # an index written before clips had lengths
        lengths = entries["length"].tolist() if "length" in entries.dtype.names else full
        out = np.empty((len(rows), self.clip_samples), np.float32)
        for i, (shard, start, gain, length) in enumerate(zip(entries["shard"].tolist(), entries["start"].tolist(),
                                                             entries["gain"].tolist(), lengths)):  # fmt: skip
            place_clip(out[i], self.shards[shard][start : start + length], self.fade_samples)
            out[i] *= np.float32(gain)
        return np.clip(out, -1.0, 1.0, out=out)


Clips = Union[np.ndarray, ClipSet]


def open_clips(path: str | os.PathLike) -> Clips:
    """The dataset's clips, memory-mapped: `clips.json` (a ClipSet) or a 2-D `.npy` of clips.

    Rows come out as float32 from a ClipSet; a plain `.npy` may hold int16, which
    `clip_rows` turns into float32 batch by batch.
    """
    path = Path(path)
    if path.suffix == ".json":
        clips: Clips = _open_clip_set(path)
    else:
        clips = np.load(path, mmap_mode="r")
    if clips.ndim != 2 or clips.shape[0] == 0 or clips.shape[1] == 0:
        raise DatasetFormatError(f"{path}: expected a non-empty [n_clips, clip_samples] array, got shape {clips.shape}")
    return clips


def _open_clip_set(path: Path) -> ClipSet:
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise DatasetFormatError(f"{path}: not a clip set (format {meta.get('format')!r}, expected {FORMAT!r})")
    index = np.load(path.parent / meta["index"], mmap_mode="r")
    shards = [np.load(path.parent / shard["audio"], mmap_mode="r") for shard in meta["shards"]]
    for shard, info in zip(shards, meta["shards"]):
        if shard.ndim != 1 or shard.shape[0] != info["samples"]:
            raise DatasetFormatError(
                f"{path}: {info['audio']} has shape {shard.shape}, the index expects {info['samples']} samples; "
                "rerun the segment stage"
            )
    return ClipSet(path, meta, index, shards)


def clip_labels(manifest: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Each clip's label as an integer, from the dataset's `manifest.tsv` (row i is clip i).

    Returns `(ids, names)`: `ids` int64 `[n_clips]`, an index into `names`, or -1 for a clip
    without a label; `names` the distinct labels sorted, so the same labels always get the same
    ids. Streams the manifest (memory: the ids).
    """
    ids: list[int] = []
    numbers: dict[str, int] = {}
    for row in read_tsv_rows(manifest):
        label = row.get("label") or ""
        ids.append(numbers.setdefault(label, len(numbers)) if label else -1)
    names = sorted(numbers)
    rank = {name: number for number, name in enumerate(names)}
    # `numbers` are in order of first sight; the appended -1 keeps "no label" at -1.
    remap = np.array([rank[name] for name in numbers] + [-1], np.int64)
    return remap[np.asarray(ids, np.int64)], names


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def write_clip_set(
    out_json: str | os.PathLike,
    out_index: str | os.PathLike,
    shards: Iterable[dict[str, Any]],
    clip_samples: int,
    sample_rate: int,
    fade_samples: int = 0,
) -> int:
    """Index the shards' clips as one dataset; returns the number of clips.

    `shards`: per converted shard, `audio` (its .npy), `clips` (the segment stage's table of
    starts, gains and lengths) and `sha256` and `samples` of the audio. `fade_samples`: the fade-out
    at the end of each clip's audio (one-shots; 0 for fixed clips). Memory: one shard's table at a time.
    """
    out_json, out_index = Path(out_json), Path(out_index)
    listed = []
    with npy_appender(out_index, (), INDEX_DTYPE) as index:
        for number, shard in enumerate(shards):
            table = np.load(shard["clips"], mmap_mode="r")
            rows = np.empty(len(table), INDEX_DTYPE)
            rows["shard"], rows["start"], rows["gain"] = number, table["start"], table["gain"]
            rows["length"] = table["length"] if "length" in table.dtype.names else clip_samples
            index.append(rows)
            listed.append({
                "audio": os.path.relpath(shard["audio"], out_json.parent),
                "samples": int(shard["samples"]), "sha256": shard["sha256"], "clips": len(table),
            })  # fmt: skip
        total = index.rows
    meta = {
        "format": FORMAT, "clips": total, "clip_samples": int(clip_samples), "sample_rate": int(sample_rate),
        "fade_samples": int(fade_samples),
        "index": os.path.relpath(out_index, out_json.parent), "shards": listed,
    }  # fmt: skip
    atomic_write_text(out_json, json.dumps(meta, indent=1) + "\n")
    return total


def dataset_identity(path: str | os.PathLike) -> dict[str, Any]:
    """Shape, dtype and a content hash of the clips (cheap for any size).

    For `clips.json`: a hash of it and of the clip index (the json holds each shard's sha256). For
    a `.npy`: its size and a hash of its first and last MiB.
    """
    clips = open_clips(path)
    path = Path(path)
    digest = hashlib.sha256()
    if isinstance(clips, ClipSet):
        digest.update(path.read_bytes())
        digest.update(file_sha256(path.parent / clips.meta["index"]).encode())
        size = path.stat().st_size
    else:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            digest.update(handle.read(1 << 20))
            handle.seek(max(0, size - (1 << 20)))
            digest.update(handle.read(1 << 20))
    return {"shape": list(clips.shape), "dtype": str(clips.dtype), "bytes": size, "sha256_ends": digest.hexdigest()}
