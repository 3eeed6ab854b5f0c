"""The local source: a folder searched recursively, plus the download stage's error for no items."""

from pathlib import Path

import pytest

from audio_fixtures import tone, write_file
from audiogan.sources import SourceError, _summarize, download, fetch_source
from audiogan.tsv import read_tsv


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "my sounds"
    write_file(root / "b.wav", tone(0.1, 8000), 8000)
    write_file(root / "a dir" / "kick one.flac", tone(0.1, 8000), 8000)
    write_file(root / "a dir" / "deeper" / "ünïcødé 音.wav", tone(0.1, 8000), 8000)
    (root / "LOUD.WAV").write_bytes((root / "b.wav").read_bytes())
    (root / "clip.m4a").write_bytes(b"not checked here")  # decoding is the convert stage's job
    (root / "notes.txt").write_text("not audio")
    (root / ".hidden.wav").write_bytes((root / "b.wav").read_bytes())
    (root / ".cache").mkdir()
    (root / ".cache" / "x.wav").write_bytes((root / "b.wav").read_bytes())
    (root / "empty dir.wav").mkdir()  # a folder with an audio-like name is not a file
    return root


def local(path, **extra):
    return {"name": "mine", "kind": "local", "path": str(path), **extra}


def test_recursive_sorted_relative_names(folder, tmp_path):
    result = fetch_source(local(folder, license="CC-BY-4.0"), tmp_path / "cache")
    files = [item.file for item in result.items]
    assert files == ["LOUD.WAV", "a dir/deeper/ünïcødé 音.wav", "a dir/kick one.flac", "b.wav", "clip.m4a"]
    for item in result.items:
        assert item.path.is_absolute() and item.path.is_file()
        assert item.path == (folder / item.file).resolve()
        assert item.license == "CC-BY-4.0"
    assert result.failures == []


def test_extensions_override_the_default_list(folder, tmp_path):
    result = fetch_source(local(folder, extensions=["flac", ".TXT"]), tmp_path / "cache")
    assert [item.file for item in result.items] == ["a dir/kick one.flac", "notes.txt"]


def test_home_relative_paths_are_expanded(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(folder.parent))
    result = fetch_source(local("~/my sounds"), tmp_path / "cache")
    assert len(result.items) == 5


def test_missing_folder_names_source_and_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(SourceError, match=r"source 'mine'.*nowhere.*does not exist"):
        fetch_source(local(missing), tmp_path / "cache")
    afile = tmp_path / "file.wav"
    afile.write_bytes(b"x")
    with pytest.raises(SourceError, match="is not a folder"):
        fetch_source(local(afile), tmp_path / "cache")


def test_folder_without_audio_is_an_error_and_writes_nothing(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.md").write_text("hi")
    items = tmp_path / "raw" / "items.tsv"
    with pytest.raises(SourceError, match=r"source 'mine': no audio files.*1 other files ignored"):
        download(local(tmp_path / "docs"), tmp_path / "cache", items, tmp_path / "raw" / "failures.tsv")
    assert not items.exists()


def test_download_writes_tables_for_a_folder(folder, tmp_path):
    download(local(folder), tmp_path / "cache", tmp_path / "items.tsv", tmp_path / "failures.tsv")
    rows = read_tsv(tmp_path / "items.tsv")
    assert list(rows[0]) == ["path", "file", "license", "size", "mtime_ns"]
    assert rows[1]["file"] == "a dir/deeper/ünïcødé 音.wav"
    stat = Path(rows[1]["path"]).stat()
    assert (int(rows[1]["size"]), int(rows[1]["mtime_ns"])) == (stat.st_size, stat.st_mtime_ns)
    assert read_tsv(tmp_path / "failures.tsv") == []


def test_failure_summary_names_counts_and_examples():
    failures = [(f"https://example.org/{i}", f"HTTP {400 + i}") for i in range(5)]
    text = _summarize(failures)
    assert text.startswith("5 failed: https://example.org/0: HTTP 400; ")
    assert text.endswith("; and 2 more")
    assert _summarize([]) == "nothing found"


def test_tabs_and_newlines_in_names_keep_each_file_its_own_audio(tmp_path):
    """`x<TAB>y.wav` (100 Hz) beside `x y.wav` (3 kHz): two different clips, not two copies of one;
    a name with a newline converts too (the TSVs encode such characters reversibly)."""
    import numpy as np

    from audio_fixtures import dominant_frequency
    from audiogan.convert import convert_shard
    from audiogan.dataset import samples_to_float32

    root = tmp_path / "odd"
    write_file(root / "x\ty.wav", tone(1.0, 16000, freq=100.0), 16000)
    write_file(root / "x y.wav", tone(1.0, 16000, freq=3000.0), 16000)
    write_file(root / "new\nline.wav", tone(1.0, 16000, freq=1000.0), 16000)
    write_file(root / "back\\slash\\t.wav", tone(1.0, 16000, freq=500.0), 16000)
    raw, out = tmp_path / "raw", tmp_path / "converted"
    download(local(root), tmp_path / "cache", raw / "items.tsv", raw / "failures.tsv")
    convert_shard(raw / "items.tsv", 16000, out / "a.npy", out / "a.tsv", out / "a.rejects.tsv")

    assert read_tsv(out / "a.rejects.tsv") == []
    audio = samples_to_float32(np.load(out / "a.npy"))
    heard = {row["file"]: dominant_frequency(audio[int(row["start"]):int(row["start"]) + int(row["length"])], 16000)
             for row in read_tsv(out / "a.tsv")}
    assert set(heard) == {"x\ty.wav", "x y.wav", "new\nline.wav", "back\\slash\\t.wav"}
    assert abs(heard["x\ty.wav"] - 100) < 5 and abs(heard["x y.wav"] - 3000) < 5
    assert abs(heard["new\nline.wav"] - 1000) < 5 and abs(heard["back\\slash\\t.wav"] - 500) < 5
    # Each row stays one line in the file itself.
    assert len((out / "a.tsv").read_text(encoding="utf-8").splitlines()) == 1 + 4


def test_broken_link_and_non_utf8_name_are_recorded_not_crashing(tmp_path):
    """A dangling symlink and a file whose name is not UTF-8 are failures naming the file;
    the good file beside them is kept, and the folder's fingerprint is computed."""
    import os

    from audiogan.sources.local import folder_fingerprint

    root = tmp_path / "odd"
    write_file(root / "good.wav", tone(0.5, 8000), 8000)
    (root / "gone.wav").symlink_to(root / "deleted.wav")
    bad_name = os.fsdecode(b"caf\xe9.wav")  # latin-1 bytes, as an old tool writes them
    os.rename(write_file(root / "tmp.wav", tone(0.5, 8000), 8000), root / bad_name)
    (root / "gone.txt").symlink_to(root / "nowhere.txt")  # not audio: ignored like any other file
    raw = tmp_path / "raw"

    fingerprint = folder_fingerprint(root)
    download(local(root), tmp_path / "cache", raw / "items.tsv", raw / "failures.tsv")

    assert [r["file"] for r in read_tsv(raw / "items.tsv")] == ["good.wav"]
    failures = {r["file"]: r["reason"] for r in read_tsv(raw / "failures.tsv")}
    assert set(failures) == {"gone.wav", "caf\\xe9.wav"}
    assert failures["gone.wav"].startswith("broken symbolic link") and "deleted.wav" in failures["gone.wav"]
    assert "not valid UTF-8" in failures["caf\\xe9.wav"]
    # The fingerprint takes such names too, and sees a file with one added.
    os.rename(write_file(root / "tmp.wav", tone(0.5, 8000), 8000), root / os.fsdecode(b"\xff.wav"))
    assert folder_fingerprint(root) != fingerprint


def test_labels_from_sub_folders_and_the_source_label(tmp_path):
    """Issue 10: `labels: folders` labels by first-level sub-folder; top-level files get `label`."""
    root = tmp_path / "kit"
    for name in ("kick/a.wav", "kick/deeper/b.wav", "snare/c.wav", "top.wav", "bad name/d.wav"):
        write_file(root / name, tone(0.1, 8000), 8000)
    raw = tmp_path / "raw"
    download(local(root, labels="folders", label="misc"), tmp_path / "cache", raw / "items.tsv",
             raw / "failures.tsv", raw / "shards", raw / "shards.tsv")  # fmt: skip
    rows = read_tsv(raw / "items.tsv")
    assert {row["file"]: row["label"] for row in rows} == {
        "kick/a.wav": "kick", "kick/deeper/b.wav": "kick", "snare/c.wav": "snare", "top.wav": "misc"}  # fmt: skip
    [(file, reason)] = [(r["file"], r["reason"]) for r in read_tsv(raw / "failures.tsv")]
    assert file == "bad name/d.wav" and "'bad name'" in reason and "not a valid label" in reason
    listed = [row for listing in sorted((raw / "shards").glob("shard_*.tsv")) for row in read_tsv(listing)]
    assert sorted((row["file"], row["label"]) for row in listed) == sorted((r["file"], r["label"]) for r in rows)

    download(local(root, labels="folders"), tmp_path / "cache", raw / "items.tsv", raw / "failures.tsv")
    assert {row["file"]: row["label"] for row in read_tsv(raw / "items.tsv")}["top.wav"] == ""


def test_a_label_keeps_shards_and_an_unlabelled_source_keeps_its_listings(tmp_path):
    """Shard membership follows the file name alone; without any label the rows have no label column."""
    root = tmp_path / "kit"
    for n in range(12):
        write_file(root / f"f{n}.wav", tone(0.1, 8000), 8000)

    def shards(tag, **extra):
        raw = tmp_path / tag
        download(local(root, **extra), tmp_path / "cache", raw / "items.tsv", raw / "failures.tsv",
                 raw / "shards", raw / "shards.tsv", shard_bytes=3000)  # fmt: skip
        return {p.name: [r["file"] for r in read_tsv(p)] for p in (raw / "shards").glob("shard_*.tsv")}, raw

    plain, raw = shards("plain")
    labelled, labelled_raw = shards("labelled", label="hits")
    assert len(plain) > 1 and plain == labelled
    assert "label" not in read_tsv(raw / "items.tsv")[0]
    assert {r["label"] for r in read_tsv(labelled_raw / "items.tsv")} == {"hits"}


@pytest.mark.slow
def test_two_folders_become_a_labelled_one_shot_dataset(tmp_path):
    """Issue 10 end to end: kick/ and snare/ folders of short takes (two hits each) -> a dataset of
    one-shot clips labelled by folder, starting on their hits."""
    import json

    import numpy as np
    import soundfile as sf

    from audiogan.dataset import clip_labels, open_clips
    from audiogan.sources.demo import ONESHOT_LABELS, SAMPLE_RATE, synthesize_oneshot
    from workflow_helpers import copy_workflow, snakemake, write_config

    kit = tmp_path / "kit"
    second_hit = {}  # file -> where its second take starts (s)
    for label in ("kick", "snare"):
        first = ONESHOT_LABELS.index(label)
        for take in range(4):
            hits = [synthesize_oneshot(0, first + len(ONESHOT_LABELS) * (2 * take + k))[0] for k in range(2)]
            gap = np.zeros(int(0.3 * SAMPLE_RATE), np.float32)
            (kit / label).mkdir(parents=True, exist_ok=True)
            sf.write(kit / label / f"take{take}.wav", np.concatenate([hits[0], gap, hits[1]]), SAMPLE_RATE)
            second_hit[f"{label}/take{take}.wav"] = (len(hits[0]) + len(gap)) / SAMPLE_RATE
    workdir = copy_workflow(tmp_path / "repo")
    write_config(workdir, {"sources": [{"name": "kit", "kind": "local", "path": str(kit), "labels": "folders"}],
                           "audio": {"clip_seconds": 0.5, "segment": "onsets"}})  # fmt: skip
    snakemake(workdir, "--cores", "1", "results/dataset/manifest.tsv")
    manifest = read_tsv(workdir / "results" / "dataset" / "manifest.tsv")
    summary = json.loads((workdir / "results" / "dataset" / "summary.json").read_text())
    counts = summary["clips_per_label"]
    assert set(counts) == {"kick", "snare"} and min(counts.values()) >= 8 and summary["warnings"] == []
    assert all(row["label"] == row["file"].split("/")[0] for row in manifest)
    for file, when in second_hit.items():
        starts = [float(row["offset_s"]) for row in manifest if row["file"] == file]
        assert starts[0] == 0.0  # the first hit starts within the pre-roll of the file's start
        # A clip starts within 5 ms of the second hit (its own silent lead-in of up to 2 ms included).
        assert min(abs(start + 0.005 - when) for start in starts) < 0.005, (file, starts, when)
    ids, names = clip_labels(workdir / "results" / "dataset" / "manifest.tsv")
    clips = open_clips(workdir / "results" / "dataset" / "clips.json")
    assert names == ["kick", "snare"] and len(ids) == len(clips) == len(manifest) == sum(counts.values())
    assert [names[i] for i in ids] == [row["label"] for row in manifest]


def test_links_to_files_resolve_and_links_to_folders_are_not_followed(tmp_path):
    """The listing walks folders with one `scandir` each and resolves only symbolic links: a link
    to a file is listed under its own name with its target's path, a link to a folder is not
    entered (as `Path.rglob` never did), and neither are hidden folders."""
    elsewhere = tmp_path / "elsewhere"
    target = write_file(elsewhere / "target.wav", tone(0.1, 8000), 8000)
    root = tmp_path / "root"
    write_file(root / "z" / "plain.wav", tone(0.1, 8000), 8000)
    (root / "link.wav").symlink_to(target)
    (root / "linked folder").symlink_to(elsewhere, target_is_directory=True)
    (root / ".hidden dir" / "sub").mkdir(parents=True)
    (root / ".hidden dir" / "sub" / "x.wav").write_bytes(target.read_bytes())
    (root / "no suffix").write_bytes(target.read_bytes())
    (root / "dot.").write_bytes(target.read_bytes())

    result = fetch_source(local(root), tmp_path / "cache")

    assert [item.file for item in result.items] == ["link.wav", "z/plain.wav"]
    assert result.items[0].path == target.resolve()
    assert result.items[1].path == (root / "z" / "plain.wav").resolve()
    assert result.failures == []
