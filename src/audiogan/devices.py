"""Which torch device a stage runs on: one reading of the `train.device` setting for every stage.

Training, rendering and the untrained reference generator of the evaluation all follow the same
setting, so a run on a GPU machine renders and evaluates there too, and `device: cpu` keeps every
stage on the CPU. The networks' memory layout on that device (`train.channels_last`) is decided
here too.
"""

from __future__ import annotations

import torch

from .config import ConfigError

DEVICE_SETTINGS = ("auto", "cuda", "cpu")


def resolve_device(setting: str) -> str:
    """The device kind ("cuda" or "cpu") for the `device` setting; auto: CUDA when PyTorch sees a GPU."""
    if setting not in DEVICE_SETTINGS:
        allowed = ", ".join(repr(s) for s in DEVICE_SETTINGS)
        raise ConfigError(f"train.device: {setting!r} is not allowed; allowed values: {allowed}")
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but PyTorch sees no CUDA GPU (set device: auto or cpu)")
    return setting


def resolve_channels_last(setting: bool | str, device: torch.device) -> bool:
    """Whether the networks run channels last (audiogan.model, "Memory layout") for the
    `train.channels_last` setting on `device`; auto: on the CPU, where it was measured faster (on
    CUDA it was slower for the modern recipe; benchmarks/RESULTS.md)."""
    return device.type == "cpu" if setting == "auto" else bool(setting)
