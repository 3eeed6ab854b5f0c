"""The training job: one frozen description of what to train, handed whole to every worker.

Everything a training process needs is here, decided once: the clips and their summary (sample
rate and clip length come from the dataset itself, never from a second source), the train settings
with the schema's defaults filled in, the labels the generator is conditioned on (if any), the
family's constructor arguments, the state folder and the declared outputs. torchrun workers receive it as JSON (`to_json` / `from_json`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..config import ConfigError, check_train_settings
from ..dataset import DatasetFormatError, clip_labels, open_clips, read_summary
from ..families import get_family, resolve_family
from .identity import identity_hash, run_identity, train_settings

log = logging.getLogger("audiogan.train")


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
    manifest_path: str | None = None  # the dataset's manifest.tsv: each clip's label
    labels: tuple[str, ...] = ()  # the label names the generator is conditioned on; () unconditional
    family: str = "wavegan"  # train.family resolved for this clip length (`auto` never appears here)

    @classmethod
    def create(
        cls,
        clips_path: str | os.PathLike,
        summary_path: str | os.PathLike,
        train_config: Mapping[str, Any],
        state_root: str | os.PathLike,
        outputs: TrainOutputs | None,
        manifest_path: str | os.PathLike | None = None,
    ) -> "TrainJob":
        """Fill the settings, read the dataset's summary and check it against the clips, and decide
        on conditioning from the clips' labels in `manifest_path` (None: no labels known)."""
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
        check_train_settings(settings)
        labels = conditioning_labels(settings["conditional"], manifest_path, len(clips))
        family = resolve_family(settings["family"], clip_samples)
        arguments = get_family(family).arguments(settings, clip_samples)
        if labels:
            arguments["n_labels"] = len(labels)
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
            manifest_path=None if manifest_path is None else str(manifest_path),
            labels=tuple(labels),
            family=family,
        )

    @property
    def latent_dim(self) -> int:
        return int(self.model_arguments["latent_dim"])

    @property
    def slice_length(self) -> int:
        return int(self.model_arguments["slice_length"])

    def identity(self) -> dict[str, Any]:
        identity = run_identity(self.settings, self.sample_rate, self.clip_seconds, self.clips_path)
        if self.labels:  # relabelling the same clips is another run
            identity["labels"] = list(self.labels)
        return identity

    def clip_label_ids(self) -> np.ndarray | None:
        """Each clip's label id (an index into `labels`), or None when unconditional."""
        if not self.labels:
            return None
        ids, names = clip_labels(self.manifest_path)
        if tuple(names) != self.labels:
            raise DatasetFormatError(f"{self.manifest_path} changed while training: its labels are now {names}")
        return ids

    def state_dir(self, identity: dict[str, Any] | None = None) -> Path:
        return Path(self.state_root) / identity_hash(identity or self.identity())

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TrainJob":
        data = json.loads(text)
        data["outputs"] = TrainOutputs(**data["outputs"]) if data["outputs"] else None
        data["labels"] = tuple(data["labels"])
        return cls(**data)


def conditioning_labels(
    conditional: str | bool, manifest_path: str | os.PathLike | None, n_clips: int
) -> list[str]:
    """The label names to condition on (empty: train unconditionally), per `train.conditional`.

    auto: conditional when every clip has a label and there are at least two; true: conditional,
    and an error when any clip lacks a label; false: never.
    """
    if conditional is False:
        return []
    if manifest_path is None:
        if conditional is True:
            raise ConfigError("train.conditional is true but no dataset manifest (with labels) was given")
        return []
    ids, names = clip_labels(manifest_path)
    if len(ids) != n_clips:
        raise DatasetFormatError(f"{manifest_path} lists {len(ids)} clips, the dataset holds {n_clips}: rebuild it")
    unlabelled = int((ids < 0).sum())
    if conditional is True:
        if not names or unlabelled:
            raise ConfigError(
                f"train.conditional is true but {unlabelled or len(ids)} of {len(ids)} clips have no label: "
                "give each source a `label:` (or `labels: folders`), or set train.conditional: auto"
            )
        return names
    if len(names) >= 2 and unlabelled:
        log.warning("%d of %d clips have no label: training without labels (train.conditional: auto)",
                    unlabelled, len(ids))  # fmt: skip
        return []
    return names if len(names) >= 2 else []
