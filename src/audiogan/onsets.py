"""Where hits start: onset detection by spectral flux, and one-shot clips cut at the onsets.

Detection (after Dixon 2006, "Onset detection revisited", and Böck et al. 2012):
1. a log-compressed magnitude spectrogram in 32 log-spaced bands, log(1 + 100 |X|), in ~23 ms
   frames every ~6 ms (bands, not bins: the flux of a ringing cymbal's noise averages out);
2. spectral flux: per frame, the sum over bands of the rise in log magnitude since the frame
   before (half-wave rectified), scaled so the loudest rise is 1;
3. peaks: a frame is an onset candidate when its flux is the largest within ±30 ms (± the gap,
   if that is shorter) and exceeds the mean flux of the surrounding ±100 ms by `FLUX_DELTA`;
4. refinement: a frame only says which 6 ms a hit is in. Around each peak (but after the attack
   of the onset before), the onset is the position, in 0.25 ms steps, where the energy of the
   next 10 ms over that of the 10 ms before is largest, measured on the signal itself and on its
   first difference, whichever gives the clearer jump (a low hit over a ringing cymbal; a bright
   hit over a kick's low tail);
5. onsets where the next 50 ms stay below `FLOOR_DBFS` are dropped (silence, hiss), and one closer
   than `min_gap_s` to the onset before is merged into it (a flam, a clap's bursts, a rattle).

`cut_at_onsets` then takes one clip per onset: from `pre_roll_s` before it, until the next hit's clip
starts or the clip is full, faded out over `fade_s` at its end and zero-padded. Numpy only (the
segment stage's environment has no torch).
"""

from __future__ import annotations

import math

import numpy as np

FRAME_SECONDS = 0.023  # analysis window (power of two nearest to this many samples)
COMPRESSION = 100.0  # log(1 + C |X|): weak partials count, loud ones do not dominate
BANDS = 32  # log-spaced bands the bins are summed into: steady noise then hardly moves the flux
BAND_LOW_HZ = 30.0
PEAK_WINDOW_S = 0.03  # a peak is the largest flux within this much either side
MEAN_WINDOW_S = 0.1  # ... and above the mean flux within this much either side, by FLUX_DELTA
FLUX_DELTA = 0.045  # in units of the largest flux of the signal (bench_onsets.py: 0.03 and 0.06 were worse)
FLOOR_DBFS = -50.0  # an onset needs the next 50 ms to peak above this level
STEP_SECONDS = 0.00025  # refinement resolution
RATIO_WINDOW_S = 0.01  # refinement compares the energy in this much after a position with before it
SILENCE_RATIO = 1e-3  # ... counting energy 30 dB below the hit's as silence
_FRAMES_PER_CHUNK = 4096  # bounds the spectrogram's memory on long files


def frame_sizes(sample_rate: int) -> tuple[int, int]:
    """(n_fft, hop) for a rate: n_fft the power of two nearest FRAME_SECONDS, hop a quarter of it."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    n_fft = 2 ** max(6, round(math.log2(FRAME_SECONDS * sample_rate)))
    return n_fft, n_fft // 4


def band_matrix(sample_rate: int, n_fft: int) -> np.ndarray:
    """`[bins, bands]` 0/1 matrix summing FFT bins into BANDS log-spaced bands from BAND_LOW_HZ to
    Nyquist (bands narrower than a bin are merged into the next)."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = np.geomspace(BAND_LOW_HZ, sample_rate / 2.0, BANDS + 1)
    index = np.searchsorted(edges, freqs, side="right") - 1  # band of each bin; -1 below the lowest
    used = np.unique(index[(index >= 0) & (index < BANDS)])
    matrix = (index[:, None] == used[None, :]).astype(np.float32)
    matrix[-1, -1] = 1.0  # the Nyquist bin sits on the last edge
    return matrix


def spectral_flux(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Flux per frame, scaled to a maximum of 1; all zeros for a signal without any rise (silence, a
    constant). Frame i covers samples [i*hop - n_fft, i*hop): the signal is padded with one frame of
    silence at each end, so a hit at the very start rises from silence like any other."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono [T], got shape {audio.shape}")
    n_fft, hop = frame_sizes(sample_rate)
    padded = np.pad(audio, (n_fft, n_fft))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = np.hanning(n_fft).astype(np.float32)
    bands = band_matrix(sample_rate, n_fft)
    flux = np.zeros(len(frames), np.float64)
    previous = None
    for start in range(0, len(frames), _FRAMES_PER_CHUNK):
        magnitude = np.abs(np.fft.rfft(frames[start : start + _FRAMES_PER_CHUNK] * window)) @ bands
        chunk = np.log1p(COMPRESSION * magnitude)
        before = np.concatenate([chunk[:1] if previous is None else previous, chunk[:-1]])
        flux[start : start + len(chunk)] = np.clip(chunk - before, 0.0, None).sum(axis=1)
        previous = chunk[-1:]
    peak = flux.max() if len(flux) else 0.0
    return flux / peak if peak > 0 else np.zeros_like(flux)


def _refine(audio: np.ndarray, sample_rate: int, frame: int, not_before: int) -> int | None:
    """The sample where the hit found in `frame` starts (see the module docstring, step 4), searched
    from `not_before` on (so a hit just before cannot be found again); None if nothing is left."""
    n_fft, hop = frame_sizes(sample_rate)
    step = max(1, round(STEP_SECONDS * sample_rate))
    width = max(step, round(RATIO_WINDOW_S * sample_rate))
    first = frame * hop - n_fft  # the frame's first sample
    lo, hi = max(0, not_before, first - n_fft // 2), min(len(audio), first + n_fft + n_fft // 2)
    if hi <= lo:
        return None
    # Around the region only: the energy sums stay exact in float64 on any length of file.
    base = max(0, lo - width)
    local = audio[base : min(len(audio), hi + width)].astype(np.float64)
    positions = np.arange(lo, hi, step) - base
    best_ratio, best = -1.0, lo
    # The raw signal finds a low hit (kick, tom) over a bright tail (a ringing hat); its first
    # difference finds a bright hit over a low tail, whose raw energy swings with every cycle.
    for signal in (local, np.diff(local, prepend=local[:1])):
        sums = np.concatenate([[0.0], np.cumsum(signal * signal)])
        after = sums[np.minimum(positions + width, len(signal))] - sums[positions]
        before = sums[positions] - sums[np.maximum(positions - width, 0)]
        # Whatever is 30 dB below the hit counts as silence: near digital silence, a resampler's
        # pre-ringing must not decide where the hit starts.
        floor = max(1e-10 * width, SILENCE_RATIO * float(after.max()))
        ratio = (after + floor) / (before + floor)
        pick = int(np.argmax(ratio))
        if ratio[pick] > best_ratio:
            best_ratio, best = float(ratio[pick]), base + int(positions[pick])
    return best


def detect_onsets(audio: np.ndarray, sample_rate: int, min_gap_s: float) -> np.ndarray:
    """Sample positions (int64, ascending) where hits start; hits closer than `min_gap_s` count once."""
    if min_gap_s <= 0:
        raise ValueError(f"min_gap_s must be positive, got {min_gap_s}")
    audio = np.asarray(audio, dtype=np.float32)
    flux = spectral_flux(audio, sample_rate)
    if not flux.any():
        return np.zeros(0, np.int64)
    _, hop = frame_sizes(sample_rate)
    # A gap below the peak window must be able to separate two hits.
    peak_w = max(1, round(min(PEAK_WINDOW_S, min_gap_s) * sample_rate / hop))
    mean_w = max(1, round(MEAN_WINDOW_S * sample_rate / hop))
    padded = np.pad(flux, (peak_w, peak_w))
    local_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * peak_w + 1).max(axis=1)
    sums = np.concatenate([[0.0], np.cumsum(flux)])
    idx = np.arange(len(flux))
    lo, hi = np.clip(idx - mean_w, 0, len(flux)), np.clip(idx + mean_w + 1, 0, len(flux))
    local_mean = (sums[hi] - sums[lo]) / (hi - lo)
    candidates = np.flatnonzero((flux >= local_max) & (flux > 0) & (flux >= local_mean + FLUX_DELTA))

    look = max(1, round(0.05 * sample_rate))
    floor = 10 ** (FLOOR_DBFS / 20)
    gap = round(min_gap_s * sample_rate)
    onsets: list[int] = []
    attack = min(gap, round(RATIO_WINDOW_S * sample_rate))
    for frame in candidates:
        # Searched after the previous hit's attack, which would otherwise be found again.
        start = _refine(audio, sample_rate, int(frame), onsets[-1] + attack if onsets else 0)
        if start is None or np.abs(audio[start : start + look]).max(initial=0.0) < floor:
            continue
        if onsets and start - onsets[-1] < gap:
            continue  # merged into the hit before
        onsets.append(start)
    return np.asarray(onsets, dtype=np.int64)


def onset_spans(
    audio: np.ndarray, sample_rate: int, clip_samples: int, min_gap_s: float, pre_roll_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Start and length (samples, int64) of one clip per detected onset: from `pre_roll_s` before
    the onset (at 0 at the latest) until the next clip starts or `clip_samples` are taken."""
    if clip_samples < 1 or pre_roll_s < 0:
        raise ValueError(f"need clip_samples >= 1 and pre_roll_s >= 0; got {clip_samples}, {pre_roll_s}")
    onsets = detect_onsets(audio, sample_rate, min_gap_s)
    starts = np.maximum(onsets - round(pre_roll_s * sample_rate), 0)
    lengths = np.minimum(np.append(starts[1:], len(audio)), starts + clip_samples) - starts
    keep = lengths > 0  # a gap shorter than the pre-roll can put two starts at 0
    return starts[keep].astype(np.int64), lengths[keep].astype(np.int64)


def cut_at_onsets(
    audio: np.ndarray, sample_rate: int, clip_samples: int, min_gap_s: float, pre_roll_s: float, fade_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """One clip per detected onset: float32 `[n, clip_samples]` and each clip's start sample.

    A clip starts `pre_roll_s` before its onset (at 0 at the latest) and runs until the next clip
    starts or it is full, whichever is first; its last `fade_s` fades out, and the rest is silence.
    """
    if fade_s < 0:
        raise ValueError(f"need fade_s >= 0; got {fade_s}")
    from .dataset import place_clip  # the one definition of a clip's fade and padding

    audio = np.asarray(audio, dtype=np.float32)
    starts, lengths = onset_spans(audio, sample_rate, clip_samples, min_gap_s, pre_roll_s)
    clips = np.empty((len(starts), clip_samples), np.float32)
    for clip, start, length in zip(clips, starts.tolist(), lengths.tolist()):
        place_clip(clip, audio[start : start + length], round(fade_s * sample_rate))
    return clips, starts
