"""Training checkpoints and the generator-only model file.

A training checkpoint is one dict (networks, optimizers, step, RNG states, config) saved as
`ckpt_<step>.pt` in the run's state folder. Writes are atomic (temp file in the same folder,
fsync, rename), so a crash or `kill -9` at any moment leaves at worst a stray temp file, never a
damaged checkpoint under a final name; `latest_checkpoint` still checks that a file loads before
trusting it. Everything stored is a tensor or a plain Python value, so every file loads with
`torch.load(weights_only=True)`.

The generator file (`results/model/generator.pt`, `best.pt`) holds
`{"generator": state_dict, "family", "recipe", "model": the family's constructor arguments,
"sample_rate", "clip_seconds", "step", "config", "selection"}`; `load_generator` rebuilds any
family from it.
"""

from __future__ import annotations

import logging
import os
import random
import re
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .atomic import atomic_path

log = logging.getLogger(__name__)

_NAME = re.compile(r"^ckpt_(\d{8})\.pt$")


def checkpoint_path(state_dir: str | os.PathLike, step: int) -> Path:
    return Path(state_dir) / f"ckpt_{step:08d}.pt"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Save `state` atomically (temp file beside `path`, fsync, os.replace)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    return torch.load(path, map_location=map_location, weights_only=True)


def list_checkpoints(state_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of the files named like checkpoints, oldest first (temp files never match)."""
    folder = Path(state_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name)) and p.is_file()]
    return sorted(found)


def latest_checkpoint(
    state_dir: str | os.PathLike, max_step: int | None = None
) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint (step <= max_step if given) that loads, with its contents; None if none.

    A file that fails to load (truncated, corrupt) is logged and skipped, so an older good one is used.
    """
    for step, path in reversed(list_checkpoints(state_dir)):
        if max_step is not None and step > max_step:
            continue
        try:
            state = load_checkpoint(path)
        except Exception as error:  # any unreadable file: fall back to the one before
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            log.warning("skipping unreadable checkpoint %s (%s)", path, reason)
            continue
        if isinstance(state, dict) and state.get("step") == step:
            return path, state
        log.warning("skipping checkpoint %s: its contents do not match its name", path)
    return None


def prune_checkpoints(state_dir: str | os.PathLike, keep: int, up_to_step: int, spare: int | None = None) -> None:
    """Delete all but the newest `keep` checkpoints at or below `up_to_step` (and the one at step
    `spare`, if given), and stray temp files.

    Checkpoints beyond `up_to_step` (left by an earlier, longer run) are kept: training is
    deterministic, so they are what a later run with more steps would reach anyway.
    """
    folder = Path(state_dir)
    older = [path for step, path in list_checkpoints(folder) if step <= up_to_step and step != spare]
    for path in older[: max(0, len(older) - keep)]:
        path.unlink(missing_ok=True)
    remove_stale_temp_files(folder)


def remove_stale_temp_files(state_dir: str | os.PathLike) -> None:
    """Remove temp files of checkpoint writes that a crash interrupted."""
    for path in Path(state_dir).glob(".ckpt_*.tmp*"):
        path.unlink(missing_ok=True)


# -- RNG states as tensors (weights_only-loadable) -------------------------------------------------


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch CPU and CUDA RNG states, as tensors and plain values."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": torch.tensor(internal, dtype=torch.int64),
        "python_version": version,
        "python_gauss": gauss,
        "numpy": torch.from_numpy(keys.astype(np.int64)),
        "numpy_kind": kind,
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_cached": float(cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured (CUDA states only when the device count matches)."""
    random.setstate(
        (state["python_version"], tuple(int(v) for v in state["python"].tolist()), state["python_gauss"])
    )
    np.random.set_state(
        (
            state["numpy_kind"],
            state["numpy"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_cached"],
        )
    )
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# -- the generator-only file -----------------------------------------------------------------------


def save_generator(
    path: str | os.PathLike,
    generator: torch.nn.Module,
    model_arguments: Mapping[str, Any] | Any,
    sample_rate: int,
    clip_seconds: float,
    step: int,
    config: Mapping[str, Any],
    *,
    family: str,
    recipe: str,
    selection: Mapping[str, Any] | None = None,
    labels: Sequence[str] = (),
) -> None:
    """Write the generator file that render and evaluate load (format in docs/architecture.md).

    `model_arguments` are the family's constructor arguments (a dict, or a dataclass such as
    ModelConfig); `selection` says which checkpoint these weights are and why (training.selection);
    `labels` the names of a conditional generator's labels, in the order of its label weights.
    """
    if is_dataclass(model_arguments):
        model_arguments = asdict(model_arguments)
    weights = {k: v.detach().cpu().clone() for k, v in generator.state_dict().items()}
    state = {
        "generator": weights,
        "family": str(family),
        "recipe": str(recipe),
        "model": dict(model_arguments),
        "sample_rate": int(sample_rate),
        "clip_seconds": float(clip_seconds),
        "step": int(step),
        "config": dict(config),
        "labels": [str(name) for name in labels],
    }
    if selection is not None:
        state["selection"] = dict(selection)
    save_checkpoint(path, state)


def load_generator(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The generator of any family (eval mode, on `map_location`) and the file's other entries
    (family, recipe, model, sample_rate, clip_seconds, step, config, selection).

    The one way render, previews and metrics load a generator. Files written before families were
    recorded hold a WaveGAN.
    """
    try:
        state = load_checkpoint(path, map_location)
    except FileNotFoundError:
        raise FileNotFoundError(f"generator file {path} does not exist (run the train stage)") from None
    except Exception as error:
        raise ValueError(f"generator file {path} cannot be loaded: {error}") from error
    if not isinstance(state, dict) or "generator" not in state or "model" not in state:
        raise ValueError(f"generator file {path} lacks the 'generator' or 'model' entry")
    generator = build_generator(state.get("family", "wavegan"), state["model"])
    generator.load_state_dict(state["generator"])
    generator.to(map_location).eval()
    meta = {k: v for k, v in state.items() if k != "generator"}
    return generator, meta


def build_generator(family: str, model_arguments: Mapping[str, Any]) -> torch.nn.Module:
    """A freshly initialized generator of `family` from its recorded constructor arguments."""
    from .families import get_family

    return get_family(family).generator(**dict(model_arguments))
