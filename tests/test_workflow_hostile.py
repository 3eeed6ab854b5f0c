"""Hostile and odd input through the real `snakemake` command (issue 9): odd file names in a local
folder, config errors caught at load, expected errors reported in one line."""

from __future__ import annotations

import os

from audio_fixtures import tone, write_file
from audiogan.tsv import read_tsv
from workflow_helpers import copy_workflow, snakemake, write_config


def test_odd_file_names_reach_the_dataset_or_rejects_tsv(tmp_path):
    """Tab and newline names convert as themselves; a non-UTF-8 name and a dangling link are
    rejects with their reason; none of them breaks the DAG build."""
    folder = tmp_path / "odd"
    write_file(folder / "x\ty.wav", tone(1.5, 16000, freq=100.0), 16000)
    write_file(folder / "x y.wav", tone(1.5, 16000, freq=3000.0), 16000)
    write_file(folder / "new\nline.wav", tone(1.5, 16000, freq=1000.0), 16000)
    os.rename(write_file(folder / "tmp.wav", tone(1.5, 16000), 16000), folder / os.fsdecode(b"caf\xe9.wav"))
    (folder / "gone.wav").symlink_to(folder / "deleted.wav")
    workdir = copy_workflow(tmp_path / "wf")
    write_config(workdir, {"sources": [{"name": "odd", "kind": "local", "path": str(folder)}],
                           "audio": {"clip_seconds": 1.0}, "convert": {"shards": 1}})

    snakemake(workdir, "--cores", "2", "results/dataset/manifest.tsv")

    manifest = read_tsv(workdir / "results" / "dataset" / "manifest.tsv")
    assert {row["file"] for row in manifest} == {"x\ty.wav", "x y.wav", "new\nline.wav"}
    rejects = {row["file"]: row["reason"] for row in read_tsv(workdir / "results" / "dataset" / "rejects.tsv")}
    assert rejects.keys() == {"caf\\xe9.wav", "gone.wav"}
    assert "not valid UTF-8" in rejects["caf\\xe9.wav"] and "broken symbolic link" in rejects["gone.wav"]
