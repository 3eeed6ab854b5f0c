"""The training job: one frozen description of what to train, handed whole to every worker.

Everything a training process needs is here, decided once: the clips and their summary (sample
rate and clip length come from the dataset itself, never from a second source), the train settings
with the schema's defaults filled in, the family's constructor arguments, the state folder and the
declared outputs. torchrun workers receive it as JSON (`to_json` / `from_json`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..config import ConfigError
from ..dataset import DatasetFormatError, open_clips, read_summary
from ..families import get_family, resolve_family
from .identity import identity_hash, run_identity, train_settings


@dataclass(frozen=True)
class TrainOutputs:
    """The declared outputs of the train stage (`best` is optional: the best-scoring generator)."""

    generator: str | os.PathLike
    losses: str | os.PathLike
    loss_curve: str | os.PathLike
    quality: str | os.PathLike
    previews: str | os.PathLike
    best: str | os.PathLike | None = None


@dataclass(frozen=True)
class TrainJob:
    clips_path: str
    summary_path: str
    settings: Mapping[str, Any]  # the train section, defaults filled in
    sample_rate: int
    clip_samples: int
    clip_seconds: float
    state_root: str
    outputs: TrainOutputs | None  # None: a job that only reads the run's state (export)
    model_arguments: Mapping[str, Any] = field(default_factory=dict)
    family: str = "wavegan"  # train.family resolved for this clip length (`auto` never appears here)

    @classmethod
    def create(
        cls,
        clips_path: str | os.PathLike,
        summary_path: str | os.PathLike,
        train_config: Mapping[str, Any],
        state_root: str | os.PathLike,
        outputs: TrainOutputs | None,
    ) -> "TrainJob":
        """Fill the settings, read the dataset's summary and check it against the clips."""
        settings = train_settings(train_config)
        audio = read_summary(summary_path)["audio"]
        clips = open_clips(clips_path)
        clip_samples = int(audio["clip_samples"])
        if clips.shape[1] != clip_samples:
            raise DatasetFormatError(
                f"{clips_path} holds clips of {clips.shape[1]} samples but {summary_path} says "
                f"{clip_samples}: rebuild the dataset (segment stage)"
            )
        if settings["batch_size"] % settings["gpus"]:
            raise ConfigError(
                f"train.batch_size ({settings['batch_size']}) must be divisible by train.gpus ({settings['gpus']})"
            )
        family = resolve_family(settings["family"], clip_samples)
        arguments = get_family(family).arguments(settings, clip_samples)
        return cls(
            clips_path=str(clips_path),
            summary_path=str(summary_path),
            settings=settings,
            sample_rate=int(audio["sample_rate"]),
            clip_samples=clip_samples,
            clip_seconds=float(audio["clip_seconds"]),
            state_root=str(state_root),
            outputs=None if outputs is None else TrainOutputs(
                **{k: (None if v is None else str(v)) for k, v in asdict(outputs).items()}
            ),
            model_arguments=arguments,
            family=family,
        )

    @property
    def latent_dim(self) -> int:
        return int(self.model_arguments["latent_dim"])

    @property
    def slice_length(self) -> int:
        return int(self.model_arguments["slice_length"])

    def identity(self) -> dict[str, Any]:
        return run_identity(self.settings, self.sample_rate, self.clip_seconds, self.clips_path)

    def state_dir(self, identity: dict[str, Any] | None = None) -> Path:
        return Path(self.state_root) / identity_hash(identity or self.identity())

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TrainJob":
        data = json.loads(text)
        data["outputs"] = TrainOutputs(**data["outputs"]) if data["outputs"] else None
        return cls(**data)
