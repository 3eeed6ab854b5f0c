"""The convert stage: decode one shard of a source's items to mono float32 at the target rate.

A shard's audio is concatenated into one `.npy` file with an index (file, license, start, length)
so that the segment stage reads a few large arrays instead of thousands of small files. Files that
cannot be decoded are recorded in the rejects table and the run goes on.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from .audio_io import AudioDecodeError, load_mono
from .npyfile import npy_writer, write_rows
from .tsv import read_tsv, write_tsv

log = logging.getLogger(__name__)

INDEX_COLUMNS = ("file", "license", "start", "length")
REJECT_COLUMNS = ("file", "reason")
_PROGRESS_EVERY_S = 10.0


def convert_shard(
    items_tsv: str | os.PathLike,
    shard: int,
    shards: int,
    sample_rate: int,
    out_audio: str | os.PathLike,
    out_index: str | os.PathLike,
    out_rejects: str | os.PathLike,
) -> None:
    """Decode items whose row number % shards == shard; write the audio, index and rejects."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is out of range for {shards} shards")
    items = [row for i, row in enumerate(read_tsv(items_tsv)) if i % shards == shard]
    log.info("shard %d/%d of %s: %d items, target %d Hz mono", shard, shards, items_tsv, len(items), sample_rate)

    pieces: list[np.ndarray] = []
    index: list[dict[str, object]] = []
    rejects: list[dict[str, str]] = []
    start = 0
    began = last_report = time.monotonic()
    for number, item in enumerate(items, 1):
        try:
            audio = load_mono(item["path"], sample_rate)
        except (AudioDecodeError, ValueError, OSError) as error:
            reason = error.reason if isinstance(error, AudioDecodeError) else f"{type(error).__name__}: {error}"
            rejects.append({"file": item["file"], "reason": reason})
            log.warning("rejected %s: %s", item["file"], reason)
            continue
        pieces.append(audio)
        index.append({"file": item["file"], "license": item.get("license", ""), "start": start, "length": audio.size})
        start += audio.size
        now = time.monotonic()
        if now - last_report >= _PROGRESS_EVERY_S:
            last_report = now
            _report(number, len(items), start, sample_rate, now - began)

    _save_concatenated(out_audio, pieces, start)
    write_tsv(out_index, index, INDEX_COLUMNS)
    write_tsv(out_rejects, rejects, REJECT_COLUMNS)
    _report(len(items), len(items), start, sample_rate, time.monotonic() - began)
    log.info("shard %d: %d converted, %d rejected", shard, len(index), len(rejects))


def _report(done: int, total: int, samples: int, sample_rate: int, elapsed: float) -> None:
    seconds = samples / sample_rate
    log.info(
        "%d/%d items, %.1f s of audio in %.1f s (%.0fx realtime)",
        done, total, seconds, elapsed, seconds / elapsed if elapsed > 0 else float("inf"),
    )  # fmt: skip


def _save_concatenated(path: str | os.PathLike, pieces: list[np.ndarray], total: int) -> None:
    """Write the pieces end to end as one 1-D float32 .npy, without building a concatenated copy."""
    with npy_writer(path, (total,)) as handle:
        for piece in pieces:
            write_rows(handle, piece)
