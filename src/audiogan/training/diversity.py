"""Mode seeking (`train.mode_seeking`): a generator term against one sound per label.

A conditional GAN tends to answer every latent with nearly the same clip of the label asked for:
on the labelled drum one-shots the samples of a label were three to ten times closer to each other
than real clips of the label (benchmarks/RESULTS.md). MSGAN (Mao et al., 2019) asks the generator
to keep distinct latents apart in its output: for pairs of latents with the same label, it
minimizes |z1 - z2| / (d(G(z1), G(z2)) + eps). Here d is the mean absolute difference of the two
clips' log-mel spectrograms (32 ms frames, as the metrics'), not of the waveforms: two noise bursts
with other random phases differ in every sample yet sound the same, and differences below a floor
of -70 dBFS are inaudible and must not count as variety.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..features import N_MELS, stft_sizes
from .spectral import LogMel

FLOOR_DBFS = -70.0
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
    the pairs (i, i + N//2) of latent distance / (spectrogram distance + eps)."""

    def __init__(self, sample_rate: int):
        super().__init__()
        n_fft, _ = stft_sizes(sample_rate)
        # LogMel's power is not normalized: a full-scale tone peaks near 20*log10(n_fft / 4) dB.
        self.log_mel = LogMel(n_fft, sample_rate, N_MELS, FLOOR_DBFS + 20.0 * math.log10(n_fft / 4))

    def forward(self, audio: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        half = len(audio) // 2
        spectrograms = self.log_mel(audio[: 2 * half])
        apart = (spectrograms[:half] - spectrograms[half:]).abs().flatten(1).mean(1)
        latent_apart = (z[:half] - z[half : 2 * half]).abs().float().mean(1)
        return (latent_apart / (apart + EPSILON)).mean()
