"""Run identity: which training run a set of settings, data and code belongs to.

The run id names the folder of resumable state (`cache/train/<run_id>/`). It hashes everything
that changes what step k computes, but not how long the run goes on: raising `steps` (or
`max_minutes`, `patience`) continues the same run, while any other change (settings, data, or any
file of the training code's import closure) starts a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from ..codedeps import PACKAGE_ROOT, module_closure
from ..config import section_settings

# Settings that do not change what is computed up to a given step: changing them continues a run.
# (gpu_model only steers the scheduler; steps, max_minutes and patience only decide where it ends.)
NOT_PART_OF_RUN = (
    "steps",
    "max_minutes",
    "patience",
    "checkpoint_every",
    "keep_checkpoints",
    "preview_count",
    "threads",
    "gpu_model",
)
TRAINING_PACKAGE = "training"


def train_settings(train_config: Mapping[str, Any]) -> dict[str, Any]:
    """`train_config` with the schema's defaults filled in (once, here); unknown keys are an error."""
    return section_settings("train", dict(train_config))


def dataset_identity(clips_path: str | os.PathLike) -> dict[str, Any]:
    """Shape, dtype and a cheap content hash of the dataset (audiogan.dataset.dataset_identity)."""
    from ..dataset import dataset_identity as identity

    return identity(clips_path)


def code_identity() -> str:
    """Hash of every file the training package imports (its import closure, as for the rules)."""
    digest = hashlib.sha256()
    for path in module_closure(TRAINING_PACKAGE):
        digest.update(str(Path(path).relative_to(PACKAGE_ROOT)).encode() + b"\0")
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    # 10 and 10.0 are the same setting; JSON would tell them apart.
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float)):
        return float(value)
    return value


def run_identity(
    train_config: Mapping[str, Any], sample_rate: int, clip_seconds: float, clips_path: str | os.PathLike
) -> dict[str, Any]:
    """Everything that decides what step k of a run computes (not the number of steps)."""
    settings = train_settings(train_config)
    return {
        "train": {k: _plain(v) for k, v in sorted(settings.items()) if k not in NOT_PART_OF_RUN},
        "sample_rate": int(sample_rate),
        "clip_seconds": float(clip_seconds),
        "dataset": dataset_identity(clips_path),
        "code": code_identity(),
    }


def run_id(
    train_config: Mapping[str, Any], sample_rate: int, clip_seconds: float, clips_path: str | os.PathLike
) -> str:
    """A short hash of `run_identity`: the name of the run's state folder."""
    return identity_hash(run_identity(train_config, sample_rate, clip_seconds, clips_path))


def identity_hash(identity: dict[str, Any]) -> str:
    """The run id for a `run_identity`: 12 hex digits of its hash."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
