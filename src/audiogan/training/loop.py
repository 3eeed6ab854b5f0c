"""The training loop: one readable loop for every recipe, resumable, optionally data-parallel.

In short:

- batches are random rows of the dataset (audiogan.dataset.open_clips), read from memory maps (or from a copy kept on
  the GPU when it fits), zero-padded to the generator's slice length;
- each step is the recipe's (`recipes.py`): critic and generator updates, with the augmentation
  (`augment.py`) applied to all the critic sees; the loop keeps the generator EMA (`ema.py`),
  adjusts the adaptive augmentation, and checks the losses; with `lr_decay_to` it sets the
  learning rates before each step, with `condition_ramp` the labels' weight (`schedule.py`);
- every random draw comes from the global torch CPU generator, seeded alike on every rank; each
  rank draws the whole global batch and keeps its own slice, so N ranks compute what one process
  would (DistributedDataParallel averages the gradients), and a checkpointed RNG state reproduces
  the rest of the run;
- every `checkpoint_every` steps rank 0 scores the (EMA) generator (FD-mel of `score_count` clips,
  one preview WAV) and writes an atomic checkpoint into `state_root/<run_id>/`; the best-scoring
  checkpoint is never pruned; the run ends at `steps`, when `max_minutes` of training are spent,
  or after `patience` checkpoints without a better score, and writes its outputs alike; every
  rank keeps the same quality history (rank 0's scores are broadcast), so all agree on stopping;
- with `restore_best_after`, a run whose score has not improved for that many checkpoints goes
  back to the best checkpoint's whole state (not its random draws) and goes on with both learning
  rates times `restore_lr_factor` (the curve on small data peaks and drifts back; see selection.py);
- SIGTERM/SIGINT finish the current step, checkpoint and exit with status 143 (`Preempted`); a
  non-finite loss stops with `TrainingDiverged` naming the step, before anything is saved.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import signal
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from .. import distributed
from ..atomic import atomic_write_text
from ..checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    remove_stale_temp_files,
    rng_state,
    save_checkpoint,
    save_generator,
    set_rng_state,
)
from ..config import ConfigError
from ..dataset import clip_rows, open_clips
from ..devices import resolve_channels_last, resolve_device
from ..families import get_family
from ..model import use_channels_last
from . import history, schedule, selection
from .augment import AugmentPipe
from .ema import GeneratorEMA
from .job import TrainJob
from .previews import Previews
from .recipes import LABEL_COLUMNS, Draws, Nets, get_recipe
from .spectral import with_spectral_critics

log = logging.getLogger("audiogan.train")  # one logger name for the whole training stage

LOG_INTERVAL_S = 15.0
CUDA_SYNC_EVERY = 10  # steps between host syncs on a GPU (loss read-back, NaN and stop checks)
PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM: what schedulers expect of a terminated job


class Preempted(SystemExit):
    """Training stopped on SIGTERM/SIGINT after writing a checkpoint; a rerun resumes from it."""

    def __init__(self) -> None:
        super().__init__(PREEMPTED_EXIT_CODE)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; nothing from that step on was saved."""


def loss_columns(recipe: str, augmented: bool, label_scored: bool = False) -> tuple[str, ...]:
    """The columns of losses.csv for a recipe (the critic's label accuracies when a label loss is
    trained, augment_p when augmentation is on)."""
    return ("step", *get_recipe(recipe).columns, *(LABEL_COLUMNS if label_scored else ()),
            *(("augment_p",) if augmented else ()), "it_per_s")  # fmt: skip


class ClipBatches:
    """Batches of rows of the dataset as [b, 1, slice_length] tensors on `device`, zero-padded.

    On CUDA the whole array is copied to the GPU once when it takes under a quarter of the free
    memory; otherwise each batch is read from the memory map (only the rows asked for).
    """

    def __init__(self, clips: np.ndarray, slice_length: int, device: torch.device):
        self.clips, self.slice_length, self.device = clips, slice_length, device
        self.resident: torch.Tensor | None = None
        if device.type == "cuda" and clips.nbytes * 4 < torch.cuda.mem_get_info(device)[0]:
            self.resident = torch.empty(clips.shape, dtype=torch.float32, device=device)
            for start in range(0, len(clips), 4096):  # bounded host memory for the copy
                rows = clip_rows(clips, slice(start, start + 4096))
                self.resident[start : start + len(rows)] = torch.from_numpy(rows).to(device)
            log.info("training clips kept on the GPU (%.1f MiB)", clips.nbytes / 2**20)

    def __call__(self, indices: torch.Tensor) -> torch.Tensor:
        if self.resident is not None:
            batch = self.resident[indices.to(self.device, non_blocking=True)]
        else:
            batch = torch.from_numpy(clip_rows(self.clips, indices.numpy())).to(self.device, non_blocking=True)
        if batch.shape[1] < self.slice_length:
            batch = F.pad(batch, (0, self.slice_length - batch.shape[1]))
        return batch.unsqueeze(1)


class StopRequest:
    """Set by SIGTERM/SIGINT; the loop checks it after each step. A second signal stops at once."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __bool__(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopping without a checkpoint")
        self.signal = signum
        log.warning("received %s: finishing this step, then writing a checkpoint", signal.Signals(signum).name)

    @contextlib.contextmanager
    def installed(self) -> Iterator["StopRequest"]:
        """Install the handlers for the duration (only possible in the main thread)."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def train(job: TrainJob) -> None:
    """Train (or resume) in this process; under torchrun, as one rank of the data-parallel group."""
    ctx = distributed.setup(resolve_device(job.settings["device"]))
    try:
        with StopRequest().installed() as stop:
            _train(ctx, stop, job)
        distributed.barrier()
    finally:
        distributed.teardown()


def _train(ctx: distributed.Dist, stop: StopRequest, job: TrainJob) -> None:
    cfg = job.settings
    device, main = ctx.device, ctx.is_main
    batch_size, steps = cfg["batch_size"], cfg["steps"]
    if batch_size % ctx.world_size:
        raise ConfigError(f"train.batch_size ({batch_size}) must be divisible by the {ctx.world_size} processes")
    local = slice(ctx.rank * batch_size // ctx.world_size, (ctx.rank + 1) * batch_size // ctx.world_size)

    clips = open_clips(job.clips_path)
    label_ids = job.clip_label_ids()  # None: unconditional
    identity = job.identity()
    state_dir = job.state_dir(identity)
    if device.type == "cpu":
        torch.set_num_threads(max(1, cfg["threads"] // ctx.world_size))
    else:
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest convolution once
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    # Same seed on every rank: identical initial weights and identical random draws.
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"] % 2**32)
    random.seed(cfg["seed"])
    family = get_family(job.family)
    generator = family.generator(**job.model_arguments).to(device)
    critic = family.critic(**job.model_arguments)
    critic = with_spectral_critics(critic, cfg["spectral_critic"], cfg["recipe"], job.sample_rate,
                                   len(job.labels)).to(device)  # fmt: skip
    channels_last = resolve_channels_last(cfg["channels_last"], device)
    use_channels_last(generator, channels_last), use_channels_last(critic, channels_last)
    betas = tuple(cfg["betas"])
    critic_lr = cfg["learning_rate"] if cfg["critic_learning_rate"] is None else cfg["critic_learning_rate"]
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg["learning_rate"], betas=betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=critic_lr, betas=betas)
    ema = GeneratorEMA(generator, cfg["ema_halflife"]) if cfg["ema_halflife"] > 0 else None
    augment = AugmentPipe(cfg["augment"], batch_size, local, device)
    columns = loss_columns(cfg["recipe"], augment.enabled, label_scored=bool(job.labels) and cfg["label_loss"] > 0)

    if main:
        # Where the job ran and which GPUs the scheduler gave it: the first thing to check on a cluster.
        log.info("environment: SLURM_JOB_ID=%s CUDA_VISIBLE_DEVICES=%s",
                 os.environ.get("SLURM_JOB_ID", "-"), os.environ.get("CUDA_VISIBLE_DEVICES", "-"))  # fmt: skip
    step, losses, quality, trained_seconds = 0, [], [], 0.0
    restores: list[tuple[int, int]] = []  # (at step, back to step) of each return to the best checkpoint
    recipe_state: dict[str, Any] = {}

    def load_weights(state: dict[str, Any]) -> None:
        """The networks, optimizers, EMA and augmentation of a checkpoint (the recipe's state is separate)."""
        generator.load_state_dict(state["generator"])
        critic.load_state_dict(state["critic"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if ema is not None:
            ema.model.load_state_dict(state["generator_ema"])
        augment.load_state_dict(state["augment"])

    found = latest_checkpoint(state_dir, max_step=steps)
    if found:
        path, state = found
        load_weights(state)
        recipe_state = state["recipe"]
        set_rng_state(state["rng"])
        step, losses, quality = state["step"], state["losses"].tolist(), state["quality"].tolist()
        restores = [(int(at), int(back)) for at, back in state.get("restores", torch.zeros(0, 2)).tolist()]
        trained_seconds = float(state["trained_seconds"])
        if main:
            log.info("resuming run %s from %s (step %d of %d)", state_dir.name, path, step, steps)
    elif main:
        log.info("starting run %s in %s: %s, recipe %s, %d steps, d=%d, slice %d, batch %d on %d %s process(es)",
                 state_dir.name, state_dir, job.family, cfg["recipe"], steps, cfg["model_size"], job.slice_length,
                 batch_size, ctx.world_size, device.type)  # fmt: skip
        if job.labels:
            counts = np.bincount(label_ids, minlength=len(job.labels))
            log.info("conditional on %d labels%s: %s", len(job.labels), " (balanced)" if cfg["balance_labels"] else "",
                     ", ".join(f"{name} {count}" for name, count in zip(job.labels, counts)))  # fmt: skip

    live_losses, live_quality = state_dir / "losses.csv", state_dir / "quality.csv"
    previews = Previews(clips, cfg["preview_count"], cfg["score_count"], job.latent_dim, cfg["seed"],
                        job.sample_rate, job.clip_samples, state_dir / "previews",
                        label_ids=label_ids, n_labels=len(job.labels))  # fmt: skip
    if main:
        state_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(state_dir)
        atomic_write_text(state_dir / "run.json", json.dumps(identity, indent=2) + "\n")
        history.write_table(live_losses, columns, losses)
        history.write_table(live_quality, history.QUALITY_COLUMNS, quality)

    def write_generator(path: Path, module: torch.nn.Module, at_step: int, kind: str) -> None:
        save_generator(path, module, job.model_arguments, job.sample_rate, job.clip_seconds, at_step, dict(cfg),
                       family=job.family, recipe=cfg["recipe"],
                       selection=selection.describe(kind, at_step, quality), labels=job.labels)  # fmt: skip

    def scored_generator() -> torch.nn.Module:
        return ema.model if ema is not None else generator

    def save(at_step: int, with_preview: bool) -> None:
        """Rank 0: preview + score first, then the checkpoint, so a checkpoint always has its row."""
        if with_preview:
            fd = previews.write(scored_generator(), at_step)
            quality.append((at_step, fd))
            history.append_rows(live_quality, [quality[-1]])
            best = selection.best_row(quality)
            if best is not None and best[0] == at_step:  # a new best: its generator is kept aside
                write_generator(best_path(state_dir, at_step), scored_generator(), at_step, "best")
            log.info("step %d: preview %s, FD-mel %.3f (best %.3f at step %s)", at_step,
                     previews.path(at_step).name, fd, best[1] if best else math.nan, best[0] if best else "-")  # fmt: skip
        state = {
            "step": at_step,
            "generator": generator.state_dict(),
            "critic": critic.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "augment": augment.state_dict(),
            "recipe": recipe.state_dict(),
            "rng": rng_state(),
            "losses": torch.tensor(losses, dtype=torch.float64).reshape(-1, len(columns)),
            "quality": torch.tensor(quality, dtype=torch.float64).reshape(-1, len(history.QUALITY_COLUMNS)),
            "trained_seconds": trained_seconds + (time.perf_counter() - started),
            "restores": torch.tensor(restores, dtype=torch.int64).reshape(-1, 2),
            "config": dict(cfg),
            "family": job.family,
            "model": dict(job.model_arguments),
        }
        if ema is not None:
            state["generator_ema"] = ema.model.state_dict()
        save_checkpoint(checkpoint_path(state_dir, at_step), state)
        best = selection.best_row(quality)
        best_step = best[0] if best else None
        # Returning to the best checkpoint needs its whole state, so it is spared then.
        prune_checkpoints(state_dir, cfg["keep_checkpoints"], at_step,
                          spare=best_step if cfg["restore_best_after"] is not None else None)  # fmt: skip
        prune_best_files(state_dir, best_step, at_step)

    # The networks as trained: DDP averages gradients across ranks (its hooks fire on the single
    # backward that also carries the regularizer's double-backward terms). torch.compile is
    # applied to the generator only: compiled graphs do not support the critic's double backward.
    # The first conv's weight gradient from the double backward is not contiguous; DDP copies it
    # into its bucket and warns once per process. Harmless (one small tensor), so not shown.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    g_model: torch.nn.Module = DistributedDataParallel(generator) if ctx.enabled else generator
    d_model: torch.nn.Module = DistributedDataParallel(critic) if ctx.enabled else critic
    if cfg["compile"] and device.type == "cuda":
        g_model = torch.compile(g_model)
    elif cfg["compile"] and main:
        log.info("compile is only used on CUDA; training eagerly on the CPU")
    nets = Nets(generator, critic, g_model, d_model, opt_g, opt_d)
    recipe = get_recipe(cfg["recipe"])(cfg, nets, augment, device, job.sample_rate)
    if main:
        log.info("forward passes in %s (train.precision: %s)", str(recipe.dtype).removeprefix("torch."),
                 cfg["precision"])  # fmt: skip
    if recipe_state:
        recipe.load_state_dict(recipe_state)
    draws = Draws(ClipBatches(clips, job.slice_length, device), len(clips), batch_size, job.latent_dim, local, device,
                  labels=label_ids, n_labels=len(job.labels), balanced=cfg["balance_labels"],
                  label_groups=cfg["minibatch_std"] if cfg["minibatch_std_by_label"] else 1)  # fmt: skip

    budget_s = math.inf if cfg["max_minutes"] is None else 60.0 * cfg["max_minutes"]
    # The seconds the learning-rate decay goes by move at sync points only, agreed across ranks,
    # so that every rank steps with the same learning rates (schedule.py).
    agreed_seconds = trained_seconds

    def set_learning_rates(at_step: int) -> None:
        """The configured rates times the decay (if any) and `restore_lr_factor` per return to the best."""
        progress = schedule.run_progress(at_step, steps, agreed_seconds, budget_s)
        factor = schedule.decay_factor(progress, cfg["lr_decay_to"]) * cfg["restore_lr_factor"] ** len(restores)
        schedule.set_learning_rates(opt_g, cfg["learning_rate"], factor)
        schedule.set_learning_rates(opt_d, critic_lr, factor)

    def return_to_best(at_step: int) -> None:
        """Every rank: the best checkpoint's networks, optimizers, EMA, augmentation and recipe
        state, lower learning rates; the step count, histories and random draws go on."""
        back_to = selection.best_row(quality)[0]
        state = load_checkpoint(checkpoint_path(state_dir, back_to))
        load_weights(state)
        recipe.load_state_dict(state["recipe"])
        restores.append((at_step, back_to))
        set_learning_rates(at_step)
        if main:
            log.info("no better FD-mel in %d checkpoints: back to step %d's state, learning rates x %g (return %d)",
                     cfg["restore_best_after"], back_to, cfg["restore_lr_factor"] ** len(restores), len(restores))  # fmt: skip

    def restore_due() -> bool:
        last = restores[-1][0] if restores else None
        return step < steps and selection.should_restore_best(quality, cfg["restore_best_after"], last)

    if restores:  # a resumed run goes on at the rates of its last return
        set_learning_rates(step)

    ramp = tuple(cfg["condition_ramp"]) if cfg["condition_ramp"] is not None and label_ids is not None else None

    def label_scale(at_step: int) -> float:
        """The labels' weight at `at_step` (1 without a conditioning ramp)."""
        return schedule.condition_scale(schedule.run_progress(at_step, steps, agreed_seconds, budget_s), ramp)

    def stop_early(at_step: int) -> bool:
        # Patience counts only once the labels have full weight: an unconditional start cannot end the run.
        return label_scale(at_step) >= 1.0 and selection.should_stop_early(quality, cfg["patience"])

    sync_every = 1 if device.type == "cpu" else CUDA_SYNC_EVERY
    pending: list[torch.Tensor] = []  # per-step losses not yet read back to the host
    started = time.perf_counter()
    first_step, window_start, window_steps, last_log = step, started, 0, 0.0
    finished_early = stop_early(step) or trained_seconds >= budget_s
    if finished_early and main:
        log.info("run %s already ended at step %d (patience or time budget)", state_dir.name, step)
    elif found and quality and int(quality[-1][0]) == step and restore_due():
        return_to_best(step)  # the run stopped between scoring this checkpoint and going back
    generator.train(), critic.train()
    while step < steps and not finished_early:
        if cfg["lr_decay_to"] is not None:
            set_learning_rates(step)
        if ramp is not None:
            draws.label_scale = label_scale(step)
        row = recipe.step(draws, step)
        if augment.enabled:
            row = torch.cat([row, torch.tensor([augment.p], device=device, dtype=row.dtype)])
        if ema is not None:
            ema.update(generator, step + 1)
        step += 1
        window_steps += 1
        augment.adjust(step)
        pending.append(row)
        checkpoint_due = step % cfg["checkpoint_every"] == 0 or step == steps
        if not (step % sync_every == 0 or checkpoint_due or (stop and not ctx.enabled)):
            continue

        # -- sync point: read the losses back, check them, agree on stopping, log, checkpoint
        values = distributed.mean_across_ranks(torch.stack(pending)).cpu().double().tolist()
        pending.clear()
        now = time.perf_counter()
        rate = window_steps / max(now - window_start, 1e-9)
        first = step - len(values) + 1
        for offset, values_row in enumerate(values):
            if not all(math.isfinite(v) for v in values_row):
                names = ", ".join(f"{n}={v:g}" for n, v in zip(columns[1:], values_row))
                good = latest_checkpoint(state_dir)
                raise TrainingDiverged(
                    f"training diverged at step {first + offset}: loss is not finite ({names}); nothing from "
                    f"that step on was saved; last good checkpoint: {good[0] if good else 'none'}"
                )
        rows = [(first + i, *r, rate) for i, r in enumerate(values)]
        losses.extend(rows)
        stopping = distributed.any_rank(bool(stop), device)
        # Checked at sync points only, so that all ranks agree on the step where the budget ends.
        elapsed = trained_seconds + (now - started)
        out_of_time = distributed.any_rank(elapsed >= budget_s, device)
        if (cfg["lr_decay_to"] is not None or ramp is not None) and math.isfinite(budget_s):
            seconds = torch.tensor([elapsed], dtype=torch.float64, device=device)
            agreed_seconds = float(distributed.mean_across_ranks(seconds).item())
        checkpoint_due = checkpoint_due or out_of_time
        if main:
            history.append_rows(live_losses, rows)
            if now - last_log >= LOG_INTERVAL_S or checkpoint_due or stopping:
                last_log = now
                average = (step - first_step) / max(now - started, 1e-9)
                _log_progress(columns, rows[-1], steps, average, budget_s - elapsed)
            if checkpoint_due or stopping:
                save(step, with_preview=checkpoint_due)
        if checkpoint_due or stopping:
            distributed.barrier()
        if checkpoint_due and ctx.enabled:  # rank 0 scored it; the others keep the same history
            score = quality[-1][1] if main else math.nan
            score = float(distributed.from_main(torch.tensor([score], dtype=torch.float64, device=device)).item())
            if not main:
                quality.append((step, score))
        if stopping:
            if main:
                log.warning("stopped at step %d of %d; the checkpoint is in %s; rerun to resume", step, steps, state_dir)
            raise Preempted()
        if out_of_time:
            if main:
                log.info("time budget of %g minutes spent at step %d: finishing", cfg["max_minutes"], step)
            break
        if checkpoint_due and stop_early(step):
            if main:
                log.info("no better FD-mel in %d checkpoints: stopping early at step %d", cfg["patience"], step)
            break
        if checkpoint_due and restore_due():
            return_to_best(step)
        # The rate counts the bookkeeping above but not the time spent writing a checkpoint.
        window_start, window_steps = (time.perf_counter() if checkpoint_due else now), 0

    if main:
        if not previews.path(step).exists() or not any(int(s) == step for s, _ in quality):
            save(step, with_preview=True)  # e.g. a run resumed from a preemption checkpoint at its last step
        _finalize(job, state_dir, scored_generator(), step, columns, losses, quality, previews)


_PROGRESS = "step %d/%d  %s  %.2f it/s  ETA %s"


def _log_progress(columns: tuple[str, ...], row: tuple, steps: int, rate: float, budget_left_s: float) -> None:
    """One progress line; the ETA uses the run's average rate (this process) and the time budget."""
    step = int(row[0])
    values = "  ".join(f"{name} {value:.4g}" for name, value in zip(columns[1:-1], row[1:-1]))
    eta = min((steps - step) / rate if rate > 0 else math.inf, max(budget_left_s, 0.0))
    log.info(_PROGRESS, step, steps, values, rate, _duration(eta))


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def best_path(state_dir: Path, step: int) -> Path:
    """The generator file of the best-scoring checkpoint so far, kept in the state folder."""
    return state_dir / f"best_{step:08d}.pt"


def prune_best_files(state_dir: Path, best_step: int | None, up_to_step: int) -> None:
    """Delete best_*.pt files at or below `up_to_step` other than the current best's.

    (Files beyond `up_to_step`, left by an earlier, longer run, are what a longer run would reach.)
    """
    for path in state_dir.glob("best_*.pt"):
        step = int(path.stem.split("_")[1])
        if step != best_step and step <= up_to_step:
            path.unlink(missing_ok=True)


def _finalize(job: TrainJob, state_dir: Path, generator: torch.nn.Module, step: int, columns: tuple[str, ...],
              losses: list, quality: list, previews: Previews) -> None:  # fmt: skip
    """Write the declared outputs from the finished run (each atomically)."""
    from ..checkpoint import load_generator

    cfg, outputs = job.settings, job.outputs

    def write(path, module: torch.nn.Module, at_step: int, kind: str) -> None:
        save_generator(path, module, job.model_arguments, job.sample_rate, job.clip_seconds, at_step, dict(cfg),
                       family=job.family, recipe=cfg["recipe"],
                       selection=selection.describe(kind, at_step, quality), labels=job.labels)  # fmt: skip

    write(outputs.generator, generator, step, "latest")
    if outputs.best is not None:
        best = selection.best_row(quality)
        if best is None:  # no finite score at all: the latest is all there is
            write(outputs.best, generator, step, "latest")
        else:
            source = best_path(state_dir, best[0])
            if not source.is_file():
                raise RuntimeError(f"the best generator file of run {state_dir.name} is missing ({source})")
            write(outputs.best, load_generator(source)[0], best[0], "best")
    history.write_table(outputs.losses, columns, losses)
    history.write_table(outputs.quality, history.QUALITY_COLUMNS, quality)
    history.copy_previews(previews.folder, outputs.previews, [previews.path(int(s)).name for s, _ in quality])
    history.write_curves(outputs.losses, outputs.quality, outputs.loss_curve)
    log.info("training finished at step %d: wrote %s", step, outputs.generator)
