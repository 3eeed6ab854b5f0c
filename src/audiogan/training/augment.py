"""Differentiable augmentation of everything the critic sees (real and generated clips alike).

On small datasets the critic memorizes the real clips and stops teaching the generator; showing it
randomly transformed clips, real and generated transformed the same way, prevents that without
the transforms leaking into the generator while each applies with a probability p below ~0.8
(Karras et al., 2020, "Training GANs with limited data"). Transforms, each applied per clip with
probability p: a circular time shift of up to `shift` of the clip, a gain drawn log-uniformly in
[gain_min, 1], a polarity flip, and (off unless set) a resampling by up to a factor 1 + `stretch`
(tempo and pitch together) and a spectral tilt of up to ±`tilt_db` dB. All are differentiable in
the clip, so the generator learns through them.

Adaptive p (the ADA heuristic): E[sign D(real)] over the last `adjust_every` steps above `target`
means the critic is confident on reals (overfitting): raise p, else lower it; p moves by at most
1 per `speed` real clips seen. Every random draw comes from the global torch CPU generator, for the
whole global batch (each rank keeps its slice), so runs, resumes and data-parallel ranks agree;
p and the running statistic are part of the checkpoint.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from .. import distributed


class AugmentPipe:
    def __init__(self, settings: Mapping[str, Any], batch_size: int, local: slice, device: torch.device):
        self.p = float(settings["p"])
        self.adaptive = bool(settings["adaptive"])
        self.target = float(settings["target"])
        self.adjust_every = int(settings["adjust_every"])
        self.speed = float(settings["speed"])
        self.max_p = float(settings["max_p"])
        self.shift = float(settings["shift"])
        self.gain_min = float(settings["gain_min"])
        self.polarity = bool(settings["polarity"])
        self.stretch = float(settings["stretch"])
        self.tilt_db = float(settings["tilt_db"])
        self.batch_size, self.local, self.device = batch_size, local, device
        self._sign_sum = torch.zeros((), device=device)
        self._sign_count = 0

    @property
    def enabled(self) -> bool:
        return self.p > 0 or self.adaptive

    def _chosen(self) -> torch.Tensor:
        """Per clip of the global batch: whether a transform applies (probability p)."""
        return torch.rand(self.batch_size) < self.p

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        """Augment a batch [b, channels, samples] (this rank's slice of the global batch)."""
        if self.p <= 0:
            return clips
        length = clips.shape[-1]
        out = clips
        radius = int(self.shift * length)
        if radius > 0:
            apply = self._chosen()
            shifts = torch.randint(-radius, radius + 1, (self.batch_size,)) * apply
            shifts = shifts[self.local].to(clips.device)
            index = (torch.arange(length, device=clips.device)[None, :] - shifts[:, None]) % length
            out = out.gather(-1, index[:, None, :].expand(-1, out.shape[1], -1))
        scale = torch.ones(self.batch_size)
        if self.gain_min < 1:
            apply = self._chosen()
            gains = torch.exp(torch.rand(self.batch_size) * math.log(self.gain_min))
            scale = torch.where(apply, gains, scale)
        if self.polarity:
            apply = self._chosen() & (torch.rand(self.batch_size) < 0.5)
            scale = torch.where(apply, -scale, scale)
        if self.gain_min < 1 or self.polarity:
            out = out * scale[self.local].to(clips.device, clips.dtype)[:, None, None]
        # Drawn after the transforms above, and only when on: runs without them draw what they always drew.
        if self.stretch > 0:
            out = self._stretch(out)
        if self.tilt_db > 0:
            out = self._tilt(out)
        return out

    def _stretch(self, clips: torch.Tensor) -> torch.Tensor:
        """Resample each chosen clip by a factor in [1/(1+stretch), 1+stretch] (log-uniform): faster
        and higher, or slower and lower, read circularly with linear interpolation."""
        length = clips.shape[-1]
        apply = self._chosen()
        factors = torch.exp((torch.rand(self.batch_size) * 2 - 1) * math.log1p(self.stretch))
        factors = torch.where(apply, factors, torch.ones(self.batch_size))[self.local].to(clips.device)
        position = torch.arange(length, device=clips.device, dtype=torch.float32)[None, :] * factors[:, None]
        left = position.floor()
        frac = (position - left).to(clips.dtype)[:, None, :]
        left = left.long() % length
        index = left[:, None, :].expand(-1, clips.shape[1], -1)
        after = ((left + 1) % length)[:, None, :].expand(-1, clips.shape[1], -1)
        return clips.gather(-1, index) * (1 - frac) + clips.gather(-1, after) * frac

    def _tilt(self, clips: torch.Tensor) -> torch.Tensor:
        """Tilt each chosen clip's spectrum: a gain linear in log frequency, from -s dB at 0 Hz to
        +s dB at Nyquist, s uniform in [-tilt_db, tilt_db] (an equalizer's brighter or darker)."""
        length = clips.shape[-1]
        apply = self._chosen()
        slopes = torch.where(apply, (torch.rand(self.batch_size) * 2 - 1) * self.tilt_db, torch.zeros(self.batch_size))
        bins = length // 2 + 1
        position = torch.log1p(torch.arange(bins, dtype=torch.float32)) / math.log(bins)  # 0..1, log frequency
        gain_db = slopes[self.local, None] * (2 * position[None, :] - 1)
        gains = (10.0 ** (gain_db / 20.0)).to(clips.device)[:, None, :]
        spectrum = torch.fft.rfft(clips.float(), n=length)
        return torch.fft.irfft(spectrum * gains, n=length).to(clips.dtype)

    def observe(self, real_scores: torch.Tensor) -> None:
        """Accumulate the sign of the critic's outputs on (augmented) real clips (no host sync)."""
        if self.adaptive:
            self._sign_sum += real_scores.detach().float().sign().sum()
            self._sign_count += real_scores.numel()

    def adjust(self, steps_done: int) -> None:
        """Every `adjust_every` steps (all ranks together): move p towards the target statistic."""
        if not self.adaptive or steps_done % self.adjust_every or self._sign_count == 0:
            return
        stats = torch.stack([self._sign_sum, torch.tensor(float(self._sign_count), device=self.device)])
        total, count = distributed.mean_across_ranks(stats).tolist()
        overfit = total / count
        step_size = self.batch_size * self.adjust_every / self.speed
        self.p = min(self.max_p, max(0.0, self.p + math.copysign(step_size, overfit - self.target)))
        self._sign_sum.zero_()
        self._sign_count = 0

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p, "sign_sum": float(self._sign_sum.item()), "sign_count": int(self._sign_count)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.p = float(state["p"])
        self._sign_sum.fill_(float(state["sign_sum"]))
        self._sign_count = int(state["sign_count"])
