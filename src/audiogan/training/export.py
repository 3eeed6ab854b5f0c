"""The generator of one chosen step of a finished run (`render.checkpoint: <step>`), from its state.

Only the steps whose state is still in `cache/train/<run_id>/` can be exported: the newest
`keep_checkpoints` checkpoints and the best-scoring one. Nothing is retrained.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from ..checkpoint import checkpoint_path, load_checkpoint, load_generator, save_generator
from ..families import get_family
from . import selection
from .job import TrainJob
from .loop import best_path


def export_generator(
    clips_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    train_config: Mapping[str, Any],
    state_root: str | os.PathLike,
    step: int,
    out_path: str | os.PathLike,
    manifest_path: str | os.PathLike | None = None,
) -> None:
    """Write the generator file (EMA weights when the run keeps them) of `step` of the run that
    these clips and settings name; a clear error, listing what is kept, when that step is not."""
    job = TrainJob.create(clips_path, summary_path, train_config, state_root, outputs=None, manifest_path=manifest_path)
    state_dir, cfg = job.state_dir(), job.settings
    full = checkpoint_path(state_dir, step)
    if full.is_file():
        state = load_checkpoint(full)
        generator = get_family(job.family).generator(**job.model_arguments)
        generator.load_state_dict(state["generator_ema"] if "generator_ema" in state else state["generator"])
        quality = state["quality"].tolist()
    elif best_path(state_dir, step).is_file():
        generator, meta = load_generator(best_path(state_dir, step))
        quality = [(meta["step"], meta["selection"]["fd_mel"])]
    else:
        kept = sorted({int(p.stem.split("_")[1]) for p in state_dir.glob("*_*.pt") if p.stem.split("_")[1].isdigit()})
        raise ValueError(
            f"render.checkpoint: step {step} of run {state_dir.name} is not kept (kept steps: "
            f"{', '.join(map(str, kept)) or 'none'}); choose one of those, best or latest, or raise "
            f"train.keep_checkpoints for the next run"
        )
    save_generator(out_path, generator, job.model_arguments, job.sample_rate, job.clip_seconds, step, dict(cfg),
                   family=job.family, recipe=cfg["recipe"], selection=selection.describe("step", step, quality),
                   labels=job.labels)  # fmt: skip
