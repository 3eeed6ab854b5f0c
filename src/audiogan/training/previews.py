"""Training previews and scores: fixed latent vectors rendered at each checkpoint.

The latents (and, for a conditional generator, their labels: those of the fixed sample of real
clips, so the scores compare like with like) are the same at every checkpoint. The first
`preview_count` clips are written as one preview WAV; the FD-mel of all `score_count` clips against a fixed, seeded sample of training
clips (`quality.csv`) shows how the generator changes over the run and picks the best checkpoint.
A few clips give a noisy FD (its small-sample bias is large); dozens make the ranking stable.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..checkpoint import rng_state, set_rng_state
from ..dataset import clip_rows

QUALITY_REAL_CLIPS = 256  # training clips the generated clips are compared with (fixed, seeded)
PREVIEW_GAP_SECONDS = 0.25  # silence between the clips of a preview file
_BATCH = 16


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without disturbing the training RNG streams (previews must not change the run)."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


class Previews:
    """Fixed latent vectors rendered at each checkpoint, and the FD-mel of the scored clips."""

    def __init__(
        self,
        clips: np.ndarray,
        preview_count: int,
        score_count: int,
        latent_dim: int,
        seed: int,
        sample_rate: int,
        clip_samples: int,
        folder: Path,
        label_ids: np.ndarray | None = None,
        n_labels: int = 0,
    ):
        self.clips, self.seed, self.folder = clips, seed, folder
        self.sample_rate, self.clip_samples = sample_rate, clip_samples
        self.preview_count = preview_count
        latents = torch.Generator().manual_seed(seed)
        self.z = torch.rand(max(preview_count, score_count), latent_dim, generator=latents) * 2.0 - 1.0
        self.score_count = score_count
        self._real_features: np.ndarray | None = None
        self.y: torch.Tensor | None = None
        if label_ids is not None:
            rows = self._real_rows()
            ids = np.asarray(label_ids)[rows[np.arange(len(self.z)) % len(rows)]]
            self.y = torch.nn.functional.one_hot(torch.as_tensor(ids), n_labels).float()

    def path(self, step: int) -> Path:
        return self.folder / f"step_{step:06d}.wav"

    def real_features(self) -> np.ndarray:
        from ..features import clip_features

        if self._real_features is None:
            real = clip_rows(self.clips, self._real_rows())[:, : self.clip_samples]
            self._real_features = clip_features(real, self.sample_rate)
        return self._real_features

    def _real_rows(self) -> np.ndarray:
        """The fixed, seeded sample of training clips the scores compare against."""
        rng = np.random.default_rng(self.seed)
        return np.sort(rng.choice(len(self.clips), min(len(self.clips), QUALITY_REAL_CLIPS), replace=False))

    def generate(self, generator: torch.nn.Module) -> np.ndarray:
        """The clips of all fixed latents, [n, clip_samples] float32."""
        device = next(generator.parameters()).device
        parts = []
        with preserved_rng(), torch.no_grad():
            for start in range(0, len(self.z), _BATCH):
                y = None if self.y is None else self.y[start : start + _BATCH].to(device)
                out = generator(self.z[start : start + _BATCH].to(device), y)
                parts.append(out.float().cpu().numpy()[:, 0, : self.clip_samples])
        return np.concatenate(parts)

    def write(self, generator: torch.nn.Module, step: int) -> float:
        """Write previews/step_NNNNNN.wav and return the FD-mel of the scored clips (NaN under 2)."""
        from ..audio_io import write_audio
        from ..features import clip_features
        from ..frechet import frechet_distance

        audio = self.generate(generator)
        shown = audio[: self.preview_count]
        gap = np.zeros((len(shown), round(PREVIEW_GAP_SECONDS * self.sample_rate)), np.float32)
        write_audio(self.path(step), np.concatenate([shown, gap], axis=1).reshape(-1), self.sample_rate)
        scored = audio[: self.score_count]
        if len(scored) < 2:
            return math.nan
        return frechet_distance(clip_features(scored, self.sample_rate), self.real_features())
