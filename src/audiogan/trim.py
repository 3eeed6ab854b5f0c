"""Trimming rendered samples for a sampler: no trailing silence, a short fade at the new end.

A one-shot dropped into a sampler should end where its sound ends: the tail after the last
sample louder than `threshold_dbfs` (relative to full scale) is cut, leaving `release_s` of it,
and the last `fade_s` are faded out with a raised-cosine ramp, so the cut never clicks. A
sample that is silent throughout is kept at a minimal length rather than emptied.
"""

from __future__ import annotations

import numpy as np

THRESHOLD_DBFS = -50.0  # below this a sample counts as silence
RELEASE_S = 0.05  # kept after the last audible sample, for the natural decay
FADE_S = 0.01
MIN_S = 0.05


def trim_tail(audio: np.ndarray, sample_rate: int, threshold_dbfs: float = THRESHOLD_DBFS,
              release_s: float = RELEASE_S, fade_s: float = FADE_S) -> np.ndarray:  # fmt: skip
    """`audio` (1-D) without its trailing silence, faded out at its end (a new float32 array)."""
    audio = np.asarray(audio, dtype=np.float32)
    threshold = 10.0 ** (threshold_dbfs / 20.0)
    audible = np.flatnonzero(np.abs(audio) >= threshold)
    last = int(audible[-1]) + 1 if len(audible) else 0
    keep = min(len(audio), max(last + round(release_s * sample_rate), round(MIN_S * sample_rate)))
    out = audio[:keep].copy()
    fade = min(len(out), round(fade_s * sample_rate))
    if fade > 1:
        out[-fade:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, fade, dtype=np.float32)))
    return out
