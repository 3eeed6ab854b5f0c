"""WaveGAN (Donahue, McAuley & Puckette, ICLR 2019): generator, critic and WGAN-GP losses.

Follows the authors' TensorFlow code (chrisdonahue/wavegan, `wavegan.py`) with its defaults:
no batch norm, no post-processing filter, 1-D convolutions of length 25 and stride 4, phase
shuffle in the critic, Glorot-uniform initial weights and zero biases (TensorFlow's defaults).

Shapes (d = model_size, channels last in the comments as in the paper; tensors here are [N, C, T]):

    generator  z [100] -> dense -> [16, 16d] -> [64, 8d] -> [256, 4d] -> [1024, 2d] -> [4096, d] -> [16384, 1]
    critic     [16384, 1] -> [4096, d] -> [1024, 2d] -> [256, 4d] -> [64, 8d] -> [16, 16d] -> dense -> 1

For 32768 and 65536 samples the dense layer emits [16, 32d] and one more layer is added
(stride 2 or 4), in both networks.

Class-conditional variant (`n_labels` > 0; not in the paper): labels come as weights y [N, n_labels]
(one-hot for one label, a mixture to blend labels). The generator appends a learned label embedding
(y @ E, `latent_dim` wide) to z before the dense layer; the critic adds a projection term
<y @ P, h> on its last features h (Miyato & Koyama, 2018). With n_labels = 0 both networks are
exactly the unconditional ones (same layers, same initial weights for a seed).

Amplitude envelope (`envelope`; not in the paper): the generator's tanh output is multiplied by a
sigmoid envelope that a one-layer head computes from the hidden features at a 32-64 sample hop
(the fourth layer from the end), linearly interpolated to the output rate. Drums are mostly
silence and decays; reaching digital silence through the tanh of transposed convolutions means
driving thousands of samples to zero together, while the envelope needs one low-rate curve.
Without it the small CPU models emit a steady quiet noise between hits (benchmarks/RESULTS.md).

Upsampling filter (`upsample_filter`; not in the paper). A kernel of 25 taps at stride 4 covers
the output samples unevenly (7, 6, 6, 6 taps), so an untrained or small generator stamps a pattern
with the period of its stride onto every layer's output: tones at multiples of each layer's input
rate (1, 2, 3 ... kHz in a 16 kHz one-shot, up to 20 dB below the hit), heard as a metallic hiss.
"none" leaves it as the paper does. "box" follows each transposed convolution with a moving average
over `stride` samples, whose zeros lie exactly at those frequencies (scaled by sqrt(stride) to keep
the untrained generator's level); it also dulls the output (about -11 dB at 3 and 6 kHz, a zero at
4 kHz), which the kernels must learn to undo. "balanced" constrains the kernel instead: the taps
of each output phase (k mod stride) are shifted so that all phases sum alike, so a constant input
gives a constant output and the periodic pattern's mean (the strongest tones) is gone, without a
low-pass; the kernel trains through the projection (a few operations on the kernel per step).
benchmarks/RESULTS.md has what each did to the CPU main job and the labelled one-shots.

Memory layout (`use_channels_last`, `train.channels_last`; a speed choice, not part of the model):
cuDNN's bf16 tensor-core convolutions want channels last (NHWC); given [N, C, T] tensors (NCHW to
it) it transposes activations in and out around each convolution, which took 16% of the GPU time
of a paper-size WaveGAN step (issue 11). With channels last, each 1-D convolution runs as a 2-D one
over [N, C, 1, T] tensors stored as [N, 1, T, C], from the input to the last layer, and phase
shuffle gathers time steps of that storage directly. The weights, the random draws and the
arithmetic are the paper's; only the order of floating-point sums can differ. On an H200 it did
not pay (1.03x the faithful recipe's steps, 0.87x the modern one's: transposes remained, and the
gather's backward is a scatter); on a 2-core CPU oneDNN's convolutions gained (the main job's
modern step about 1.2x), so `train.channels_last: auto` uses it on the CPU only; it is off by
default until more than one main job has been run with it (benchmarks/RESULTS.md).

Minibatch standard deviation (`minibatch_std`; StyleGAN, Karras et al. 2018; not in the paper): the
critic's last features get one more channel, the standard deviation of the features across groups
of clips of the batch, so a generator that makes the same clip for every z is easy to tell apart.
With `minibatch_std_by_label` the training draws put clips of one label in each group
(`training.recipes.Draws`), so the spread is within a label: one sound per label shows.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

KERNEL = 25
SLICE_LENGTHS = (16384, 32768, 65536)
_LAST_STRIDE = {16384: None, 32768: 2, 65536: 4}  # the extra layer of the longer models
UPSAMPLE_FILTERS = ("none", "box", "balanced")


@dataclass
class ModelConfig:
    """Constructor arguments of both networks (stored as a dict in every checkpoint)."""

    model_size: int = 64
    latent_dim: int = 100
    slice_length: int = 16384
    phase_shuffle: int = 2
    channels: int = 1
    n_labels: int = 0  # 0: unconditional
    envelope: bool = False  # the generator's output gated by a learned amplitude envelope
    upsample_filter: str = "none"  # none | box | balanced: what keeps transposed convolutions from stamping tones
    minibatch_std: int = 0  # group size of the critic's minibatch standard deviation (0: off)

    def __post_init__(self) -> None:
        if isinstance(self.upsample_filter, bool):  # checkpoints written before "balanced" existed
            self.upsample_filter = "box" if self.upsample_filter else "none"
        if self.upsample_filter not in UPSAMPLE_FILTERS:
            raise ValueError(f"upsample_filter must be one of {UPSAMPLE_FILTERS}, got {self.upsample_filter!r}")
        if self.slice_length not in SLICE_LENGTHS:
            raise ValueError(f"slice_length must be one of {SLICE_LENGTHS}, got {self.slice_length}")
        if (self.model_size < 1 or self.latent_dim < 1 or self.channels < 1 or self.phase_shuffle < 0
                or self.n_labels < 0 or self.minibatch_std < 0 or self.minibatch_std == 1):
            raise ValueError(f"invalid model config: {self}")
        # Reflect padding needs the shift to be shorter than the last shuffled layer (slice / 256).
        if self.phase_shuffle >= self.slice_length // 256:
            raise ValueError(
                f"phase_shuffle ({self.phase_shuffle}) must be below {self.slice_length // 256} "
                f"for {self.slice_length}-sample slices"
            )


def slice_length_for(num_samples: int) -> int:
    """The smallest WaveGAN output length (16384, 32768 or 65536) that holds `num_samples`."""
    for length in SLICE_LENGTHS:
        if num_samples <= length:
            return length
    raise ValueError(
        f"clips of {num_samples} samples are longer than WaveGAN's longest output "
        f"({SLICE_LENGTHS[-1]} samples); lower audio.clip_seconds or audio.sample_rate"
    )


def _init_weights(module: nn.Module) -> None:
    # TensorFlow's layer defaults, which the paper's results were obtained with.
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _upconv(in_ch: int, out_ch: int, stride: int) -> nn.ConvTranspose1d:
    """Transposed convolution whose output is exactly `stride` times longer (TF's 'SAME')."""
    excess = KERNEL - stride  # = 2 * padding - output_padding
    return nn.ConvTranspose1d(
        in_ch, out_ch, KERNEL, stride=stride, padding=(excess + 1) // 2, output_padding=excess % 2
    )


def _downconv(in_ch: int, out_ch: int, stride: int) -> nn.Conv1d:
    """Convolution whose output is exactly `stride` times shorter (TF's 'SAME' for these sizes)."""
    return nn.Conv1d(in_ch, out_ch, KERNEL, stride=stride, padding=(KERNEL - stride + 1) // 2)


def _check_labels(y: torch.Tensor | None, n_labels: int, batch: int) -> None:
    if n_labels == 0:
        if y is not None:
            raise ValueError("this network is unconditional: it takes no labels")
    elif y is None or y.shape != (batch, n_labels):
        raise ValueError(f"this network needs label weights of shape [{batch}, {n_labels}]")


class WaveGANGenerator(nn.Module):
    """z [N, latent_dim] (and label weights y [N, n_labels]) -> audio [N, channels, slice_length] in [-1, 1]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d, last = config.model_size, _LAST_STRIDE[config.slice_length]
        mul = 16 if last is None else 32
        embedding = config.latent_dim if config.n_labels else 0
        self.dense = nn.Linear(config.latent_dim + embedding, 16 * d * mul)
        widths = [d * mul >> i for i in range(5 if last is None else 6)]  # 16d..d or 32d..d
        strides = [4] * 5 + ([last] if last else [])
        outs = widths[1:] + [config.channels]
        self.convs = nn.ModuleList(_upconv(i, o, s) for i, o, s in zip(widths, outs, strides))
        if config.n_labels:
            self.label_embedding = nn.Linear(config.n_labels, embedding, bias=False)
        self.envelope_after = len(self.convs) - 4  # index of the layer whose output feeds the envelope
        if config.envelope:
            self.envelope = nn.Conv1d(outs[self.envelope_after], config.channels, 5, padding=2)
        self.apply(_init_weights)

    channels_last = False  # see the module docstring ("Memory layout"); set by use_channels_last

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        _check_labels(y, self.config.n_labels, z.shape[0])
        if y is not None:
            z = torch.cat([z, self.label_embedding(y.to(z.dtype))], dim=1)
        x = self.dense(z).view(z.shape[0], -1, 16)
        if self.channels_last:
            x = to_channels_last(x)
        gain = None
        for index, conv in enumerate(self.convs):
            x = upsample(conv, F.relu(x), self.config.upsample_filter)
            if self.config.envelope and index == self.envelope_after:
                gain = torch.sigmoid(convolve(self.envelope, F.relu(x)))
        if self.channels_last:
            x = from_channels_last(x)
            gain = None if gain is None else from_channels_last(gain)
        out = torch.tanh(x)
        if gain is not None:
            out = out * F.interpolate(gain, size=out.shape[-1], mode="linear", align_corners=False)
        return out


def upsample(conv: nn.ConvTranspose1d, x: torch.Tensor, upsample_filter: str) -> torch.Tensor:
    """One generator layer's transposed convolution, with `upsample_filter` applied (see the module
    docstring): "none" as in the paper, "box" followed by a moving average over its stride,
    "balanced" with its kernel's phases made to sum alike. `x`: [N, C, T], or [N, C, 1, T] channels last."""
    weight = balanced_phases(conv.weight, conv.stride[0]) if upsample_filter == "balanced" else conv.weight
    if x.dim() == 4:
        out = F.conv_transpose2d(x, to_channels_last(weight), conv.bias, (1, conv.stride[0]), (0, conv.padding[0]),
                                 (0, conv.output_padding[0]))  # fmt: skip
    else:
        out = F.conv_transpose1d(x, weight, conv.bias, conv.stride, conv.padding, conv.output_padding)
    return moving_average(out, conv.stride[0]) if upsample_filter == "box" else out


def convolve(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """`conv` on [N, C, T], or as a 2-D convolution on [N, C, 1, T] channels last (same result)."""
    if x.dim() == 3:
        return conv(x)
    return F.conv2d(x, to_channels_last(conv.weight), conv.bias, (1, conv.stride[0]), (0, conv.padding[0]))


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """[N, C, T] -> [N, C, 1, T] stored channels last (also a kernel [out, in, K] -> [out, in, 1, K])."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def from_channels_last(x: torch.Tensor) -> torch.Tensor:
    """[N, C, 1, T] -> [N, C, T], contiguous."""
    return x.squeeze(2).contiguous()


def use_channels_last(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Run every WaveGAN network inside `module` channels last (or not); returns `module`."""
    for net in module.modules():
        if isinstance(net, (WaveGANGenerator, WaveGANCritic)):
            net.channels_last = enabled
    return module


def balanced_phases(weight: torch.Tensor, stride: int) -> torch.Tensor:
    """A transposed convolution's kernel [in, out, K] with the taps of each output phase (k mod
    `stride`) shifted so that every phase's taps sum alike: the mean over phases replaces each
    phase's sum, spread evenly over its taps. Differentiable, so the kernel trains through it."""
    taps = weight.shape[-1]
    phase_of_tap = F.one_hot(torch.arange(taps, device=weight.device) % stride, stride).to(weight.dtype)  # [K, s]
    sums = weight @ phase_of_tap  # [in, out, s]
    excess = (sums - sums.mean(-1, keepdim=True)) / phase_of_tap.sum(0)
    return weight - excess @ phase_of_tap.T


def moving_average(x: torch.Tensor, width: int) -> torch.Tensor:
    """[N, C, T] -> [N, C, T]: the mean of `width` neighbouring samples (zero-padded, centred), times
    sqrt(width). The factor keeps an untrained generator as loud as without the filter: a plain
    mean quarters the power of uncorrelated samples at every layer, and an output ~100x quieter
    kept one loops run in silence for 1,800 steps (the critic won from the start)."""
    if width <= 1:
        return x
    left = width // 2
    padded = F.pad(x, (left, width - 1 - left))
    pooled = F.avg_pool1d(padded, width, stride=1) if x.dim() == 3 else F.avg_pool2d(padded, (1, width), stride=1)
    return pooled * math.sqrt(width)


def phase_shuffle(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Shift the whole batch in time by one random n in [-radius, radius], reflect-padded.

    The shift is drawn from the global torch CPU generator (one draw per call, as in the official
    code), so a checkpointed RNG state reproduces it and every data-parallel rank draws the same.
    """
    if radius == 0:
        return x
    shift = int(torch.randint(-radius, radius + 1, ()).item())
    if shift == 0:
        return x
    if x.dim() == 4:  # [N, C, 1, T] stored as [N, 1, T, C]: gather whole time steps of that storage
        steps = x.permute(0, 2, 3, 1).index_select(2, _reflected_steps(x.shape[-1], shift, x.device))
        return steps.permute(0, 3, 1, 2)
    left, right = max(shift, 0), max(-shift, 0)
    return F.pad(x, (left, right), mode="reflect")[..., right : right + x.shape[-1]]


@functools.lru_cache(maxsize=64)
def _reflected_steps(length: int, shift: int, device: torch.device) -> torch.Tensor:
    """Source time step of each output step of a shift by `shift`, reflected at both ends."""
    source = torch.arange(length) - shift
    source = torch.where(source < 0, -source, source)
    source = torch.where(source > length - 1, 2 * (length - 1) - source, source)
    return source.to(device)


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """[N, C, T] -> [N, C + 1, T]: one more channel holding, for each clip, the mean over features of
    their standard deviation across its group (clip i is in group i mod N/G; G = `group`, or the
    largest divisor of N below it, so any batch size works)."""
    n, c, t = x.shape
    size = min(group, n)
    while n % size:
        size -= 1
    grouped = x.float().view(size, n // size, c, t)
    spread = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2))  # [N / G]
    channel = spread.to(x.dtype).view(1, -1, 1, 1).expand(size, -1, 1, t).reshape(n, 1, t)
    return torch.cat([x, channel], dim=1)


class WaveGANCritic(nn.Module):
    """audio [N, channels, slice_length] (and label weights y [N, n_labels]) -> score [N]
    (a WGAN critic: no sigmoid, no batch norm)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d, last = config.model_size, _LAST_STRIDE[config.slice_length]
        widths = [config.channels] + [d << i for i in range(5)]  # 1, d, 2d, 4d, 8d, 16d
        strides = [4] * 5
        if last:
            widths.append(32 * d)
            strides.append(last)
        self.convs = nn.ModuleList(_downconv(i, o, s) for i, o, s in zip(widths, widths[1:], strides))
        features = 16 * (widths[-1] + (1 if config.minibatch_std else 0))
        self.dense = nn.Linear(features, 1)
        if config.n_labels:
            self.label_projection = nn.Linear(config.n_labels, features, bias=False)
        self.apply(_init_weights)

    channels_last = False  # see the module docstring ("Memory layout"); set by use_channels_last

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        _check_labels(y, self.config.n_labels, x.shape[0])
        if self.channels_last:
            x = to_channels_last(x)
        for index, conv in enumerate(self.convs):
            x = F.leaky_relu(convolve(conv, x), 0.2)
            if index < 4:  # after the first four layers only
                x = phase_shuffle(x, self.config.phase_shuffle)
        if self.channels_last:
            x = from_channels_last(x)
        if self.config.minibatch_std:
            x = minibatch_stddev(x, self.config.minibatch_std)
        features = x.flatten(1)
        score = self.dense(features).squeeze(1)
        if y is not None:
            score = score + (self.label_projection(y.to(features.dtype)) * features).sum(1)
        return score


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- WGAN-GP losses ------------------------------------------------------------------------------


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[D(G(z))] - E[D(x)]: the negated Wasserstein estimate the critic minimizes."""
    return fake_scores.float().mean() - real_scores.float().mean()


def generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -fake_scores.float().mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    weight: float = 10.0,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """weight * E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = real + alpha (fake - real).

    `alpha` ([N] or broadcastable to real, U[0, 1]) is drawn per example when not given. The
    result keeps its graph (create_graph), so backpropagating it trains the critic.
    """
    if alpha is None:
        alpha = torch.rand(real.shape[0], device=real.device)
    alpha = alpha.to(real.dtype).reshape(-1, *([1] * (real.dim() - 1)))
    mixed = (real + alpha * (fake - real)).detach().requires_grad_(True)
    scores = critic(mixed)
    (grads,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    slopes = grads.float().flatten(1).norm(dim=1)
    return weight * ((slopes - 1.0) ** 2).mean()
