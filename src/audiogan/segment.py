"""The segment stage: cut converted audio into clips, drop silence, compute normalization.

Clips are fixed slices every `hop_seconds` (`audio.segment: fixed`), or one-shots
(`audio.segment: onsets`): one clip per detected hit (audiogan.onsets), starting a few ms before
it, ending at the next hit or after `clip_seconds`, faded out and padded with silence.

Per converted shard (`segment_shard`, one job each): every item's clip offsets and RMS levels
(running sums of squares over blocks, every sample read once however much clips overlap); too
short items and silent clips are dropped; each kept clip's normalization gain is computed
(audiogan.loudness.normalize_gains). The shard's result is small: a table of clip starts and gains
(`clips.npy`), its manifest rows, rejects and counts. No audio is copied: the dataset reads clips
from the converted shards (audiogan.dataset).

Then one cheap step (`index_dataset`) joins the shards' tables into `clips.json` +
`clip_index.npy`, `manifest.tsv`, `rejects.tsv` and `summary.json`, streaming (memory: one shard's
table), and stops with a clear error when a source has no clips at all.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_text
from .config import section_settings
from .dataset import SHARD_CLIPS_DTYPE, file_sha256, place_clip, samples_to_float32, write_clip_set
from .jobs import ExpectedError
from .loudness import normalize_gains
from .npyfile import npy_appender
from .onsets import onset_spans
from .tsv import read_tsv, tsv_writer

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("index", "source", "file", "offset_s", "level_dbfs", "license", "label")
SHARD_MANIFEST_COLUMNS = MANIFEST_COLUMNS[2:]
REJECT_COLUMNS = ("source", "file", "reason")
SHARD_REJECT_COLUMNS = REJECT_COLUMNS[1:]
COUNTS = ("items", "clips", "silent_clips", "too_short", "all_silent", "convert_rejects")
_BATCH_CLIPS = 64  # clips whose gains are computed at a time (bounds memory: 16 MB at 4 s, 16 kHz)
_STALE_NAME = re.compile(r"shard_\d+\.[a-z.]+")
# A label with fewer clips than this, or than this share of the largest label's, is warned about:
# a conditional model sees too few examples of it to learn it.
TINY_CLASS_CLIPS = 8
TINY_CLASS_SHARE = 0.05


class DatasetError(ExpectedError, RuntimeError):
    """The dataset cannot be built (e.g. a source yields no clips); the message names the source."""


def clip_settings(audio: dict[str, Any]) -> dict[str, Any]:
    """The audio section with defaults, plus clip, hop and fade lengths in samples (computed here only)."""
    settings = section_settings("audio", audio)
    rate = int(settings["sample_rate"])
    onsets = settings["segment"] == "onsets"
    return {
        **settings,
        "clip_samples": int(round(settings["clip_seconds"] * rate)),
        "hop_samples": max(1, int(round(settings["hop_seconds"] * rate))),
        # Fixed clips are whole slices of the audio; only one-shots fade out at the end of theirs.
        "fade_samples": int(round(settings["onset_fade_seconds"] * rate)) if onsets else 0,
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


def onset_clip_levels(
    audio: np.ndarray, settings: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-shot clips of an item (`audio.segment: onsets`, audiogan.onsets): each clip's offset and
    length in samples, and its level in dBFS: the RMS of the audio it holds (before the fade), so
    a short hit padded with silence is not taken for silence."""
    rate = int(settings["sample_rate"])
    offsets, lengths = onset_spans(audio, rate, settings["clip_samples"], settings["onset_min_gap_seconds"],
                                   settings["onset_pre_roll_seconds"])  # fmt: skip
    # Spans do not overlap: one dot product each reads every sample at most once, no temporaries.
    energy = np.array([float(np.dot(audio[o : o + n], audio[o : o + n])) / max(n, 1)
                       for o, n in zip(offsets.tolist(), lengths.tolist())], np.float64)  # fmt: skip
    with np.errstate(divide="ignore"):
        return offsets, lengths, 10.0 * np.log10(np.maximum(energy, 0.0))


def segment_shard(
    converted: dict[str, Any],
    audio: dict[str, Any],
    out_clips: str | os.PathLike,
    out_manifest: str | os.PathLike,
    out_rejects: str | os.PathLike,
    out_stats: str | os.PathLike,
) -> dict[str, Any]:
    """Plan the clips of one converted shard (`converted`: paths of its audio, index, rejects).

    Writes the table of kept clips (start sample in the shard, gain), their manifest rows (file,
    offset_s, level_dbfs, license), the shard's rejects and `stats` (counts, input seconds, the
    audio's sample count and sha256). Memory: one item's audio and one batch of clips.
    """
    settings = clip_settings(audio)
    rate, clip, hop = int(settings["sample_rate"]), settings["clip_samples"], settings["hop_samples"]
    floor, fade = float(settings["min_level_dbfs"]), settings["fade_samples"]
    one_shots = settings["segment"] == "onsets"
    stats: dict[str, Any] = dict.fromkeys(COUNTS, 0)
    stats["input_seconds"] = 0.0
    began = time.monotonic()
    data = np.load(converted["audio"], mmap_mode="r")
    if data.ndim != 1:
        raise DatasetError(f"{converted['audio']}: expected 1-D converted audio, got shape {data.shape}")
    batch = np.empty((_BATCH_CLIPS, clip), np.float32)
    starts: list[int] = []
    lengths: list[int] = []

    with npy_appender(out_clips, (), SHARD_CLIPS_DTYPE) as table, \
            tsv_writer(out_manifest, SHARD_MANIFEST_COLUMNS) as manifest, \
            tsv_writer(out_rejects, SHARD_REJECT_COLUMNS) as reject:  # fmt: skip

        def flush() -> None:
            if starts:
                rows = np.empty(len(starts), SHARD_CLIPS_DTYPE)
                rows["start"], rows["length"] = starts, lengths
                rows["gain"] = normalize_gains(batch[: len(starts)], settings["normalize"], sample_rate=rate,
                                               peak_dbfs=settings["peak_dbfs"], lufs=settings["loudness_lufs"])  # fmt: skip
                table.append(rows)
                starts.clear()
                lengths.clear()

        for row in read_tsv(converted["rejects"]):
            reject({"file": row["file"], "reason": f"convert: {row['reason']}"})
            stats["convert_rejects"] += 1
        for row in read_tsv(converted["index"]):
            start, length = int(row["start"]), int(row["length"])
            if start < 0 or start + length > data.shape[0]:
                raise DatasetError(
                    f"{converted['index']} says {row['file']!r} spans samples {start}..{start + length}, "
                    f"but {converted['audio']} has {data.shape[0]}; rerun the convert stage"
                )
            stats["items"] += 1
            stats["input_seconds"] += length / rate
            if length < clip and not one_shots:  # a one-shot shorter than a clip is padded with silence
                reject({"file": row["file"], "reason": f"shorter than one clip ({length / rate:.2f} s)"})
                stats["too_short"] += 1
                continue
            item = samples_to_float32(data[start : start + length])
            if one_shots:
                offsets, spans, levels = onset_clip_levels(item, settings)
            else:
                (offsets, levels), spans = clip_levels(item, clip, hop), None
            keep = levels >= floor
            stats["silent_clips"] += int(offsets.size - keep.sum())
            if not keep.any():
                reason = (f"silent: all {offsets.size} clips below {floor:g} dBFS (loudest {float(np.max(levels)):.1f} dBFS)"
                          if offsets.size else "no onsets found (no hit rises above the silence)")  # fmt: skip
                reject({"file": row["file"], "reason": reason})
                stats["all_silent"] += 1
                continue
            taken = spans[keep].tolist() if one_shots else [clip] * int(keep.sum())
            for offset, span, level in zip(offsets[keep].tolist(), taken, levels[keep].tolist()):
                place_clip(batch[len(starts)], item[offset : offset + span], fade)
                starts.append(start + offset)
                lengths.append(span)
                manifest({"file": row["file"], "offset_s": round(offset / rate, 6), "level_dbfs": f"{level:.2f}",
                          "license": row.get("license", ""), "label": row.get("label", "")})  # fmt: skip
                stats["clips"] += 1
                if len(starts) == _BATCH_CLIPS:
                    flush()
            del item
        flush()
    stats.update(samples=int(data.shape[0]), sha256=file_sha256(converted["audio"]),
                 input_seconds=round(stats["input_seconds"], 6))  # fmt: skip
    atomic_write_text(out_stats, json.dumps(stats, indent=1) + "\n")
    log.info("%s: %d clips from %d items (%d silent clips dropped) in %.2f s",
             converted["audio"], stats["clips"], stats["items"], stats["silent_clips"], time.monotonic() - began)  # fmt: skip
    return stats


def index_dataset(
    layout: list[dict[str, Any]],
    audio: dict[str, Any],
    out_clips: str | os.PathLike,
    out_index: str | os.PathLike,
    out_manifest: str | os.PathLike,
    out_rejects: str | os.PathLike,
    out_summary: str | os.PathLike,
) -> None:
    """Join the segmented shards into the dataset: clips.json + clip_index.npy, manifest.tsv,
    rejects.tsv and summary.json.

    `layout`: per source its `name`, its download `failures` table and its `shards`, each with the
    converted `audio` and the segment stage's `clips`, `manifest`, `rejects` and `stats` paths.
    """
    settings = clip_settings(audio)
    rate, clip = int(settings["sample_rate"]), settings["clip_samples"]
    floor = float(settings["min_level_dbfs"])
    stats: dict[str, dict[str, Any]] = {}
    for entry in layout:
        totals: dict[str, Any] = {**dict.fromkeys(COUNTS, 0), "input_seconds": 0.0, "download_failures": 0}
        for shard in entry["shards"]:
            shard["info"] = json.loads(open(shard["stats"], encoding="utf-8").read())
            for key in (*COUNTS, "input_seconds"):
                totals[key] += shard["info"][key]
        if entry.get("failures"):
            totals["download_failures"] = len(read_tsv(entry["failures"]))
        stats[entry["name"]] = totals
        log.info("source %r: %d clips from %d items in %d shards (%d silent clips dropped)",
                 entry["name"], totals["clips"], totals["items"], len(entry["shards"]), totals["silent_clips"])  # fmt: skip
    empty = [
        f"source {name!r}: no clips of {settings['clip_seconds']} s could be cut "
        f"({s['items']} items converted, {s['too_short']} shorter than one clip, "
        f"{s['all_silent']} silent below {floor:g} dBFS, {s['convert_rejects']} not decodable, "
        f"{s['download_failures']} download failures)"
        for name, s in stats.items()
        if s["clips"] == 0
    ]
    if empty:  # checked before anything is written
        message = "; ".join(empty) + "; see the convert and download logs"
        log.error("%s", message)
        raise DatasetError(message)

    shards = [
        {"audio": shard["audio"], "clips": shard["clips"], "samples": shard["info"]["samples"],
         "sha256": shard["info"]["sha256"]}
        for entry in layout for shard in entry["shards"]
    ]  # fmt: skip
    total = write_clip_set(out_clips, out_index, shards, clip, rate, settings["fade_samples"])
    _remove_stale_shards(layout)
    per_label = _join_tables(layout, out_manifest, out_rejects)
    label_warnings = label_balance_warnings(per_label)
    for warning in label_warnings:
        log.warning("%s", warning)
    summary = {
        "clips": total,
        "total_seconds": round(total * clip / rate, 3),
        "clips_per_source": {name: s["clips"] for name, s in stats.items()},
        "clips_per_label": {label: n for label, n in sorted(per_label.items()) if label},
        "unlabelled_clips": per_label.get("", 0),
        "warnings": label_warnings,
        "rejected": {
            "download": sum(s["download_failures"] for s in stats.values()),
            "convert": sum(s["convert_rejects"] for s in stats.values()),
            "too_short": sum(s["too_short"] for s in stats.values()),
            "silent": sum(s["all_silent"] for s in stats.values()),
        },
        "silent_clips": sum(s["silent_clips"] for s in stats.values()),
        "sources": {name: _source_summary(s, clip / rate) for name, s in stats.items()},
        "audio": {k: v for k, v in settings.items()},
        "shards": len(shards),
    }
    atomic_write_text(out_summary, json.dumps(summary, indent=2) + "\n")
    log.info("dataset: %d clips [%d x %d] from %d shards", total, total, clip, len(shards))


def _remove_stale_shards(layout: list[dict[str, Any]]) -> None:
    """Delete converted and segmented files of shards a source no longer has (its items moved to
    other shards): they are no job's output any more and would only take disk space."""
    for entry in layout:
        paths = [Path(path) for shard in entry["shards"] for path in shard.values() if isinstance(path, str)]
        current = {path.name.split(".", 1)[0] for path in paths}
        folders = {path.parent for path in paths}
        for folder in folders:
            for path in folder.glob("shard_*"):
                if _STALE_NAME.fullmatch(path.name) and path.name.split(".", 1)[0] not in current:
                    log.info("removing %s (its shard no longer exists)", path)
                    path.unlink(missing_ok=True)


def _source_summary(s: dict[str, Any], clip_seconds: float) -> dict[str, Any]:
    return {
        "items": s["items"], "clips": s["clips"], "seconds": round(s["clips"] * clip_seconds, 3),
        "input_seconds": round(s["input_seconds"], 3), "silent_clips": s["silent_clips"],
        "rejected": {"download": s["download_failures"], "convert": s["convert_rejects"],
                     "too_short": s["too_short"], "silent": s["all_silent"]},
    }  # fmt: skip


def label_balance_warnings(per_label: dict[str, int]) -> list[str]:
    """Sentences about labels too small to learn (see TINY_CLASS_*) and about clips without a label
    beside labelled ones; `per_label` counts clips per label ("" = unlabelled)."""
    labelled = {label: n for label, n in per_label.items() if label}
    if not labelled:
        return []
    largest = max(labelled.values())
    warnings = [
        f"label {label!r} has only {n} clips ({n / largest:.0%} of the largest label's {largest}); "
        f"a conditional model learns it poorly: add audio of it or leave it out"
        for label, n in sorted(labelled.items())
        if n < TINY_CLASS_CLIPS or n < TINY_CLASS_SHARE * largest
    ]
    if per_label.get(""):
        warnings.append(f"{per_label['']} clips have no label beside {sum(labelled.values())} labelled ones; "
                        "give their sources a `label`")
    return warnings


def _join_tables(
    layout: list[dict[str, Any]], out_manifest: str | os.PathLike, out_rejects: str | os.PathLike
) -> dict[str, int]:
    """Concatenate the shards' manifests (numbering the clips) and all rejects, streaming; returns
    the clips per label ("" = unlabelled)."""
    per_label: dict[str, int] = {}
    number = 0
    with tsv_writer(out_manifest, MANIFEST_COLUMNS) as manifest:
        for entry in layout:
            for shard in entry["shards"]:
                for row in read_tsv(shard["manifest"]):
                    manifest({"index": number, "source": entry["name"], **row})
                    label = row.get("label") or ""
                    per_label[label] = per_label.get(label, 0) + 1
                    number += 1
    with tsv_writer(out_rejects, REJECT_COLUMNS) as reject:
        for entry in layout:
            if entry.get("failures"):
                for row in read_tsv(entry["failures"]):
                    reject({"source": entry["name"], "file": row["file"], "reason": f"download: {row['reason']}"})
            for shard in entry["shards"]:
                for row in read_tsv(shard["rejects"]):
                    reject({"source": entry["name"], **row})
    return per_label
