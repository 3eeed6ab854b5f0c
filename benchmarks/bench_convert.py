"""Benchmark: convert + segment vs. a bare soundfile + soxr loop over the same files.

Makes Common-Voice-like short clips (~5 s mono MP3 at 32/48 kHz) and a few long stereo files in a
temp folder, then times, on one CPU core:
  (a) bare: for each file soundfile.read -> channel mean -> soxr.resample, results kept in a list;
  (b) ours: audiogan.convert.convert_shard (one shard) + audiogan.segment.segment_shard and index_dataset.
Goal: ours >= 0.75x the bare loop's speed and >= 1000x realtime per core on the short clips.
Both wall and CPU time are reported (best of --repeats): on a shared machine the CPU time of this
process is the steadier figure; the wall time also counts the fsyncs of the atomic writes.

    python benchmarks/bench_convert.py [--clips 200] [--long 4] [--repeats 3] [--rate 16000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from audiogan.convert import convert_shard  # noqa: E402
from audiogan.segment import index_dataset, segment_shard  # noqa: E402
from audiogan.tsv import write_tsv  # noqa: E402

AUDIO = {"clip_seconds": 4.0, "hop_seconds": 2.0, "normalize": "peak", "peak_dbfs": -1.0,
         "loudness_lufs": -16.0, "min_level_dbfs": -50.0}  # fmt: skip


def voice_like(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """A gliding harmonic tone with syllable-rate amplitude bumps and a little breath noise."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t), 0, None) ** 2
    return (0.2 * voice * syllables + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def make_files(folder: Path, clips: int, long_files: int) -> tuple[list[Path], list[Path]]:
    rng = np.random.default_rng(0)
    short = []
    for i in range(clips):
        rate = (32000, 48000)[i % 2]
        path = folder / "clips" / f"common_voice_{i:05d}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, voice_like(rng, rng.uniform(4.0, 6.0), rate), rate, format="MP3", subtype="MPEG_LAYER_III")
        short.append(path)
    long = []
    for i in range(long_files):
        fmt, subtype, ext = (("FLAC", "PCM_16", "flac"), ("MP3", "MPEG_LAYER_III", "mp3"))[i % 2]
        path = folder / "long" / f"set_{i}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        left, right = voice_like(rng, 60.0, 44100), voice_like(rng, 60.0, 44100)
        sf.write(path, np.stack([left, right], 1), 44100, format=fmt, subtype=subtype)
        long.append(path)
    return short, long


def bare(paths: list[Path], rate: int) -> float:
    """The reference: decode, average channels, resample; no bookkeeping, no output files."""
    out = []
    for path in paths:
        data, source_rate = sf.read(path, dtype="float32", always_2d=True)
        mono = data.mean(axis=1, dtype=np.float32)
        out.append(mono if source_rate == rate else soxr.resample(mono, source_rate, rate))
    return sum(x.size for x in out) / rate


class Clock:
    """Wall and CPU seconds of this process (CPU time is not inflated by other load on the core)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        elapsed = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return elapsed


def ours(paths: list[Path], rate: int, work: Path) -> tuple[tuple[float, float], tuple[float, float]]:
    """convert_shard + segment_shard + index_dataset into `work`; returns (wall, cpu) seconds of each.

    Includes what the stages must do beyond decoding: writing (and fsyncing) the shard and the
    clips array, the index, manifest and summary tables."""
    items = work / "items.tsv"
    write_tsv(items, [{"path": str(p), "file": p.name, "license": "CC0-1.0"} for p in paths], ("path", "file", "license"))
    shard = {"audio": str(work / "shard_0.npy"), "index": str(work / "shard_0.tsv"),
             "rejects": str(work / "shard_0.rejects.tsv")}  # fmt: skip
    clock = Clock()
    convert_shard(items, rate, shard["audio"], shard["index"], shard["rejects"])
    converted = clock.lap()
    segmented = {key: str(work / f"segment_0.{key}{ext}") for key, ext in
                 (("clips", ".npy"), ("manifest", ".tsv"), ("rejects", ".tsv"), ("stats", ".json"))}  # fmt: skip
    segment_shard(shard, {"sample_rate": rate, **AUDIO}, *segmented.values())
    layout = [{"name": "bench", "shards": [{"audio": shard["audio"], **segmented}], "failures": None}]
    index_dataset(layout, {"sample_rate": rate, **AUDIO}, work / "clips.json", work / "clip_index.npy",
                  work / "manifest.tsv", work / "rejects.tsv", work / "summary.json")  # fmt: skip
    return converted, clock.lap()


def audio_seconds(paths: list[Path]) -> float:
    return sum(sf.info(str(p)).duration for p in paths)


def measure(name: str, paths: list[Path], rate: int, repeats: int, work: Path) -> list[tuple]:
    seconds = audio_seconds(paths)
    bare(paths, rate)  # warm the page cache and the decoders once
    inf = (float("inf"), float("inf"))
    best_bare, best_convert, best_segment = inf, inf, inf
    for _ in range(repeats):  # alternate, keep the best of each: least disturbed by other load
        clock = Clock()
        bare(paths, rate)
        best_bare = min(best_bare, clock.lap())
        convert_s, segment_s = ours(paths, rate, work)
        best_convert = min(best_convert, convert_s)
        best_segment = min(best_segment, segment_s)
    total = (best_convert[0] + best_segment[0], best_convert[1] + best_segment[1])
    label = f"{name} ({len(paths)} files, {seconds:.0f} s)"
    return [
        (label, "bare sf.read + mean + soxr", seconds, best_bare, best_bare),
        (label, "ours: convert_shard", seconds, best_convert, best_bare),
        (label, "ours: segment_shard + index_dataset", seconds, best_segment, None),
        (label, "ours: convert + segment", seconds, total, best_bare),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--long", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--cpu", type=int, default=0, help="CPU core to pin to (-1: no pinning)")
    args = parser.parse_args()
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    with tempfile.TemporaryDirectory(prefix="bench_convert_") as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        short, long = make_files(folder, args.clips, args.long)
        print(f"made {len(short)} short and {len(long)} long files in {time.perf_counter() - began:.1f} s")
        rows = measure("short MP3 clips 32/48 kHz mono", short, args.rate, args.repeats, folder / "work_short")
        if long:
            rows += measure("long stereo 44.1 kHz FLAC/MP3", long, args.rate, args.repeats, folder / "work_long")
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else "all"
    print(f"\nPython {platform.python_version()}, {platform.machine()}, pinned to CPU(s) {sorted(cpus)}, "
          f"target {args.rate} Hz, best of {args.repeats}\n")  # fmt: skip
    print("| files | pipeline | wall s | cpu s | x realtime (wall) | x realtime (cpu) | speed vs bare (wall) | (cpu) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, what, seconds, (wall, cpu), reference in rows:
        ratios = ("", "") if reference is None else (f"{reference[0] / wall:.2f}x", f"{reference[1] / cpu:.2f}x")
        print(f"| {label} | {what} | {wall:.3f} | {cpu:.3f} | {seconds / wall:,.0f} | {seconds / cpu:,.0f} "
              f"| {ratios[0]} | {ratios[1]} |")

if __name__ == "__main__":
    main()
