"""Mode seeking (`train.mode_seeking`): a generator term against one sound per label.

A conditional GAN tends to answer every latent with nearly the same clip of the label asked for:
on the labelled drum one-shots a label's samples were 2-25 times closer to each other than real
clips of the label (benchmarks/RESULTS.md). MSGAN (Mao et al., 2019) asks the generator to keep
distinct latents apart in its output: for pairs of latents asking for the same label it minimizes
|z1 - z2| / (d(G(z1), G(z2)) + eps). Here:
- the logarithm of that ratio: d spans decades (a collapsed label's pairs were 0.002 apart), and
  the plain ratio's gradient, 1/d^2, would dwarf the adversarial loss exactly when the samples
  are alike;
- d is the mean absolute difference of the two clips' mel spectrograms (32 ms frames, as the
  metrics'), not of their waveforms: two noise bursts with other random phases differ in every
  sample yet sound the same;
- the spectrograms are compared as loudness (mel power relative to a full-scale tone, to the power
  0.3: Stevens' law), not in dB, where a tail at -45 dBFS differs from silence as much as two
  attacks 60 dB apart.
Measured, it is off by default: in every form tried it brought the diversity within a label near
the real clips', but the generator met it with noise tails (-42 to -47 dBFS where the real hits
fall to silence), FD-mel no better than an untrained generator's and fewer labels right.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..features import N_MELS, stft_sizes
from .spectral import LogMel

LOUDNESS_EXPONENT = 0.3
EPSILON = 1e-5


def paired(z: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The latents as drawn and their labels, with the second half of the batch asking for the
    first half's labels (clip i and clip i + n//2 are a pair); an odd last one keeps its own."""
    if y is None:
        return z, y
    half = len(y) // 2
    return z, torch.cat([y[:half], y[:half], y[2 * half :]])


class ModeSeeking(nn.Module):
    """(clips [N, 1, T], their latents [N, latent]) -> the mode-seeking term, a scalar: the mean over
    the pairs (i, i + N//2) of log(latent distance / (loudness distance + eps))."""

    def __init__(self, sample_rate: int):
        super().__init__()
        n_fft, _ = stft_sizes(sample_rate)
        self.log_mel = LogMel(n_fft, sample_rate, N_MELS, floor_db=-100.0)
        # LogMel's power is not normalized: a full-scale tone peaks near (n_fft / 4)^2.
        self.full_scale_log_power = 2.0 * math.log(n_fft / 4)

    def loudness(self, audio: torch.Tensor) -> torch.Tensor:
        """[N, 1, T] -> [N, 1, mels, frames]: about 1 for a full-scale tone, 0 for silence."""
        return torch.exp(LOUDNESS_EXPONENT * (self.log_mel(audio) - self.full_scale_log_power))

    def forward(self, audio: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        half = len(audio) // 2
        loudness = self.loudness(audio[: 2 * half])
        apart = (loudness[:half] - loudness[half:]).abs().flatten(1).mean(1)
        latent_apart = (z[:half] - z[half : 2 * half]).abs().float().mean(1)
        return torch.log(latent_apart / (apart + EPSILON)).mean()
