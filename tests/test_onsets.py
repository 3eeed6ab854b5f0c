"""Onset detection and one-shot cutting on synthesized hits at known times, a drum loop and silence."""

import numpy as np
import pytest

from audiogan.audio_io import resample
from audiogan.onsets import cut_at_onsets, detect_onsets, spectral_flux
from audiogan.sources.demo import SAMPLE_RATE, synthesize_oneshot, synthesize_track, track_hits

TIMES = (0.0, 0.25, 0.61, 1.02, 1.4, 1.83, 2.3, 2.62)  # kick, snare, clap, hats, tom, kick, snare: overlapping tails


def hits_at(times, rate, seed=9, seconds=3.5, noise_dbfs=-80.0, indices=None):
    """Demo one-shots `indices` (default 0, 1, ...: kick, snare, clap, closed hat, open hat, tom, ...),
    their pre-roll removed, starting at `times`, mixed, with a little noise."""
    audio = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    for index, when in zip(indices or range(len(times)), times):
        hit, _ = synthesize_oneshot(seed, index)
        hit = hit[int(np.argmax(np.abs(hit) > 0)) :]
        start = round(when * SAMPLE_RATE)
        audio[start : start + hit.size] += hit[: audio.size - start]
    audio += np.float32(10 ** (noise_dbfs / 20)) * np.random.default_rng(0).standard_normal(audio.size).astype(np.float32)
    return resample(audio, SAMPLE_RATE, rate)


@pytest.mark.parametrize("rate", [44100, 16000])
def test_hits_at_known_times_are_found_within_a_few_ms(rate):
    found = detect_onsets(hits_at(TIMES, rate), rate, min_gap_s=0.05) / rate
    assert len(found) == len(TIMES)
    # A few ms: at 16 kHz a hat keeps only its 6-8 kHz band, smeared by the resampler's filter.
    np.testing.assert_allclose(found, TIMES, atol=0.003 if rate == 44100 else 0.005)


def test_hits_closer_than_the_gap_count_once():
    flam = (0.3, 0.32, 1.0)  # a flam (kick, snare) 20 ms apart, then a closed hat
    audio = hits_at(flam, SAMPLE_RATE, seconds=2.0, indices=(0, 1, 3))
    merged = detect_onsets(audio, SAMPLE_RATE, min_gap_s=0.05) / SAMPLE_RATE
    np.testing.assert_allclose(merged, [0.3, 1.0], atol=0.003)  # the earlier hit stands for both
    apart = detect_onsets(audio, SAMPLE_RATE, min_gap_s=0.01) / SAMPLE_RATE
    np.testing.assert_allclose(apart, flam, atol=0.003)


def test_silence_and_faint_noise_have_no_onsets():
    assert len(detect_onsets(np.zeros(2 * SAMPLE_RATE, np.float32), SAMPLE_RATE, 0.05)) == 0
    assert not spectral_flux(np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE).any()
    faint = 1e-4 * np.random.default_rng(1).standard_normal(2 * SAMPLE_RATE).astype(np.float32)  # -80 dBFS
    assert len(detect_onsets(faint, SAMPLE_RATE, 0.05)) == 0


def test_a_drum_loop_onsets_match_its_score():
    gap = 0.05
    audio = synthesize_track(0, 0, 8.0, 8.0).mean(axis=1)
    truth = []
    for when in sorted(t for part in track_hits(0, 0, 8.0, 8.0).values() for t, _ in part if t < 7.9):
        if not truth or when - truth[-1] >= gap:
            truth.append(when)
    truth = np.asarray(truth)
    found = detect_onsets(audio, SAMPLE_RATE, gap) / SAMPLE_RATE
    found = found[found < 7.9]
    error = np.array([np.abs(truth - f).min() for f in found])
    recall = np.mean([np.abs(found - t).min() < 0.005 for t in truth])
    assert np.mean(error < 0.005) >= 0.9  # nearly every onset found is a hit, within 5 ms
    assert recall >= 0.8  # most hits are found (quiet hats under a loud kick may not be)
    assert np.median(error) < 0.002


def test_cut_at_onsets_gives_faded_one_shots_starting_just_before_each_hit():
    rate, clip = 16000, 8000
    times = (0.2, 0.9, 1.25)  # kick, snare, clap: the snare's clip is cut short by the clap's
    audio = hits_at(times, rate, seconds=2.5)
    clips, starts = cut_at_onsets(audio, rate, clip, min_gap_s=0.05, pre_roll_s=0.005, fade_s=0.01)
    assert clips.shape == (3, clip) and clips.dtype == np.float32
    np.testing.assert_allclose(starts / rate, np.asarray(times) - 0.005, atol=0.004)
    for index, one in enumerate(clips):
        peak = np.abs(one).max()
        assert np.abs(one[: round(0.002 * rate)]).max() < 0.05 * peak  # the pre-roll is (nearly) quiet
        assert np.argmax(np.abs(one) > 0.1 * peak) <= round(0.01 * rate)  # the hit comes right after
        # Each clip stops where the next one starts, or when it is full.
        end = int(min(starts[index + 1] - starts[index], clip)) if index + 1 < len(starts) else clip
        np.testing.assert_allclose(one[:end - round(0.01 * rate)], audio[starts[index] : starts[index] + end - round(0.01 * rate)])
        assert abs(one[end - 1]) < 1e-3 * peak + 1e-6  # faded out, no click
        assert not one[end:].any()
    assert cut_at_onsets(np.zeros(rate, np.float32), rate, clip, 0.05, 0.005, 0.01)[0].shape == (0, clip)
