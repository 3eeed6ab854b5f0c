"""The convert stage: decode one shard of a source's items to mono at the target rate.

A shard's items are listed by the download stage (`results/raw/<source>/shards/shard_<id>.tsv`,
see audiogan.sharding). Their audio is written end to end into one 1-D `.npy` (16-bit PCM by
default, see audiogan.dataset for the exact scaling; float32 with `convert.dtype: float32`) with
an index (file, license, start, length, label), so that the segment stage reads a few large arrays
instead of thousands of small files. Items are decoded and appended one at a time: memory is one
item's audio, whatever the shard's size. Files that cannot be decoded are recorded in the rejects
table and the run goes on.
"""

from __future__ import annotations

import logging
import os
import time

from .audio_io import AudioDecodeError, load_mono
from .dataset import DTYPES, encode_samples
from .npyfile import npy_appender
from .tsv import read_tsv, write_tsv

log = logging.getLogger(__name__)

INDEX_COLUMNS = ("file", "license", "start", "length", "label")
REJECT_COLUMNS = ("file", "reason")
_PROGRESS_EVERY_S = 10.0


def convert_shard(
    listing_tsv: str | os.PathLike,
    sample_rate: int,
    out_audio: str | os.PathLike,
    out_index: str | os.PathLike,
    out_rejects: str | os.PathLike,
    dtype: str = "int16",
) -> None:
    """Decode the items of a shard listing; write the audio (`dtype` samples), index and rejects."""
    if dtype not in DTYPES:
        raise ValueError(f"convert.dtype: {dtype!r} is not allowed; allowed: {', '.join(DTYPES)}")
    items = read_tsv(listing_tsv)
    log.info("%s: %d items, target %d Hz mono, %s samples", listing_tsv, len(items), sample_rate, dtype)

    index: list[dict[str, object]] = []
    rejects: list[dict[str, str]] = []
    began = last_report = time.monotonic()
    with npy_appender(out_audio, (), DTYPES[dtype]) as audio_out:
        for number, item in enumerate(items, 1):
            try:
                audio = load_mono(item["path"], sample_rate)
            except (AudioDecodeError, ValueError, OSError) as error:
                reason = error.reason if isinstance(error, AudioDecodeError) else f"{type(error).__name__}: {error}"
                rejects.append({"file": item["file"], "reason": reason})
                log.warning("rejected %s: %s", item["file"], reason)
                continue
            start = audio_out.append(encode_samples(audio, dtype))
            index.append({"file": item["file"], "license": item.get("license", ""), "start": start, "length": audio.size,
                          "label": item.get("label", "")})  # fmt: skip
            del audio
            now = time.monotonic()
            if now - last_report >= _PROGRESS_EVERY_S:
                last_report = now
                _report(number, len(items), audio_out.rows, sample_rate, now - began)
        samples = audio_out.rows
    write_tsv(out_index, index, INDEX_COLUMNS)
    write_tsv(out_rejects, rejects, REJECT_COLUMNS)
    _report(len(items), len(items), samples, sample_rate, time.monotonic() - began)
    log.info("%s: %d converted, %d rejected", listing_tsv, len(index), len(rejects))


def _report(done: int, total: int, samples: int, sample_rate: int, elapsed: float) -> None:
    seconds = samples / sample_rate
    log.info(
        "%d/%d items, %.1f s of audio in %.1f s (%.0fx realtime)",
        done, total, seconds, elapsed, seconds / elapsed if elapsed > 0 else float("inf"),
    )  # fmt: skip
