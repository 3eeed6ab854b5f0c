"""Preemption under Snakemake: SIGTERM to the running training job makes it checkpoint and exit
non-zero; the rule's `retries` starts it again and it resumes from that checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from workflow_helpers import copy_workflow, write_config

STEPS = 300


def training_processes(workdir: Path) -> list[int]:
    """Pids of the train script's Python processes started for `workdir` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == str(workdir) and any(part.endswith(b".train.py") for part in command):
            pids.append(int(entry.name))
    return pids


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigterm_checkpoints_and_the_retry_resumes(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    write_config(workdir, {
        "sources": [{"name": "drums", "kind": "demo", "tracks": 1, "min_seconds": 6, "max_seconds": 6}],
        "audio": {"clip_seconds": 1.0, "hop_seconds": 0.5},
        "train": {"model_size": 2, "batch_size": 2, "steps": STEPS, "checkpoint_every": 10, "preview_count": 2,
                  "threads": 1, "device": "cpu"},
    })  # fmt: skip
    snakemake = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(workdir / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(workdir / "test-config.yaml"), "--cores", "2", "results/model/generator.pt"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        checkpoints = lambda: sorted((workdir / "cache" / "train").glob("*/ckpt_*.pt"))  # noqa: E731
        wait_for(checkpoints, 300, "the first training checkpoint")
        pids = wait_for(lambda: training_processes(workdir), 30, "the training process")
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        output, _ = snakemake.communicate(timeout=600)
    finally:
        if snakemake.poll() is None:
            snakemake.kill()
    assert snakemake.returncode == 0, output[-4000:]
    assert "Error in rule train" in output  # the preempted attempt failed (exit 143) ...
    log = (workdir / "logs" / "train.log").read_text()
    assert "resuming run" in log  # ... and the retry continued from its checkpoint
    resumed_at = int(log.split("resuming run", 1)[1].split("(step ", 1)[1].split(" ", 1)[0])
    assert 0 < resumed_at < STEPS
    final = torch.load(workdir / "results" / "model" / "generator.pt", weights_only=True)
    assert final["step"] == STEPS


def test_raising_steps_continues_the_run_and_reruns_nothing_upstream(tmp_path):
    from workflow_helpers import planned_jobs, snakemake

    workdir = copy_workflow(tmp_path / "wf")
    config = {
        "sources": [{"name": "drums", "kind": "demo", "tracks": 1, "min_seconds": 4, "max_seconds": 4}],
        "audio": {"clip_seconds": 1.0, "hop_seconds": 0.5},
        "train": {"model_size": 2, "batch_size": 2, "steps": 4, "checkpoint_every": 2, "preview_count": 2,
                  "threads": 1, "device": "cpu"},
    }  # fmt: skip
    write_config(workdir, config)
    target = "results/model/generator.pt"
    snakemake(workdir, "--cores", "2", target)
    run_folders = sorted((workdir / "cache" / "train").iterdir())

    config["train"]["steps"] = 6
    write_config(workdir, config)
    assert planned_jobs(workdir, target) == {"train": 1}
    snakemake(workdir, "--cores", "2", target)
    log = (workdir / "logs" / "train.log").read_text()
    assert "resuming run" in log and "(step 4 of 6)" in log
    assert sorted((workdir / "cache" / "train").iterdir()) == run_folders  # the same run, continued
    assert torch.load(workdir / target, weights_only=True)["step"] == 6
    losses = (workdir / "results" / "model" / "losses.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in losses[1:]] == ["1", "2", "3", "4", "5", "6"]  # whole history

    config["train"]["learning_rate"] = 3e-4  # any other setting (config.yaml has 2e-4): a fresh run
    write_config(workdir, config)
    snakemake(workdir, "--cores", "2", target)
    assert "starting run" in (workdir / "logs" / "train.log").read_text()
    assert len(list((workdir / "cache" / "train").iterdir())) == len(run_folders) + 1
