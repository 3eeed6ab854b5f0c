"""Quality per wall-clock minute: each training variant for the same budget on the same labelled drums.

Makes its own data: drum one-shots from the demo synthesizer (kick, snare, clap, closed/open hat,
tom; every hit from its own kit), 16384 samples (1.024 s) at 16 kHz, a small set and a large one.
The judge is trained on a third, independent set of real one-shots (held-out accuracies printed):
an ensemble of `--judge-members` log-mel CNNs from consecutive seeds, their probabilities averaged,
each trained with white noise (-90 to -40 dBFS) on half its clips. Why: a CNN trained on clean clips
alone calls a real kick over -70 dBFS of hiss an open hat, and one CNN's verdict on generated clips
depends on its seed (benchmarks/RESULTS.md, "One-shots: the judge heard the noise floor" and "One
judge is not enough"). Then each variant of the table below is trained on each set for the same
wall-clock budget (`max_minutes`), `--samples` clips are rendered from its best checkpoint's
generator (what the workflow renders by default) and scored, and one table is printed:

- steps reached (and the step rendered), steps per second of the whole run (start-up,
  checkpoints and the per-checkpoint scoring included), and its CPU seconds (the machine may be
  shared);
- Inception Score (through the classifier) of the generated clips and of as many real clips, and
  (IS - 1) relative to the baseline variant's (IS - 1): excess over chance, the issue's target;
- FD-mel as the fraction of the log-way from an untrained generator of the same family (0) to
  other real clips (1), NDB/K and near-copies: `audiogan.metrics.evaluate`, as the workflow's
  evaluate stage computes them.

    python benchmarks/bench_quality.py [--minutes 5] [--small 300] [--large 3000] [--samples 256]
    python benchmarks/bench_quality.py --quick          # a smoke test: seconds per variant
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "benchmarks")]

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from audiogan.atomic import atomic_path, atomic_write_text  # noqa: E402
from audiogan.audio_io import load_mono  # noqa: E402
from audiogan.checkpoint import load_generator  # noqa: E402
from audiogan.classifier import (  # noqa: E402
    NOISE_FLOOR_DBFS,
    ClassifierEnsemble,
    ClassifierReport,
    ClipClassifier,
    inception_score,
    train_classifier_ensemble,
)
from audiogan.config import section_settings  # noqa: E402
from audiogan.features import clip_features  # noqa: E402
from audiogan.frechet import fd_mel_progress, frechet_distance  # noqa: E402
from audiogan.metrics import evaluate  # noqa: E402
from audiogan.render import render_samples  # noqa: E402
from audiogan.segment import MANIFEST_COLUMNS  # noqa: E402
from audiogan.sources.demo import LICENSE, oneshot_clips, oneshot_name  # noqa: E402
from audiogan.tsv import read_tsv, write_tsv  # noqa: E402
from bench_main_job import merged, parse_overrides  # noqa: E402  (KEY=VALUE settings)

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16384  # WaveGAN's shortest slice exactly: nothing padded, nothing cut
BASELINE = "wavegan"
# The same for every variant; the rest comes from the schema's train defaults (recipe-dependent
# ones included). `steps` is out of reach: the wall-clock budget (max_minutes) ends every run.
COMMON_TRAIN: dict[str, Any] = {
    "model_size": 16, "batch_size": 16, "latent_dim": 100, "steps": 1_000_000, "checkpoint_every": 250,
    "seed": 0, "threads": 2, "device": "cpu",
}
# What is compared: train settings over COMMON_TRAIN (any `train` key may be set per variant).
VARIANTS: dict[str, dict[str, Any]] = {
    "wavegan": {"recipe": "wavegan", "augment": {"p": 0.0, "adaptive": False}},
    "modern": {"recipe": "modern", "augment": {"p": 0.0, "adaptive": False}},
    "modern + augment p=0.5": {"recipe": "modern", "augment": {"p": 0.5, "adaptive": False}},
    "modern + adaptive augment": {"recipe": "modern", "augment": {"p": 0.0, "adaptive": True}},
    # The default's recipe: every train key config.yaml sets, except the sizes and budget the
    # benchmark fixes for all variants (so a new recipe setting there is compared here too).
    "config.yaml recipe": {key: value for key, value in yaml.safe_load((REPO / "config.yaml").read_text())["train"].items()
                           if key not in COMMON_TRAIN and key != "max_minutes"},
}
# `--configfile config.yaml config/oneshots.yaml`: the preset for one-shots (weaker R1, no time
# shift, no envelope) over config.yaml's recipe, less the sizes the benchmark fixes.
VARIANTS["oneshots preset"] = merged(
    VARIANTS["config.yaml recipe"],
    {key: value for key, value in yaml.safe_load((REPO / "config" / "oneshots.yaml").read_text())["train"].items()
     if key not in COMMON_TRAIN})  # fmt: skip
QUICK_TRAIN: dict[str, Any] = {"model_size": 4, "batch_size": 4, "checkpoint_every": 5}
DATA_SEEDS = {"small": 1, "large": 2, "classifier": 3}  # independent sets of one-shots
RENDER_SEED = 1234
MIN_EXCESS = 0.01  # IS - 1 of the baseline below which no ratio is given
LABEL_COLUMN = "label"


# -- data ------------------------------------------------------------------------------------------


JUDGE_SEED = 0  # the judge's members take this seed and the next ones; all hold out this seed's split
JUDGE_MEMBERS = 5  # single judges disagreed on generated clips (0.66-0.92 on one model's samples)


def train_judge(clips: np.ndarray, labels: list[str], epochs: int, members: int = JUDGE_MEMBERS
                ) -> tuple[ClassifierEnsemble, list[ClassifierReport]]:  # fmt: skip
    """The benchmarks' judge (see the module docstring) and its members' reports."""
    return train_classifier_ensemble(clips, labels, SAMPLE_RATE, members=members, seed=JUDGE_SEED, epochs=epochs,
                                     noise_floor_dbfs=NOISE_FLOOR_DBFS)  # fmt: skip


def make_dataset(folder: str | os.PathLike, count: int, seed: int) -> Path:
    """Write `count` labelled one-shots as a training dataset in `folder` and return clips.npy's path.

    clips.npy float32 [count, CLIP_SAMPLES]; summary.json {"audio": {sample_rate, clip_samples,
    clip_seconds}, "clips", "labels": {label: count}}; manifest.tsv (the segment stage's columns
    plus `label`), which evaluate reads to name each sample's nearest clip.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clips, labels = oneshot_clips(count, seed, SAMPLE_RATE, CLIP_SAMPLES)
    with atomic_path(folder / "clips.npy") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, clips)
    rows = [
        {"index": i, "source": f"oneshots_seed{seed}", "file": oneshot_name(i), "offset_s": 0.0,
         "level_dbfs": round(float(20 * np.log10(np.sqrt(np.mean(clip.astype(np.float64) ** 2)) + 1e-12)), 2),
         "license": LICENSE, LABEL_COLUMN: label}
        for i, (clip, label) in enumerate(zip(clips, labels))
    ]
    write_tsv(folder / "manifest.tsv", rows, MANIFEST_COLUMNS)  # the dataset manifest, `label` included
    summary = {
        "audio": {"sample_rate": SAMPLE_RATE, "clip_samples": CLIP_SAMPLES, "clip_seconds": CLIP_SAMPLES / SAMPLE_RATE},
        "clips": count,
        "labels": {name: labels.count(name) for name in sorted(set(labels))},
    }
    atomic_write_text(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
    return folder / "clips.npy"


def dataset_labels(clips_path: str | os.PathLike) -> list[str]:
    """The labels of a dataset written by `make_dataset`, in clip order."""
    return [row[LABEL_COLUMN] for row in read_tsv(Path(clips_path).parent / "manifest.tsv")]


# -- training (the one call into audiogan.training) ------------------------------------------------


def train_config(variant: Mapping[str, Any], minutes: float, overrides: Mapping[str, Any] = ()) -> dict[str, Any]:
    """The train settings of one variant: COMMON_TRAIN, then `overrides`, the variant and the
    wall-clock budget on top; mappings (augment) merged key by key. The training package fills in
    everything else from the schema, including the recipe's own defaults (betas, EMA, augment), so
    nothing is set here that a variant did not ask for."""
    values: dict[str, Any] = {}
    for layer in (COMMON_TRAIN, dict(overrides), variant, {"max_minutes": float(minutes)}):
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(values.get(key), Mapping):
                values[key] = {**values[key], **copy.deepcopy(dict(value))}
            else:
                values[key] = copy.deepcopy(value)
    return values


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def train_variant(clips_path: Path, config: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """Train one variant into `folder`; returns the generator files (`latest`, and `best`: the
    best-scoring checkpoint's, which the workflow renders by default) and the wall and CPU seconds."""
    from audiogan.training import TrainOutputs, launch_training  # the training package (issue 11)

    model = folder / "model"
    outputs = TrainOutputs(generator=model / "generator.pt", losses=model / "losses.csv",
                           loss_curve=model / "loss_curve.png", quality=model / "quality.csv",
                           previews=model / "previews", best=model / "best.pt")
    started, cpu = time.perf_counter(), _cpu_seconds()
    launch_training(clips_path, clips_path.parent / "summary.json", dict(config), folder / "state", outputs,
                    log_path=folder / "train.log")
    return {"latest": Path(outputs.generator), "best": Path(outputs.best), "seconds": time.perf_counter() - started,
            "cpu_seconds": _cpu_seconds() - cpu}


# -- scoring ---------------------------------------------------------------------------------------


def real_inception_score(classifier: ClipClassifier, clips_path: Path, count: int, seed: int) -> float:
    """IS of `count` real clips of a dataset (as many as the generated ones: IS depends on n)."""
    clips = np.load(clips_path, mmap_mode="r")
    picked = np.sort(np.random.default_rng(seed).choice(len(clips), min(count, len(clips)), replace=False))
    return inception_score(classifier.probabilities(np.asarray(clips[picked])))


def score_generator(
    generator_path: Path, clips_path: Path, classifier: ClipClassifier, samples: int, folder: Path,
    evaluate_settings: Mapping[str, Any], device: str = "cpu",
) -> dict[str, Any]:
    """Render `samples` clips from a generator file and score them against the dataset (rendering
    and the untrained reference on `device`, the train.device setting, as the workflow does).

    The render and evaluate stages' own functions do the work (32-bit float WAVs, so no
    quantization counts); the Inception Score reads the rendered files back.
    """
    paths = [folder / f"sample_{i:04d}.wav" for i in range(samples)]
    table = folder / "samples.tsv"
    render_samples(generator_path, folder, table, folder / "contact_sheet.png", samples, RENDER_SEED, SAMPLE_RATE, "FLOAT",
                   device=device)
    metrics = evaluate(table, generator_path, clips_path, clips_path.parent / "manifest.tsv",
                       evaluate_settings, folder / "metrics.json", device=device)
    generated = np.stack([load_mono(path, SAMPLE_RATE)[:CLIP_SAMPLES] for path in paths])
    fd = metrics["fd_mel"]
    return {
        "step": int(load_generator(generator_path)[1].get("step") or 0),
        "is_generated": inception_score(classifier.probabilities(generated)),
        "fd_mel": fd["generated"],
        "fd_floor": fd["real_floor"],
        "fd_ceiling": fd["untrained_ceiling"],
        "fd_progress": fd_mel_progress(fd["generated"], fd["real_floor"], fd["untrained_ceiling"]),
        "ndb": metrics["ndb"]["generated"],
        "ndb_real": metrics["ndb"]["held_out_real"],
        "near_copies": metrics["memorization"]["near_copies"],
        "samples": samples,
    }


def add_ratios(rows: list[dict[str, Any]], baseline: str = BASELINE) -> list[dict[str, Any]]:
    """Set each row's `is_excess_ratio`: (IS - 1) over the baseline variant's (IS - 1) on the same set
    (None without a baseline row, or when the baseline is within MIN_EXCESS of chance: a ratio to
    nothing is noise)."""
    base = {row["set"]: row["is_generated"] - 1.0 for row in rows if row["variant"] == baseline}
    for row in rows:
        excess = base.get(row["set"])
        row["is_excess_ratio"] = (row["is_generated"] - 1.0) / excess if excess and excess >= MIN_EXCESS else None
    return rows


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The results as one Markdown table (the form RESULTS.md keeps)."""
    lines = [
        "| set | variant | steps (rendered) | it/s | CPU s | IS gen | IS real | (IS-1) / baseline | FD-mel | FD progress | "
        "NDB/K (real) | near-copies |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['set']} ({row['clips']}) | {row['variant']} | {row['steps']} ({row['step']}) | {_num(row['it_per_s'], 2)} | "
            f"{_num(row['cpu_seconds'], 0)} | {_num(row['is_generated'], 2)} | {_num(row['is_real'], 2)} | "
            f"{_num(row['is_excess_ratio'], 2)} | {_num(row['fd_mel'], 0)} | {_num(row['fd_progress'], 2)} | "
            f"{_num(row['ndb'], 2)} ({_num(row['ndb_real'], 2)}) | {row['near_copies']}/{row['samples']} |"
        )
    return "\n".join(lines)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{cpu}, {cores} cores, {memory:.0f} GiB, load {load}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")


# -- the run ---------------------------------------------------------------------------------------


def set_sizes(args: argparse.Namespace) -> dict[str, int]:
    """Clips in each set trained on (`--sets`)."""
    return {name: count for name, count in (("small", args.small), ("large", args.large)) if name in args.sets}


def common_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """What the command line puts over COMMON_TRAIN for every variant."""
    return merged({**(QUICK_TRAIN if args.quick else {}), "threads": args.threads}, args.settings)


def run(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    sizes, overrides = set_sizes(args), common_overrides(args)
    device = merged(COMMON_TRAIN, overrides)["device"]
    evaluate_settings = section_settings("evaluate", {})

    started = time.perf_counter()
    classifier_path = make_dataset(work / "classifier", args.classifier_clips, DATA_SEEDS["classifier"])
    datasets = {name: make_dataset(work / name, count, DATA_SEEDS[name]) for name, count in sizes.items()}
    print(f"data: {sum(sizes.values()) + args.classifier_clips} one-shots in {time.perf_counter() - started:.0f} s")
    classifier, reports = train_judge(np.load(classifier_path), dataset_labels(classifier_path), args.classifier_epochs,
                                      args.judge_members)  # fmt: skip
    print(f"judge ({len(reports)} noise-robust CNNs): held-out accuracy "
          f"{', '.join(f'{r.held_out_accuracy:.3f}' for r in reports)} on {reports[0].held_out_clips} clips, "
          f"{sum(r.seconds for r in reports):.0f} s", flush=True)  # fmt: skip

    is_real = {name: real_inception_score(classifier, path, args.samples, seed=0) for name, path in datasets.items()}
    variants = {name: VARIANTS[name] for name in (args.variants or VARIANTS)}
    runs = [(set_name, clips_path, variant, values) for set_name, clips_path in datasets.items()
            for variant, values in variants.items()]  # fmt: skip
    rows = []

    def scored(set_name: str, clips_path: Path, variant: str, folder: Path, trained: Mapping[str, Any]) -> None:
        # What the workflow renders by default: the best checkpoint's generator.
        rendered = trained["best"] if trained["best"].exists() else trained["latest"]
        scores = score_generator(rendered, clips_path, classifier, args.samples, folder / "samples", evaluate_settings,
                                 device)
        steps = int(load_generator(trained["latest"])[1].get("step") or 0)
        row = {"set": set_name, "clips": sizes[set_name], "variant": variant, "steps": steps, **scores,
               "is_real": is_real[set_name],
               "seconds": trained["seconds"], "cpu_seconds": trained["cpu_seconds"],
               "it_per_s": steps / trained["seconds"] if trained["seconds"] > 0 else None}  # fmt: skip
        rows.append(row)
        print(f"  {set_name} / {variant}: {steps} steps (rendered {row['step']}), IS {row['is_generated']:.2f} "
              f"(real {is_real[set_name]:.2f}), FD progress {_num(row['fd_progress'], 2)}", flush=True)

    def folder_of(set_name: str, variant: str) -> Path:
        return work / set_name / "runs" / variant.replace(" ", "_").replace("=", "").replace("+", "")

    if args.jobs <= 1:
        for set_name, clips_path, variant, values in runs:
            folder = folder_of(set_name, variant)
            trained = train_variant(clips_path, train_config(values, args.minutes, overrides), folder)
            scored(set_name, clips_path, variant, folder, trained)
    else:
        # Variants train side by side in fresh processes (spawned: no torch state forked); each run
        # keeps its own wall-clock budget, so compare CPU seconds as well when the machine is shared.
        # Scoring happens here, in the order the runs finish, while the others go on training.
        import concurrent.futures
        import multiprocessing

        with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {
                pool.submit(train_variant, clips_path, train_config(values, args.minutes, overrides),
                            folder_of(set_name, variant)): (set_name, clips_path, variant)
                for set_name, clips_path, variant, values in runs
            }  # fmt: skip
            for future in concurrent.futures.as_completed(futures):
                set_name, clips_path, variant = futures[future]
                scored(set_name, clips_path, variant, folder_of(set_name, variant), future.result())
    order = {(set_name, variant): i for i, (set_name, _, variant, _) in enumerate(runs)}
    rows.sort(key=lambda row: order[row["set"], row["variant"]])
    return add_ratios(rows)


def noise_floor_fd(count: int, levels_db: Sequence[float], seed: int = 0) -> list[tuple[float | None, float]]:
    """FD-mel of `count` real one-shots against `count` independent ones, clean (level None) and with
    white noise at each level (dBFS RMS) added: what a generator's quiet noise floor costs in the
    score, since half of every one-shot is digital silence."""
    reference, _ = oneshot_clips(count, DATA_SEEDS["small"], SAMPLE_RATE, CLIP_SAMPLES)
    others, _ = oneshot_clips(count, DATA_SEEDS["large"], SAMPLE_RATE, CLIP_SAMPLES)
    reference_features = clip_features(reference, SAMPLE_RATE)
    noise = np.random.default_rng(seed).standard_normal(others.shape).astype(np.float32)
    rows = [(None, frechet_distance(reference_features, clip_features(others, SAMPLE_RATE)))]
    for level in levels_db:
        noisy = others + noise * np.float32(10 ** (level / 20))
        rows.append((float(level), frechet_distance(reference_features, clip_features(noisy, SAMPLE_RATE))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise-floor", action="store_true",
                        help="only print FD-mel of real one-shots against real ones with a noise floor added")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per variant and set")
    parser.add_argument("--small", type=int, default=300, help="clips in the small set")
    parser.add_argument("--large", type=int, default=3000, help="clips in the large set")
    parser.add_argument("--classifier-clips", type=int, default=1200)
    parser.add_argument("--classifier-epochs", type=int, default=15)
    parser.add_argument("--judge-members", type=int, default=JUDGE_MEMBERS, help="CNNs averaged in the judge")
    parser.add_argument("--samples", type=int, default=256, help="clips rendered and scored per variant")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each training run")
    parser.add_argument("--jobs", type=int, default=1, help="variants trained at the same time (processes)")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), metavar="NAME",
                        help=f"run only these variants (default: all of {', '.join(VARIANTS)})")
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny sets, models and budgets")
    parser.add_argument("--sets", nargs="+", choices=["small", "large"], default=["small", "large"],
                        help="train on these sets only")
    parser.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE",
                        help="train settings over the common ones for every variant, e.g. device=cuda model_size=64")
    args = parser.parse_args()
    args.settings = parse_overrides(args.settings)
    if args.quick:
        args.minutes, args.small, args.large = 0.05, 24, 36
        args.classifier_clips, args.classifier_epochs, args.samples, args.judge_members = 96, 6, 8, 2
    torch.set_num_threads(args.threads)
    if args.noise_floor:
        print(f"FD-mel, {args.samples} real one-shots against {args.samples} others with white noise added:")
        for level, fd in noise_floor_fd(args.samples, (-100, -90, -80, -70, -60, -50, -40)):
            print(f"  {'clean' if level is None else f'{level:+.0f} dBFS':>10}  {fd:10.1f}")
        return

    print(f"bench_quality {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine_description()}")
    sets = " and ".join(str(count) for count in set_sizes(args).values())
    print(f"budget: {args.minutes} min per variant and set; sets of {sets} one-shots of "
          f"{CLIP_SAMPLES} samples at {SAMPLE_RATE} Hz; {args.samples} samples scored; common train settings "
          f"{json.dumps(merged(COMMON_TRAIN, common_overrides(args)))}", flush=True)
    started = time.perf_counter()
    if args.workdir:
        if args.workdir.exists() and any(args.workdir.iterdir()):
            # Training resumes from state it finds, and its time budget counts the earlier runs too.
            parser.error(f"--workdir {args.workdir} is not empty; give a new folder")
        rows = run(args, args.workdir.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="bench_quality_") as tmp:
            rows = run(args, Path(tmp))
    print()
    print(format_table(rows))
    print(f"\nbaseline for (IS-1): {BASELINE}; FD progress: 0 = untrained generator, 1 = real clips (log scale); "
          f"total {(time.perf_counter() - started) / 60:.1f} min")
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
