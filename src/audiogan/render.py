"""Render audio samples from a trained generator, one seeded latent vector per sample.

Sample i of a render uses seed `seed + i`: its latent z ~ U[-1, 1]^latent_dim comes from a
`torch.Generator` seeded with that number alone, so any sample can be regenerated on its own
(`regenerate`) whatever the batch it was rendered in.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .audio_io import resample, write_audio
from .checkpoint import load_generator
from .plots import plot_contact_sheet
from .tsv import write_tsv

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("index", "file", "seed")
BATCH = 16
SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
CONTACT_SHEET_MAX = 64  # cells; a huge render still gives a readable sheet


def latent_vector(seed: int, latent_dim: int) -> torch.Tensor:
    """The latent z ~ U[-1, 1]^latent_dim of one sample, from its own seeded torch.Generator."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.rand(latent_dim, generator=generator) * 2.0 - 1.0


def latent_dim_of(meta: dict) -> int:
    """The generator's latent size, from the checkpoint's model config."""
    try:
        return int(meta["model"]["latent_dim"])
    except (KeyError, TypeError):
        raise ValueError("generator checkpoint: its model config has no latent_dim") from None


def generate_clips(
    generator: torch.nn.Module, seeds: Sequence[int], latent_dim: int, clip_samples: int
) -> Iterable[np.ndarray]:
    """Yield `[batch, clip_samples]` float32 arrays at the model's rate, one row per seed, in order.

    The network's output is trimmed to `clip_samples` (WaveGAN emits a power-of-two length);
    a shorter output is zero-padded, with a warning.
    """
    device = next(generator.parameters()).device
    for start in range(0, len(seeds), BATCH):
        z = torch.stack([latent_vector(s, latent_dim) for s in seeds[start : start + BATCH]])
        with torch.inference_mode():
            audio = generator(z.to(device)).float().cpu().numpy()
        if audio.ndim == 3:  # [N, channels, T]: the samples are mono
            audio = audio.mean(axis=1)
        if audio.shape[1] < clip_samples:
            log.warning("generator output has %d samples, fewer than the clip's %d; padding with silence",
                        audio.shape[1], clip_samples)
            audio = np.pad(audio, ((0, 0), (0, clip_samples - audio.shape[1])))
        yield np.ascontiguousarray(audio[:, :clip_samples], dtype=np.float32)


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Trim or zero-pad a 1-D signal to exactly `samples` (resamplers may be off by one)."""
    if audio.shape[0] >= samples:
        return audio[:samples]
    return np.pad(audio, (0, samples - audio.shape[0]))


def _model_clip_samples(meta: dict) -> tuple[int, int, float]:
    rate, seconds = int(meta["sample_rate"]), float(meta["clip_seconds"])
    return rate, round(seconds * rate), seconds


def regenerate(generator_path: str | os.PathLike, seed: int) -> np.ndarray:
    """The sample rendered with latent seed `seed`, as 1-D float32 at the model's sample rate."""
    generator, meta = load_generator(generator_path, map_location="cpu")
    rate, clip_samples, _ = _model_clip_samples(meta)
    return next(iter(generate_clips(generator, [seed], latent_dim_of(meta), clip_samples)))[0]


def _remove_stale(sample_paths: Sequence[Path]) -> None:
    """Delete sample_*.wav files of an earlier, larger render that this render does not write."""
    keep = {p.resolve() for p in sample_paths}
    for folder in {p.parent for p in sample_paths}:
        for old in folder.glob("sample_*.wav"):
            if old.resolve() not in keep:
                log.info("removing stale sample %s", old)
                old.unlink(missing_ok=True)


def render_samples(
    generator_path: str | os.PathLike,
    sample_paths: Sequence[str | os.PathLike],
    table_path: str | os.PathLike,
    contact_sheet_path: str | os.PathLike,
    seed: int,
    sample_rate: int,
    subtype: str = "PCM_16",
) -> None:
    """Render one sample per path (sample i from seed + i) and write samples.tsv and a contact sheet.

    Each file holds exactly round(clip_seconds * sample_rate) samples at `sample_rate` Hz in the
    WAV `subtype` (PCM_16, PCM_24 or FLOAT). The table's `file` column is relative to the table's
    folder, which is also how the gallery page links the files.
    """
    if subtype not in SUBTYPES:
        raise ValueError(f"render subtype {subtype!r} is not supported; allowed: {', '.join(SUBTYPES)}")
    paths = [Path(p) for p in sample_paths]
    if not paths:
        raise ValueError("render: no sample paths given")
    generator, meta = load_generator(generator_path, map_location="cpu")
    model_rate, clip_samples, clip_seconds = _model_clip_samples(meta)
    out_samples = round(clip_seconds * int(sample_rate))
    seeds = [int(seed) + i for i in range(len(paths))]
    log.info("rendering %d samples (seeds %d..%d) from step %s at %d Hz -> %d Hz, %s",
             len(paths), seeds[0], seeds[-1], meta.get("step"), model_rate, sample_rate, subtype)
    _remove_stale(paths)

    table_dir = Path(table_path).resolve().parent
    rows, sheet_clips = [], []
    batches = generate_clips(generator, seeds, latent_dim_of(meta), clip_samples)
    index = 0
    for batch in batches:
        for clip in batch:
            audio = fit_length(resample(clip, model_rate, sample_rate), out_samples)
            write_audio(paths[index], audio, sample_rate, subtype)
            if index < CONTACT_SHEET_MAX:
                sheet_clips.append(audio)
            rows.append({
                "index": index,
                "file": os.path.relpath(paths[index].resolve(), table_dir),
                "seed": seeds[index],
            })
            index += 1
    write_tsv(table_path, rows, SAMPLE_COLUMNS)
    labels = [f"#{row['index']}  seed {row['seed']}" for row in rows[: len(sheet_clips)]]
    plot_contact_sheet(sheet_clips, int(sample_rate), labels, contact_sheet_path)
    log.info("wrote %d samples, %s and %s", len(rows), table_path, contact_sheet_path)
