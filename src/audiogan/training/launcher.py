"""Starting training: in this process, or as torchrun workers; and the command line.

`launch_training` is what the Snakemake script calls. It builds the job description once and
trains in this process, or, when `gpus > 1` and we are not already a torchrun worker, starts
`torchrun --nproc_per_node gpus -m audiogan.training --job <json>` and relays its output to the log.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

import torch

from .. import distributed
from ..devices import resolve_device
from .job import TrainJob, TrainOutputs
from .loop import Preempted, TrainingDiverged, train

log = logging.getLogger("audiogan.train")


def launch_training(
    clips_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    train_config: Mapping[str, Any],
    state_root: str | os.PathLike,
    outputs: TrainOutputs,
    log_path: str | os.PathLike | None = None,
    manifest_path: str | os.PathLike | None = None,
) -> None:
    """Train on the dataset's clips (rate and clip length from summary.json beside it) and write `outputs`;
    resumable state lives in `state_root/<run_id>/`.

    With `gpus > 1` (and not already under torchrun) this starts torchrun with that many worker
    processes and relays their output to this process's log. Raises `Preempted` (exit status 143)
    when stopped by SIGTERM/SIGINT after checkpointing, `TrainingDiverged` on a non-finite loss.
    `log_path` is where the caller's logging already writes (set up with audiogan.logs).
    `manifest_path`: the dataset's manifest.tsv, whose labels a conditional run uses (None: no labels).
    """
    job = TrainJob.create(clips_path, summary_path, train_config, state_root, outputs, manifest_path)
    if job.settings["gpus"] > 1 and not distributed.inside_torchrun():
        _launch_workers(job, log_path)
        return
    train(job)


def worker_command(job: TrainJob) -> list[str]:
    """torchrun with one worker per GPU, each running this package's CLI (no shell involved)."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={job.settings['gpus']}"]  # fmt: skip
    return [*torchrun, "-m", "audiogan.training", "--job", job.to_json()]


def _launch_workers(job: TrainJob, log_path: str | os.PathLike | None) -> None:
    cfg = job.settings
    device = resolve_device(cfg["device"])
    if device == "cuda" and torch.cuda.device_count() < cfg["gpus"]:
        raise RuntimeError(
            f"train.gpus is {cfg['gpus']} but only {torch.cuda.device_count()} CUDA GPU(s) are visible"
        )
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    if device == "cpu":  # (torchrun would pick 1 and print a banner about it)
        env.setdefault("OMP_NUM_THREADS", str(max(1, cfg["threads"] // cfg["gpus"])))
    log.info("starting %d data-parallel %s workers with torchrun", cfg["gpus"], device)
    process = subprocess.Popen(
        worker_command(job), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
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


OUTPUT_NAMES = {
    "generator": "generator.pt",
    "best": "best.pt",
    "losses": "losses.csv",
    "loss_curve": "loss_curve.png",
    "quality": "quality.csv",
    "previews": "previews",
}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m audiogan.training", description="Train a GAN on the dataset's clips.")
    parser.add_argument("clips", nargs="?", help="the dataset (clips.json, or a 2-D .npy of clips)")
    parser.add_argument("--summary", help="the dataset's summary.json (default: beside the clips)")
    parser.add_argument("--manifest", help="the dataset's manifest.tsv, for labels (default: beside the clips, if there)")
    parser.add_argument("--state-root", help="folder for resumable state (cache/train)")
    parser.add_argument("--out", help="folder for all outputs (generator.pt, best.pt, losses.csv, ...)")
    for name in OUTPUT_NAMES:
        parser.add_argument(f"--{name.replace('_', '-')}", help=f"path of the {name} output (default: in --out)")
    parser.add_argument("--train-config", default="{}", help="train settings as JSON")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="one train setting (YAML value), e.g. --set steps=200")  # fmt: skip
    parser.add_argument("--job", help=argparse.SUPPRESS)  # a whole TrainJob as JSON (torchrun workers)
    parser.add_argument("--log", help="log file (besides stderr)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command line: `python -m audiogan.training results/dataset/clips.json --state-root cache/train --out results/model`."""
    import yaml

    from ..logs import setup_logging

    args = _parse_args(argv)
    if distributed.inside_torchrun():
        rank = int(os.environ.get("RANK", "0"))
        logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, stream=sys.stderr, force=True,
                            format=f"[rank {rank}] %(levelname)s %(name)s: %(message)s")  # fmt: skip
    else:
        setup_logging(args.log)
    try:
        if args.job:
            train(TrainJob.from_json(args.job))
            return 0
        if not args.clips or not args.state_root:
            raise SystemExit("give the clips and --state-root")
        cfg = json.loads(args.train_config)
        for item in args.set:
            key, _, value = item.partition("=")
            cfg[key.strip()] = yaml.safe_load(value)
        paths = {}
        for name, filename in OUTPUT_NAMES.items():
            given = getattr(args, name)
            if given is None and args.out is None:
                raise SystemExit(f"give --out or --{name.replace('_', '-')}")
            paths[name] = given or str(Path(args.out) / filename)
        summary = args.summary or str(Path(args.clips).with_name("summary.json"))
        manifest = args.manifest or Path(args.clips).with_name("manifest.tsv")
        launch_training(args.clips, summary, cfg, args.state_root, TrainOutputs(**paths), log_path=args.log,
                        manifest_path=manifest if Path(manifest).is_file() else None)  # fmt: skip
    except TrainingDiverged as error:
        log.error("%s", error)
        return 1
    return 0
