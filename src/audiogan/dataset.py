"""The training dataset as the segment stage leaves it: `clips.npy` and `summary.json` beside it.

Every reader of the clips goes through `open_clips` and `clip_rows`, so the on-disk sample format
(float32 today) is decided here only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


class DatasetFormatError(ValueError):
    """clips.npy or summary.json is missing, malformed or inconsistent."""


def open_clips(clips_path: str | os.PathLike) -> np.ndarray:
    """clips.npy as a read-only memory map `[n_clips, clip_samples]` (rows read on demand)."""
    clips = np.load(clips_path, mmap_mode="r")
    if clips.ndim != 2 or clips.shape[0] == 0 or clips.shape[1] == 0:
        raise DatasetFormatError(
            f"{clips_path}: expected a non-empty [n_clips, clip_samples] array, got shape {clips.shape}"
        )
    return clips


def clip_rows(clips: np.ndarray, rows: Any) -> np.ndarray:
    """The given rows (an index, slice or index array) as float32 samples in [-1, 1]."""
    data = clips[rows]
    if np.issubdtype(data.dtype, np.integer):
        return np.asarray(data, dtype=np.float32) / np.float32(32768.0)
    return np.asarray(data, dtype=np.float32)


def read_summary(summary_path: str | os.PathLike) -> dict[str, Any]:
    """summary.json with its `audio` section checked (sample_rate, clip_samples, clip_seconds)."""
    path = Path(summary_path)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetFormatError(f"{path} does not exist (the segment stage writes it beside clips.npy)") from None
    except json.JSONDecodeError as error:
        raise DatasetFormatError(f"{path} is not valid JSON: {error}") from None
    audio = summary.get("audio") if isinstance(summary, dict) else None
    missing = [k for k in ("sample_rate", "clip_samples", "clip_seconds") if not isinstance(audio, dict) or k not in audio]
    if missing:
        raise DatasetFormatError(f"{path}: the 'audio' section lacks {', '.join(missing)}")
    return summary
