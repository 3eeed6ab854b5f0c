"""The default CPU main job's quality: train variants for the same wall-clock budget on the demo
clips, render and evaluate each as the workflow does, and print one table.

    python benchmarks/bench_main_job.py --dataset results/dataset --minutes 10 \
        --variant wavegan recipe=wavegan --variant default --variant lr3e-4 learning_rate=3e-4

Each variant is the `train` section of config.yaml (this checkout's) plus KEY=VALUE overrides
(YAML values; dotted keys reach into `augment`, e.g. augment.p=0.5). The score is the one the
issue sets the target on: fraction = log(ceiling / FD) / log(ceiling / floor), with FD-mel of the
rendered samples (render settings of config.yaml) and the untrained ceiling and real floor from
metrics.json; 1 is real-data quality, 0 an untrained generator. Rendering uses `best.pt` and
`generator.pt` (latest) in turn, so both are reported. CPU seconds count the training process's own
CPU time (more reliable than wall time on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from audiogan.config import load_config, section_settings  # noqa: E402
from audiogan.metrics import evaluate  # noqa: E402
from audiogan.render import render_samples  # noqa: E402
from audiogan.training import TrainOutputs, launch_training  # noqa: E402


def fraction(fd: dict) -> float:
    ceiling, floor, generated = fd["untrained_ceiling"], fd["real_floor"], fd["generated"]
    return math.log(ceiling / generated) / math.log(ceiling / floor)


def parse_overrides(items: list[str]) -> dict:
    overrides: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        target = overrides
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads 3e-4 as a string
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        target[leaf] = parsed
    return overrides


def merged(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_variant(name: str, train: dict, dataset: Path, config: dict, work: Path) -> dict:
    out = work / name
    outputs = TrainOutputs(out / "generator.pt", out / "losses.csv", out / "loss_curve.png", out / "quality.csv",
                           out / "previews", best=out / "best.pt")  # fmt: skip
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    launch_training(dataset / "clips.json", dataset / "summary.json", train, work / "state", outputs,
                    manifest_path=dataset / "manifest.tsv")
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    losses = (out / "losses.csv").read_text().splitlines()
    steps = len(losses) - 1
    row = {"variant": name, "steps": steps, "train_min": wall / 60, "cpu_s": cpu, "it_s": steps / wall}
    render = config["render"]
    for kind in ("best", "generator"):
        folder = out / f"samples_{kind}"
        folder.mkdir(parents=True, exist_ok=True)
        render_samples(out / f"{kind}.pt", folder, folder / "samples.tsv", folder / "contact_sheet.png",
                       count=render["count"], seed=render["seed"], sample_rate=render["sample_rate"] or config["audio"]["sample_rate"],
                       subtype=render["subtype"])  # fmt: skip
        metrics = evaluate(folder / "samples.tsv", out / f"{kind}.pt", dataset / "clips.json",
                           dataset / "manifest.tsv", section_settings("evaluate", config.get("evaluate", {})),
                           folder / "metrics.json")  # fmt: skip
        label = "best" if kind == "best" else "latest"
        row[f"{label}_step"] = metrics["step"]
        row[f"{label}_fd"] = metrics["fd_mel"]["generated"]
        row[f"{label}_fraction"] = fraction(metrics["fd_mel"])
        row["ceiling"], row["floor"] = metrics["fd_mel"]["untrained_ceiling"], metrics["fd_mel"]["real_floor"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=REPO / "results" / "dataset")
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--steps", type=int, help="train this many steps instead of for --minutes")
    parser.add_argument("--variant", nargs="+", action="append", required=True, metavar=("NAME", "KEY=VALUE"))
    parser.add_argument("--work", type=Path, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="append each row as a JSON line here")
    args = parser.parse_args()
    config = load_config(args.config)
    base = {k: v for k, v in yaml.safe_load(args.config.read_text())["train"].items()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for name, *items in args.variant:
            train = merged(base, parse_overrides(items))
            if args.steps:
                train.update(max_minutes=None, steps=args.steps)
            else:
                train.update(max_minutes=args.minutes, steps=10**7)
            row = run_variant(name, train, args.dataset, config, work)
            row["settings"] = " ".join(items)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.json:
                with open(args.json, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
    budget = f"{args.steps} steps" if args.steps else f"{args.minutes:g}-minute budget"
    print(f"\n{budget}, dataset {args.dataset} (fraction: 0 untrained, 1 real data)")
    print(f"{'variant':<16} {'steps':>6} {'it/s':>5} {'cpu s':>6} {'best step':>9} {'best frac':>9} "
          f"{'latest frac':>11}  settings")
    for r in rows:
        print(f"{r['variant']:<16} {r['steps']:>6} {r['it_s']:>5.2f} {r['cpu_s']:>6.0f} {r['best_step']:>9} "
              f"{r['best_fraction']:>9.2f} {r['latest_fraction']:>11.2f}  {r['settings']}")


if __name__ == "__main__":
    main()
