"""The README's producer example, end to end with the real `snakemake`: two folders of hits
(kick/, snare/) become a conditional model and a pack with one folder per label, blends and
trimmed samples."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import soundfile as sf
from workflow_helpers import copy_workflow, snakemake, write_config

from audiogan.tsv import read_tsv

RATE = 16000


def write_hits(folder, label: str, count: int) -> None:
    """Half-second hits: kicks are decaying low sines, snares decaying noise (a short silent tail each)."""
    rng = np.random.default_rng(len(label))
    t = np.arange(RATE // 2) / RATE
    folder.mkdir(parents=True)
    for i in range(count):
        if label == "kick":
            hit = np.sin(2 * np.pi * (50 + 5 * i) * t) * np.exp(-12 * t)
        else:
            hit = rng.standard_normal(len(t)) * np.exp(-25 * t)
        hit[int(0.4 * RATE):] = 0.0
        sf.write(folder / f"{label}_{i:02d}.wav", (0.8 * hit / np.abs(hit).max()).astype(np.float32), RATE)


def test_two_folders_become_a_labelled_pack_with_blends(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    kit = tmp_path / "kit"
    write_hits(kit / "kick", "kick", 6)
    write_hits(kit / "snare", "snare", 6)
    write_config(workdir, {
        "sources": [{"name": "kit", "kind": "local", "path": str(kit), "labels": "folders", "license": "CC0-1.0"}],
        "audio": {"sample_rate": RATE, "clip_seconds": 0.5, "hop_seconds": 0.5, "min_level_dbfs": -60},
        "train": {"model_size": 2, "batch_size": 4, "steps": 3, "checkpoint_every": 3, "preview_count": 2,
                  "threads": 1, "device": "cpu", "balance_labels": True},
        "render": {"count": 2, "pack": True, "trim": True,
                   "blends": [{"from": "kick", "to": "snare", "steps": 3}]},
        "evaluate": {"max_real_clips": 12, "ndb_bins": 3},
    })  # fmt: skip
    snakemake(workdir, "--cores", "2", "samples")

    results = workdir / "results"
    assert "conditional on 2 labels (balanced): kick 6, snare 6" in (workdir / "logs" / "train.log").read_text()
    rows = read_tsv(results / "samples" / "samples.tsv")
    assert [(row["label"], row["file"]) for row in rows] == [
        ("kick", "sounds/kick/sample_0000.wav"), ("kick", "sounds/kick/sample_0001.wav"),
        ("snare", "sounds/snare/sample_0000.wav"), ("snare", "sounds/snare/sample_0001.wav"),
    ]  # fmt: skip
    assert [row["label"] for row in json.loads((results / "metrics.json").read_text())["samples"]] == [
        "kick", "kick", "snare", "snare"
    ]
    blends = read_tsv(results / "samples" / "blends.tsv")
    assert [row["step"] for row in blends] == ["0", "1", "2"]
    page = (results / "samples" / "index.html").read_text()
    assert "<h3>kick" in page and "<h3>snare" in page and "<h2>Blends</h2>" in page
    with zipfile.ZipFile(results / "samples" / "pack.zip") as archive:
        names = set(archive.namelist())
        readme = archive.read("audiogan-samples/README.txt").decode()
    blend = blends[0]["blend"]
    assert {"audiogan-samples/kick/sample_0001.wav", "audiogan-samples/snare/sample_0000.wav",
            f"audiogan-samples/blends/{blend}.wav", f"audiogan-samples/blends/{blend}/step_01.wav"} <= names  # fmt: skip
    assert "one folder per label (kick, snare)" in readme and "trailing silence trimmed" in readme
