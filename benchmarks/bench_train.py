"""Training throughput: our loop (audiogan.train) against a plain minimal WaveGAN step, same run.

Both use the same networks (audiogan.model), batch, n_critic, Adam and gradient penalty. "ours"
is the real `launch_training` on a synthetic clips.npy (memory-mapped reads, zero padding, loss
read-back, CSV rows, progress log, RNG bookkeeping, one checkpoint with preview and FD-mel at the
end). "plain" is the textbook loop below on a tensor already in memory, with nothing else.

Each is timed the same way: a run of W+N steps minus a run of W steps, so start-up, the first
(slow) step and the final checkpoint cancel out and what remains is N steady steps. Runs are
interleaved (ours, plain, ours, plain) and the medians over repeats are shown. Besides wall-clock
rates the table gives the ratio of process CPU time, which other jobs on a shared machine
disturb much less than wall time.

    python benchmarks/bench_train.py                                  # CPU: d = 8/16 at 16384 and 65536
    python benchmarks/bench_train.py --device cuda --preset paper     # d = 64, 16384, batch 64

it/s = generator steps per second; clips/s = real clips read by the critic per second
(it/s x batch x n_critic).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
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
from audiogan.train import TrainOutputs, launch_training  # noqa: E402

PRESETS = {
    # (model_size, slice_length, batch_size)
    "cpu": [(8, 16384, 8), (16, 16384, 8), (8, 65536, 8), (16, 65536, 8)],
    "paper": [(64, 16384, 64)],
}
SAMPLE_RATE = 16000
N_CLIPS = 256
N_CRITIC = 5


def plain_run(model_size: int, slice_length: int, batch: int, clips: np.ndarray, device: str, steps: int) -> None:
    """A minimal WGAN-GP WaveGAN loop (no logging, checkpoints or bookkeeping)."""
    torch.manual_seed(0)
    dev = torch.device(device)
    config = ModelConfig(model_size=model_size, slice_length=slice_length)
    generator, critic = WaveGANGenerator(config).to(dev), WaveGANCritic(config).to(dev)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    data = torch.zeros(len(clips), 1, slice_length)
    data[:, 0, : clips.shape[1]] = torch.from_numpy(clips)
    data = data.to(dev)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()
    for _ in range(steps):
        for _ in range(N_CRITIC):
            real = data[torch.randint(len(data), (batch,), device=dev)]
            z = torch.rand(batch, config.latent_dim, device=dev) * 2 - 1
            with autocast:
                with torch.no_grad():
                    fake = generator(z)
                loss = critic_loss(critic(real), critic(fake)) + gradient_penalty(critic, real, fake.float(), 10.0)
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
    if dev.type == "cuda":
        torch.cuda.synchronize()


def our_run(model_size: int, batch: int, clips_path: Path, clip_seconds: float, device: str, steps: int,
            threads: int, work: Path, compile_: bool) -> None:  # fmt: skip
    """launch_training for `steps` steps from scratch (one checkpoint, at the end)."""
    out = work / "out"
    config = {
        "model_size": model_size, "batch_size": batch, "steps": steps, "n_critic": N_CRITIC,
        "checkpoint_every": steps, "preview_count": 2, "device": device, "threads": threads, "compile": compile_,
    }  # fmt: skip
    outputs = TrainOutputs(out / "generator.pt", out / "losses.csv", out / "loss_curve.png", out / "quality.csv",
                           out / "previews")  # fmt: skip
    launch_training(clips_path, config, SAMPLE_RATE, clip_seconds, work / "state", outputs)


def timed(run, *args) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def steady_step(run, warmup: int, steps: int, make_args) -> tuple[float, float]:
    """(wall, CPU) seconds per step: a (warmup + steps)-step run minus a warmup-step run."""
    long_wall, long_cpu = timed(run, *make_args(warmup + steps))
    short_wall, short_cpu = timed(run, *make_args(warmup))
    return (long_wall - short_wall) / steps, (long_cpu - short_cpu) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=None, help="timed steps per repeat (default 3 CPU, 100 CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="steps both runs share (default 1 CPU, 20 CUDA)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--compile", action="store_true", help="torch.compile in our loop (CUDA)")
    args = parser.parse_args()
    steps = args.steps or (100 if args.device == "cuda" else 3)
    warmup = args.warmup if args.warmup is not None else (20 if args.device == "cuda" else 1)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    name = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.processor() or 'CPU'}"
    print(f"# torch {torch.__version__}, device {args.device} ({name}), threads {args.threads}, "
          f"n_critic {N_CRITIC}, ({warmup} + {steps})-step run minus {warmup}-step run, median of {args.repeats}")  # fmt: skip
    print("| d | slice | batch | ours it/s | plain it/s | ours clips/s | plain clips/s "
          "| ours/plain (wall) | ours/plain (CPU time) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model_size, slice_length, batch in PRESETS[args.preset]:
        samples = slice_length * 1000 // 1024  # 1 or 4 s at 16 kHz, zero-padded to the slice as in practice
        clips = (np.random.default_rng(0).standard_normal((N_CLIPS, samples)) * 0.1).astype(np.float32)
        ours, plain = [], []
        with tempfile.TemporaryDirectory() as tmp:
            clips_path = Path(tmp) / "clips.npy"
            np.save(clips_path, clips)
            runs = itertools.count()

            def our_args(n):
                work = Path(tmp) / f"run{next(runs)}"  # a fresh state folder: no resuming
                return (model_size, batch, clips_path, samples / SAMPLE_RATE, args.device, n, args.threads, work,
                        args.compile)  # fmt: skip

            for _ in range(args.repeats):
                ours.append(steady_step(our_run, warmup, steps, our_args))
                plain.append(steady_step(plain_run, warmup, steps,
                                         lambda n: (model_size, slice_length, batch, clips, args.device, n)))
        ours_wall, ours_cpu = (statistics.median(x) for x in zip(*ours))
        plain_wall, plain_cpu = (statistics.median(x) for x in zip(*plain))
        per_step = batch * N_CRITIC
        print(f"| {model_size} | {slice_length} | {batch} | {1 / ours_wall:.3f} | {1 / plain_wall:.3f} | "
              f"{per_step / ours_wall:.2f} | {per_step / plain_wall:.2f} | {plain_wall / ours_wall:.2f} | "
              f"{plain_cpu / ours_cpu:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
