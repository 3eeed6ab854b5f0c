"""Log-mel features of audio clips, for the quality metrics and the spectrogram images.

Everything is computed here from first principles (a triangular mel filterbank on an STFT from
`torch.stft`); no pretrained network is involved, so the numbers are reproducible offline and
comparable between runs with the same sample rate. The mel bands span 0 Hz to Nyquist, or to
`fmax` where given (FD-mel up to 20 kHz compares full-band models at 44.1 and 48 kHz alike).
`high_band_share` says how much of a clip's energy lies above a frequency (8 kHz: what a 16 kHz
model cannot make, e.g. a hi-hat's sizzle).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

N_MELS = 40
# Frames are ~32 ms long whatever the rate, so the features describe the same time scale.
WINDOW_SECONDS = 0.032
POWER_FLOOR = 1e-10  # -100 dB: silence maps to a finite value
BATCH = 64  # clips per STFT call: bounds memory for long clip sets


def stft_sizes(sample_rate: int) -> tuple[int, int]:
    """(n_fft, hop) for a sample rate: n_fft is the power of two nearest to 32 ms, hop a quarter."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    n_fft = 2 ** max(5, round(math.log2(WINDOW_SECONDS * sample_rate)))
    return n_fft, n_fft // 4


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def _top_hz(sample_rate: int, fmax: float | None) -> float:
    nyquist = sample_rate / 2.0
    if fmax is None:
        return nyquist
    if not 0 < fmax <= nyquist:
        raise ValueError(f"fmax must be in (0, {nyquist:g}] Hz (Nyquist at {sample_rate} Hz), got {fmax}")
    return float(fmax)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = N_MELS, fmax: float | None = None) -> np.ndarray:
    """Triangular filters `[n_mels, n_fft // 2 + 1]` evenly spaced on the (HTK) mel scale, 0..fmax
    (default: Nyquist).

    Each filter is normalized to unit sum, so a band's value is the mean power under its triangle
    (independent of how many FFT bins it covers).
    """
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(_top_hz(sample_rate, fmax)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    # A filter narrower than the FFT bin spacing can miss every bin; give it its nearest bin.
    for band in np.flatnonzero(weights.sum(axis=1) == 0):
        weights[band, int(np.argmin(np.abs(bins - centre[band, 0])))] = 1.0
    weights /= weights.sum(axis=1, keepdims=True)
    weights.setflags(write=False)
    return weights


def _as_batch(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2:
        raise ValueError(f"audio must be [T] or [N, T], got shape {audio.shape}")
    return audio


def log_mel_spectrogram(
    audio: np.ndarray, sample_rate: int, n_mels: int = N_MELS, fmax: float | None = None
) -> np.ndarray:
    """Log-mel power in dB: `[T] -> [n_mels, frames]` or `[N, T] -> [N, n_mels, frames]` (float32);
    bands up to `fmax` Hz (default: Nyquist)."""
    single = np.asarray(audio).ndim == 1
    batch = _as_batch(audio)
    n_fft, hop = stft_sizes(sample_rate)
    if batch.shape[1] < n_fft:
        raise ValueError(f"clips of {batch.shape[1]} samples are shorter than one {n_fft}-sample frame")
    filters = torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels, fmax).astype(np.float32))
    window = torch.hann_window(n_fft)
    scale = float(window.sum()) ** 2  # full-scale sine -> ~0.25 power in its bin
    out = []
    for start in range(0, batch.shape[0], BATCH):
        chunk = torch.from_numpy(np.array(batch[start : start + BATCH], dtype=np.float32))  # a writable copy
        spec = torch.stft(chunk, n_fft, hop_length=hop, window=window, center=False, return_complex=True)
        power = spec.abs().square() / scale  # [n, bins, frames]
        mel = torch.einsum("mb,nbf->nmf", filters, power)
        out.append((10.0 * torch.log10(mel.clamp_min(POWER_FLOOR))).numpy())
    result = np.concatenate(out, axis=0) if out else np.zeros((0, n_mels, 0), np.float32)
    return result[0] if single else result


def clip_features(audio: np.ndarray, sample_rate: int, fmax: float | None = None) -> np.ndarray:
    """Per-clip summary of the log-mel spectrogram: `[N, T] -> [N, 2 * N_MELS]` float64.

    The mean over frames of each band (spectral envelope, level) followed by the standard
    deviation over frames (how much each band moves: onsets, decays, rhythm). Bands up to `fmax`
    Hz (default: Nyquist).
    """
    batch = _as_batch(audio)
    if batch.shape[0] == 0:
        return np.zeros((0, 2 * N_MELS), dtype=np.float64)
    features = []
    # Chunked so that a memory-mapped clips.npy is read a slice at a time.
    for start in range(0, batch.shape[0], BATCH):
        spec = log_mel_spectrogram(batch[start : start + BATCH], sample_rate, fmax=fmax).astype(np.float64)
        features.append(np.concatenate([spec.mean(axis=2), spec.std(axis=2)], axis=1))
    return np.concatenate(features, axis=0)


def high_band_share(audio: np.ndarray, sample_rate: int, above_hz: float = 8000.0) -> np.ndarray:
    """Per clip, the share of its energy above `above_hz`: `[T]` or `[N, T] -> [N]` float64 in [0, 1].

    From the power spectrum of the whole clip (one FFT, no window: a clip's energy is the sum of
    its bins, Parseval). A silent clip has no share: NaN. At rates whose Nyquist is at or below
    `above_hz` every clip's share is 0.
    """
    batch = _as_batch(audio)
    if above_hz <= 0:
        raise ValueError(f"above_hz must be positive, got {above_hz}")
    out = np.full(batch.shape[0], np.nan)
    frequencies = np.fft.rfftfreq(batch.shape[1], 1.0 / sample_rate)
    high = frequencies > above_hz
    for start in range(0, batch.shape[0], BATCH):
        chunk = np.asarray(batch[start : start + BATCH], dtype=np.float64)
        power = np.abs(np.fft.rfft(chunk, axis=1)) ** 2
        total = power.sum(axis=1)
        share = np.divide(power[:, high].sum(axis=1), total, out=np.full(len(chunk), np.nan), where=total > 0)
        out[start : start + len(chunk)] = share
    return out
