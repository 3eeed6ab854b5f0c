"""How well `audiogan.onsets` finds the hits of demo drum loops, whose every hit time is known.

For each demo track (seed 0; all parts: kick, snare, clap, hats, toms, crash, ghost notes and rolls,
through the room reverb and bus saturation), hits closer than the gap are merged into the earlier
one, as the detector does; then per track: precision (detected onsets within 5 ms of a hit),
recall (hits with a detected onset within 5 ms), the median timing error, and seconds per minute
of audio. Baseline in the same run: the same flux peaks without the millisecond refinement, each
onset at its frame's centre (what a frame-level detector such as librosa's reports).

    python benchmarks/bench_onsets.py [--tracks 8] [--seconds 20] [--rate 44100]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src")]

import numpy as np  # noqa: E402

from audiogan import onsets  # noqa: E402
from audiogan.audio_io import resample  # noqa: E402
from audiogan.sources.demo import SAMPLE_RATE, plan_track, synthesize_track, track_hits  # noqa: E402

GAP = 0.05
TOLERANCE = 0.005


def merged_hits(seed: int, index: int, seconds: float) -> np.ndarray:
    times = sorted(t for part in track_hits(seed, index, seconds, seconds).values() for t, _ in part)
    kept: list[float] = []
    for when in times:
        if when < seconds - 0.1 and (not kept or when - kept[-1] >= GAP):
            kept.append(when)
    return np.asarray(kept)


def frame_level_onsets(audio: np.ndarray, rate: int) -> np.ndarray:
    """The baseline: flux peaks picked as `detect_onsets` does, reported at frame resolution."""
    flux = onsets.spectral_flux(audio, rate)
    n_fft, hop = onsets.frame_sizes(rate)
    peak_w = max(1, round(min(onsets.PEAK_WINDOW_S, GAP) * rate / hop))
    mean_w = max(1, round(onsets.MEAN_WINDOW_S * rate / hop))
    found: list[float] = []
    for frame in range(len(flux)):
        window = flux[max(0, frame - peak_w) : frame + peak_w + 1]
        around = flux[max(0, frame - mean_w) : frame + mean_w + 1]
        if flux[frame] > 0 and flux[frame] >= window.max() and flux[frame] >= around.mean() + onsets.FLUX_DELTA:
            when = (frame * hop - n_fft // 2) / rate  # frame i's centre (it covers [i*hop - n_fft, i*hop))
            if not found or when - found[-1] >= GAP:
                found.append(max(0.0, when))
    return np.asarray(found)


def score(found: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    if len(found) == 0:
        return float("nan"), 0.0, float("nan")
    error = np.array([np.abs(truth - f).min() for f in found])
    recall = float(np.mean([np.abs(found - t).min() <= TOLERANCE for t in truth]))
    return float(np.mean(error <= TOLERANCE)), recall, float(np.median(error) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=SAMPLE_RATE, help="analysis rate (tracks are resampled)")
    args = parser.parse_args()
    print(f"bench_onsets {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"Python {platform.python_version()}; gap {GAP * 1000:.0f} ms, tolerance {TOLERANCE * 1000:.0f} ms, "
          f"{args.rate} Hz")
    print("| track | style | hits | detected | precision | recall | median error ms | baseline P / R / error ms |"
          " s per audio minute |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals = []
    for index in range(args.tracks):
        truth = merged_hits(0, index, args.seconds)
        audio = resample(synthesize_track(0, index, args.seconds, args.seconds).mean(axis=1), SAMPLE_RATE, args.rate)
        started = time.process_time()
        found = onsets.detect_onsets(audio, args.rate, GAP) / args.rate
        cost = (time.process_time() - started) / (len(audio) / args.rate / 60)
        base = frame_level_onsets(audio, args.rate)
        ours, theirs = score(found, truth), score(base, truth)
        totals.append((*ours, *theirs, cost))
        print(f"| {index} | {plan_track(0, index, args.seconds, args.seconds).style} | {len(truth)} | {len(found)} | "
              f"{ours[0]:.3f} | {ours[1]:.3f} | {ours[2]:.2f} | {theirs[0]:.3f} / {theirs[1]:.3f} / {theirs[2]:.2f} | "
              f"{cost:.2f} |")
    mean = np.nanmean(np.asarray(totals), axis=0)
    print(f"| mean | | | | {mean[0]:.3f} | {mean[1]:.3f} | {mean[2]:.2f} | {mean[3]:.3f} / {mean[4]:.3f} / "
          f"{mean[5]:.2f} | {mean[6]:.2f} |")


if __name__ == "__main__":
    main()
