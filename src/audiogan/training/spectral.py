"""Spectrogram critics beside the waveform critic (`train.spectral_critic`).

HiFi-GAN, UnivNet and RAVE judge generated audio on spectrograms at several resolutions as well as
on the waveform: a 2-D convolution over a (log-mel) spectrogram sees the distribution of energy
over bands and time directly, which a strided 1-D waveform critic has to learn from raw samples.
The waveform critic stays (a spectral-only critic left "grains" in WaveGAN's author's tests).

`CriticEnsemble` wraps the waveform critic and one `SpectrogramCritic` per FFT size and returns
their scores side by side, `[N, K]`. The recipes reduce scores with means and sums over all
elements (`modern`: softplus(...).mean(), R1 on scores.sum(), E[sign]), so with K columns the loss
is the average of the K critics' losses and R1 penalizes the gradient of their sum: no recipe
changes. Only the `modern` recipe may use it (the faithful `wavegan` recipe stays as published).

Each spectrogram critic: power STFT (Hann window, hop n_fft/4) -> the triangular mel filterbank of
`audiogan.features` (`mels` bands) -> log (above a floor of `floor_db`) -> five 2-D convolutions (the first two stride 2 in
both axes, which keeps a 1-thread CPU step affordable) -> the mean of the score map. Conditional:
plus a projection term (label embedding · pooled features), as the waveform critic does.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError
from ..features import mel_filterbank


class LogMel(nn.Module):
    """audio [N, 1, T] -> natural-log mel power [N, 1, mels, frames], float32 whatever the autocast:
    power STFT (Hann window, hop n_fft/4, not normalized: a full-scale tone is about 20*log10(n_fft/4)
    dB) -> the triangular mel filterbank of `audiogan.features` -> log above a floor of `floor_db`."""

    def __init__(self, n_fft: int, sample_rate: int, mels: int, floor_db: float):
        super().__init__()
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.floor = 10.0 ** (floor_db / 10.0)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        filters = torch.from_numpy(mel_filterbank(sample_rate, n_fft, min(mels, n_fft // 2 + 1)).copy()).float()
        self.register_buffer("filters", filters, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            spec = torch.stft(x.float().flatten(0, 1), self.n_fft, self.hop, window=self.window,
                              center=True, return_complex=True)  # fmt: skip
            power = spec.real.square() + spec.imag.square()
            mel = torch.einsum("mb,nbf->nmf", self.filters, power)
            return torch.log(mel + self.floor).unsqueeze(1)


class SpectrogramCritic(nn.Module):
    """audio [N, 1, T] (and label weights y [N, n_labels]) -> score [N], on a log-mel spectrogram."""

    def __init__(self, n_fft: int, sample_rate: int, mels: int, channels: int, n_labels: int = 0,
                 floor_db: float = -100.0):  # fmt: skip
        super().__init__()
        self.n_labels = n_labels
        # Mel power floor before the log: what the critic can tell from silence (the metrics' log-mel
        # floor is -100 dB); a higher floor also bounds the log's gradient, and so R1, on silence.
        self.spectrogram = LogMel(n_fft, sample_rate, mels, floor_db)
        c = channels
        # (kernel over bands, kernel over frames), stride: wide in time like UnivNet's, strided early.
        shapes = [(1, c, (3, 9), 2), (c, c, (3, 9), 2), (c, c, (3, 9), (1, 2)), (c, c, (3, 3), 1)]
        self.convs = nn.ModuleList(
            nn.Conv2d(i, o, k, stride=s, padding=(k[0] // 2, k[1] // 2)) for i, o, k, s in shapes
        )
        self.out = nn.Conv2d(c, 1, (3, 3), padding=1)
        if n_labels:
            self.label_projection = nn.Linear(n_labels, c, bias=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.spectrogram(x) * 0.25  # natural-log power spans ~[-23, 8]: scaled towards unit range
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
        score = self.out(h).mean(dim=(1, 2, 3))
        if y is not None and self.n_labels:
            score = score + (self.label_projection(y.to(h.dtype)) * h.mean(dim=(2, 3))).sum(1)
        return score


class CriticEnsemble(nn.Module):
    """The waveform critic and spectrogram critics side by side: audio -> scores [N, 1 + len(spectral)]."""

    def __init__(self, waveform: nn.Module, spectral: Sequence[nn.Module]):
        super().__init__()
        self.waveform = waveform
        self.spectral = nn.ModuleList(spectral)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack([self.waveform(x, y), *(critic(x, y) for critic in self.spectral)], dim=1)


def with_spectral_critics(
    critic: nn.Module, settings: Mapping[str, Any], recipe: str, sample_rate: int, n_labels: int = 0
) -> nn.Module:
    """`critic` alone when `settings["ffts"]` is empty, else a `CriticEnsemble` with one spectrogram
    critic per FFT size. `settings` is `train.spectral_critic`."""
    ffts = [int(n) for n in settings["ffts"]]
    if not ffts:
        return critic
    if recipe != "modern":
        raise ConfigError(f"train.spectral_critic: only the modern recipe takes spectrogram critics, not {recipe!r}")
    spectral = [SpectrogramCritic(n, sample_rate, int(settings["mels"]), int(settings["channels"]), n_labels,
                                  float(settings["floor_db"])) for n in ffts]  # fmt: skip
    return CriticEnsemble(critic, spectral)
