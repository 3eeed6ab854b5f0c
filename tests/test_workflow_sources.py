"""Real sources mixed in one workflow run: demo + yt-dlp (against a local HTTP server) + a Common
Voice archive, through the real `snakemake` command up to the packed dataset."""

from __future__ import annotations

import subprocess

import pytest

from audiogan.tsv import read_tsv
from cv_fixtures import build_cv_archive
from http_fixtures import LocalServer
from workflow_helpers import copy_workflow, planned_jobs, snakemake, write_config

TARGET = "results/dataset/manifest.tsv"


def encode(text: str, out, *ffmpeg_args: str) -> None:
    wav = out.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), *ffmpeg_args, str(out)], check=True)
    wav.unlink()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    for folder in ("a", "b"):
        (root / folder).mkdir()
    # Two different files with the same basename, an AAC file libsndfile cannot read, one more for later.
    encode("one two three four five six seven", root / "a" / "take.mp3", "-ar", "32000")
    encode("the second take is a different recording", root / "b" / "take.mp3", "-ar", "48000")
    encode("an aac file from a phone", root / "memo.m4a", "-c:a", "aac", "-ar", "44100", "-ac", "2")
    encode("added later to the config", root / "later.mp3")
    with LocalServer(root) as server:
        yield server


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, site):
    workdir = copy_workflow(tmp_path_factory.mktemp("mixed"))
    archive = build_cv_archive(tmp_path_factory.mktemp("cv"))
    config = {
        "sources": [
            {"name": "drums", "kind": "demo", "tracks": 1, "min_seconds": 4, "max_seconds": 4},
            {
                "name": "web",
                "kind": "youtube",
                "urls": [site.url("a/take.mp3"), site.url("b/take.mp3"), site.url("memo.m4a"), site.url("gone.mp3")],
            },
            {"name": "speech", "kind": "common_voice", "archive": str(archive.path), "split": "validated"},
        ],
        "audio": {"clip_seconds": 1.0, "hop_seconds": 0.5, "min_level_dbfs": -70.0},
    }
    write_config(workdir, config)
    snakemake(workdir, "--cores", "2", TARGET)
    return workdir, config, archive


def test_manifest_says_where_each_clip_came_from(mixed_run, site):
    workdir, _, archive = mixed_run
    manifest = read_tsv(workdir / TARGET)
    by_source: dict[str, set[str]] = {}
    for row in manifest:
        by_source.setdefault(row["source"], set()).add(row["file"])
    assert set(by_source) == {"drums", "web", "speech"}
    # Downloaded items are named by their URL; both same-named files made it in.
    assert by_source["web"] == {site.url("a/take.mp3"), site.url("b/take.mp3"), site.url("memo.m4a")}
    # Only the selected split reaches the dataset.
    validated = {name for name in archive.clip_names("validated")}
    assert {name.rsplit("/", 1)[-1] for name in by_source["speech"]} <= validated
    assert not {name.rsplit("/", 1)[-1] for name in by_source["speech"]} & set(archive.clip_names("invalidated"))


def test_failed_download_is_recorded_and_the_run_went_on(mixed_run, site):
    workdir, _, _ = mixed_run
    rejects = read_tsv(workdir / "results" / "dataset" / "rejects.tsv")
    gone = [row for row in rejects if row["file"] == site.url("gone.mp3")]
    assert gone and gone[0]["source"] == "web" and "404" in gone[0]["reason"]


def test_added_url_fetches_only_itself_and_reruns_only_its_source(mixed_run, site):
    workdir, config, _ = mixed_run
    web = config["sources"][1]
    changed = {**config, "sources": [config["sources"][0], {**web, "urls": [*web["urls"], site.url("later.mp3")]}, config["sources"][2]]}
    write_config(workdir, changed)
    try:
        jobs = planned_jobs(workdir, TARGET)
        assert jobs.get("download") == 1  # only the web source
        site.clear()
        snakemake(workdir, "--cores", "2", TARGET)
        fetched = {path for path in site.paths() if path.endswith((".mp3", ".m4a"))}
        # Nothing fetched before is downloaded again; only the URL that failed is tried once more.
        assert fetched == {"/later.mp3", "/gone.mp3"}
        files = {row["file"] for row in read_tsv(workdir / TARGET)}
        assert site.url("later.mp3") in files
    finally:
        write_config(workdir, config)
