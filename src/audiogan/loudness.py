"""Levels and normalization: RMS in dBFS, peak normalization, and ITU-R BS.1770 loudness.

Every function here is total: silence, clips too short to measure and other edge cases return the
input unchanged (or fall back to a simpler measure) and never produce NaN.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pyloudnorm

MODES = ("peak", "loudness", "none")
# BS.1770 gating blocks are 400 ms; pyloudnorm refuses anything shorter.
_MIN_LOUDNESS_SECONDS = 0.4


def rms_dbfs(x: np.ndarray) -> np.ndarray | float:
    """RMS level in dB relative to full scale (a full-scale square wave is 0 dBFS); -inf for
    silence. A 2-D array gives one level per row."""
    x = np.asarray(x)
    if x.shape[-1] == 0:
        return float("-inf") if x.ndim <= 1 else np.full(x.shape[:-1], -np.inf)
    mean_square = np.mean(np.square(x, dtype=np.float64), axis=-1)
    with np.errstate(divide="ignore"):
        level = 10.0 * np.log10(mean_square)
    return float(level) if np.ndim(level) == 0 else level


def peak_dbfs(x: np.ndarray) -> float:
    """Peak level in dBFS; -inf for silence."""
    peak = float(np.max(np.abs(x))) if np.size(x) else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def peak_normalize(x: np.ndarray, peak_dbfs: float = -1.0) -> np.ndarray:
    """Scale so the highest |sample| is at `peak_dbfs`. 2-D input: each row on its own.
    Silent rows are returned unchanged."""
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0:
        return x.copy()
    out = x * _peak_gains(x, peak_dbfs)
    return np.clip(out, -1.0, 1.0, out=out)


def _peak_gains(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """Per row (keepdims): the gain that puts the row's peak at `peak_dbfs`; 1 for silence."""
    target = np.float32(10.0 ** (peak_dbfs / 20.0))
    peaks = np.max(np.abs(x), axis=-1, keepdims=True)
    return np.divide(target, peaks, out=np.ones_like(peaks), where=peaks > 0)


@functools.lru_cache(maxsize=None)
def _meter(sample_rate: int) -> pyloudnorm.Meter:
    return pyloudnorm.Meter(sample_rate)


def integrated_loudness(x: np.ndarray, sample_rate: int) -> float:
    """BS.1770 integrated loudness in LUFS; -inf for silence or a clip under 0.4 s."""
    x = np.asarray(x)
    if x.shape[0] < int(np.ceil(_MIN_LOUDNESS_SECONDS * sample_rate)) + 1 or not np.any(x):
        return float("-inf")
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(_meter(int(sample_rate)).integrated_loudness(x))
    return value if np.isfinite(value) else float("-inf")


def loudness_normalize(x: np.ndarray, sample_rate: int, lufs: float = -16.0) -> np.ndarray:
    """Scale a 1-D clip to an integrated loudness of `lufs`, then clip to [-1, 1].

    A clip that BS.1770 cannot measure (under 0.4 s, or all of it below the -70 LUFS gate) is
    matched on RMS level instead; digital silence is returned unchanged.
    """
    x = np.asarray(x, dtype=np.float32)
    gain = _loudness_gain(x, sample_rate, lufs)
    if gain is None:
        return x.copy()
    return np.clip(x * gain, -1.0, 1.0)


def _loudness_gain(x: np.ndarray, sample_rate: int, lufs: float) -> np.float32 | None:
    """The gain `loudness_normalize` applies to a 1-D clip; None for digital silence."""
    measured = integrated_loudness(x, sample_rate)
    if not np.isfinite(measured):
        measured = rms_dbfs(x) if x.size else float("-inf")
        if not np.isfinite(measured):
            return None
    return np.float32(10.0 ** ((lufs - measured) / 20.0))


def normalize(
    x: np.ndarray,
    mode: str,
    sample_rate: int | None = None,
    peak_dbfs: float = -1.0,
    lufs: float = -16.0,
) -> np.ndarray:
    """Normalize a clip (or, for peak/none, a 2-D batch of clips) by `mode`: peak, loudness or none."""
    if mode == "peak":
        return peak_normalize(x, peak_dbfs)
    if mode == "loudness":
        if sample_rate is None:
            raise ValueError("loudness normalization needs the sample rate")
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2:
            return np.stack([loudness_normalize(row, sample_rate, lufs) for row in x]) if len(x) else x.copy()
        return loudness_normalize(x, sample_rate, lufs)
    if mode == "none":
        return np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    raise ValueError(f"normalize: unknown mode {mode!r}; allowed: {', '.join(MODES)}")


def normalize_gains(
    x: np.ndarray,
    mode: str,
    sample_rate: int | None = None,
    peak_dbfs: float = -1.0,
    lufs: float = -16.0,
) -> np.ndarray:
    """One gain per row of a 2-D batch such that `normalize(row, mode, ...)` equals
    `clip(row * gain, -1, 1)`: every mode is a per-clip gain followed by clipping, so a dataset can
    store the gain and apply it when the clip is read (audiogan.dataset)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"normalize_gains: expected a 2-D batch, got shape {x.shape}")
    if mode == "peak":
        return _peak_gains(x, peak_dbfs)[:, 0].astype(np.float32)
    if mode == "loudness":
        if sample_rate is None:
            raise ValueError("loudness normalization needs the sample rate")
        gains = [_loudness_gain(row, sample_rate, lufs) for row in x]
        return np.array([1.0 if g is None else g for g in gains], dtype=np.float32)
    if mode == "none":
        return np.ones(len(x), dtype=np.float32)
    raise ValueError(f"normalize: unknown mode {mode!r}; allowed: {', '.join(MODES)}")
