"""The built-in demo source: procedurally synthesized drum loops or labelled one-shots, no network needed.

Each track is a drum kit (kick, snare, clap, closed/open hats, toms, crash) whose sound parameters
are drawn per track, playing a style (house, boom bap, funk, rock, breakbeat, half-time) at a
random tempo with swing, velocity accents, ghost notes, extra kicks, fills and crashes at phrase
ends. Everything derives from `seed` and the track number, so the same config always gives the
same audio. Tracks are written as 44.1 kHz stereo in rotating formats (WAV, FLAC, MP3, OGG), so
the conversion stage has real decoding, down-mixing and resampling to do.

With `content: oneshots` the source is instead a folder of labelled single hits (kick, snare,
clap, closed hat, open hat, tom), each from its own randomly drawn kit, the hit starting within
2 ms of the file's start: the kind of folder a producer trains on, with a `label` column in
items.tsv. `oneshot_clips` gives the same hits as arrays, for the quality benchmark.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy import signal

from ..atomic import atomic_path
from ..audio_io import resample, write_audio
from ..config import source_defaults
from . import FetchResult, Item

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100
LICENSE = "CC0-1.0 (synthesized)"
# Bump when the synthesis changes, so cached tracks from older code are not reused.
GENERATOR_VERSION = 3  # 3: voices fade out at their end (no click where a kick's sample stops)
# Part of every track's random seeds; fixed, so that a synthesis fix does not redraw every track.
_DRAW = 2
# (extension, soundfile format, subtype), used in rotation by track number.
FORMATS = (
    ("wav", "WAV", "PCM_16"),
    ("flac", "FLAC", "PCM_16"),
    ("mp3", "MP3", "MPEG_LAYER_III"),
    ("ogg", "OGG", "VORBIS"),
)
# Bump when the one-shot synthesis changes (its own number: the loops are unaffected).
ONESHOT_VERSION = 1
ONESHOT_LABELS = ("kick", "snare", "clap", "closed_hat", "open_hat", "tom")
ONESHOT_PREROLL_S = 0.002  # at most this much silence before a hit (drawn per hit)
ONESHOT_LEVEL_DBFS = (-12.0, -1.0)  # peak level of a hit, drawn per hit
ONESHOT_FADE_S = 0.01  # fade-out where a hit is cut short by the clip's end

STEPS = 16  # sixteenth notes per bar
_WRITE_BLOCK = 16384  # frames per libsndfile write call
_LEVELS = {"X": 1.0, "x": 0.8, "g": 0.28, ".": 0.0}
VOICE_FADE_S = 0.02
TOM_RATIOS = (1.78, 1.33, 1.0)  # high, mid, low tom pitch over the kit's base pitch


@dataclass(frozen=True)
class Style:
    """A groove: one bar of each part as text ('X' accent, 'x' hit, 'g' ghost, '.' rest)."""

    tempo: tuple[float, float]
    kick: tuple[str, ...]  # alternatives, one picked per track, the other used for variation bars
    snare: str
    clap: str
    hats: str  # 'o' marks an open hat
    hat_16ths: bool  # hats on every sixteenth (else eighths, as written)
    swing: tuple[float, float]  # delay of odd sixteenths, as a fraction of a sixteenth
    ghost_rate: float


STYLES: dict[str, Style] = {
    "house": Style((118, 128), ("X...X...X...X...", "X...X...X...X..x"), "................",
                   "....X.......X...", "x.o.x.o.x.o.x.o.", False, (0.0, 0.12), 0.0),
    "boom_bap": Style((82, 98), ("X.........X.....", "X......x..X..x.."), "....X.......X...",
                      "................", "x.x.x.x.x.x.x.x.", False, (0.18, 0.33), 0.18),
    "funk": Style((96, 112), ("X..x..X...x..x..", "X.x...X...x....x"), "....X..g.g..X..g",
                  "................", "xxxxxxxxxxxxxxxx", True, (0.05, 0.2), 0.12),
    "rock": Style((100, 140), ("X.....x.X.x.....", "X.......X.x....."), "....X.......X...",
                  "................", "x.x.x.x.x.x.x.x.", False, (0.0, 0.05), 0.04),
    "breakbeat": Style((124, 140), ("X.X.......XX....", "X.X.......X..x.."), "....X..x.x..X..x",
                       "................", "x.x.x.x.x.x.x.o.", False, (0.0, 0.1), 0.1),
    "half_time": Style((80, 96), ("X......X..X.....", "X.....X...X..X.."), "........X.......",
                       "........X.......", "xxxxxxxxxxxxxxxx", True, (0.0, 0.15), 0.06),
}  # fmt: skip


def fetch(source: dict[str, Any], cache_dir: Path) -> FetchResult:
    """Synthesize (or reuse) the demo tracks (or one-shots) under cache_dir/<params hash>/ and list them."""
    params = {**source_defaults("demo"), **source}
    if params["content"] == "oneshots":
        return _fetch_oneshots(params, cache_dir)
    tracks, seed = int(params["tracks"]), int(params["seed"])
    low, high = float(params["min_seconds"]), float(params["max_seconds"])
    folder = Path(cache_dir) / params_hash(seed, low, high)
    folder.mkdir(parents=True, exist_ok=True)

    jobs = []
    for index in range(tracks):
        path = folder / track_name(index)
        if not path.exists():  # written atomically, so an existing file is complete
            jobs.append((index, path))
    if jobs:
        log.info("demo %r: synthesizing %d of %d tracks in %s", source.get("name"), len(jobs), tracks, folder)
        _run_jobs(seed, low, high, jobs)
    else:
        log.info("demo %r: reusing %d tracks in %s", source.get("name"), tracks, folder)

    items = []
    for index in range(tracks):
        plan = plan_track(seed, index, low, high)
        extra = {"style": plan.style, "tempo_bpm": f"{plan.tempo:.1f}", "seconds": f"{plan.seconds:.2f}"}
        items.append(Item(path=(folder / track_name(index)).resolve(), file=track_name(index),
                          license=LICENSE, extra=extra))
    return FetchResult(items=items, failures=[])


def _run_jobs(seed: int, low: float, high: float, jobs: list[tuple[int, Path]]) -> None:
    """Synthesize and encode tracks, one process per core. Processes, not threads: libsndfile's
    MP3 encoder crashes (SIGSEGV) when two threads encode at once."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(len(jobs), cores)
    # fork, not spawn: spawn re-runs the caller's __main__ (a Snakemake script has no main guard).
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for index, path in jobs:
            _write_track(seed, index, low, high, path)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_write_track, seed, index, low, high, path) for index, path in jobs]
        for future in futures:
            future.result()


def params_hash(seed: int, min_seconds: float, max_seconds: float) -> str:
    """Folder name for one set of synthesis parameters (the track count is left out: each track
    depends only on the seed and its number, so asking for more tracks reuses the existing ones)."""
    text = json.dumps(
        {"version": GENERATOR_VERSION, "rate": SAMPLE_RATE, "seed": seed, "min": min_seconds, "max": max_seconds},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def track_name(index: int) -> str:
    return f"track_{index:02d}.{FORMATS[index % len(FORMATS)][0]}"


@dataclass(frozen=True)
class TrackPlan:
    style: str
    tempo: float
    seconds: float
    swing: float
    rng_seed: tuple[int, int, int]


def plan_track(seed: int, index: int, min_seconds: float, max_seconds: float) -> TrackPlan:
    """The cheap, listed facts about a track (style, tempo, length), drawn before any audio."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, index, _DRAW])
    style = sorted(STYLES)[int(rng.integers(len(STYLES)))]
    low, high = STYLES[style].tempo
    tempo = float(np.clip(rng.uniform(low, high), 80.0, 140.0))
    seconds = float(rng.uniform(min_seconds, max_seconds)) if max_seconds > min_seconds else float(min_seconds)
    swing = float(rng.uniform(*STYLES[style].swing))
    return TrackPlan(style, tempo, seconds, swing, (seed & 0xFFFFFFFF, index, _DRAW + 1000))


def synthesize_track(seed: int, index: int, min_seconds: float, max_seconds: float) -> np.ndarray:
    """Render one track: float32 [frames, 2] at SAMPLE_RATE, peak between -6 and -1 dBFS."""
    rng, kit, hits, frames = _kit_and_hits(seed, index, min_seconds, max_seconds)
    return _mix(rng, kit, hits, frames)


def track_hits(seed: int, index: int, min_seconds: float, max_seconds: float) -> dict[str, list[tuple[float, float]]]:
    """Every hit of a track, part -> [(time in seconds, velocity)]: where its onsets are."""
    return _kit_and_hits(seed, index, min_seconds, max_seconds)[2]


def _kit_and_hits(seed: int, index: int, min_seconds: float, max_seconds: float):
    """A track's RNG (positioned for mixing), kit, hits and length in frames."""
    plan = plan_track(seed, index, min_seconds, max_seconds)
    rng = np.random.default_rng(list(plan.rng_seed))
    frames = max(1, int(round(plan.seconds * SAMPLE_RATE)))
    kit = _make_kit(rng)
    hits = _arrange(rng, STYLES[plan.style], plan)
    return rng, kit, hits, frames


def _write_track(seed: int, index: int, low: float, high: float, path: Path) -> None:
    audio = synthesize_track(seed, index, low, high)
    _, fmt, subtype = FORMATS[index % len(FORMATS)]
    with atomic_path(path) as tmp:
        with sf.SoundFile(tmp, "w", SAMPLE_RATE, audio.shape[1], subtype=subtype, format=fmt) as handle:
            # In blocks: libsndfile 1.2's Vorbis encoder crashes (SIGSEGV) when handed a minute
            # of audio in one call.
            for start in range(0, audio.shape[0], _WRITE_BLOCK):
                handle.write(audio[start : start + _WRITE_BLOCK])


# --- sounds -----------------------------------------------------------------------------------


def _time(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE


def _filtered(noise: np.ndarray, kind: str, cutoff) -> np.ndarray:
    sos = signal.butter(2, cutoff, btype=kind, fs=SAMPLE_RATE, output="sos")
    return signal.sosfilt(sos, noise)


def _sweep(t: np.ndarray, start_hz: float, end_hz: float, sweep_s: float) -> np.ndarray:
    """Sine whose pitch falls exponentially from start_hz to end_hz (the classic drum 'thump')."""
    freq = end_hz + (start_hz - end_hz) * np.exp(-t / sweep_s)
    return np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE)


def _peak1(x: np.ndarray) -> np.ndarray:
    """The voice at unit peak, its last VOICE_FADE_S faded out: a kick or tom still rings at 10 % of
    its peak where its sample stops, and a hard stop would be a click (an extra transient)."""
    fade = min(x.size, int(VOICE_FADE_S * SAMPLE_RATE))
    x = x / (np.max(np.abs(x)) + 1e-12)
    x[x.size - fade :] *= np.linspace(1.0, 0.0, fade)
    return x.astype(np.float32)


def _kick(rng) -> np.ndarray:
    t = _time(0.6)
    body = _sweep(t, rng.uniform(130, 220), rng.uniform(42, 62), rng.uniform(0.02, 0.05))
    body *= np.exp(-t / rng.uniform(0.08, 0.25))
    click = _filtered(rng.standard_normal(t.size), "highpass", 2000)
    click *= np.exp(-t / 0.0025) * rng.uniform(0.1, 0.5)
    drive = rng.uniform(1.0, 3.0)
    return _peak1(np.tanh(drive * (body + click)))


def _snare(rng) -> np.ndarray:
    t = _time(0.45)
    pitch = rng.uniform(170, 250)
    tone = (_sweep(t, pitch * 1.3, pitch, 0.01) + 0.5 * np.sin(2 * np.pi * pitch * 1.72 * t))
    tone *= np.exp(-t / rng.uniform(0.03, 0.07))
    noise = _filtered(rng.standard_normal(t.size), "bandpass", [rng.uniform(1200, 2500), rng.uniform(7000, 12000)])
    noise *= np.exp(-t / rng.uniform(0.035, 0.09))
    noise /= np.max(np.abs(noise)) + 1e-12
    mix = rng.uniform(0.3, 0.6)
    return _peak1(mix * tone + (1 - mix) * noise)


def _clap(rng) -> np.ndarray:
    t = _time(0.5)
    gap = rng.uniform(0.008, 0.014)
    env = sum(np.where(t >= k * gap, np.exp(-(t - k * gap) / 0.004), 0.0) for k in range(3))
    env += np.where(t >= 3 * gap, np.exp(-(t - 3 * gap) / rng.uniform(0.04, 0.1)), 0.0)
    centre = rng.uniform(900, 1600)
    noise = _filtered(rng.standard_normal(t.size), "bandpass", [centre, centre * 2.2])
    return _peak1(noise * env)


def _metal(rng, t: np.ndarray, brightness: float) -> np.ndarray:
    """Six detuned square waves, the TR-808 recipe for cymbals, mixed with white noise."""
    freqs = np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0]) * brightness
    squares = np.sign(np.sin(2 * np.pi * freqs[:, None] * t[None, :])).sum(axis=0)
    return squares / 6 + rng.uniform(0.3, 0.9) * rng.standard_normal(t.size)


def _hat(rng, seconds: float, decay: float, brightness: float, cutoff: float) -> np.ndarray:
    t = _time(seconds)
    sound = _filtered(_metal(rng, t, brightness), "highpass", cutoff)
    return _peak1(sound * np.exp(-t / decay))


def _tom(rng, pitch: float) -> np.ndarray:
    t = _time(0.7)
    body = _sweep(t, pitch * 1.6, pitch, 0.04) * np.exp(-t / rng.uniform(0.18, 0.32))
    skin = _filtered(rng.standard_normal(t.size), "bandpass", [pitch * 2, pitch * 8]) * np.exp(-t / 0.02)
    return _peak1(body + 0.2 * skin)


def _closed_hat(rng, brightness: float, cutoff: float) -> np.ndarray:
    return _hat(rng, 0.2, rng.uniform(0.015, 0.05), brightness, cutoff)


def _open_hat(rng, brightness: float, cutoff: float) -> np.ndarray:
    return _hat(rng, 0.9, rng.uniform(0.18, 0.4), brightness, cutoff)


def _kit_timbre(rng) -> tuple[float, float, float]:
    """What a kit's cymbals and toms share: metal brightness, hat high-pass cutoff, low tom pitch."""
    return rng.uniform(0.9, 1.6), rng.uniform(6000, 9500), rng.uniform(85, 130)


def _make_kit(rng) -> dict[str, dict[str, Any]]:
    """One kit: sample, level and pan of each part, all drawn per track."""
    brightness, cutoff, tom_base = _kit_timbre(rng)
    kit = {
        "kick": (_kick(rng), 1.0, 0.0),
        "snare": (_snare(rng), rng.uniform(0.6, 0.85), rng.uniform(-0.1, 0.1)),
        "clap": (_clap(rng), rng.uniform(0.45, 0.7), rng.uniform(-0.15, 0.15)),
        "closed_hat": (_closed_hat(rng, brightness, cutoff), rng.uniform(0.15, 0.3), rng.uniform(0.15, 0.45)),
        "open_hat": (_open_hat(rng, brightness, cutoff), rng.uniform(0.12, 0.25), rng.uniform(0.15, 0.45)),
        "crash": (_hat(rng, 2.5, rng.uniform(0.7, 1.4), brightness * 0.8, cutoff * 0.6), rng.uniform(0.18, 0.3),
                  rng.uniform(-0.5, -0.2)),
        "tom_high": (_tom(rng, tom_base * TOM_RATIOS[0]), 0.6, -0.35),
        "tom_mid": (_tom(rng, tom_base * TOM_RATIOS[1]), 0.65, 0.0),
        "tom_low": (_tom(rng, tom_base * TOM_RATIOS[2]), 0.7, 0.35),
    }
    return {name: {"sample": s, "level": level, "pan": pan} for name, (s, level, pan) in kit.items()}


# --- one-shots --------------------------------------------------------------------------------


def oneshot_label(index: int) -> str:
    """The label of one-shot `index`: the labels in turn, so any first N hits are balanced."""
    return ONESHOT_LABELS[index % len(ONESHOT_LABELS)]


def synthesize_oneshot(seed: int, index: int) -> tuple[np.ndarray, str]:
    """One labelled hit at SAMPLE_RATE: float32 mono of its natural length (0.2-0.9 s), and its label.

    Each hit comes from its own kit (pitch, decay, tone, noise colour and drive drawn by the voice;
    cymbal brightness and tom pitch by the kit), at a random peak level, after at most
    ONESHOT_PREROLL_S of silence. It depends only on `seed` and `index`.
    """
    label = oneshot_label(index)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, index, ONESHOT_VERSION + 2000])
    brightness, cutoff, tom_base = _kit_timbre(rng)
    if label == "kick":
        hit = _kick(rng)
    elif label == "snare":
        hit = _snare(rng)
    elif label == "clap":
        hit = _clap(rng)
    elif label == "closed_hat":
        hit = _closed_hat(rng, brightness, cutoff)
    elif label == "open_hat":
        hit = _open_hat(rng, brightness, cutoff)
    else:
        hit = _tom(rng, tom_base * float(rng.choice(TOM_RATIOS)))
    level = np.float32(10 ** (rng.uniform(*ONESHOT_LEVEL_DBFS) / 20))
    preroll = np.zeros(int(rng.uniform(0.0, ONESHOT_PREROLL_S) * SAMPLE_RATE), np.float32)
    return np.concatenate([preroll, hit * level]), label


def fit_with_fade(audio: np.ndarray, samples: int, sample_rate: int) -> np.ndarray:
    """`audio` zero-padded or cut to `samples`; a cut end fades out over ONESHOT_FADE_S (no click)."""
    if audio.shape[0] <= samples:
        return np.pad(audio, (0, samples - audio.shape[0])).astype(np.float32)
    out = audio[:samples].astype(np.float32)
    fade = min(samples, max(1, int(ONESHOT_FADE_S * sample_rate)))
    out[samples - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


def oneshot_clips(count: int, seed: int, sample_rate: int, clip_samples: int) -> tuple[np.ndarray, list[str]]:
    """`count` one-shots (hits 0..count-1 of `seed`) as float32 `[count, clip_samples]` at `sample_rate`,
    and their labels."""
    if count < 0 or clip_samples < 1:
        raise ValueError(f"one-shots: need count >= 0 and clip_samples >= 1, got {count}, {clip_samples}")
    clips = np.zeros((count, clip_samples), np.float32)
    labels = []
    for index in range(count):
        hit, label = synthesize_oneshot(seed, index)
        clip = fit_with_fade(resample(hit, SAMPLE_RATE, sample_rate), clip_samples, sample_rate)
        # A hat loses most of its energy above a low rate's Nyquist: keep the hit's drawn peak level.
        clips[index] = clip * np.float32(np.abs(hit).max() / (np.abs(clip).max() + 1e-12))
        labels.append(label)
    return clips, labels


def oneshot_name(index: int) -> str:
    return f"hit_{index:05d}_{oneshot_label(index)}.wav"


def oneshots_hash(seed: int, hit_seconds: float) -> str:
    """Folder name for one set of one-shot parameters (the count is left out, as for tracks)."""
    text = json.dumps(
        {"content": "oneshots", "version": ONESHOT_VERSION, "rate": SAMPLE_RATE, "seed": seed,
         "seconds": hit_seconds},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fetch_oneshots(params: dict[str, Any], cache_dir: Path) -> FetchResult:
    """Write (or reuse) `hits` one-shot WAVs of `hit_seconds` each and list them with their labels."""
    count, seed, seconds = int(params["hits"]), int(params["seed"]), float(params["hit_seconds"])
    folder = Path(cache_dir) / oneshots_hash(seed, seconds)
    folder.mkdir(parents=True, exist_ok=True)
    frames = max(1, round(seconds * SAMPLE_RATE))
    written = 0
    for index in range(count):
        path = folder / oneshot_name(index)
        if not path.exists():  # written atomically, so an existing file is complete
            hit, _ = synthesize_oneshot(seed, index)
            write_audio(path, fit_with_fade(hit, frames, SAMPLE_RATE), SAMPLE_RATE, "PCM_16")
            written += 1
    log.info("demo %r: %d one-shots in %s (%d synthesized now)", params.get("name"), count, folder, written)
    items = [
        Item(path=(folder / oneshot_name(index)).resolve(), file=oneshot_name(index), license=LICENSE,
             extra={"label": oneshot_label(index)})
        for index in range(count)
    ]
    return FetchResult(items=items, failures=[])


# --- arrangement ------------------------------------------------------------------------------


def _row(text: str) -> np.ndarray:
    return np.array([_LEVELS.get(c, 0.8) for c in text])


def _arrange(rng, style: Style, plan: TrackPlan) -> dict[str, list[tuple[float, float]]]:
    """All hits of the track: part -> [(time in seconds, velocity)]."""
    step_s = 60.0 / plan.tempo / 4
    bars = int(np.ceil(plan.seconds / (step_s * STEPS))) + 1
    phrase = int(rng.choice([4, 8]))
    main, alt = (style.kick if rng.random() < 0.5 else style.kick[::-1])
    use_clap_layer = style.clap.strip(".") == "" and rng.random() < 0.3
    hits: dict[str, list[tuple[float, float]]] = {}

    def add(part: str, bar: int, step: float, velocity: float) -> None:
        swing = plan.swing * step_s if int(step) % 2 == 1 and step == int(step) else 0.0
        jitter = 0.0 if part == "kick" else rng.normal(0, 0.002)
        when = (bar * STEPS + step) * step_s + swing + jitter
        hits.setdefault(part, []).append((max(0.0, when), float(np.clip(velocity, 0.05, 1.0))))

    for bar in range(bars):
        fill = bar % phrase == phrase - 1
        variation = bar % 4 == 3 and not fill
        kick = _row(alt if variation else main)
        snare, clap, hats = _row(style.snare), _row(style.clap), style.hats
        if rng.random() < 0.2:  # an extra kick on an empty eighth
            empty = [s for s in range(0, STEPS, 2) if kick[s] == 0 and snare[s] == 0 and clap[s] == 0]
            if empty:
                kick[int(rng.choice(empty))] = 0.7
        fill_from = STEPS - int(rng.choice([4, 8])) if fill else STEPS
        for step in range(STEPS):
            humanize = 1 + rng.normal(0, 0.07)
            in_fill = step >= fill_from
            if kick[step] and not (in_fill and step % 4):
                add("kick", bar, step, kick[step] * humanize)
            if snare[step] and not in_fill:
                add("snare", bar, step, snare[step] * humanize)
                if use_clap_layer and snare[step] >= 0.8:
                    add("clap", bar, step, 0.8 * humanize)
            elif style.ghost_rate and not in_fill and rng.random() < style.ghost_rate and kick[step] == 0:
                add("snare", bar, step, rng.uniform(0.15, 0.3))
            if clap[step] and not in_fill:
                add("clap", bar, step, clap[step] * humanize)
            _add_hat(rng, add, style, hats, bar, step, humanize)
        if fill:
            _add_fill(rng, add, bar, fill_from)
        if bar > 0 and (bar % phrase == 0) and rng.random() < 0.7:
            add("crash", bar, 0, rng.uniform(0.7, 1.0))
    return hits


def _add_hat(rng, add, style: Style, hats: str, bar: int, step: int, humanize: float) -> None:
    mark = hats[step]
    if mark == "." and not (style.hat_16ths and rng.random() < 0.05):
        return
    accent = 1.0 if step % 4 == 0 else 0.75 if step % 2 == 0 else 0.55
    if rng.random() < 0.04:  # a dropped hat now and then
        return
    if mark == "o" or (step % 4 == 2 and rng.random() < 0.06):
        add("open_hat", bar, step, accent * humanize)
    else:
        add("closed_hat", bar, step, accent * humanize)
        if style.hat_16ths and rng.random() < 0.05:  # a quick 32nd-note roll
            add("closed_hat", bar, step + 0.5, 0.45 * humanize)


def _add_fill(rng, add, bar: int, fill_from: int) -> None:
    kind = rng.choice(["toms", "snare_roll", "mixed"])
    steps = range(fill_from, STEPS)
    toms = ["tom_high", "tom_mid", "tom_low"]
    for i, step in enumerate(steps):
        rise = 0.55 + 0.45 * i / max(1, len(steps) - 1)  # crescendo into the next phrase
        if kind == "snare_roll" or (kind == "mixed" and i % 2 == 0):
            add("snare", bar, step, rise)
            if kind == "snare_roll" and rng.random() < 0.3:
                add("snare", bar, step + 0.5, rise * 0.7)
        else:
            add(toms[min(2, i * 3 // len(steps))], bar, step, rise)


# --- mixing -----------------------------------------------------------------------------------


def _render_bus(sample: np.ndarray, hits: list[tuple[float, float]], frames: int, choke=None) -> np.ndarray:
    bus = np.zeros(frames + sample.size, np.float32)
    chokes = sorted(int(round(t * SAMPLE_RATE)) for t, _ in (choke or []))
    fade = np.linspace(1.0, 0.0, 256, dtype=np.float32)
    for when, velocity in hits:
        start = int(round(when * SAMPLE_RATE))
        if start >= frames:
            continue
        piece = sample * np.float32(velocity**1.5)
        if chokes:  # an open hat stops when the next closed hat is struck
            later = np.searchsorted(chokes, start + 1)
            if later < len(chokes) and chokes[later] - start < piece.size:
                piece = piece[: chokes[later] - start + fade.size].copy()
                piece[-fade.size:] *= fade[: piece[-fade.size:].size]
        bus[start : start + piece.size] += piece
    return bus[:frames]


def _mix(rng, kit: dict[str, dict[str, Any]], hits: dict[str, list[tuple[float, float]]], frames: int) -> np.ndarray:
    stereo = np.zeros((2, frames), np.float32)
    send = np.zeros(frames, np.float32)  # what goes to the room reverb (everything but the kick)
    for part, part_hits in hits.items():
        spec = kit[part]
        choke = hits.get("closed_hat") if part == "open_hat" else None
        bus = _render_bus(spec["sample"], part_hits, frames, choke) * np.float32(spec["level"])
        angle = (spec["pan"] + 1) * np.pi / 4  # constant-power pan
        stereo[0] += bus * np.float32(np.cos(angle))
        stereo[1] += bus * np.float32(np.sin(angle))
        if part != "kick":
            send += bus
    # A small room: exponentially decaying noise, different in each ear, so the stereo is real.
    t = _time(rng.uniform(0.25, 0.45))
    decay, wet = rng.uniform(0.03, 0.09), rng.uniform(0.04, 0.1)
    for channel in range(2):
        ir = (rng.standard_normal(t.size) * np.exp(-t / decay)).astype(np.float32)
        ir *= np.float32(wet / np.sqrt(np.sum(ir**2)))
        stereo[channel] += signal.oaconvolve(send, ir)[:frames].astype(np.float32)
    # Gentle bus saturation, then a random master level so normalization has work to do.
    stereo /= np.max(np.abs(stereo)) + 1e-12
    drive = np.float32(rng.uniform(1.0, 2.0))
    stereo = np.tanh(drive * stereo) / np.tanh(drive)
    stereo *= np.float32(10 ** (rng.uniform(-6.0, -1.0) / 20))
    ramp = min(frames, int(0.02 * SAMPLE_RATE))
    stereo[:, frames - ramp :] *= np.linspace(1, 0, ramp, dtype=np.float32)
    return np.ascontiguousarray(stereo.T, dtype=np.float32)
