"""Labels and blends on labelled drum one-shots: does a conditional model make the label asked for?

The same data as bench_quality.py (the demo synthesizer's one-shots: kick, snare, clap, closed and
open hat, tom; 16384 samples at 16 kHz) and the same kind of judge: a log-mel CNN classifier
trained on an independent set of real one-shots. Two judges are trained: the main one hears white
noise (-90 to -40 dBFS) on half of its training clips, so that a quiet noise floor under a
generated hit does not decide its verdict, and it is an ensemble of `--judge-members` such CNNs
from consecutive seeds (their mean probability), because one CNN's verdict on generated clips
depends on its seed; the "strict" one, a single CNN trained on clean clips only as before, is
reported beside it (it calls a real kick over -70 dBFS of hiss an open hat); both are first
scored on their held-out real clips with white noise added. Two variants train for the
same wall-clock budget on the same set, one unconditional and one conditional
(`train.conditional: true`, balanced labels), both with config.yaml's recipe and the train settings
of config/oneshots.yaml on top (the preset for labelled one-shots: R1 gamma 1, no time shift, no
envelope); both are rendered from their best checkpoint, as the workflow does, and one table is
printed:

- label accuracy: the share of a conditional model's samples of label L that the classifier
  assigns to L (per label and overall; the issue's target is at least 0.8), with the lowest and
  highest overall accuracy of the main judge's members alone;
- quality beside it, so a conditional model does not buy its accuracy with worse sounds:
  Inception Score through the classifier and FD-mel progress (0 = untrained, 1 = real clips);
- diversity within labels: the median distance from a sample to its nearest other sample of its
  label (metrics.json's `diversity.per_label`), averaged over labels, beside the same for as many
  real clips of each label; much lower means a label's samples repeat each other;
- blends: for pairs of labels and several seeds, `--blend-steps` renders from label A to label B;
  the classifier's probability of A along each blend should fall monotonically. Reported: the
  mean Spearman rank correlation of p(A) with the position (-1 = perfectly monotone falling), and
  the share of blends with no rise larger than `--tolerance` between neighbouring steps.

    python benchmarks/bench_labels.py [--minutes 8] [--clips 600] [--samples 32] [--parallel]
    python benchmarks/bench_labels.py --minutes 12 --variants conditional --set seed=1 label_loss=0
    python benchmarks/bench_labels.py --quick      # a smoke test, about a minute
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import datetime
import itertools
import json
import multiprocessing
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

import bench_quality  # noqa: E402  (its data, classifier set-up, train settings and machine line)
from bench_main_job import merged, parse_overrides  # noqa: E402  (KEY=VALUE settings)
from audiogan.atomic import atomic_write_text  # noqa: E402
from audiogan.checkpoint import load_generator  # noqa: E402
from audiogan.classifier import (  # noqa: E402
    HELD_OUT_FRACTION,
    ClassifierEnsemble,
    inception_score,
    label_accuracy,
    split_by_label,
    train_classifier,
)
from audiogan.config import section_settings  # noqa: E402
from audiogan.frechet import fd_mel_progress  # noqa: E402
from audiogan.metrics import evaluate  # noqa: E402
from audiogan.render import blend_inputs, generate_clips, parse_blends, render_samples  # noqa: E402
from audiogan.tsv import read_tsv  # noqa: E402

# Both variants train as `--configfile config.yaml config/oneshots.yaml` does: config.yaml's recipe
# with the one-shot preset's train settings on top (less the sizes the benchmark fixes).
RECIPE = bench_quality.VARIANTS["oneshots preset"]
VARIANTS: dict[str, dict[str, Any]] = {
    "unconditional": {**RECIPE, "conditional": False, "balance_labels": False},
    "conditional": {**RECIPE, "conditional": True, "balance_labels": True},
}
BLEND_PAIRS = (("kick", "snare"), ("kick", "closed_hat"), ("snare", "tom"), ("clap", "open_hat"))
BLEND_SEEDS = (11, 12, 13, 14, 15)
MAIN_JUDGE, STRICT_JUDGE = "noise-robust", "strict"
PROBE_NOISE_DBFS = (None, -70, -60, -50, -40)  # white noise added to the judges' held-out clips
JUDGE_SEED, JUDGE_MEMBERS = bench_quality.JUDGE_SEED, bench_quality.JUDGE_MEMBERS  # the main judge is bench_quality's


def train(clips_path: Path, config: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """Train one variant with the dataset's labels (its manifest) into `folder`."""
    from audiogan.training import TrainOutputs, launch_training

    torch.set_num_threads(int(config["threads"]))
    model = folder / "model"
    outputs = TrainOutputs(generator=model / "generator.pt", losses=model / "losses.csv",
                           loss_curve=model / "loss_curve.png", quality=model / "quality.csv",
                           previews=model / "previews", best=model / "best.pt")  # fmt: skip
    started = time.perf_counter()
    launch_training(clips_path, clips_path.parent / "summary.json", dict(config), folder / "state", outputs,
                    log_path=folder / "train.log", manifest_path=clips_path.parent / "manifest.tsv")  # fmt: skip
    return {"latest": Path(outputs.generator), "best": Path(outputs.best), "seconds": time.perf_counter() - started}


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (no ties expected in x)."""
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def judged(classifier, audio: np.ndarray, asked: list[str] | None, labels: list[str]) -> dict[str, Any]:
    """One judge's verdict on rendered clips: Inception Score and, for a conditional model (`asked`
    given), label accuracy overall and per label, and what it heard for each label asked for."""
    # An ensemble: its members' own verdicts too (how far they would disagree alone), from one pass.
    members = classifier.member_probabilities(audio) if isinstance(classifier, ClassifierEnsemble) else []
    probabilities = np.mean(members, axis=0) if members else classifier.probabilities(audio)
    result: dict[str, Any] = {"is_generated": inception_score(probabilities)}
    if asked is None:
        return result

    def share_as_asked(p: np.ndarray) -> float:
        return float(np.mean(np.asarray(classifier.labels)[p.argmax(1)] == np.asarray(asked)))

    predicted = [classifier.labels[i] for i in probabilities.argmax(1)]
    result["accuracy"] = share_as_asked(probabilities)
    if members:
        result["member_accuracy"] = [share_as_asked(p) for p in members]
    result["accuracy_per_label"] = {
        label: float(np.mean([p == a for p, a in zip(predicted, asked) if a == label])) for label in labels
    }
    # What the judge heard instead: for each label asked for, the labels it assigned, most common first.
    result["heard_as"] = {
        label: dict(collections.Counter(p for p, a in zip(predicted, asked) if a == label).most_common())
        for label in labels
    }
    return result


def blend_clips(generator, meta: Mapping[str, Any], args) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Every blend rendered straight from the generator (the render stage's own inputs): (first
    label, positions, clips) per blend; rendered once, read by each judge."""
    clip_samples = round(float(meta["clip_seconds"]) * int(meta["sample_rate"]))
    entries = [{"from": {"label": a, "seed": s}, "to": {"label": b, "seed": s}, "steps": args.blend_steps}
               for (a, b), s in itertools.product(BLEND_PAIRS, BLEND_SEEDS)]  # fmt: skip
    rendered = []
    for blend in parse_blends(entries, 0, list(meta["labels"])):
        z, y, positions = blend_inputs(blend, meta)
        clips = np.concatenate(list(generate_clips(generator, z, y, clip_samples)))
        rendered.append((blend.start.label, positions.numpy(), clips))
    return rendered


def blend_scores(blends: list[tuple[str, np.ndarray, np.ndarray]], classifier, tolerance: float) -> dict[str, Any]:
    """One judge's p(first label) along each blend: mean Spearman correlation with the position and
    the share of blends that never rise by more than `tolerance`."""
    correlations, monotone = [], []
    for first_label, positions, clips in blends:
        first = classifier.probabilities(clips)[:, classifier.labels.index(first_label)]
        correlations.append(spearman(positions, first))
        monotone.append(bool(np.all(np.diff(first) <= tolerance)))
    return {"blend_spearman": float(np.mean(correlations)), "blend_monotone": float(np.mean(monotone)),
            "blends": len(monotone)}


def score(generator_path: Path, clips_path: Path, judges: Mapping[str, Any], labels: list[str], args,
          folder: Path) -> dict[str, Any]:  # fmt: skip
    """Render `args.samples` per label (conditional) or in all (unconditional) and score them: the
    main judge's verdict at the top level, the strict judge's under "strict"."""
    generator, meta = load_generator(generator_path)
    conditional = bool(meta.get("labels"))
    out = folder / "samples"
    render_samples(generator_path, out / "sounds", out / "samples.tsv", out / "contact_sheet.png",
                   args.samples if conditional else args.samples * len(labels), bench_quality.RENDER_SEED,
                   bench_quality.SAMPLE_RATE, "FLOAT")  # fmt: skip
    metrics = evaluate(out / "samples.tsv", generator_path, clips_path, clips_path.parent / "manifest.tsv",
                       section_settings("evaluate", {}), folder / "metrics.json")  # fmt: skip
    rows = read_tsv(out / "samples.tsv")
    audio = np.stack([sf.read(out / row["file"], dtype="float32")[0] for row in rows])
    asked = [row["label"] for row in rows] if conditional else None
    fd = metrics["fd_mel"]
    result: dict[str, Any] = {
        "step": int(meta.get("step") or 0),
        "fd_progress": fd_mel_progress(fd["generated"], fd["real_floor"], fd["untrained_ceiling"]),
        "samples": len(rows),
    }
    per_label = metrics["diversity"]["per_label"]
    if per_label:  # mean over labels of the median distance to the nearest other sample of the label
        for key, name in (("generated", "diversity"), ("held_out", "diversity_real")):
            values = [scores[key] for scores in per_label.values() if scores[key] is not None]
            result[name] = float(np.mean(values)) if values else None
    blends = blend_clips(generator, meta, args) if conditional else []
    for name, classifier in judges.items():
        verdict = judged(classifier, audio, asked, labels)
        if conditional:
            verdict.update(blend_scores(blends, classifier, args.tolerance))
        if name == MAIN_JUDGE:
            result.update(verdict)
        else:
            result[name] = verdict
    return result


def train_judges(clips: np.ndarray, labels: list[str], epochs: int, members: int) -> dict[str, Any]:
    """The main (noise-robust ensemble) and the strict judge, trained on real one-shots; prints
    their held-out accuracies."""
    main, reports = bench_quality.train_judge(clips, labels, epochs, members)
    strict, report = train_classifier(clips, labels, bench_quality.SAMPLE_RATE, epochs=epochs, seed=JUDGE_SEED,
                                      noise_floor_dbfs=None)  # fmt: skip
    for name, name_reports in ((MAIN_JUDGE, reports), (STRICT_JUDGE, [report])):
        accuracies = ", ".join(f"{r.held_out_accuracy:.3f}" for r in name_reports)
        print(f"{name} judge: held-out accuracy {accuracies} on {report.held_out_clips} clips", flush=True)
    return {MAIN_JUDGE: main, STRICT_JUDGE: strict}


def judge_noise_table(judges: Mapping[str, Any], clips: np.ndarray, labels: list[str]) -> str:
    """Each judge's accuracy on its held-out real clips with white noise added at PROBE_NOISE_DBFS:
    how much a quiet noise floor, not the sound, decides its verdict."""
    _, held = split_by_label(labels, HELD_OUT_FRACTION, JUDGE_SEED)  # train_classifier's own held-out split
    real, asked = clips[held], [labels[i] for i in held]
    noise = np.random.default_rng(1).standard_normal(real.shape).astype(np.float32)
    header = ["none" if level is None else f"{level} dBFS" for level in PROBE_NOISE_DBFS]
    lines = ["| judge | " + " | ".join(header) + " |", "|---|" + "---|" * len(header)]
    for name, judge in judges.items():
        accuracies = [label_accuracy(judge, real if level is None else real + noise * 10 ** (level / 20), asked)
                      for level in PROBE_NOISE_DBFS]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(f"{a:.2f}" for a in accuracies) + " |")
    return "\n".join(lines)


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_table(rows: list[Mapping[str, Any]], labels: list[str]) -> str:
    def monotone(verdict: Mapping[str, Any]) -> str:
        return f"{verdict['blend_monotone'] * verdict['blends']:.0f}/{verdict['blends']}" if "blends" in verdict else "n/a"

    def accuracy(verdict: Mapping[str, Any]) -> str:
        members = verdict.get("member_accuracy")
        spread = f" ({min(members):.2f}-{max(members):.2f})" if members else ""
        return _num(verdict.get("accuracy")) + spread

    lines = [
        "| variant | steps (rendered) | it/s | IS gen (real) | FD progress | label accuracy (members) | "
        + " | ".join(labels) + " | blend Spearman | blends monotone | diversity within labels (real) | "
        "strict judge: IS, accuracy, monotone |",
        "|---|---|---|---|---|---|" + "---|" * len(labels) + "---|---|---|---|",
    ]
    for row in rows:
        per_label = row.get("accuracy_per_label", {})
        strict = row[STRICT_JUDGE]
        lines.append(
            f"| {row['variant']} | {row['steps']} ({row['step']}) | {_num(row['it_per_s'])} | "
            f"{_num(row['is_generated'])} ({_num(row['is_real'])}) | {_num(row['fd_progress'])} | "
            f"{accuracy(row)} | " + " | ".join(_num(per_label.get(label)) for label in labels)
            + f" | {_num(row.get('blend_spearman'))} | {monotone(row)} | "
            f"{_num(row.get('diversity'), 3)} ({_num(row.get('diversity_real'), 3)}) | "
            f"{_num(strict['is_generated'])} ({_num(strict['is_real'])}), {_num(strict.get('accuracy'))}, "
            f"{monotone(strict)} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    clips_path = bench_quality.make_dataset(work / "train", args.clips, bench_quality.DATA_SEEDS["small"])
    judge_path = bench_quality.make_dataset(work / "classifier", args.classifier_clips, bench_quality.DATA_SEEDS["classifier"])
    judge_clips, judge_labels = np.load(judge_path), bench_quality.dataset_labels(judge_path)
    judges = train_judges(judge_clips, judge_labels, args.classifier_epochs, args.judge_members)
    print("\nthe judges on their held-out real clips with white noise added (rms level):\n"
          + judge_noise_table(judges, judge_clips, judge_labels) + "\n", flush=True)  # fmt: skip
    labels = sorted(set(bench_quality.dataset_labels(clips_path)))
    real = np.load(clips_path)
    picked = np.random.default_rng(0).choice(len(real), min(len(real), args.samples * len(labels)), replace=False)
    is_real = {name: inception_score(judge.probabilities(real[np.sort(picked)])) for name, judge in judges.items()}

    overrides = {"model_size": args.model_size, **(bench_quality.QUICK_TRAIN if args.quick else {}),
                 "threads": args.threads}
    variants = {name: merged(VARIANTS[name], args.settings) for name in args.variants}
    configs = {name: bench_quality.train_config(values, args.minutes, overrides) for name, values in variants.items()}
    folders = {name: work / "runs" / name for name in variants}
    # Spawned, not forked: the parent has touched CUDA (the machine line), which a forked child cannot use.
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2 if args.parallel else 1, mp_context=spawn) as pool:
        futures = {name: pool.submit(train, clips_path, configs[name], folders[name]) for name in variants}
        trained = {name: future.result() for name, future in futures.items()}

    rows = []
    for name in variants:
        result = trained[name]
        rendered = result["best"] if result["best"].exists() else result["latest"]
        steps = int(load_generator(result["latest"])[1].get("step") or 0)
        row = {"variant": name, "steps": steps, "it_per_s": steps / result["seconds"], "is_real": is_real[MAIN_JUDGE],
               **score(rendered, clips_path, judges, labels, args, folders[name])}  # fmt: skip
        row[STRICT_JUDGE]["is_real"] = is_real[STRICT_JUDGE]
        rows.append(row)
        print(f"  {name}: {json.dumps({k: v for k, v in row.items() if k not in ('accuracy_per_label', 'heard_as', STRICT_JUDGE)}, default=str)}",
              flush=True)  # fmt: skip
    print()
    print(format_table(rows, labels))
    for row in rows:
        for judge, verdict in ((MAIN_JUDGE, row), (STRICT_JUDGE, row[STRICT_JUDGE])):
            if "heard_as" in verdict:
                print(f"\n{row['variant']}, what the {judge} judge heard for each label asked for:")
                for label, heard in verdict["heard_as"].items():
                    print(f"- {label}: " + ", ".join(f"{name} {count}" for name, count in heard.items()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget per variant")
    parser.add_argument("--clips", type=int, default=600, help="labelled one-shots to train on")
    parser.add_argument("--classifier-clips", type=int, default=1200)
    parser.add_argument("--classifier-epochs", type=int, default=15)
    parser.add_argument("--judge-members", type=int, default=JUDGE_MEMBERS,
                        help="CNNs (consecutive seeds) averaged into the main judge")
    parser.add_argument("--samples", type=int, default=32, help="samples rendered per label")
    parser.add_argument("--blend-steps", type=int, default=9)
    parser.add_argument("--tolerance", type=float, default=0.05, help="largest rise of p(first label) still monotone")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model-size", type=int, default=8, help="WaveGAN's d for both variants")
    parser.add_argument("--parallel", action="store_true", help="train the two variants at the same time")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE",
                        help="train settings for every variant on top of the one-shot recipe (YAML values; "
                             "augment.shift=0 reaches into a section)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--workdir", type=Path, help="keep data, runs and samples here (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny set, model and budget")
    args = parser.parse_args()
    args.settings = parse_overrides(args.settings)
    if args.quick:
        args.minutes, args.clips, args.classifier_clips, args.classifier_epochs = 0.05, 36, 96, 4
        args.judge_members = 2
        args.samples, args.blend_steps = 4, 3
    torch.set_num_threads(args.threads)
    print(f"bench_labels {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {bench_quality.machine_description()}")
    print(f"budget: {args.minutes} min per variant on {args.clips} one-shots, d={args.model_size}; "
          f"{args.samples} samples per label; settings on top of the one-shot recipe: {args.settings or 'none'}")
    if args.workdir and args.workdir.exists() and any(args.workdir.iterdir()):
        # Training would resume from what it finds there, with the earlier time budget spent.
        parser.error(f"--workdir {args.workdir} is not empty; give a new folder")
    with tempfile.TemporaryDirectory(prefix="bench_labels_") as tmp:
        rows = run(args, args.workdir.resolve() if args.workdir else Path(tmp))
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
