"""Full band at 44.1 kHz: the multiband family against the 16 kHz WaveGAN model resampled on export.

Makes its own data: demo drum loops (synthesized at 44.1 kHz, hats and cymbals high-passed at
several kHz, so real content above 8 kHz), mono, cut into 4 s clips at a 2 s hop, each peak
normalized to -1 dBFS as the segment stage does. The 16 kHz set is the same clips resampled.

Two runs, each trained for the same wall-clock budget with config.yaml's train settings (one CPU
thread; `--set KEY=VALUE` changes a setting for both), through the training package itself:

- `multiband`: 4 s at 44.1 kHz (176,400 samples) on 4 PQMF bands of 65,536 samples;
- `wavegan 16k`: 4 s at 16 kHz (64,000 samples, slice 65,536), rendered at 44.1 kHz by resampling
  (what the workflow did before for `render.sample_rate: 44100`).

Each renders `--samples` clips at 44.1 kHz (32-bit float WAV) from its best checkpoint's generator
(the workflow's default), and one table is printed, every number computed at 44.1 kHz against the
real 44.1 kHz clips:

- the share of energy above 8 kHz (mean over clips) of the real clips and of the samples, and
  their ratio (the issue's target: within a factor of 2 for multiband; ~0 for the resampled path);
- FD-mel on 40 mel bands up to 20 kHz (audiogan.features, fmax), with the real-data floor (other
  real clips) and the untrained ceiling (an untrained generator of the same family, rendered alike);
- generator steps reached, seconds per training step (median of the run's it/s column: the step
  alone, without checkpoints and scoring).

The two runs follow each other, so on a shared machine their step times may see different loads;
`--steps` gives both the same number of generator steps instead (with `--keep` on the folder of an
earlier run, training resumes where that run stopped: the same run, as in the workflow).
`--cost-only` measures the cost per step paired instead: the forward and backward pass of both
networks (generator on a batch of latents, critic on those and on real clips) of each family in
turn, several rounds, the median of each (the recipe's regularizer and optimizer steps left out).

    nice -n 10 python benchmarks/bench_fullband.py [--minutes 5] [--tracks 40] [--samples 64]
    nice -n 10 python benchmarks/bench_fullband.py --steps 1500 [--keep runs/]   # a step budget
    nice -n 10 python benchmarks/bench_fullband.py --cost-only [--rounds 5]
    python benchmarks/bench_fullband.py --quick     # a smoke test: seconds per run
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "benchmarks")]

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from audiogan.audio_io import load_mono, resample  # noqa: E402
from bench_main_job import merged, parse_overrides  # noqa: E402  (KEY=VALUE settings)
from audiogan.checkpoint import build_generator, load_generator  # noqa: E402
from audiogan.features import clip_features, high_band_share  # noqa: E402
from audiogan.frechet import frechet_distance  # noqa: E402
from audiogan.render import fit_length, generate_clips, latent_dim_of, render_samples, seeded_latents  # noqa: E402
from audiogan.sources.demo import SAMPLE_RATE as DEMO_RATE  # noqa: E402
from audiogan.sources.demo import synthesize_track  # noqa: E402

RATE = 44100
LOW_RATE = 16000
SECONDS, HOP_SECONDS = 4.0, 2.0
PEAK = 10 ** (-1.0 / 20)  # -1 dBFS, the segment stage's default
HIGH_HZ, FMAX_HZ = 8000.0, 20000.0
RENDER_SEED = 1234
# What a user gets: config.yaml's train settings, with the family, budget, device and threads set
# per run (`--set KEY=VALUE` changes any of them for both runs).
TRAIN: dict[str, Any] = {**yaml.safe_load((REPO / "config.yaml").read_text())["train"],
                         "steps": 1_000_000, "device": "cpu", "threads": 1}  # fmt: skip
QUICK: dict[str, Any] = {"model_size": 2, "batch_size": 2, "checkpoint_every": 3, "score_count": 4}


def make_clips(tracks: int, seed: int = 0) -> np.ndarray:
    """Demo loops at 44.1 kHz as 4 s clips at a 2 s hop, each peak normalized: float32 [n, 176400]."""
    if DEMO_RATE != RATE:
        raise RuntimeError(f"the demo synthesizes at {DEMO_RATE} Hz, this benchmark expects {RATE}")
    clip, hop = round(SECONDS * RATE), round(HOP_SECONDS * RATE)
    clips = []
    for index in range(tracks):
        audio = synthesize_track(seed, index, 8.0, 16.0).mean(axis=1)
        for start in range(0, len(audio) - clip + 1, hop):
            piece = audio[start : start + clip].astype(np.float64)
            peak = np.abs(piece).max()
            if peak > 1e-3:
                clips.append((piece * PEAK / peak).astype(np.float32))
    return np.stack(clips)


def write_dataset(folder: Path, clips: np.ndarray, rate: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "clips.npy", clips)
    summary = {"audio": {"sample_rate": rate, "clip_samples": clips.shape[1], "clip_seconds": SECONDS}}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder / "clips.npy"


def train(clips_path: Path, family: str, minutes: float | None, quick: bool, folder: Path,
          steps: int | None = None, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    from audiogan.training import TrainOutputs, launch_training

    model = folder / "model"
    outputs = TrainOutputs(generator=model / "generator.pt", losses=model / "losses.csv",
                           loss_curve=model / "loss_curve.png", quality=model / "quality.csv",
                           previews=model / "previews", best=model / "best.pt")  # fmt: skip
    config = {**merged(TRAIN, settings or {}), **(QUICK if quick else {}), "family": family, "max_minutes": minutes}
    if steps is not None:  # a step budget instead of the wall-clock one
        config.update(steps=steps, max_minutes=None)
    started = time.perf_counter()
    launch_training(clips_path, clips_path.parent / "summary.json", config, folder / "state", outputs,
                    log_path=folder / "train.log")  # fmt: skip
    with open(outputs.losses, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rates = [float(r["it_per_s"]) for r in rows if r.get("it_per_s") not in (None, "", "nan")]
    best = Path(outputs.best) if Path(outputs.best).is_file() else Path(outputs.generator)
    return {"generator": best, "steps": int(rows[-1]["step"]) if rows else 0, "wall_s": time.perf_counter() - started,
            "s_per_step": 1.0 / float(np.median(rates)) if rates else float("nan")}  # fmt: skip


def preview_shares(folder: Path) -> list[tuple[int, float]]:
    """(step, mean share of energy above 8 kHz) of the preview clips written at each checkpoint
    (at the model's rate: zero at 16 kHz), to show how it moves during training."""
    from audiogan.training.previews import PREVIEW_GAP_SECONDS

    out = []
    for path in sorted(folder.glob("state/*/previews/step_*.wav")):
        audio, rate = sf.read(path, dtype="float32")
        row = round(SECONDS * rate) + round(PREVIEW_GAP_SECONDS * rate)  # each clip, then its gap
        clips = audio[: len(audio) // row * row].reshape(-1, row)
        out.append((int(path.stem.split("_")[1]), float(np.nanmean(high_band_share(clips, rate, HIGH_HZ)))))
    return out


def render_at_44k(generator_path: Path, samples: int, folder: Path) -> np.ndarray:
    """Render with the render stage itself at 44.1 kHz (resampling a 16 kHz model), read back."""
    render_samples(generator_path, folder, folder / "samples.tsv", folder / "sheet.png", samples, RENDER_SEED, RATE,
                   "FLOAT")  # fmt: skip
    paths = sorted(folder.glob("sample_*.wav"))
    return np.stack([fit_length(load_mono(p, RATE), round(SECONDS * RATE)) for p in paths])


def untrained_at_44k(generator_path: Path, samples: int) -> np.ndarray:
    """An untrained generator of the same family and shape (seeded), resampled to 44.1 kHz alike."""
    _, meta = load_generator(generator_path)
    rate = int(meta["sample_rate"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        generator = build_generator(meta["family"], meta["model"]).eval()
    seeds = [RENDER_SEED + i for i in range(samples)]
    clip = round(SECONDS * rate)
    audio = np.concatenate(list(generate_clips(generator, seeded_latents(seeds, latent_dim_of(meta)), None, clip)))
    return np.stack([fit_length(resample(a, rate, RATE), round(SECONDS * RATE)) for a in audio])


def paired_cost(rounds: int, model_size: int = 8, batch: int = 8, device: str = "cpu") -> dict[str, float]:
    """Median seconds of one forward + backward of generator and critic (fake and real batch) per
    family, the families measured alternately so that both see the same machine load (on CUDA in
    bf16 autocast, as training runs there, each pass synchronized before its clock stops)."""
    from audiogan.families import get_family
    from audiogan.training import train_settings
    from audiogan.training.recipes import autocast, compute_dtype

    settings = train_settings({**{k: TRAIN[k] for k in ("model_size", "latent_dim")}, "model_size": model_size})
    nets = {}
    for name, family, clip in (("multiband 44.1k", "multiband", round(SECONDS * RATE)),
                               ("wavegan 16k", "wavegan", round(SECONDS * LOW_RATE))):  # fmt: skip
        arguments = get_family(family).arguments(settings, clip)
        torch.manual_seed(0)
        nets[name] = (get_family(family).generator(**arguments).to(device),
                      get_family(family).critic(**arguments).to(device),
                      0.1 * torch.randn(batch, 1, arguments["slice_length"], device=device))  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in nets}
    z = torch.rand(batch, settings["latent_dim"], device=device) * 2 - 1
    cuda = torch.device(device).type == "cuda"
    for _ in range(rounds + 1):  # the first round warms up
        for name, (generator, critic, real) in nets.items():
            started = time.perf_counter()
            with autocast(torch.device(device), compute_dtype("auto", torch.device(device))):
                loss = critic(generator(z)).float().sum() - critic(real).float().sum()
            loss.backward()
            if cuda:
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values[1:])) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget of each run")
    parser.add_argument("--tracks", type=int, default=40, help="demo loops (8-16 s each)")
    parser.add_argument("--samples", type=int, default=64, help="rendered clips per run")
    parser.add_argument("--quick", action="store_true", help="tiny models and data: a smoke test")
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder")
    parser.add_argument("--steps", type=int, help="train this many generator steps instead (no time budget)")
    parser.add_argument("--cost-only", action="store_true", help="only the paired cost per step")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --cost-only")
    parser.add_argument("--device", default="cpu", help="device of --cost-only (cpu, cuda)")
    parser.add_argument("--model-size", type=int, default=8, help="d of --cost-only")
    parser.add_argument("--batch", type=int, default=8, help="batch of --cost-only")
    parser.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE",
                        help="train settings for both runs on top of config.yaml's (YAML values)")
    args = parser.parse_args()
    args.settings = parse_overrides(args.settings)
    if args.cost_only:
        torch.set_num_threads(1)
        if args.device != "cpu":
            torch.backends.cudnn.benchmark = True  # as training sets it
        cost = paired_cost(args.rounds, args.model_size, args.batch, args.device)
        base = cost["wavegan 16k"]
        where = torch.cuda.get_device_name() if args.device != "cpu" else "1 thread"
        print(f"{datetime.date.today()}, torch {torch.__version__}, {args.device} ({where}), d={args.model_size}, "
              f"batch {args.batch}, median of {args.rounds} rounds\n")
        print("| networks | G + D forward and backward, s | x 16k |\n|---|---|---|")
        for name, seconds in cost.items():
            print(f"| {name} | {seconds:.3f} | {seconds / base:.2f} |")
        return
    if args.quick:
        args.minutes, args.tracks, args.samples = 0.1, 3, 4
    torch.set_num_threads(1)

    clips = make_clips(args.tracks)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(clips))
    reference, held_out = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2 :])
    real_features = clip_features(clips, RATE, fmax=FMAX_HZ)
    real_share = float(np.nanmean(high_band_share(clips, RATE, HIGH_HZ)))
    floor = frechet_distance(real_features[reference], real_features[held_out[: args.samples]])
    print(f"{len(clips)} real clips of {clips.shape[1]} samples at {RATE} Hz; energy above 8 kHz {real_share:.4f}; "
          f"FD-mel to 20 kHz between real halves {floor:.2f}", flush=True)  # fmt: skip

    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        high_path = write_dataset(root / "data44k", clips, RATE)
        low = np.stack([fit_length(resample(c, RATE, LOW_RATE), round(SECONDS * LOW_RATE)) for c in clips])
        low_path = write_dataset(root / "data16k", low, LOW_RATE)
        rows = []
        for name, family, data in (("multiband 44.1k", "multiband", high_path), ("wavegan 16k, resampled", "wavegan", low_path)):
            print(f"training {name} for {f'{args.steps} steps' if args.steps else f'{args.minutes} min'} ...", flush=True)
            run = train(data, family, args.minutes, args.quick, root / family, args.steps, args.settings)
            generated = render_at_44k(run["generator"], args.samples, root / family / "samples")
            untrained = untrained_at_44k(run["generator"], args.samples)
            share = float(np.nanmean(high_band_share(generated, RATE, HIGH_HZ)))
            rows.append({
                "run": name, "steps": run["steps"], "s_per_step": run["s_per_step"],
                "share": share, "ratio": share / real_share if real_share else float("nan"),
                "fd": frechet_distance(real_features[reference], clip_features(generated, RATE, fmax=FMAX_HZ)),
                "ceiling": frechet_distance(real_features[reference], clip_features(untrained, RATE, fmax=FMAX_HZ)),
                "step_rendered": load_generator(run["generator"])[1].get("step"),
                "previews": preview_shares(root / family),
            })  # fmt: skip

    base = rows[1]["s_per_step"]
    print(f"\n{datetime.date.today()} {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{f'{args.steps} steps' if args.steps else f'{args.minutes} min'} each, {len(clips)} clips, "
          f"{args.samples} samples, 1 thread; settings on top of config.yaml's: {args.settings or 'none'}\n")  # fmt: skip
    print("| run | steps (rendered) | s/step | x 16k | energy > 8 kHz, real | generated | gen/real | "
          "FD-mel to 20 kHz (floor, untrained) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['run']} | {row['steps']} ({row['step_rendered']}) | {row['s_per_step']:.2f} | "
              f"{row['s_per_step'] / base:.2f} | {real_share:.4f} | {row['share']:.4f} | {row['ratio']:.2f} | "
              f"{row['fd']:.1f} ({floor:.1f}, {row['ceiling']:.1f}) |")  # fmt: skip
    print("\nEnergy above 8 kHz of the preview clips at each checkpoint (EMA generator, model rate):")
    for row in rows:
        print(f"- {row['run']}: " + ", ".join(f"{step} {share:.4f}" for step, share in row["previews"]))


if __name__ == "__main__":
    main()
