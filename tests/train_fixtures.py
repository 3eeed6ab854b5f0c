"""Tiny training set-ups shared by the model and training tests (seconds each on 2 CPU cores)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from audiogan.training import TrainOutputs

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000
CLIP_SECONDS = 1.0


def make_clips(
    path: Path, count: int = 16, samples: int = 16000, seed: int = 0, nan_clip: int | None = None
) -> Path:
    """Decaying tones with a little noise, float32 [count, samples], as clips.npy."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SAMPLE_RATE
    freqs = rng.uniform(80.0, 800.0, size=(count, 1))
    clips = 0.5 * np.sin(2 * np.pi * freqs * t) * np.exp(-4.0 * t) + 0.01 * rng.standard_normal(
        (count, samples)
    )
    clips = clips.astype(np.float32)
    if nan_clip is not None:
        clips[nan_clip, 100:200] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, clips)
    write_summary(path, samples)
    return path


def write_summary(clips_path: Path, clip_samples: int, sample_rate: int = SAMPLE_RATE) -> Path:
    """The dataset's summary.json beside clips.npy (the part training reads)."""
    summary = {"audio": {"sample_rate": sample_rate, "clip_samples": clip_samples,
                         "clip_seconds": clip_samples / sample_rate}}  # fmt: skip
    path = summary_path(clips_path)
    path.write_text(json.dumps(summary))
    return path


def summary_path(clips_path: Path) -> Path:
    return Path(clips_path).with_name(Path(clips_path).stem + ".summary.json")


def tiny_config(**overrides) -> dict:
    config = {
        "model_size": 2,
        "batch_size": 2,
        "steps": 4,
        "n_critic": 1,
        "checkpoint_every": 2,
        "preview_count": 2,
        "threads": 1,
        "device": "cpu",
        "seed": 0,
        "recipe": "wavegan",  # the faithful recipe (its schema defaults: no EMA, no augmentation)
    }
    config.update(overrides)
    return config


def outputs_in(folder: Path) -> TrainOutputs:
    return TrainOutputs(
        generator=folder / "generator.pt",
        losses=folder / "losses.csv",
        loss_curve=folder / "loss_curve.png",
        quality=folder / "quality.csv",
        previews=folder / "previews",
        best=folder / "best.pt",
    )


class TrainingProcess:
    """`python -m audiogan.training` as a subprocess (its own process, so it can be signalled).

    Its log goes to a file (a pipe nobody reads could fill up and block it).
    """

    def __init__(self, clips: Path, state_root: Path, out: Path, config: dict, log: Path):
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
        )
        command = [
            sys.executable,
            "-m",
            "audiogan.training",
            str(clips),
            "--summary",
            str(summary_path(clips)),
            "--state-root",
            str(state_root),
            "--out",
            str(out),
            "--train-config",
            json.dumps(config),
        ]
        self.log = log
        with open(log, "w") as handle:
            self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=handle)

    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self, timeout: float = 120.0) -> tuple[int, str]:
        """Wait for the exit; (exit status, log text)."""
        code = self.process.wait(timeout=timeout)
        return code, self.log.read_text()


def latest_state(tmp_path: Path, config: dict, clips: Path, root: str = "state") -> dict:
    """The newest checkpoint's contents of the run `config` trains on `clips` under `tmp_path / root`."""
    from audiogan.checkpoint import latest_checkpoint
    from audiogan.training import run_id

    return latest_checkpoint(tmp_path / root / run_id(config, SAMPLE_RATE, CLIP_SECONDS, clips))[1]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def loss_values(path: Path) -> np.ndarray:
    """The loss columns of a losses.csv (without it_per_s, which is a timing)."""
    rows = read_rows(path)
    return np.array(
        [[float(r[k]) for k in ("step", "d_loss", "g_loss", "gradient_penalty", "wasserstein")] for r in rows]
    )
