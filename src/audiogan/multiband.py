"""Multiband WaveGAN: full-band audio at producer rates for about the cost of a 16 kHz model.

The generator is a WaveGAN generator with K output channels, one per sub-band, each `slice / K`
samples long, followed by the synthesis half of a K-band PQMF bank (`audiogan.pqmf`): the sub-bands
are recombined into one waveform of `slice` samples. The critic is a WaveGAN critic with K input
channels that judges the PQMF analysis of a full-band waveform (a real clip or the generator's
recombined output, after augmentation), so both networks run at the sub-band rate. A 4 s clip at
44.1 kHz (176,400 samples) thus uses the networks of the 16 kHz 4 s model (65,536 samples, here
per band, K = 4) plus two cheap filter-bank convolutions (as in Multi-band MelGAN, Yang et al.
2021, and RAVE, Caillon & Esling 2021).

Constructor arguments (recorded in checkpoints, see `audiogan.families`): `bands` (K),
`slice_length` (full-band output length, K x a WaveGAN slice) and the WaveGAN ones
(`model_size`, `latent_dim`, `phase_shuffle`, ...), which configure the inner networks.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from .model import ModelConfig, WaveGANCritic, WaveGANGenerator
from .pqmf import PQMF


def inner_config(bands: int, slice_length: int, **wavegan: Any) -> ModelConfig:
    """The WaveGAN config of the sub-band networks: K channels of slice_length / K samples."""
    if bands < 2:
        raise ValueError(f"a multiband model needs at least 2 bands, got {bands}")
    if slice_length % bands:
        raise ValueError(f"slice_length ({slice_length}) must be a multiple of bands ({bands})")
    wavegan.pop("channels", None)  # always one per band
    return ModelConfig(slice_length=slice_length // bands, channels=bands, **wavegan)


def _call(net: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    # Unconditional calls leave y out, so inner networks without a label argument work too.
    return net(x) if y is None else net(x, y)


class MultibandGenerator(nn.Module):
    """z [N, latent_dim] (and label weights y) -> audio [N, 1, slice_length] (bands recombined)."""

    def __init__(self, bands: int, slice_length: int, **wavegan: Any):
        super().__init__()
        self.config = inner_config(bands, slice_length, **wavegan)
        self.net = WaveGANGenerator(self.config)
        self.pqmf = PQMF(bands)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        # Each band is in [-1, 1] (tanh); the sum is not clamped: clipping would stop gradients,
        # and real clips' bands stay well inside that range (a full-scale sine gives ~0.71).
        return self.pqmf.synthesis(_call(self.net, z, y))


class MultibandCritic(nn.Module):
    """audio [N, 1, slice_length] (and label weights y) -> score [N], judged on its K sub-bands."""

    def __init__(self, bands: int, slice_length: int, **wavegan: Any):
        super().__init__()
        self.config = inner_config(bands, slice_length, **wavegan)
        self.net = WaveGANCritic(self.config)
        self.pqmf = PQMF(bands)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return _call(self.net, self.pqmf.analysis(x), y)
