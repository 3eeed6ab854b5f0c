"""The segment stage: cut converted audio into fixed clips, drop silence, normalize, pack.

Two passes over the converted shards (memory-mapped, so nothing is loaded whole):
1. plan: per item, the clip offsets and each clip's RMS level, from running sums of squares over
   blocks (every sample read once however much the clips overlap); too-short items and silent clips
   are dropped here, and a source left with no clips stops the stage before anything is written;
2. write: the kept clips, normalized in batches of 64, are appended to `clips.npy` (written
   sequentially by `npyfile.npy_writer`), so memory stays at one batch for any dataset size.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .atomic import atomic_write_text
from .config import section_settings
from .jobs import ExpectedError
from .loudness import normalize
from .npyfile import npy_writer, write_rows
from .tsv import read_tsv, write_tsv

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("index", "source", "file", "offset_s", "level_dbfs", "license")
REJECT_COLUMNS = ("source", "file", "reason")
_BATCH_CLIPS = 64  # clips normalized and written at a time (bounds memory: 16 MB at 4 s, 16 kHz)


class DatasetError(ExpectedError, RuntimeError):
    """The dataset cannot be built (e.g. a source yields no clips); the message names the source."""


@dataclass
class _ItemPlan:
    file: str
    license: str
    start: int  # sample offset of the item in its shard's .npy
    offsets: np.ndarray  # kept clips' offsets into the item, in samples
    levels: np.ndarray  # their RMS levels (dBFS) before normalization


@dataclass
class _SourceStats:
    items: int = 0
    clips: int = 0
    silent_clips: int = 0
    too_short: int = 0
    all_silent: int = 0
    convert_rejects: int = 0
    download_failures: int = 0
    input_seconds: float = 0.0
    shards: list[tuple[str, list[_ItemPlan]]] = field(default_factory=list)  # (shard .npy, plans)

    def summary(self, clip_seconds: float) -> dict[str, Any]:
        return {
            "items": self.items,
            "clips": self.clips,
            "seconds": round(self.clips * clip_seconds, 3),
            "input_seconds": round(self.input_seconds, 3),
            "silent_clips": self.silent_clips,
            "rejected": {
                "download": self.download_failures,
                "convert": self.convert_rejects,
                "too_short": self.too_short,
                "silent": self.all_silent,
            },
        }


def clip_levels(audio: np.ndarray, clip: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (samples) of every whole clip of `clip` samples taken every `hop` samples, and
    each clip's RMS level in dBFS. The tail shorter than a clip is dropped."""
    if audio.shape[0] < clip:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    offsets = np.arange(0, audio.shape[0] - clip + 1, hop, dtype=np.int64)
    block = math.gcd(clip, hop)
    if block >= 256:
        # Clips are whole runs of `block`-sample blocks: square-sum each block once (einsum, no
        # temporaries), then add up runs of blocks. Reads every sample once however clips overlap.
        blocks = audio[: offsets[-1] + clip].reshape(-1, block)
        sums = np.zeros(blocks.shape[0] + 1, np.float64)
        np.cumsum(np.einsum("ij,ij->i", blocks, blocks), out=sums[1:])
        energy = sums[(offsets + clip) // block] - sums[offsets // block]
    else:  # hop and clip share no useful block size: one dot product per clip
        windows = np.lib.stride_tricks.sliding_window_view(audio, clip)[::hop]
        energy = np.einsum("ij,ij->i", windows, windows).astype(np.float64)
    with np.errstate(divide="ignore"):
        return offsets, 10.0 * np.log10(np.maximum(energy, 0.0) / clip)  # >= 0 despite roundoff


def build_dataset(
    layout: list[dict[str, Any]],
    audio: dict[str, Any],
    out_clips: str | os.PathLike,
    out_manifest: str | os.PathLike,
    out_rejects: str | os.PathLike,
    out_summary: str | os.PathLike,
) -> None:
    """Build clips.npy, manifest.tsv, rejects.tsv and summary.json from the converted shards.

    `layout` is `dataset_layout()` of rules/common.smk: per source its name, its shards (paths of
    audio/index/rejects) and its download failures table. `audio` is the config's `audio` section.
    """
    settings = section_settings("audio", audio)
    rate = int(settings["sample_rate"])
    clip = int(round(settings["clip_seconds"] * rate))
    hop = max(1, int(round(settings["hop_seconds"] * rate)))
    floor = float(settings["min_level_dbfs"])
    began = time.monotonic()

    rejects: list[dict[str, str]] = []
    stats: dict[str, _SourceStats] = {}
    for entry in layout:
        name = entry["name"]
        source = stats[name] = _plan_source(entry, clip, hop, rate, floor, rejects)
        log.info("source %r: %d clips from %d items (%d silent clips dropped)",
                 name, source.clips, source.items, source.silent_clips)  # fmt: skip
    empty = [
        f"source {name!r}: no clips of {settings['clip_seconds']} s could be cut "
        f"({source.items} items converted, {source.too_short} shorter than one clip, "
        f"{source.all_silent} silent below {floor:g} dBFS, {source.convert_rejects} not decodable, "
        f"{source.download_failures} download failures)"
        for name, source in stats.items()
        if source.clips == 0
    ]
    if empty:  # checked before anything is written
        raise DatasetError("; ".join(empty) + "; see the convert and download logs")

    total = sum(source.clips for source in stats.values())
    manifest = _write_clips(out_clips, stats, total, clip, rate, settings)
    write_tsv(out_manifest, manifest, MANIFEST_COLUMNS)
    write_tsv(out_rejects, rejects, REJECT_COLUMNS)
    summary = {
        "clips": total,
        "total_seconds": round(total * clip / rate, 3),
        "clips_per_source": {name: source.clips for name, source in stats.items()},
        "rejected": {
            kind: sum(source.summary(clip / rate)["rejected"][kind] for source in stats.values())
            for kind in ("download", "convert", "too_short", "silent")
        },
        "silent_clips": sum(source.silent_clips for source in stats.values()),
        "sources": {name: source.summary(clip / rate) for name, source in stats.items()},
        "audio": {**settings, "clip_samples": clip, "hop_samples": hop},
    }
    atomic_write_text(out_summary, json.dumps(summary, indent=2) + "\n")
    elapsed = time.monotonic() - began
    seconds_in = sum(source.input_seconds for source in stats.values())
    log.info("dataset: %d clips [%d x %d] from %.1f s of audio in %.2f s (%.0fx realtime); %d rejects",
             total, total, clip, seconds_in, elapsed, seconds_in / max(elapsed, 1e-9), len(rejects))  # fmt: skip


def _plan_source(
    entry: dict[str, Any], clip: int, hop: int, rate: int, floor: float, rejects: list[dict[str, str]]
) -> _SourceStats:
    """Pass 1 for one source: which clips to keep, plus its rejects from every stage."""
    name = entry["name"]
    source = _SourceStats()
    if entry.get("failures"):
        for row in read_tsv(entry["failures"]):
            rejects.append({"source": name, "file": row["file"], "reason": f"download: {row['reason']}"})
            source.download_failures += 1
    for shard in entry["shards"]:
        for row in read_tsv(shard["rejects"]):
            rejects.append({"source": name, "file": row["file"], "reason": f"convert: {row['reason']}"})
            source.convert_rejects += 1
        data = np.load(shard["audio"], mmap_mode="r")
        plans = []
        for row in read_tsv(shard["index"]):
            start, length = int(row["start"]), int(row["length"])
            if start < 0 or start + length > data.shape[0]:
                raise DatasetError(
                    f"source {name!r}: {shard['index']} says {row['file']!r} spans samples "
                    f"{start}..{start + length}, but {shard['audio']} has {data.shape[0]}; rerun the convert stage"
                )
            source.items += 1
            source.input_seconds += length / rate
            if length < clip:
                rejects.append({"source": name, "file": row["file"],
                                "reason": f"shorter than one clip ({length / rate:.2f} s)"})  # fmt: skip
                source.too_short += 1
                continue
            offsets, levels = clip_levels(data[start : start + length], clip, hop)
            keep = levels >= floor
            source.silent_clips += int(offsets.size - keep.sum())
            if not keep.any():
                loudest = float(np.max(levels))
                rejects.append({"source": name, "file": row["file"], "reason":
                                f"silent: all {offsets.size} clips below {floor:g} dBFS (loudest {loudest:.1f} dBFS)"})
                source.all_silent += 1
                continue
            plans.append(_ItemPlan(row["file"], row.get("license", ""), start, offsets[keep], levels[keep]))
            source.clips += int(keep.sum())
        source.shards.append((shard["audio"], plans))
    return source


def _write_clips(
    path: str | os.PathLike,
    stats: dict[str, _SourceStats],
    total: int,
    clip: int,
    rate: int,
    settings: dict[str, Any],
) -> list[dict[str, object]]:
    """Pass 2: normalize the kept clips batch by batch and append them to a [total, clip] .npy.

    `npy_writer` checks that exactly `total` clips were written before the file takes its name.
    """
    manifest: list[dict[str, object]] = []
    batch = np.empty((_BATCH_CLIPS, clip), np.float32)
    filled = 0

    def flush(handle) -> None:
        nonlocal filled
        if filled:
            block = normalize(batch[:filled], settings["normalize"], sample_rate=rate,
                              peak_dbfs=settings["peak_dbfs"], lufs=settings["loudness_lufs"])  # fmt: skip
            write_rows(handle, block)
            filled = 0

    with npy_writer(path, (total, clip)) as handle:
        for name, source in stats.items():
            for audio_path, plans in source.shards:
                data = np.load(audio_path, mmap_mode="r")
                for plan in plans:
                    for offset, level in zip(plan.offsets.tolist(), plan.levels.tolist()):
                        begin = plan.start + offset
                        batch[filled] = data[begin : begin + clip]
                        filled += 1
                        manifest.append({
                            "index": len(manifest), "source": name, "file": plan.file,
                            "offset_s": round(offset / rate, 6), "level_dbfs": f"{level:.2f}",
                            "license": plan.license,
                        })  # fmt: skip
                        if filled == _BATCH_CLIPS:
                            flush(handle)
                del data
        flush(handle)
    return manifest
