"""Model families: named generator/critic pairs built from recorded constructor arguments.

A family turns the train settings and the dataset's clip length into constructor arguments (a
plain dict, stored in every checkpoint and in generator.pt), and builds both networks from them.
Adding a family: write its networks in their own module and register a `Family` below.
Every family's arguments include `latent_dim` (z is [n, latent_dim], uniform in [-1, 1]); its
generator maps z to audio [n, 1, slice_length] with slice_length >= the clip length.

- `wavegan`: the paper's networks, at most 65,536 samples (4.1 s at 16 kHz, 1.5 s at 44.1 kHz).
- `multiband`: WaveGAN networks on `train.bands` PQMF sub-bands (audiogan.multiband), up to
  bands x 65,536 samples: 4 s at 44.1 or 48 kHz for about the cost of the 16 kHz 4 s model.
- `train.family: auto` (`resolve_family`) is wavegan where the clip fits it, else multiband: a
  clip that fits is never split into bands, as before; a longer one needs no extra setting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import math

import torch.nn as nn

from .config import ConfigError
from .model import SLICE_LENGTHS, ModelConfig, WaveGANCritic, WaveGANGenerator, slice_length_for
from .multiband import MultibandCritic, MultibandGenerator


@dataclass(frozen=True)
class Family:
    name: str
    arguments: Callable[[Mapping[str, Any], int], dict[str, Any]]  # (train settings, clip_samples) -> kwargs
    generator: Callable[..., nn.Module]  # (**kwargs) -> generator
    critic: Callable[..., nn.Module]  # (**kwargs) -> critic


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None


def resolve_family(name: str, clip_samples: int) -> str:
    """The family `train.family` means for clips of `clip_samples`: `auto` is wavegan where the
    clip fits WaveGAN's longest slice, else multiband; any other name is itself."""
    if name != "auto":
        return name
    return "wavegan" if clip_samples <= SLICE_LENGTHS[-1] else "multiband"


def _wavegan_arguments(settings: Mapping[str, Any], clip_samples: int) -> dict[str, Any]:
    try:
        slice_length = slice_length_for(clip_samples)
    except ValueError as error:
        raise ConfigError(f"train.family: wavegan: {error}, or set train.family: multiband (or auto)") from None
    return asdict(
        ModelConfig(
            model_size=settings["model_size"],
            latent_dim=settings["latent_dim"],
            slice_length=slice_length,
            phase_shuffle=settings["phase_shuffle"],
            envelope=settings["envelope"],
            upsample_filter=settings["upsample_filter"],
            minibatch_std=settings["minibatch_std"],
        )
    )


def _multiband_arguments(settings: Mapping[str, Any], clip_samples: int) -> dict[str, Any]:
    # The WaveGAN arguments of one band (ceil(clip / K) samples), then the full-band length.
    bands = int(settings["bands"])
    per_band = math.ceil(clip_samples / bands)
    if per_band > SLICE_LENGTHS[-1]:
        raise ConfigError(
            f"train.bands: clips of {clip_samples} samples need at least {math.ceil(clip_samples / SLICE_LENGTHS[-1])} "
            f"bands of at most {SLICE_LENGTHS[-1]} samples each; got {bands}"
        )
    arguments = _wavegan_arguments(settings, per_band)
    arguments.pop("channels")  # one per band
    arguments["slice_length"] *= bands
    arguments["bands"] = bands
    return arguments


register_family(
    Family(
        name="wavegan",
        arguments=_wavegan_arguments,
        generator=lambda **kwargs: WaveGANGenerator(ModelConfig(**kwargs)),
        critic=lambda **kwargs: WaveGANCritic(ModelConfig(**kwargs)),
    )
)


register_family(
    Family(
        name="multiband",
        arguments=_multiband_arguments,
        generator=lambda **kwargs: MultibandGenerator(**kwargs),
        critic=lambda **kwargs: MultibandCritic(**kwargs),
    )
)
