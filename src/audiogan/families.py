"""Model families: named generator/critic pairs built from recorded constructor arguments.

A family turns the train settings and the dataset's clip length into constructor arguments (a
plain dict, stored in every checkpoint and in generator.pt), and builds both networks from them.
Adding a family: write its networks in their own module and register a `Family` below.
Every family's arguments include `latent_dim` (z is [n, latent_dim], uniform in [-1, 1]); its
generator maps z to audio [n, 1, slice_length] with slice_length >= the clip length.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import torch.nn as nn

from .model import ModelConfig, WaveGANCritic, WaveGANGenerator, slice_length_for


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


def _wavegan_arguments(settings: Mapping[str, Any], clip_samples: int) -> dict[str, Any]:
    return asdict(
        ModelConfig(
            model_size=settings["model_size"],
            latent_dim=settings["latent_dim"],
            slice_length=slice_length_for(clip_samples),
            phase_shuffle=settings["phase_shuffle"],
        )
    )


register_family(
    Family(
        name="wavegan",
        arguments=_wavegan_arguments,
        generator=lambda **kwargs: WaveGANGenerator(ModelConfig(**kwargs)),
        critic=lambda **kwargs: WaveGANCritic(ModelConfig(**kwargs)),
    )
)
