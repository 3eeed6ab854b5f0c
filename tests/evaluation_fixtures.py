"""Controlled test audio: families of percussive tones whose pitch and level the tests choose."""

from __future__ import annotations

import numpy as np


def tone_hits(count: int, sample_rate: int = 8000, seconds: float = 1.0, seed: int = 0,
              pitch: float = 1.0, gain: float = 0.5) -> np.ndarray:
    """`[count, samples]` float32 clips: a few decaying harmonic hits each, base pitch 300-600 Hz x `pitch`."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    clips = np.zeros((count, n), dtype=np.float64)
    for clip in clips:
        for _ in range(rng.integers(2, 5)):
            start = rng.uniform(0.0, seconds * 0.7)
            f0 = rng.uniform(300.0, 600.0) * pitch
            local = np.clip(t - start, 0.0, None)
            envelope = np.where(t >= start, np.exp(-local * rng.uniform(6.0, 14.0)), 0.0)
            for harmonic, weight in ((1, 1.0), (2, 0.5), (3, 0.25)):
                clip += weight * envelope * np.sin(2 * np.pi * f0 * harmonic * local)
        clip += rng.normal(0.0, 1e-3, n)
        clip *= gain / np.abs(clip).max()
    return clips.astype(np.float32)


def tiny_generator(path, sample_rate: int = 8000, clip_seconds: float = 1.0, seed: int = 0, step: int = 7):
    """Save a small, untrained WaveGAN generator file (seeded weights) the way training does."""
    import torch

    from audiogan.checkpoint import save_generator
    from audiogan.model import ModelConfig, WaveGANGenerator, slice_length_for

    config = ModelConfig(model_size=2, latent_dim=8, slice_length=slice_length_for(round(sample_rate * clip_seconds)))
    torch.manual_seed(seed)
    generator = WaveGANGenerator(config)
    train_config = {"model_size": 2, "latent_dim": 8, "steps": step, "batch_size": 4, "seed": seed}
    save_generator(path, generator, config, sample_rate, clip_seconds, step, train_config, family="wavegan", recipe="wavegan")
    return path


def make_run(folder, count: int = 6, model_rate: int = 8000, render_rate: int = 16000, subtype: str = "PCM_16"):
    """A finished run in `folder` laid out like results/: dataset, model, samples, metrics.

    Returns (paths, config). The training curves are synthetic; everything else is computed by the
    real stages on a tiny dataset.
    """
    from pathlib import Path

    from audiogan.config import validate_config
    from audiogan.metrics import evaluate
    from audiogan.plots import plot_training_curves
    from audiogan.render import render_samples
    from audiogan.tsv import write_tsv

    folder = Path(folder)
    paths = {
        "clips": folder / "dataset" / "clips.npy",
        "manifest": folder / "dataset" / "manifest.tsv",
        "items": [folder / "raw" / "drums" / "items.tsv", folder / "raw" / "voices" / "items.tsv"],
        "generator": folder / "model" / "generator.pt",
        "losses": folder / "model" / "losses.csv",
        "quality": folder / "model" / "quality.csv",
        "loss_curve": folder / "model" / "loss_curve.png",
        "samples": [folder / "samples" / f"sample_{i:04d}.wav" for i in range(count)],
        "table": folder / "samples" / "samples.tsv",
        "contact_sheet": folder / "samples" / "contact_sheet.png",
        "metrics": folder / "metrics.json",
        "html": folder / "samples" / "index.html",
        "zip": folder / "samples" / "pack.zip",
    }
    paths["clips"].parent.mkdir(parents=True)
    clips = tone_hits(40, model_rate, seconds=1.0, seed=5)
    np.save(paths["clips"], clips)
    manifest = [
        {"index": i, "source": "drums" if i < 30 else "voices", "file": f"take_{i // 10}.wav",
         "offset_s": float(i % 10), "level_dbfs": -3.0, "license": "CC0-1.0" if i < 30 else "CC-BY-4.0"}
        for i in range(len(clips))
    ]
    write_tsv(paths["manifest"], manifest, ["index", "source", "file", "offset_s", "level_dbfs", "license"])
    write_tsv(paths["items"][0], [{"path": f"/cache/take_{k}.wav", "file": f"take_{k}.wav", "license": "CC0-1.0"}
                                  for k in range(4)], ["path", "file", "license"])
    write_tsv(paths["items"][1], [{"path": "/cache/take_3.m4a", "file": "take_3.wav", "license": "CC-BY-4.0",
                                   "uploader": "Ada Example"}], ["path", "file", "license", "uploader"])
    tiny_generator(paths["generator"], sample_rate=model_rate, clip_seconds=1.0, step=300)
    lines = ["step,d_loss,g_loss,gradient_penalty,wasserstein,it_per_s"]
    rng = np.random.default_rng(0)
    for step in range(1, 301):
        w = 2.0 * np.exp(-step / 80)
        lines.append(f"{step},{-w + rng.normal(0, 0.1)},{rng.normal(0, 0.5)},{abs(rng.normal(0, 0.2))},{w},5.0")
    paths["losses"].write_text("\n".join(lines) + "\n")
    paths["quality"].write_text("step,fd_mel\n100,900.5\n200,420.0\n300,250.25\n")
    plot_training_curves(paths["losses"], paths["quality"], paths["loss_curve"])
    config = validate_config({
        "sources": [
            {"name": "drums", "kind": "demo", "tracks": 4},
            {"name": "voices", "kind": "youtube", "urls": ["https://example.org/watch?v=abc"], "cookies": "/secret/cookies.txt"},
        ],
        "audio": {"sample_rate": model_rate, "clip_seconds": 1.0},
        "train": {"steps": 300, "model_size": 2, "latent_dim": 8},
        "render": {"count": count, "sample_rate": render_rate, "subtype": subtype, "pack": True},
    })
    render_samples(paths["generator"], paths["table"].parent, paths["table"], paths["contact_sheet"],
                   count, config["render"]["seed"], render_rate, subtype)
    evaluate(paths["table"], paths["generator"], paths["clips"], paths["manifest"], config["evaluate"], paths["metrics"])
    return paths, config
