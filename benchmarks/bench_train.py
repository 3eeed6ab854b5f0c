"""Training throughput: our loop (audiogan.training) against a plain minimal WaveGAN step, same run.

Both use the same networks (audiogan.model), batch, n_critic, Adam and gradient penalty. "ours"
is the real `launch_training` on a synthetic clips.npy (memory-mapped reads, zero padding, loss
read-back, CSV rows, progress log, RNG bookkeeping); its per-step rate is the `it_per_s` column it
writes, which covers all the time between two steps except checkpoint writes (there is one, at
the end, after the timed steps). "plain" is the textbook loop below on a tensor already in
memory, with nothing else, timed step by step. Each configuration is first run once untimed (so
one-time costs such as oneDNN kernel set-up and lazy imports hit neither side), then ours and
plain alternate for `--repeats` rounds; the table gives the median step rate over all timed
steps, which shrugs off the spikes other jobs on a shared machine cause.

    python benchmarks/bench_train.py                                  # CPU: d = 8/16 at 16384 and 65536
    python benchmarks/bench_train.py --device cuda --preset paper     # d = 64, 16384, batch 64
    python benchmarks/bench_train.py --device cuda --preset paper --recipe modern --set augment.p=1

Only the faithful recipe has a plain counterpart; for another recipe (or with `--set`) the table
gives ours alone.

it/s = generator steps per second; clips/s = real clips read by the critic per second
(it/s x batch x n_critic).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from audiogan.model import (  # noqa: E402
    ModelConfig,
    WaveGANCritic,
    WaveGANGenerator,
    critic_loss,
    generator_loss,
    gradient_penalty,
)
from audiogan.training import TrainOutputs, launch_training  # noqa: E402
from audiogan.training.loop import CUDA_SYNC_EVERY  # noqa: E402
from bench_main_job import merged, parse_overrides  # noqa: E402  (KEY=VALUE settings)

PRESETS = {
    # (model_size, slice_length, batch_size)
    "cpu": [(8, 16384, 8), (16, 16384, 8), (8, 65536, 8), (16, 65536, 8)],
    "paper": [(64, 16384, 64)],
}
SAMPLE_RATE = 16000
N_CLIPS = 256
N_CRITIC = 5


def plain_rates(
    model_size: int, slice_length: int, batch: int, clips: np.ndarray, device: str, warmup: int, steps: int
) -> list[float]:
    """Per-step rates of a minimal WGAN-GP WaveGAN loop (no logging, checkpoints or bookkeeping)."""
    torch.manual_seed(0)
    dev = torch.device(device)
    config = ModelConfig(model_size=model_size, slice_length=slice_length)
    generator, critic = WaveGANGenerator(config).to(dev), WaveGANCritic(config).to(dev)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    data = torch.zeros(len(clips), 1, slice_length)
    data[:, 0, : clips.shape[1]] = torch.from_numpy(clips)
    data = data.to(dev)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()
    )
    rates = []
    start = time.perf_counter()
    for step in range(warmup + steps):
        for _ in range(N_CRITIC):
            real = data[torch.randint(len(data), (batch,), device=dev)]
            z = torch.rand(batch, config.latent_dim, device=dev) * 2 - 1
            with autocast:
                with torch.no_grad():
                    fake = generator(z)
                loss = critic_loss(critic(real), critic(fake)) + gradient_penalty(
                    critic, real, fake.float(), 10.0
                )
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
        critic.requires_grad_(False)
        with autocast:
            loss = generator_loss(critic(generator(torch.rand(batch, config.latent_dim, device=dev) * 2 - 1)))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        critic.requires_grad_(True)
        # Same windows as our loop: every step on the CPU, every 10 steps (synchronized) on CUDA.
        if dev.type == "cpu" or (step + 1) % CUDA_SYNC_EVERY == 0:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            if step >= warmup:
                rates.append((1 if dev.type == "cpu" else CUDA_SYNC_EVERY) / (now - start))
            start = now
    return rates


def train_on_clips(clips_path: Path, clip_seconds: float, config: dict, work: Path) -> np.ndarray:
    """Run `launch_training` with `config` on a clips.npy at SAMPLE_RATE (a summary.json written
    beside it in `work`, state and outputs under `work`); returns losses.csv as a structured array."""
    out = work / "out"
    outputs = TrainOutputs(out / "generator.pt", out / "losses.csv", out / "loss_curve.png", out / "quality.csv",
                           out / "previews")  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    summary = work / "summary.json"
    clip_samples = int(np.load(clips_path, mmap_mode="r").shape[1])
    summary.write_text(json.dumps({"audio": {"sample_rate": SAMPLE_RATE, "clip_samples": clip_samples,
                                             "clip_seconds": clip_seconds}}))  # fmt: skip
    launch_training(clips_path, summary, config, work / "state", outputs)
    return np.genfromtxt(out / "losses.csv", delimiter=",", names=True)


def our_rates(
    model_size: int,
    batch: int,
    clips_path: Path,
    clip_seconds: float,
    device: str,
    warmup: int,
    steps: int,
    threads: int,
    work: Path,
    compile_: bool,
    extra: dict,
) -> list[float]:
    """Per-step (CUDA: per 10-step window) rates of launch_training from its it_per_s column."""
    config = merged({
        "model_size": model_size,
        "batch_size": batch,
        "steps": warmup + steps,
        "recipe": "wavegan",
        "n_critic": N_CRITIC,
        "checkpoint_every": warmup + steps,
        "preview_count": 2,
        "device": device,
        "threads": threads,
        "compile": compile_,
    }, extra)
    table = train_on_clips(clips_path, clip_seconds, config, work)
    window = 1 if device == "cpu" else CUDA_SYNC_EVERY
    return [
        float(r)
        for s, r in zip(np.atleast_1d(table["step"]), np.atleast_1d(table["it_per_s"]))
        if s > warmup and s % window == 0
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps per round (default 4 CPU, 100 CUDA)"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed steps first (default 1 CPU, 20 CUDA)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--compile", action="store_true", help="torch.compile in our loop (CUDA)")
    parser.add_argument("--recipe", default="wavegan", help="train.recipe of our loop")
    parser.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE",
                        help="more train settings of our loop, e.g. augment.p=1 envelope=true")
    args = parser.parse_args()
    extra = merged({"recipe": args.recipe}, parse_overrides(args.settings))
    with_plain = extra == {"recipe": "wavegan"}
    steps = args.steps or (100 if args.device == "cuda" else 4)
    warmup = args.warmup if args.warmup is not None else (20 if args.device == "cuda" else 1)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    name = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.processor() or 'CPU'}"
    print(
        f"# torch {torch.__version__}, device {args.device} ({name}), threads {args.threads}, "
        f"n_critic {N_CRITIC}, median over {args.repeats} x {steps} timed steps per side "
        f"(after {warmup} untimed); our loop: {json.dumps(extra)}"
    )
    print("| d | slice | batch | ours it/s | plain it/s | ours clips/s | plain clips/s | ours/plain |")
    print("|---|---|---|---|---|---|---|---|")
    for model_size, slice_length, batch in PRESETS[args.preset]:
        samples = slice_length * 1000 // 1024  # 1 or 4 s at 16 kHz, zero-padded to the slice as in practice
        clips = (np.random.default_rng(0).standard_normal((N_CLIPS, samples)) * 0.1).astype(np.float32)
        ours, plain = [], []
        with tempfile.TemporaryDirectory() as tmp:
            clips_path = Path(tmp) / "clips.npy"
            np.save(clips_path, clips)
            for repeat in range(-1, args.repeats):  # round -1: untimed, one-time costs
                n = steps if repeat >= 0 else 1
                work = Path(tmp) / f"run{repeat + 1}"  # a fresh state folder each time: no resuming
                o = our_rates(
                    model_size,
                    batch,
                    clips_path,
                    samples / SAMPLE_RATE,
                    args.device,
                    warmup,
                    n,
                    args.threads,
                    work,
                    args.compile,
                    extra,
                )
                p = plain_rates(model_size, slice_length, batch, clips, args.device, warmup, n) if with_plain else []
                if repeat >= 0:
                    ours, plain = ours + o, plain + p
        o = statistics.median(ours)
        per_step = batch * (N_CRITIC if extra["recipe"] == "wavegan" else 1)
        if with_plain:
            p = statistics.median(plain)
            cells = f"{o:.3f} | {p:.3f} | {o * per_step:.2f} | {p * per_step:.2f} | {o / p:.2f}"
        else:
            cells = f"{o:.3f} | n/a | {o * per_step:.2f} | n/a | n/a"
        print(f"| {model_size} | {slice_length} | {batch} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
