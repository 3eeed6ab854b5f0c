"""Reruns at item level, with the real `snakemake`: adding, removing or changing one file of a
local folder reruns only its shard(s), and the dataset equals a fresh run's, byte for byte."""

from __future__ import annotations

import filecmp
import os

import numpy as np
import pytest
import soundfile as sf

from workflow_helpers import copy_workflow, planned_jobs, snakemake, write_config

TARGET = "results/dataset/summary.json"
RATE = 16000


def tone(path, frequency, seconds=1.3):
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(path, (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), RATE, subtype="PCM_16")


def config(folder):
    return {
        "sources": [{"name": "mine", "kind": "local", "path": str(folder), "license": "CC0-1.0"}],
        "audio": {"sample_rate": RATE, "clip_seconds": 0.5, "hop_seconds": 0.5},
        "convert": {"shard_mb": 0.15},  # ~40 KB files: a few per shard
    }


def dataset_files(workdir):
    results = workdir / "results"
    return sorted(p.relative_to(results) for p in results.rglob("*")
                  if p.is_file() and p.parts[len(results.parts)] in ("converted", "segments", "dataset"))  # fmt: skip


def same_as_fresh(workdir, folder, tmp_path, name):
    """Run the workflow from nothing on the same folder; every dataset file must be identical."""
    fresh = copy_workflow(tmp_path / name)
    write_config(fresh, config(folder))
    snakemake(fresh, "--cores", "2", TARGET)
    assert dataset_files(fresh) == dataset_files(workdir)
    for relative in dataset_files(fresh):
        assert filecmp.cmp(fresh / "results" / relative, workdir / "results" / relative, shallow=False), relative


@pytest.mark.slow
def test_one_file_added_removed_or_changed_reruns_only_its_shard(tmp_path):
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    for i in range(16):
        tone(folder / ("sub" if i % 2 else "") / f"tone_{i:02d}.wav", 200 + 25 * i)
    workdir = copy_workflow(tmp_path / "workflow")
    write_config(workdir, config(folder))
    snakemake(workdir, "--cores", "2", TARGET)
    shards = len(list((workdir / "results" / "converted" / "mine").glob("*.npy")))
    assert shards >= 4
    assert planned_jobs(workdir, TARGET) == {}

    tone(folder / "sub" / "new.wav", 990)  # added
    jobs = planned_jobs(workdir, TARGET)
    assert jobs.get("download") == 1  # sees the new file without a per-file scan
    snakemake(workdir, "--cores", "2", TARGET)
    ran = planned_after(workdir)
    assert ran["convert"] <= 2 and ran["segment"] <= 2, ran  # its shard (or the two it split into)

    os.remove(folder / "tone_04.wav")  # removed
    snakemake(workdir, "--cores", "2", TARGET)
    ran = planned_after(workdir)
    assert ran["convert"] <= 2 and ran["segment"] <= 2, ran
    same_as_fresh(workdir, folder, tmp_path, "fresh-removed")

    replacement = folder / "sub" / ".tone_05.tmp.wav"
    tone(replacement, 1234, seconds=1.7)
    os.replace(replacement, folder / "sub" / "tone_05.wav")  # changed (written, then renamed over)
    snakemake(workdir, "--cores", "2", TARGET)
    ran = planned_after(workdir)
    assert ran["convert"] == 1 and ran["segment"] == 1, ran
    same_as_fresh(workdir, folder, tmp_path, "fresh-changed")
    assert planned_jobs(workdir, TARGET) == {}

    # A conversion setting reconverts every shard; `refresh` re-lists the folder (and nothing else
    # until the listing shows a change).
    shards = len(list((workdir / "results" / "converted" / "mine").glob("*.npy")))
    write_config(workdir, {**config(folder), "convert": {**config(folder)["convert"], "dtype": "float32"}})
    assert planned_jobs(workdir, TARGET)["convert"] == shards
    write_config(workdir, {**config(folder), "refresh": "always"})
    assert planned_jobs(workdir, TARGET) == {"download": 1, "dataset": 1}
    snakemake(workdir, "--cores", "2", TARGET)
    assert planned_after(workdir) == {"download": 1, "convert": 0, "segment": 0}


def planned_after(workdir):
    """Jobs the last run executed, per rule, from Snakemake's newest log."""
    log = max((workdir / ".snakemake" / "log").glob("*.snakemake.log"), key=os.path.getmtime).read_text()
    counts = {}
    for line in log.splitlines():
        if line.startswith("Finished jobid:") and "(Rule: " in line:
            rule = line.split("(Rule: ")[1].rstrip(")")
            counts[rule] = counts.get(rule, 0) + 1
    counts.setdefault("convert", 0)
    counts.setdefault("segment", 0)
    return counts
