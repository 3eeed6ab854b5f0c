"""Schedules over the run: the learning-rate decay and the conditioning ramp.

Learning-rate decay: a cosine from the configured rates down to a fraction of them.

A run ends at `steps` or when `max_minutes` are spent, whichever comes first, so its progress is
the larger of the two shares: step / steps and trained seconds / budget. With a time budget the
rates therefore follow the wall clock (a faster machine decays over more steps); without one they
follow the steps alone (the same at every rerun; raising `steps` to resume stretches the decay).

Why: on the demo loops the default recipe's quality peaks about halfway through the CPU main job
and then drifts back (FD-mel 3.1k at step 2,000, 7–9k at 3,000–4,000, losses steady throughout).
A decay to 0.1 removed the drift (the last step as good as the best) but did not make the best
better, so it is off by default (benchmarks/RESULTS.md).

Conditioning ramp (`train.condition_ramp: [start, end]`, shares of the run's progress): labelled
data trains unconditionally until `start`, then the label weights both networks see grow linearly
to full one-hot weights at `end` (the transitional training of Shahbazi et al., "Collapse by
Conditioning", 2022). Why: on labelled one-shots a conditional model made about one sound per
label (median distance to the nearest other sample of its label 0.039 against 0.102 for the
unconditional model with the same networks and steps; real clips 0.122), and neither the label
loss nor mode seeking nor stronger augmentation changed that. Learning the whole distribution
first and splitting it by label afterwards is the cure that paper measured on small image sets.
"""

from __future__ import annotations

import math

import torch


def run_progress(step: int, steps: int, trained_seconds: float, budget_s: float) -> float:
    """How far the run is towards its end, 0..1: the larger of the step and time-budget shares."""
    by_steps = step / steps
    by_time = trained_seconds / budget_s if math.isfinite(budget_s) else 0.0
    return min(1.0, max(by_steps, by_time))


def decay_factor(progress: float, final: float | None) -> float:
    """The learning rates' multiplier at `progress`: 1 at the start, `final` at the end along a
    half cosine; None: no decay (always 1)."""
    if final is None:
        return 1.0
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def condition_scale(progress: float, ramp: tuple[float, float] | None) -> float:
    """The label weights' scale at `progress`: 0 before ramp[0], 1 from ramp[1] on, linear between;
    None: no ramp (always 1)."""
    if ramp is None:
        return 1.0
    start, end = ramp
    if progress >= end:
        return 1.0
    if progress <= start:
        return 0.0
    return (progress - start) / (end - start)


def set_learning_rates(optimizer: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = base_lr * factor
