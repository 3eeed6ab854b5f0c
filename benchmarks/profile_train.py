"""Where a training step's GPU time goes: the real training loop under torch.profiler.

Runs `launch_training` (the workflow's own loop) on synthetic 1 s clips for `--steps` generator
steps with the given train settings, profiles the whole run, and prints:

- the GPU's kernel time per step (the profile's total CUDA time, start-up included, over the
  steps), to hold against the step time bench_train.py measures without a profiler: near it, the
  GPU is the bottleneck; well below it, the host (Python, launches, synchronization) is, and CUDA
  graphs or compiling would help;
- the kernels that take the most GPU time, with their share.

    python benchmarks/profile_train.py --recipe modern --set augment.p=1 envelope=true
    python benchmarks/profile_train.py --recipe wavegan --steps 20

CUDA only (on a CPU the numbers mean nothing); d = 64, slice 16384, batch 64 unless `--set` says
otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "benchmarks")]

from bench_main_job import merged, parse_overrides  # noqa: E402  (KEY=VALUE settings)
from bench_train import SAMPLE_RATE, train_on_clips  # noqa: E402  (our loop on a synthetic clips.npy)

CLIP_SAMPLES = SAMPLE_RATE  # 1 s: WaveGAN's 16384-sample slice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="modern")
    parser.add_argument("--steps", type=int, default=40, help="a profile of 150 modern steps took over 70 s to read")
    parser.add_argument("--top", type=int, default=15, help="kernels listed")
    parser.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("profile_train.py needs a CUDA GPU")
    config = merged({"recipe": args.recipe, "model_size": 64, "batch_size": 64, "steps": args.steps,
                     "checkpoint_every": args.steps, "preview_count": 2, "device": "cuda", "threads": 8},
                    parse_overrides(args.settings))  # fmt: skip
    print(f"# torch {torch.__version__}, {torch.cuda.get_device_name()}; train settings {json.dumps(config)}")
    clips = (np.random.default_rng(0).standard_normal((256, CLIP_SAMPLES)) * 0.1).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "clips.npy", clips)
        # Kernels only: recording every host-side operator as well made a 40-step modern run
        # overrun a 45 s cap (twice), and the table below lists kernels alone.
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
            table = train_on_clips(Path(tmp) / "clips.npy", CLIP_SAMPLES / SAMPLE_RATE, config, Path(tmp) / "run")
    rates = np.atleast_1d(table["it_per_s"])
    step_seconds = 1.0 / float(np.median(rates[len(rates) // 5 :]))  # past the first fifth: warm
    averages = profile.key_averages()
    events = [e for e in averages if e.device_type == torch.autograd.DeviceType.CUDA]
    if not events:  # a profiler that attributes kernels to their operators only
        print(averages.table(sort_by="self_cuda_time_total", row_limit=args.top))
        return
    kernel_total = sum(e.self_device_time_total for e in events) / 1e6  # microseconds -> s
    per_step = kernel_total / args.steps
    print(f"median step under the profiler {step_seconds * 1000:.2f} ms ({1 / step_seconds:.1f} it/s; its "
          f"overhead slows the host: compare bench_train's rate); GPU kernel time per step {per_step * 1000:.2f} ms")
    print("\n| kernel | share of GPU time | ms per step | calls per step |\n|---|---|---|---|")
    for event in sorted(events, key=lambda e: e.self_device_time_total, reverse=True)[: args.top]:
        seconds = event.self_device_time_total / 1e6
        print(f"| {event.key[:90]} | {seconds / kernel_total:.1%} | {seconds / args.steps * 1000:.3f} | "
              f"{event.count / args.steps:.1f} |")


if __name__ == "__main__":
    main()
