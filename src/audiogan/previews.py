"""Training previews: fixed latent vectors rendered at each checkpoint, and their FD-mel.

The preview batch is the same at every checkpoint, so its files and its FD-mel against a fixed
sample of training clips (`quality.csv`) show how the generator changes over the run.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .checkpoint import rng_state, set_rng_state
from .dataset import clips_to_float32
from .model import WaveGANGenerator

QUALITY_REAL_CLIPS = 256  # training clips the preview batch is compared with (fixed, seeded)
PREVIEW_GAP_SECONDS = 0.25  # silence between the clips of a preview file


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without disturbing the training RNG streams (previews must not change the run)."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


class Previews:
    """Fixed latent vectors rendered at each checkpoint, and the FD-mel of that batch."""

    def __init__(
        self,
        clips: np.ndarray,
        count: int,
        latent_dim: int,
        seed: int,
        sample_rate: int,
        clip_samples: int,
        folder: Path,
    ):
        self.clips, self.seed, self.folder = clips, seed, folder
        self.sample_rate, self.clip_samples = sample_rate, clip_samples
        latents = torch.Generator().manual_seed(seed)
        self.z = torch.rand(count, latent_dim, generator=latents) * 2.0 - 1.0
        self._real_features: np.ndarray | None = None

    def path(self, step: int) -> Path:
        return self.folder / f"step_{step:06d}.wav"

    def real_features(self) -> np.ndarray:
        from .features import clip_features

        if self._real_features is None:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(
                rng.choice(len(self.clips), min(len(self.clips), QUALITY_REAL_CLIPS), replace=False)
            )
            real = clips_to_float32(self.clips[rows])[:, : self.clip_samples]
            self._real_features = clip_features(real, self.sample_rate)
        return self._real_features

    def write(self, generator: WaveGANGenerator, step: int) -> float:
        """Write previews/step_NNNNNN.wav and return the FD-mel of the batch (NaN under 2 clips)."""
        from .audio_io import write_audio
        from .features import clip_features
        from .frechet import frechet_distance

        device = next(generator.parameters()).device
        with preserved_rng(), torch.no_grad():
            audio = generator(self.z.to(device)).float().cpu().numpy()[:, 0, : self.clip_samples]
            gap = np.zeros((len(audio), round(PREVIEW_GAP_SECONDS * self.sample_rate)), np.float32)
            write_audio(self.path(step), np.concatenate([audio, gap], axis=1).reshape(-1), self.sample_rate)
            if len(audio) < 2:
                return math.nan
            return frechet_distance(clip_features(audio, self.sample_rate), self.real_features())
