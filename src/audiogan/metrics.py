"""How good and how new are the rendered samples? FD-mel, NDB/K and nearest-neighbour distances.

All three compare per-clip log-mel features (`audiogan.features.clip_features`) of the rendered
samples with those of the training clips, and each comes with reference points computed the same
way in the same run, so a number can be read without knowing the metric:

- FD-mel (Fréchet distance of Gaussians fitted to the features; lower is closer to the data).
  Floor: other real clips vs the same reference clips. Ceiling: an untrained generator.
- NDB/K (Richardson & Weiss, 2018): k-means bins over the reference clips' features; the fraction
  of bins whose share of samples differs significantly (two-proportion z-test, alpha 0.05) from
  the reference share. Held-out real clips score about alpha by chance; higher means missing or
  over-represented kinds of sound (mode collapse).
- Nearest neighbours on standardized features: each sample's distance to its nearest training
  clip (small = close to something in the data; below `copy_threshold` x the median of the same
  distance for held-out real clips it is flagged as a near-copy) and to its nearest other sample
  (small = the samples repeat each other), each with the held-out real clips as reference. With
  labels, the last also within each label: samples of one label against held-out real clips of it
  (across labels, different labels alone would make the samples look varied).

Two more for full-band models (null where the model's rate cannot carry them):
- FD-mel up to 20 kHz (`fd_mel_20k`): the same FD-mel on 40 mel bands spanning 0-20 kHz, where
  the rate's Nyquist reaches 20 kHz (44.1 and 48 kHz), so runs at those rates compare alike.
- High-band share (`high_band`): the mean over clips of each clip's share of energy above 8 kHz,
  of the samples and of the real clips; a 16 kHz model has none, a hi-hat has much.

"Held-out" here means not in the reference half of the sampled clips; the generator saw every
clip during training, so these are reference points for the metrics, not a test set. Distances are
RMS over the standardized feature dimensions. Real clips (and the untrained generator's output) go
through the same round trip as the samples (resampled to the render rate, quantized to the WAV
subtype, resampled back), so that processing never counts as a difference.

`results/metrics.json` (written by `evaluate`):
    step, checkpoint (which generator was rendered and why: training.selection), sample_rate, features, seeds {evaluate, samples}, clips {total, used, reference,
    held_out, compared, searched_for_copies},
    fd_mel {generated, real_floor, untrained_ceiling},
    fd_mel_20k {fmax_hz, generated, real_floor, untrained_ceiling} or null (Nyquist below 20 kHz),
    high_band {above_hz, generated, real, ratio} (values null where Nyquist is at or below 8 kHz),
    ndb {bins, alpha, generated, held_out_real, reference_shares, generated_shares},
    memorization {copy_threshold, held_out_median_nn_train, threshold_distance,
                  generated_median_nn_train, near_copies},
    diversity {generated_median_nn_generated, held_out_median_nn_held_out,
               per_label {label: {samples, generated, held_out_clips, held_out}} (labelled samples)},
    samples [{index, file, seed, nn_train_distance, nn_generated_distance, near_copy,
              nearest_clip {index, source, file, offset_s, license}}],
    seconds (time the evaluation took).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import soundfile as sf
import torch

from .atomic import atomic_write_text
from .dataset import clip_rows, open_clips
from .devices import resolve_device
from .features import clip_features, high_band_share
from .frechet import frechet_distance
from .tsv import read_tsv

# The checkpoint, model, audio I/O and render modules are imported inside the functions that use
# them: importing this module stays cheap.

log = logging.getLogger(__name__)

ALPHA = 0.05
Z_CRITICAL = 1.959964  # two-sided 5%
SETTINGS = ("max_real_clips", "ndb_bins", "seed", "copy_threshold")  # defaults: schemas/config.schema.yaml
MIN_REAL_CLIPS = 4  # two reference and two held-out clips: the least a covariance needs
FULL_BAND_HZ = 20000.0  # top of the mel bands of fd_mel_20k
HIGH_BAND_HZ = 8000.0  # the Nyquist of a 16 kHz model: what resampling it cannot add


# -- NDB/K -----------------------------------------------------------------------------------------


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.clip(d2, 0.0, None)


def kmeans(points: np.ndarray, k: int, seed: int, iterations: int = 100) -> np.ndarray:
    """Centroids `[k, D]` of a seeded k-means (k-means++ start, then Lloyd iterations).

    A cluster that empties is re-seeded with the point farthest from its centroid, so k bins
    come back.
    """
    points = np.asarray(points, dtype=np.float64)
    if not 1 <= k <= len(points):
        raise ValueError(f"k-means: k={k} needs between 1 and {len(points)} (the number of points)")
    rng = np.random.default_rng(seed)
    centroids = points[[rng.integers(len(points))]]
    while len(centroids) < k:
        d2 = _sq_dist(points, centroids).min(axis=1)
        pick = rng.choice(len(points), p=d2 / d2.sum()) if d2.sum() > 0 else rng.integers(len(points))
        centroids = np.vstack([centroids, points[pick]])
    for _ in range(iterations):
        d2 = _sq_dist(points, centroids)
        labels = d2.argmin(axis=1)
        updated = centroids.copy()
        for j in range(k):
            members = points[labels == j]
            updated[j] = members.mean(axis=0) if len(members) else points[d2.min(axis=1).argmax()]
        if np.allclose(updated, centroids):
            break
        centroids = updated
    return centroids


def two_proportion_differs(count_a: np.ndarray, n_a: int, count_b: np.ndarray, n_b: int) -> np.ndarray:
    """Per bin: do the shares count_a/n_a and count_b/n_b differ (pooled two-sided z-test, 5%)?"""
    pooled = (count_a + count_b) / (n_a + n_b)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    z = np.divide(count_a / n_a - count_b / n_b, se, out=np.zeros_like(se), where=se > 0)
    return np.abs(z) > Z_CRITICAL


def ndb(reference: np.ndarray, other: np.ndarray, centroids: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """NDB/K of `other` against `reference` over the given bins: (fraction, reference shares, other shares)."""
    k = len(centroids)
    ref = np.bincount(_sq_dist(reference, centroids).argmin(1), minlength=k).astype(np.float64)
    oth = np.bincount(_sq_dist(other, centroids).argmin(1), minlength=k).astype(np.float64)
    differs = two_proportion_differs(ref, len(reference), oth, len(other))
    return float(differs.mean()), ref / len(reference), oth / len(other)


# -- nearest neighbours ----------------------------------------------------------------------------


def nearest(queries: np.ndarray, pool: np.ndarray, leave_one_out: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the index of its nearest pool row and the RMS distance to it.

    `leave_one_out` (queries are the pool) skips each row's match with itself.
    """
    d2 = _sq_dist(queries, pool)
    if leave_one_out:
        np.fill_diagonal(d2, np.inf)
    index = d2.argmin(axis=1)
    return index, np.sqrt(d2[np.arange(len(queries)), index] / queries.shape[1])


def _median(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None


def _median_nn_within(points: np.ndarray) -> float | None:
    """The median distance from each point to its nearest other point (None for fewer than two)."""
    return _median(nearest(points, points, leave_one_out=True)[1]) if len(points) >= 2 else None


def diversity_per_label(gen_z: np.ndarray, labels: list[str], held_z: np.ndarray, held_labels: list[str],
                        rng: np.random.Generator) -> dict[str, dict[str, Any]]:  # fmt: skip
    """For each label of the samples: the median distance from a sample to its nearest other sample
    of the label, and the same for as many held-out real clips of the label as there are samples
    (a nearest neighbour is nearer among more points, so the counts are kept alike)."""
    labels_array, held_array = np.asarray(labels), np.asarray(held_labels)
    result = {}
    for label in dict.fromkeys(label for label in labels if label):
        mine = np.flatnonzero(labels_array == label)
        pool = np.flatnonzero(held_array == label)
        picked = np.sort(rng.choice(pool, min(len(mine), len(pool)), replace=False))
        result[label] = {
            "samples": int(len(mine)),
            "generated": _median_nn_within(gen_z[mine]),
            "held_out_clips": int(len(picked)),
            "held_out": _median_nn_within(held_z[picked]),
        }
    return result


# -- the evaluate stage ----------------------------------------------------------------------------


def _load_samples(table: Path, rate: int, clip_samples: int) -> tuple[list[dict[str, str]], np.ndarray, int, str]:
    """The rendered samples at the model's rate, and the rate and WAV subtype they were written in."""
    from .audio_io import load_mono
    from .render import fit_length

    rows = read_tsv(table)
    if not rows:
        raise ValueError(f"{table}: no samples listed")
    audio = np.stack([fit_length(load_mono(table.parent / row["file"], rate), clip_samples) for row in rows])
    written = sf.info(table.parent / rows[0]["file"])
    return rows, audio, written.samplerate, written.subtype


def _as_rendered(clips: np.ndarray, rate: int, file_rate: int, subtype: str) -> np.ndarray:
    """Put real clips through the samples' round trip (resample to the file rate, quantize, back),
    so that processing artefacts weigh on both sides of every comparison alike."""
    from .audio_io import resample
    from .render import fit_length

    bits = {"PCM_16": 16, "PCM_24": 24}.get(subtype)
    out = np.empty(clips.shape, dtype=np.float32)
    for i, clip in enumerate(clips):
        audio = resample(clip, rate, file_rate)
        if bits:
            scale = 2.0 ** (bits - 1)
            audio = np.clip(np.round(np.clip(audio, -1.0, 1.0) * scale), -scale, scale - 1) / scale
        out[i] = fit_length(resample(audio, file_rate, rate), clips.shape[1])
    return out


def _untrained_clips(meta: dict, seeds: list[int], labels: list[str], clip_samples: int, seed: int,
                     device: str) -> np.ndarray:
    """The same latents (and labels) through a freshly initialized generator of the same shape (seeded,
    initialized on the CPU so that its weights do not depend on `device`)."""
    from .checkpoint import build_generator
    from .render import generate_clips, label_weights, latent_dim_of, seeded_latents

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = build_generator(meta.get("family", "wavegan"), meta["model"]).eval()
    generator = generator.to(resolve_device(device))
    z, y = seeded_latents(seeds, latent_dim_of(meta)), label_weights(meta, [label or None for label in labels])
    return np.concatenate(list(generate_clips(generator, z, y, clip_samples)))


def _manifest_rows(manifest_path: str | os.PathLike) -> dict[int, dict[str, str]]:
    return {int(row["index"]): row for row in read_tsv(manifest_path)}


def _mean_or_none(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def _fd_or_none(a: np.ndarray, b: np.ndarray) -> float | None:
    return frechet_distance(a, b) if len(a) >= 2 and len(b) >= 2 else None


def evaluate(
    samples_table: str | os.PathLike,
    generator_path: str | os.PathLike,
    clips_path: str | os.PathLike,
    manifest_path: str | os.PathLike,
    settings: Mapping[str, Any],
    out_json: str | os.PathLike,
    device: str = "cpu",
) -> dict[str, Any]:
    """Score the rendered samples against the training clips and write metrics.json (atomically).

    `settings` is the config's `evaluate` section (max_real_clips, ndb_bins, seed, copy_threshold);
    `device` the `train.device` setting the untrained reference generator runs on.
    Returns the metrics dict (layout in the module docstring).
    """
    from .checkpoint import load_generator

    started = time.perf_counter()
    missing = [key for key in SETTINGS if key not in settings]
    if missing:
        raise ValueError(f"evaluate settings lack {', '.join(missing)} (the config's evaluate section)")
    seed = int(settings["seed"])
    rng = np.random.default_rng(seed)

    _, meta = load_generator(generator_path, map_location="cpu")
    rate = int(meta["sample_rate"])
    clips = open_clips(clips_path)
    if len(clips) < MIN_REAL_CLIPS:
        raise ValueError(f"{clips_path}: need at least {MIN_REAL_CLIPS} clips [n, samples], got shape {clips.shape}")
    clip_samples = clips.shape[1]
    rows, generated, file_rate, subtype = _load_samples(Path(samples_table), rate, clip_samples)
    seeds = [int(row["seed"]) for row in rows]

    # A seeded sample of the real clips, split into a reference half and a held-out half.
    used = np.sort(rng.choice(len(clips), min(len(clips), int(settings["max_real_clips"])), replace=False))
    order = rng.permutation(len(used))
    ref_pos, held_pos = np.sort(order[: len(used) // 2]), np.sort(order[len(used) // 2 :])
    # Sorted indices: the memory-mapped clips are read in one forward pass.
    labels = [row.get("label", "") for row in rows]
    real_audio = _as_rendered(clip_rows(clips, used), rate, file_rate, subtype)
    untrained = _untrained_clips(meta, seeds, labels, clip_samples, seed, device)
    untrained_audio = _as_rendered(untrained, rate, file_rate, subtype)
    real, gen, untrained = (clip_features(a, rate) for a in (real_audio, generated, untrained_audio))
    # The floor uses as many held-out clips as there are samples: FD's small-sample bias then
    # weighs on both numbers alike.
    compared = np.sort(rng.choice(held_pos, min(len(gen), len(held_pos)), replace=False))

    def fd_mel(real: np.ndarray, gen: np.ndarray, untrained: np.ndarray) -> dict[str, float | None]:
        return {
            "generated": _fd_or_none(real[ref_pos], gen),
            "real_floor": _fd_or_none(real[ref_pos], real[compared]),
            "untrained_ceiling": _fd_or_none(real[ref_pos], untrained),
        }

    fd = fd_mel(real, gen, untrained)
    fd_20k = None
    if rate / 2.0 >= FULL_BAND_HZ:
        features = (clip_features(a, rate, fmax=FULL_BAND_HZ) for a in (real_audio, generated, untrained_audio))
        fd_20k = {"fmax_hz": FULL_BAND_HZ, **fd_mel(*features)}
    high_band = {"above_hz": HIGH_BAND_HZ, "generated": None, "real": None, "ratio": None}
    if rate / 2.0 > HIGH_BAND_HZ:
        high_band["generated"] = _mean_or_none(high_band_share(generated, rate, HIGH_BAND_HZ))
        high_band["real"] = _mean_or_none(high_band_share(real_audio, rate, HIGH_BAND_HZ))
        if high_band["generated"] is not None and high_band["real"]:
            high_band["ratio"] = high_band["generated"] / high_band["real"]

    # Standardize with the real clips' statistics, so every band counts alike in distances.
    # The scale is floored at a tenth of the typical one: a band that barely moves in the data
    # (empty, or at the power floor) must not dominate every distance.
    mean, std = real.mean(axis=0), real.std(axis=0)
    std = np.maximum(std, 0.1 * np.median(std) + 1e-12)
    real_z, gen_z = (real - mean) / std, (gen - mean) / std

    bins = min(int(settings["ndb_bins"]), len(ref_pos))
    centroids = kmeans(real_z[ref_pos], bins, seed)
    ndb_gen, ref_shares, gen_shares = ndb(real_z[ref_pos], gen_z, centroids)
    ndb_held, _, _ = ndb(real_z[ref_pos], real_z[held_pos], centroids)

    nn_index, nn_train = nearest(gen_z, real_z)
    _, real_nn = nearest(real_z, real_z, leave_one_out=True)
    held_median = _median(real_nn[held_pos])
    threshold = float(settings["copy_threshold"]) * held_median if held_median is not None else 0.0
    near_copy = nn_train < threshold
    if len(gen_z) >= 2:
        _, nn_gen = nearest(gen_z, gen_z, leave_one_out=True)
        _, held_nn_held = nearest(real_z[compared], real_z[compared], leave_one_out=True)
    else:
        nn_gen, held_nn_held = np.full(len(gen_z), np.nan), np.full(0, np.nan)

    manifest = _manifest_rows(manifest_path)
    held_labels = [manifest.get(int(used[i]), {}).get("label", "") for i in held_pos]
    per_label = diversity_per_label(gen_z, labels, real_z[held_pos], held_labels, rng)
    samples = []
    for i, row in enumerate(rows):
        clip_index = int(used[nn_index[i]])
        entry = manifest.get(clip_index, {})
        samples.append({
            "index": int(row["index"]),
            "file": row["file"],
            "seed": seeds[i],
            "label": labels[i],
            "nn_train_distance": float(nn_train[i]),
            "nn_generated_distance": float(nn_gen[i]) if np.isfinite(nn_gen[i]) else None,
            "near_copy": bool(near_copy[i]),
            "nearest_clip": {
                "index": clip_index,
                "source": entry.get("source", ""),
                "file": entry.get("file", ""),
                "offset_s": float(entry["offset_s"]) if entry.get("offset_s") else None,
                "license": entry.get("license", ""),
            },
        })

    metrics = {
        "step": meta.get("step"),
        "checkpoint": meta.get("selection"),
        "sample_rate": rate,
        "features": "mean and std over 32 ms frames of 40 log-mel bands (dB), per clip",
        "seeds": {"evaluate": seed, "samples": seeds},
        "clips": {
            "total": int(len(clips)),
            "used": int(len(used)),
            "reference": int(len(ref_pos)),
            "held_out": int(len(held_pos)),
            "compared": int(len(compared)),
            "searched_for_copies": int(len(used)),
        },
        "fd_mel": fd,
        "fd_mel_20k": fd_20k,
        "high_band": high_band,
        "ndb": {
            "bins": bins,
            "alpha": ALPHA,
            "generated": ndb_gen,
            "held_out_real": ndb_held,
            "reference_shares": ref_shares.tolist(),
            "generated_shares": gen_shares.tolist(),
        },
        "memorization": {
            "copy_threshold": float(settings["copy_threshold"]),
            "held_out_median_nn_train": held_median,
            "threshold_distance": threshold,
            "generated_median_nn_train": _median(nn_train),
            "near_copies": int(near_copy.sum()),
        },
        "diversity": {
            "generated_median_nn_generated": _median(nn_gen),
            "held_out_median_nn_held_out": _median(held_nn_held),
            "per_label": per_label,
        },
        "samples": samples,
        "seconds": round(time.perf_counter() - started, 3),
    }
    atomic_write_text(out_json, json.dumps(metrics, indent=2) + "\n")
    log.info(
        "FD-mel %s (floor %s, ceiling %s); NDB/K %.2f (held-out %.2f); %d near-copies; energy above 8 kHz "
        "%s (real %s); %.1f s",
        _fmt(fd["generated"]), _fmt(fd["real_floor"]), _fmt(fd["untrained_ceiling"]),
        ndb_gen, ndb_held, int(near_copy.sum()), _fmt(high_band["generated"], 4), _fmt(high_band["real"], 4),
        metrics["seconds"],
    )
    return metrics


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
