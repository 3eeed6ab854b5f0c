"""Train WaveGAN with WGAN-GP: one readable loop, resumable, optionally data-parallel.

`launch_training` is what the Snakemake script calls. It trains in this process, or, when
`gpus > 1` and we are not already a torchrun worker, starts `torchrun --nproc_per_node gpus -m
audiogan.train ...` and relays its output to the log.

The loop (`train`) in short:

- batches are random rows of `clips.npy`, read straight from the memory map (or from a copy kept on
  the GPU when it fits), zero-padded to the model's slice length;
- each generator step follows `n_critic` critic steps (Adam, WGAN-GP, z ~ U[-1, 1]);
- every random draw (clip indices, z, interpolation weights, phase-shuffle shifts) comes from the
  global torch CPU generator, seeded alike on every rank; each rank draws the whole global batch
  and keeps its own slice, so N ranks compute what one process would (the gradients are averaged
  by DistributedDataParallel), and a checkpointed RNG state reproduces the rest of the run;
- every `checkpoint_every` steps rank 0 writes a preview WAV and the FD-mel of the previews, then
  an atomic checkpoint (networks, optimizers, step, RNG states, loss history) into
  `state_root/<run_id>/`; the run id is a hash of everything that changes what is computed, so
  raising `steps` continues the same run while any other change starts a new one;
- SIGTERM/SIGINT finish the current step, checkpoint and exit with status 143 (`Preempted`);
  a non-finite loss stops with `TrainingDiverged` naming the step, before anything is saved.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from . import distributed
from .atomic import atomic_path, atomic_write_text
from .checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    prune_checkpoints,
    remove_stale_temp_files,
    rng_state,
    save_checkpoint,
    save_generator,
    set_rng_state,
)
from .config import ConfigError
from .dataset import clips_to_float32, open_clips  # noqa: F401 (open_clips re-exported)
from .model import (
    ModelConfig,
    WaveGANCritic,
    WaveGANGenerator,
    critic_loss,
    generator_loss,
    gradient_penalty,
    slice_length_for,
)
from .previews import PREVIEW_GAP_SECONDS, Previews, preserved_rng  # noqa: F401 (re-exported)
from .runs import identity_hash, run_id, run_identity, train_settings  # noqa: F401 (run_id re-exported)

log = logging.getLogger(__name__)

LOSS_COLUMNS = ("step", "d_loss", "g_loss", "gradient_penalty", "wasserstein", "it_per_s")
QUALITY_COLUMNS = ("step", "fd_mel")
LOG_INTERVAL_S = 15.0
CUDA_SYNC_EVERY = 10  # steps between host syncs on a GPU (loss read-back, NaN and stop checks)
PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM: what schedulers expect of a terminated job


class Preempted(SystemExit):
    """Training stopped on SIGTERM/SIGINT after writing a checkpoint; a rerun resumes from it."""

    def __init__(self) -> None:
        super().__init__(PREEMPTED_EXIT_CODE)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; nothing from that step on was saved."""


@dataclass
class TrainOutputs:
    """The declared outputs of the train stage."""

    generator: str | os.PathLike
    losses: str | os.PathLike
    loss_curve: str | os.PathLike
    quality: str | os.PathLike
    previews: str | os.PathLike


def resolve_device(setting: str) -> str:
    """The device kind ("cuda" or "cpu") for the `device` setting; auto: CUDA when PyTorch sees a GPU."""
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but PyTorch sees no CUDA GPU (set device: auto or cpu)")
    if setting not in ("cuda", "cpu"):
        raise ConfigError(f"train.device: {setting!r} is not allowed; allowed values: 'auto', 'cuda', 'cpu'")
    return setting


# -- data ------------------------------------------------------------------------------------------


class ClipBatches:
    """Batches of rows of clips.npy as [b, 1, slice_length] tensors on `device`, zero-padded.

    On CUDA the whole array is copied to the GPU once when it takes under a quarter of the free
    memory; otherwise each batch is read from the memory map (only the rows asked for).
    """

    def __init__(self, clips: np.ndarray, slice_length: int, device: torch.device):
        self.clips, self.slice_length, self.device = clips, slice_length, device
        self.resident: torch.Tensor | None = None
        if device.type == "cuda" and clips.nbytes * 4 < torch.cuda.mem_get_info(device)[0]:
            self.resident = torch.empty(clips.shape, dtype=torch.float32, device=device)
            for start in range(0, len(clips), 4096):  # bounded host memory for the copy
                rows = clips_to_float32(clips[start : start + 4096])
                self.resident[start : start + len(rows)] = torch.from_numpy(rows).to(device)
            log.info("training clips kept on the GPU (%.1f MiB)", clips.nbytes / 2**20)

    def __call__(self, indices: torch.Tensor) -> torch.Tensor:
        if self.resident is not None:
            batch = self.resident[indices.to(self.device, non_blocking=True)]
        else:
            rows = clips_to_float32(self.clips[indices.numpy()])
            batch = torch.from_numpy(rows).to(self.device, non_blocking=True)
        if batch.shape[1] < self.slice_length:
            batch = F.pad(batch, (0, self.slice_length - batch.shape[1]))
        return batch.unsqueeze(1)


# -- signals ---------------------------------------------------------------------------------------


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
        log.warning(
            "received %s: finishing this step, then writing a checkpoint", signal.Signals(signum).name
        )

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


# -- history files (losses.csv, quality.csv) -------------------------------------------------------


def _csv_row(values: tuple | list) -> str:
    step, *rest = values
    return ",".join([str(int(step))] + [repr(float(v)) for v in rest]) + "\n"


def write_table(path: str | os.PathLike, columns: tuple[str, ...], rows: list) -> None:
    """Write a CSV table (header + rows) atomically."""
    atomic_write_text(path, ",".join(columns) + "\n" + "".join(_csv_row(r) for r in rows))


def append_rows(path: str | os.PathLike, rows: list) -> None:
    # The live copy in the state folder; the declared outputs are written whole, atomically.
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(_csv_row(r) for r in rows))


# -- the training loop -----------------------------------------------------------------------------


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(
    clips_path: str | os.PathLike,
    train_config: Mapping[str, Any],
    sample_rate: int,
    clip_seconds: float,
    state_root: str | os.PathLike,
    outputs: TrainOutputs,
) -> None:
    """Train (or resume) in this process; under torchrun, as one rank of the data-parallel group."""
    cfg = train_settings(train_config)
    clips_path, state_root = Path(clips_path), Path(state_root)
    ctx = distributed.setup(resolve_device(cfg["device"]))
    try:
        with StopRequest().installed() as stop:
            _train(ctx, stop, clips_path, cfg, int(sample_rate), float(clip_seconds), state_root, outputs)
        distributed.barrier()
    finally:
        distributed.teardown()


def _train(
    ctx: distributed.Dist,
    stop: StopRequest,
    clips_path: Path,
    cfg: dict[str, Any],
    sample_rate: int,
    clip_seconds: float,
    state_root: Path,
    outputs: TrainOutputs,
) -> None:
    device, main = ctx.device, ctx.is_main
    batch_size, steps = cfg["batch_size"], cfg["steps"]
    if batch_size % ctx.world_size:
        raise ConfigError(
            f"train.batch_size ({batch_size}) must be divisible by the {ctx.world_size} processes"
        )
    local = slice(ctx.rank * batch_size // ctx.world_size, (ctx.rank + 1) * batch_size // ctx.world_size)

    clips = open_clips(clips_path)
    clip_samples = min(clips.shape[1], round(clip_seconds * sample_rate))
    model_config = ModelConfig(
        model_size=cfg["model_size"],
        latent_dim=cfg["latent_dim"],
        slice_length=slice_length_for(clips.shape[1]),
        phase_shuffle=cfg["phase_shuffle"],
    )
    identity = run_identity(cfg, sample_rate, clip_seconds, clips_path)
    state_dir = state_root / identity_hash(identity)
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
    generator = WaveGANGenerator(model_config).to(device)
    critic = WaveGANCritic(model_config).to(device)
    betas = tuple(cfg["betas"])
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg["learning_rate"], betas=betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=cfg["learning_rate"], betas=betas)

    if main:
        # Where the job ran and which GPUs the scheduler gave it: the first thing to check on a cluster.
        log.info(
            "environment: SLURM_JOB_ID=%s CUDA_VISIBLE_DEVICES=%s",
            os.environ.get("SLURM_JOB_ID", "-"),
            os.environ.get("CUDA_VISIBLE_DEVICES", "-"),
        )
    step, losses, quality = 0, [], []
    found = latest_checkpoint(state_dir, max_step=steps)
    if found:
        path, state = found
        generator.load_state_dict(state["generator"])
        critic.load_state_dict(state["critic"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        set_rng_state(state["rng"])
        step, losses, quality = state["step"], state["losses"].tolist(), state["quality"].tolist()
        if main:
            log.info("resuming run %s from %s (step %d of %d)", state_dir.name, path, step, steps)
    elif main:
        log.info(
            "starting run %s in %s: %d steps, d=%d, slice %d, batch %d on %d %s process(es)",
            state_dir.name,
            state_dir,
            steps,
            cfg["model_size"],
            model_config.slice_length,
            batch_size,
            ctx.world_size,
            device.type,
        )

    live_losses, live_quality = state_dir / "losses.csv", state_dir / "quality.csv"
    previews = Previews(
        clips, cfg["preview_count"], cfg["latent_dim"], cfg["seed"], sample_rate, clip_samples,
        state_dir / "previews",
    )  # fmt: skip
    if main:
        state_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(state_dir)
        atomic_write_text(state_dir / "run.json", json.dumps(identity, indent=2) + "\n")
        write_table(live_losses, LOSS_COLUMNS, losses)
        write_table(live_quality, QUALITY_COLUMNS, quality)

    def save(at_step: int, with_preview: bool) -> None:
        """Rank 0: preview + FD-mel first, then the checkpoint, so a checkpoint always has its row."""
        if with_preview:
            fd = previews.write(generator, at_step)
            quality.append((at_step, fd))
            append_rows(live_quality, [quality[-1]])
            log.info("step %d: preview %s, FD-mel %.3f", at_step, previews.path(at_step).name, fd)
        save_checkpoint(
            checkpoint_path(state_dir, at_step),
            {
                "step": at_step,
                "generator": generator.state_dict(),
                "critic": critic.state_dict(),
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "rng": rng_state(),
                "losses": torch.tensor(losses, dtype=torch.float64).reshape(-1, len(LOSS_COLUMNS)),
                "quality": torch.tensor(quality, dtype=torch.float64).reshape(-1, len(QUALITY_COLUMNS)),
                "config": cfg,
                "model": asdict(model_config),
            },
        )
        prune_checkpoints(state_dir, cfg["keep_checkpoints"], at_step)

    # The networks as trained: DDP averages gradients across ranks (its hooks fire on the single
    # backward that also carries the gradient penalty's double-backward terms). torch.compile is
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
    batches = ClipBatches(clips, model_config.slice_length, device)
    latent_dim, n_critic, gp_weight = cfg["latent_dim"], cfg["n_critic"], cfg["gp_weight"]

    def latents() -> torch.Tensor:
        return (torch.rand(batch_size, latent_dim) * 2.0 - 1.0)[local].to(device, non_blocking=True)

    sync_every = 1 if device.type == "cpu" else CUDA_SYNC_EVERY
    pending: list[torch.Tensor] = []  # per-step losses not yet read back to the host
    window_start, window_steps, last_log = time.perf_counter(), 0, 0.0
    rate = math.nan
    generator.train(), critic.train()
    while step < steps:
        # -- critic: n_critic updates on fresh real batches and fresh fakes
        d_sum = torch.zeros(3, device=device)
        for _ in range(n_critic):
            real = batches(torch.randint(len(clips), (batch_size,))[local])
            z = latents()
            alpha = torch.rand(batch_size)[local].to(device, non_blocking=True)
            with _autocast(device):
                with torch.no_grad():
                    fake = g_model(z)
                real_scores, fake_scores = d_model(real), d_model(fake)
                penalty = gradient_penalty(d_model, real, fake.float(), gp_weight, alpha)
                wasserstein = -critic_loss(real_scores, fake_scores)
                d_loss = -wasserstein + penalty
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            d_sum += torch.stack([d_loss, penalty, wasserstein]).detach()

        # -- generator: one update through the (frozen) critic, which needs no gradient sync
        z = latents()
        critic.requires_grad_(False)
        with _autocast(device):
            g_loss = generator_loss(critic(g_model(z)))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        critic.requires_grad_(True)

        d_mean = d_sum / n_critic
        pending.append(torch.stack([d_mean[0], g_loss.detach(), d_mean[1], d_mean[2]]))
        step += 1
        window_steps += 1
        checkpoint_due = step % cfg["checkpoint_every"] == 0 or step == steps
        if not (step % sync_every == 0 or checkpoint_due or (stop and not ctx.enabled)):
            continue

        # -- sync point: read the losses back, check them, agree on stopping, log, checkpoint
        values = distributed.mean_across_ranks(torch.stack(pending)).cpu().double().tolist()
        pending.clear()
        now = time.perf_counter()
        rate = window_steps / max(now - window_start, 1e-9)
        first = step - len(values) + 1
        for offset, row in enumerate(values):
            if not all(math.isfinite(v) for v in row):
                names = ", ".join(f"{n}={v:g}" for n, v in zip(LOSS_COLUMNS[1:], row))
                good = latest_checkpoint(state_dir)
                raise TrainingDiverged(
                    f"training diverged at step {first + offset}: loss is not finite ({names}); nothing from "
                    f"that step on was saved; last good checkpoint: {good[0] if good else 'none'}"
                )
        rows = [(first + i, *row, rate) for i, row in enumerate(values)]
        losses.extend(rows)
        stopping = distributed.any_rank(bool(stop), device)
        if main:
            append_rows(live_losses, rows)
            if now - last_log >= LOG_INTERVAL_S or checkpoint_due or stopping:
                last_log = now
                _log_progress(rows[-1], steps, rate)
            if checkpoint_due or stopping:
                save(step, with_preview=checkpoint_due)
        if checkpoint_due or stopping:
            distributed.barrier()
        if stopping:
            if main:
                log.warning(
                    "stopped at step %d of %d; the checkpoint is in %s; rerun to resume",
                    step,
                    steps,
                    state_dir,
                )
            raise Preempted()
        # The rate counts the bookkeeping above but not the time spent writing a checkpoint.
        window_start, window_steps = (time.perf_counter() if checkpoint_due else now), 0

    if main:
        if not previews.path(step).exists() or not any(int(s) == step for s, _ in quality):
            save(step, with_preview=True)  # e.g. a run resumed from a preemption checkpoint at its last step
        _finalize(
            generator, model_config, cfg, sample_rate, clip_seconds, step, losses, quality, previews, outputs
        )


_PROGRESS = "step %d/%d  d_loss %.4f  g_loss %.4f  gp %.4f  W %.4f  %.2f it/s  ETA %s"


def _log_progress(row: tuple, steps: int, rate: float) -> None:
    step, d_loss, g_loss, penalty, wasserstein, _ = row
    eta = (steps - step) / rate if rate > 0 else math.inf
    log.info(_PROGRESS, step, steps, d_loss, g_loss, penalty, wasserstein, rate, _duration(eta))


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def _finalize(
    generator: WaveGANGenerator,
    model_config: ModelConfig,
    cfg: dict[str, Any],
    sample_rate: int,
    clip_seconds: float,
    step: int,
    losses: list,
    quality: list,
    previews: Previews,
    outputs: TrainOutputs,
) -> None:
    """Write the declared outputs from the finished run (each atomically)."""
    from .plots import plot_training_curves

    save_generator(outputs.generator, generator, model_config, sample_rate, clip_seconds, step, cfg)
    write_table(outputs.losses, LOSS_COLUMNS, losses)
    write_table(outputs.quality, QUALITY_COLUMNS, quality)
    folder = Path(outputs.previews)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {previews.path(int(s)).name for s, _ in quality}
    for old in folder.glob("step_*.wav"):
        if old.name not in wanted:
            old.unlink()
    for name in sorted(wanted):
        with atomic_path(folder / name) as tmp:
            shutil.copyfile(previews.folder / name, tmp)
    plot_training_curves(outputs.losses, outputs.quality, outputs.loss_curve)
    log.info("training finished at step %d: wrote %s", step, outputs.generator)


# -- entry points ----------------------------------------------------------------------------------


def launch_training(
    clips_path: str | os.PathLike,
    train_config: Mapping[str, Any],
    sample_rate: int,
    clip_seconds: float,
    state_root: str | os.PathLike,
    outputs: TrainOutputs,
    log_path: str | os.PathLike | None = None,
) -> None:
    """Train WaveGAN on clips.npy and write `outputs`; resumable state lives in `state_root/<run_id>/`.

    With `gpus > 1` (and not already under torchrun) this starts torchrun with that many worker
    processes and relays their output to this process's log. Raises `Preempted` (exit status 143)
    when stopped by SIGTERM/SIGINT after checkpointing, `TrainingDiverged` on a non-finite loss.
    `log_path` is where the caller's logging already writes (set up with audiogan.logs).
    """
    cfg = train_settings(train_config)
    if cfg["batch_size"] % cfg["gpus"]:
        raise ConfigError(
            f"train.batch_size ({cfg['batch_size']}) must be divisible by train.gpus ({cfg['gpus']})"
        )
    if cfg["gpus"] > 1 and not distributed.inside_torchrun():
        _launch_workers(clips_path, cfg, sample_rate, clip_seconds, state_root, outputs, log_path)
        return
    train(clips_path, cfg, sample_rate, clip_seconds, state_root, outputs)


def _worker_command(
    clips_path, cfg, sample_rate, clip_seconds, state_root, outputs: TrainOutputs
) -> list[str]:
    """torchrun with one worker per GPU, each running this module's CLI (no shell involved)."""
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={cfg['gpus']}",
    ]
    args = [str(clips_path), "--train-config", json.dumps(cfg), "--state-root", str(state_root)]
    args += ["--sample-rate", str(sample_rate), "--clip-seconds", repr(float(clip_seconds))]
    for name, value in asdict(outputs).items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return [*torchrun, "-m", "audiogan.train", *args]


def _launch_workers(clips_path, cfg, sample_rate, clip_seconds, state_root, outputs, log_path) -> None:
    device = resolve_device(cfg["device"])
    if device == "cuda" and torch.cuda.device_count() < cfg["gpus"]:
        raise RuntimeError(
            f"train.gpus is {cfg['gpus']} but only {torch.cuda.device_count()} CUDA GPU(s) are visible"
        )
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    if device == "cpu":  # (torchrun would pick 1 and print a banner about it)
        env.setdefault("OMP_NUM_THREADS", str(max(1, cfg["threads"] // cfg["gpus"])))
    command = _worker_command(clips_path, cfg, sample_rate, clip_seconds, state_root, outputs)
    log.info("starting %d data-parallel %s workers with torchrun", cfg["gpus"], device)
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        process.send_signal(signum)  # torchrun passes it on to every worker

    import threading

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for line in process.stdout:  # relayed, so the workers' lines land in this job's log
            log.info("%s", line.rstrip())
        code = process.wait()
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    if code != 0:
        if received:
            log.warning("workers stopped by %s; rerun to resume", signal.Signals(received[0]).name)
            raise Preempted()
        raise RuntimeError(
            f"training workers failed (torchrun exit status {code}); see the lines above"
            + (f" in {log_path}" if log_path else "")
        )


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m audiogan.train", description="Train WaveGAN on clips.npy."
    )
    parser.add_argument("clips", help="results/dataset/clips.json (or a 2-D .npy of clips)")
    parser.add_argument("--state-root", required=True, help="folder for resumable state (cache/train)")
    parser.add_argument("--out", help="folder for all outputs (generator.pt, losses.csv, ...)")
    for name in ("generator", "losses", "loss-curve", "quality", "previews"):
        parser.add_argument(f"--{name}", help=f"path of the {name} output (default: in --out)")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--clip-seconds", type=float, default=4.0)
    parser.add_argument("--train-config", default="{}", help="train settings as JSON")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one train setting (YAML value), e.g. --set steps=200",
    )
    parser.add_argument("--log", help="log file (besides stderr)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command line: `python -m audiogan.train clips.npy --state-root cache/train --out results/model`."""
    import yaml

    from .logs import setup_logging

    args = _parse_args(argv)
    if distributed.inside_torchrun():
        rank = int(os.environ.get("RANK", "0"))
        logging.basicConfig(
            level=logging.INFO if rank == 0 else logging.WARNING,
            stream=sys.stderr,
            force=True,
            format=f"[rank {rank}] %(levelname)s %(name)s: %(message)s",
        )
    else:
        setup_logging(args.log)
    cfg = json.loads(args.train_config)
    for item in args.set:
        key, _, value = item.partition("=")
        cfg[key.strip()] = yaml.safe_load(value)
    defaults = {
        "generator": "generator.pt",
        "losses": "losses.csv",
        "loss_curve": "loss_curve.png",
        "quality": "quality.csv",
        "previews": "previews",
    }
    paths = {}
    for name, filename in defaults.items():
        given = getattr(args, name)
        if given is None and args.out is None:
            raise SystemExit(f"give --out or --{name.replace('_', '-')}")
        paths[name] = given or str(Path(args.out) / filename)
    try:
        launch_training(
            args.clips, cfg, args.sample_rate, args.clip_seconds, args.state_root, TrainOutputs(**paths)
        )
    except TrainingDiverged as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    # Run the importable module's copy, so its logger is "audiogan.train", not "__main__".
    from audiogan.train import main as _main

    sys.exit(_main())
