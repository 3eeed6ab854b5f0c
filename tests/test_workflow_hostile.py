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
                           "audio": {"clip_seconds": 1.0}})

    snakemake(workdir, "--cores", "2", "results/dataset/manifest.tsv")

    manifest = read_tsv(workdir / "results" / "dataset" / "manifest.tsv")
    assert {row["file"] for row in manifest} == {"x\ty.wav", "x y.wav", "new\nline.wav"}
    rejects = {row["file"]: row["reason"] for row in read_tsv(workdir / "results" / "dataset" / "rejects.tsv")}
    assert rejects.keys() == {"caf\\xe9.wav", "gone.wav"}
    assert "not valid UTF-8" in rejects["caf\\xe9.wav"] and "broken symbolic link" in rejects["gone.wav"]


def test_expected_error_is_one_line_and_a_failed_training_is_not_retried(tmp_path, monkeypatch):
    """Training that cannot succeed (device: cuda with no GPU visible) fails once; the rule's two
    retries (meant for preemption) end at once without training again."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU for this run, whatever the machine has
    workdir = copy_workflow(tmp_path / "wf")
    write_config(workdir, {
        "sources": [{"name": "d", "kind": "demo", "tracks": 1, "min_seconds": 3, "max_seconds": 3}],
        "audio": {"clip_seconds": 1.0},
        "train": {"model_size": 2, "batch_size": 2, "steps": 2, "device": "cuda", "threads": 1},
    })
    result = snakemake(workdir, "--cores", "1", "results/model/generator.pt", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert output.count("not retried") >= 2, output[-3000:]  # attempts 2 and 3
    log = (workdir / "logs" / "train.log").read_text()
    assert "attempt 3: not retried" in log and "PyTorch sees no CUDA GPU" in log
    assert "step 1/" not in log


def test_missing_local_folder_fails_at_load_naming_the_key(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    write_config(workdir, {"sources": [{"name": "mine", "kind": "local", "path": str(tmp_path / "nowhere")}]})
    result = snakemake(workdir, "--cores", "1", "samples", check=False)
    assert result.returncode != 0
    assert f"sources[0](mine).path: '{tmp_path / 'nowhere'}' does not exist" in result.stderr
    assert "Traceback" not in result.stderr and not (workdir / "results").exists()


def test_data_error_inside_a_job_is_one_line_with_the_traceback_in_the_log(tmp_path):
    """A source whose archive is not a Common Voice release: a SourceError inside the download job."""
    import tarfile

    archive = tmp_path / "not-cv.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        (tmp_path / "readme.txt").write_text("hello")
        tar.add(tmp_path / "readme.txt", arcname="readme.txt")
    workdir = copy_workflow(tmp_path / "wf")
    write_config(workdir, {"sources": [{"name": "cv", "kind": "common_voice", "archive": str(archive)}]})
    result = snakemake(workdir, "--cores", "1", "results/raw/cv/items.tsv", check=False)
    assert result.returncode != 0
    assert "error: not-cv.tar.gz: no validated.tsv in the archive" in result.stderr
    assert "Traceback" not in result.stderr
    log = (workdir / "logs" / "download" / "cv.log").read_text()
    assert "Traceback" in log and "no validated.tsv" in log
