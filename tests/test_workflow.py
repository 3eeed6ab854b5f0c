"""The whole workflow, end to end, with the real `snakemake` command on a tiny config.

One run builds everything; the rerun tests then ask Snakemake (dry run) what it would redo after a
change, which is exactly what a second `snakemake --cores 8 samples` would execute.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogan.dataset import open_clips
from workflow_helpers import copy_workflow, planned_jobs, snakemake, write_config

CLIP_SECONDS = 1.0
RENDER_RATE = 22050


def speak(text: str, path, rate: int | None = None) -> None:
    """Real speech from espeak-ng, optionally re-encoded by ffmpeg (format from the extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(wav), text], check=True)
    if path.suffix == ".wav" and rate is None:
        wav.rename(path)
        return
    command = ["ffmpeg", "-v", "error", "-y", "-i", str(wav)]
    command += ["-ar", str(rate)] if rate else []
    subprocess.run([*command, str(path)], check=True)
    wav.unlink()


def make_local_folder(root):
    speak("The quick brown fox jumps over the lazy dog, again and again and again.", root / "speech one.wav")
    speak("Grüße aus dem Tonstudio, wir nehmen heute Schlagzeug auf.", root / "Sprache ä" / "grüße.m4a", rate=44100)
    (root / "broken.mp3").write_bytes(b"ID3" + bytes(range(256)) * 8)  # MP3 header, garbage after
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.wav").write_text("this is not audio\n")


def tiny_config(local_dir) -> dict:
    return {
        "sources": [
            {"name": "drums", "kind": "demo", "tracks": 2, "min_seconds": 6, "max_seconds": 8, "seed": 3},
            {"name": "voice", "kind": "local", "path": str(local_dir), "license": "CC-BY-4.0"},
        ],
        "audio": {"sample_rate": 16000, "clip_seconds": CLIP_SECONDS, "hop_seconds": 0.5, "normalize": "peak"},
        "convert": {"shard_mb": 0.05},  # several shards per source, to check that only one reruns
        "train": {
            "model_size": 2, "batch_size": 4, "steps": 3, "checkpoint_every": 2, "preview_count": 2, "threads": 1,
            "device": "cpu",
        },
        "render": {"count": 3, "seed": 7, "sample_rate": RENDER_RATE, "subtype": "PCM_24", "pack": True},
        "evaluate": {"max_real_clips": 16, "ndb_bins": 3},
    }


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """A copy of the workflow that has been run once, end to end."""
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    local_dir = tmp_path_factory.mktemp("local audio")
    make_local_folder(local_dir)
    config = tiny_config(local_dir)
    write_config(workdir, config)
    snakemake(workdir, "--cores", "2", "samples")
    return workdir, config


def test_run_produces_samples_gallery_metrics_and_pack(workflow):
    workdir, config = workflow
    samples = sorted((workdir / "results" / "samples" / "sounds").glob("sample_*.wav"))
    assert [p.name for p in samples] == ["sample_0000.wav", "sample_0001.wav", "sample_0002.wav"]
    for path in samples:
        info = sf.info(path)
        assert info.samplerate == RENDER_RATE
        assert info.frames == round(CLIP_SECONDS * RENDER_RATE)
        assert info.subtype == "PCM_24"
        assert info.channels == 1
    html = (workdir / "results" / "samples" / "index.html").read_text()
    assert html.count("<audio") == 3
    metrics = json.loads((workdir / "results" / "metrics.json").read_text())
    assert "fd_mel" in json.dumps(metrics)
    assert (workdir / "results" / "samples" / "pack.zip").stat().st_size > 0
    checkpoint = torch.load(workdir / "results" / "model" / "generator.pt", weights_only=True)
    assert checkpoint["step"] == 3
    assert (workdir / "results" / "model" / "loss_curve.png").stat().st_size > 0


def test_dataset_holds_both_sources_and_records_bad_files(workflow):
    workdir, _ = workflow
    dataset = workdir / "results" / "dataset"
    clips = open_clips(dataset / "clips.json")
    assert clips.shape[0] > 0 and len(np.load(dataset / "clip_index.npy")) == clips.shape[0]
    assert clips[:].dtype == np.float32 and np.abs(clips[:]).max() <= 1.0
    # 16-bit on disk: the converted audio the clips are read from
    assert {np.load(p, mmap_mode="r").dtype for p in (workdir / "results" / "converted").rglob("*.npy")} == {np.dtype(np.int16)}
    assert clips.shape[1] == round(CLIP_SECONDS * 16000)
    assert np.isfinite(clips[:]).all()
    manifest = (dataset / "manifest.tsv").read_text().splitlines()
    assert len(manifest) - 1 == clips.shape[0]
    header = manifest[0].split("\t")
    assert {"source", "file", "offset_s"} <= set(header)
    files = {line.split("\t")[header.index("file")] for line in manifest[1:]}
    assert "speech one.wav" in files
    assert "Sprache ä/grüße.m4a" in files  # non-ASCII names and ffmpeg-only formats get through
    assert any(name.startswith("track_") for name in files)
    rejects = (dataset / "rejects.tsv").read_text()
    for bad in ("broken.mp3", "empty.wav", "notes.wav"):
        assert bad in rejects


def test_second_run_does_nothing(workflow):
    workdir, _ = workflow
    assert planned_jobs(workdir) == {}


def jobs_after_config_change(workdir, config, section: str, **changes) -> dict[str, int]:
    """What a rerun would execute with `config[section]` updated; the config is restored after."""
    write_config(workdir, {**config, section: {**config[section], **changes}})
    try:
        return planned_jobs(workdir)
    finally:
        write_config(workdir, config)


def test_segmentation_change_reruns_segment_train_render_only(workflow):
    jobs = jobs_after_config_change(*workflow, "audio", hop_seconds=0.25)
    assert {"segment", "train", "render"} <= set(jobs)
    assert "download" not in jobs and "convert" not in jobs


def test_rendering_another_checkpoint_never_retrains(workflow):
    workdir, _ = workflow
    metrics = json.loads((workdir / "results" / "metrics.json").read_text())
    assert metrics["checkpoint"]["checkpoint"] == "best"  # the default, recorded for the gallery
    latest = jobs_after_config_change(*workflow, "render", checkpoint="latest")
    assert {"render", "evaluate"} <= set(latest) and "train" not in latest
    step = jobs_after_config_change(*workflow, "render", checkpoint=2)  # a kept checkpoint step
    assert {"generator_at_step", "render"} <= set(step) and "train" not in step


def test_render_count_change_reruns_only_rendering(workflow):
    jobs = jobs_after_config_change(*workflow, "render", count=4)
    assert "render" in jobs
    assert not {"download", "convert", "segment", "train"} & set(jobs)


@pytest.mark.parametrize(
    "module, must_rerun, must_not_rerun",
    [
        ("render.py", {"render"}, {"download", "convert", "segment", "train"}),
        ("segment.py", {"segment", "train", "render"}, {"download", "convert"}),
        ("model.py", {"train", "render"}, {"download", "convert", "segment"}),
        ("convert.py", {"convert", "segment", "train", "render"}, {"download"}),
        # The demo source writes its files through audio_io: its download (a checkpoint, whose
        # downstream jobs a dry run cannot list yet) reruns too.
        ("audio_io.py", {"download"}, set()),
    ],
)
def test_library_edit_reruns_the_stages_that_use_it(workflow, module, must_rerun, must_not_rerun):
    workdir, _ = workflow
    path = workdir / "src" / "audiogan" / module
    original = path.read_text()
    path.write_text(original + "\n# an edit\n")
    try:
        jobs = planned_jobs(workdir)
    finally:
        path.write_text(original)
    assert must_rerun <= set(jobs), jobs
    assert not must_not_rerun & set(jobs), jobs


def test_invalid_config_fails_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    write_config(workdir, {"sources": [{"name": "d", "kind": "demo"}], "audio": {"normalize": "loud"}})
    result = snakemake(workdir, "--cores", "1", "samples", check=False)
    assert result.returncode != 0
    assert "audio.normalize" in result.stderr and "'peak', 'loudness', 'none'" in result.stderr
    assert not (workdir / "results").exists()


def test_source_without_clips_fails_naming_it(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    bad = tmp_path / "only bad"
    bad.mkdir()
    (bad / "noise.mp3").write_bytes(b"not an mp3 at all")
    (bad / "short.wav").parent.mkdir(exist_ok=True)
    sf.write(bad / "short.wav", np.zeros(800, dtype=np.float32), 16000)  # 0.05 s: shorter than a clip
    config = {
        "sources": [
            {"name": "drums", "kind": "demo", "tracks": 1, "min_seconds": 3, "max_seconds": 3},
            {"name": "hopeless", "kind": "local", "path": str(bad)},
        ],
        "audio": {"clip_seconds": 1.0},
    }
    write_config(workdir, config)
    result = snakemake(workdir, "--cores", "2", "results/dataset/manifest.tsv", check=False)
    assert result.returncode != 0
    log = (workdir / "logs" / "dataset.log").read_text()  # the step that joins the shards checks
    assert "hopeless" in log
    assert not (workdir / "results" / "dataset" / "manifest.tsv").exists()


def test_lint_is_clean(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    shutil.copy(workdir / "config.yaml", workdir / "test-config.yaml")
    result = snakemake(workdir, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_rules_are_snakefmt_formatted():
    from workflow_helpers import REPO

    result = subprocess.run(
        ["snakefmt", "--check", "Snakefile", "rules"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
