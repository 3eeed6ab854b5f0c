"""An exponential moving average of the generator's weights (Karras et al.; Yazıcı et al., 2019).

The average of the recent generators is smoother and better than the last one; previews, the
checkpoint scores and the rendered generator use it. Its decay per step comes from a half-life in
generator steps, ramped up at the start (min(decay, (1 + t) / (10 + t))) so the random initial
weights are forgotten quickly.
"""

from __future__ import annotations

import copy

import torch


class GeneratorEMA:
    def __init__(self, generator: torch.nn.Module, halflife_steps: float):
        self.decay = 0.5 ** (1.0 / halflife_steps)
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: torch.nn.Module, steps_done: int) -> None:
        decay = min(self.decay, (1.0 + steps_done) / (10.0 + steps_done))
        for average, current in zip(self.model.parameters(), generator.parameters()):
            average.lerp_(current.detach(), 1.0 - decay)
        for average, current in zip(self.model.buffers(), generator.buffers()):
            average.copy_(current)
