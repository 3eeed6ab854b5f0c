"""The demo source: deterministic synthesized drum loops in rotating formats, cached by params, and
labelled one-shots (as files for the workflow, as arrays for the quality benchmark)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogan.config import ConfigError, source_defaults, validate_config
from audiogan.dataset import clip_labels, open_clips
from audiogan.features import log_mel_spectrogram
from audiogan.loudness import peak_dbfs, rms_dbfs
from audiogan.sources import demo as demo_module
from audiogan.sources import download, fetch_source
from audiogan.sources.demo import (
    LICENSE,
    ONESHOT_LABELS,
    SAMPLE_RATE,
    fit_with_fade,
    oneshot_clips,
    plan_track,
    synthesize_oneshot,
    synthesize_track,
)
from audiogan.tsv import read_tsv


def demo(seed=0, tracks=4, low=2.0, high=3.0):
    return {"name": "drums", "kind": "demo", "tracks": tracks, "seed": seed, "min_seconds": low, "max_seconds": high}


def decoded(result):
    return [sf.read(item.path, dtype="float32")[0] for item in result.items]


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo_a")
    return folder, fetch_source(demo(), folder)


def test_formats_rate_channels_and_durations(first):
    _, result = first
    assert [item.file for item in result.items] == ["track_00.wav", "track_01.flac", "track_02.mp3", "track_03.ogg"]
    for item, fmt in zip(result.items, ["WAV", "FLAC", "MP3", "OGG"]):
        info = sf.info(str(item.path))
        assert item.path.is_absolute() and item.path.name == item.file
        assert item.license == LICENSE
        assert (info.format, info.samplerate, info.channels) == (fmt, 44100, 2)
        # lossy encoders pad by a few milliseconds
        assert 2.0 - 0.01 <= info.duration <= 3.0 + 0.1
        if fmt in ("WAV", "FLAC"):
            assert info.duration == pytest.approx(float(item.extra["seconds"]), abs=0.006)
        assert 80 <= float(item.extra["tempo_bpm"]) <= 140


def test_tracks_are_stereo_drum_audio_not_silence(first):
    _, result = first
    for audio in decoded(result):
        assert np.isfinite(audio).all()
        assert -6.5 <= peak_dbfs(audio) <= -0.5  # the random master level
        assert not np.allclose(audio[:, 0], audio[:, 1], atol=1e-3)  # panning and room: real stereo
        # Drums are percussive: loudness swings a lot between 50 ms frames (noise or a drone would not).
        frames = audio[: audio.shape[0] // 2205 * 2205].mean(axis=1).reshape(-1, 2205)
        levels = rms_dbfs(frames)
        assert np.percentile(levels, 90) - np.percentile(levels, 10) > 10


def test_same_seed_gives_identical_audio_and_other_seed_differs(first, tmp_path):
    _, result = first
    again = fetch_source(demo(), tmp_path / "b")
    for a, b in zip(decoded(result), decoded(again)):
        np.testing.assert_array_equal(a, b)
    other = fetch_source(demo(seed=1), tmp_path / "c")
    for a, b in zip(decoded(result), decoded(other)):
        assert a.shape != b.shape or not np.allclose(a, b)


def test_synthesis_is_deterministic_in_samples():
    a, b = synthesize_track(5, 3, 1.0, 2.0), synthesize_track(5, 3, 1.0, 2.0)
    assert a.dtype == np.float32 and a.shape[1] == 2
    assert a.shape[0] == round(plan_track(5, 3, 1.0, 2.0).seconds * SAMPLE_RATE)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[:44100], synthesize_track(5, 4, 1.0, 2.0)[:44100])


def test_tracks_vary_in_style_and_tempo():
    plans = [plan_track(0, index, 20, 60) for index in range(16)]
    assert len({plan.style for plan in plans}) >= 3
    assert len({round(plan.tempo) for plan in plans}) >= 8
    assert all(20 <= plan.seconds <= 60 for plan in plans)


def test_cached_tracks_are_reused_and_params_get_their_own_folder(first):
    folder, result = first
    stamps = [item.path.stat().st_mtime_ns for item in result.items]
    again = fetch_source(demo(), folder)
    assert [item.path for item in again.items] == [item.path for item in result.items]
    assert [item.path.stat().st_mtime_ns for item in again.items] == stamps
    more = fetch_source(demo(tracks=5), folder)  # one more track: the first four are reused
    assert [item.path for item in more.items][:4] == [item.path for item in result.items]
    assert [item.path.stat().st_mtime_ns for item in more.items][:4] == stamps
    longer = fetch_source(demo(low=1.0), folder)
    assert longer.items[0].path.parent != result.items[0].path.parent
    assert not any(p.name.startswith(".") for p in result.items[0].path.parent.iterdir())  # no temp files


def test_download_writes_items_and_failures_tables(first, tmp_path):
    folder, _ = first
    download(demo(), folder, tmp_path / "raw" / "items.tsv", tmp_path / "raw" / "failures.tsv")
    header = (tmp_path / "raw" / "items.tsv").read_text().splitlines()[0].split("\t")
    assert header == ["path", "file", "license", "style", "tempo_bpm", "seconds", "size", "mtime_ns"]
    rows = read_tsv(tmp_path / "raw" / "items.tsv")
    assert [row["file"] for row in rows] == ["track_00.wav", "track_01.flac", "track_02.mp3", "track_03.ogg"]
    assert all(row["license"] == LICENSE for row in rows)
    assert (tmp_path / "raw" / "failures.tsv").read_text() == "file\treason\n"


def test_a_long_ogg_track_is_written_without_crashing(tmp_path):
    # libsndfile 1.2's Vorbis encoder segfaults when handed ~a minute of audio in one write call;
    # the demo writes in blocks. Run in a child process so a regression fails this test, not pytest.
    code = (
        "import sys; from pathlib import Path; from audiogan.sources import demo; "
        "demo._write_track(0, 3, 60.0, 60.0, Path(sys.argv[1]))"
    )
    target = tmp_path / "track_03.ogg"
    env = {**os.environ, "PYTHONPATH": str(Path(demo_module.__file__).resolve().parents[2])}
    result = subprocess.run([sys.executable, "-c", code, str(target)], env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    info = sf.info(str(target))
    assert (info.format, info.channels) == ("OGG", 2)
    assert info.duration == pytest.approx(60.0, abs=0.05)


# -- one-shots -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hits():
    return oneshot_clips(36, seed=3, sample_rate=16000, clip_samples=16384)


def test_oneshots_are_balanced_labelled_clips_starting_at_the_hit(hits):
    clips, labels = hits
    assert clips.shape == (36, 16384) and clips.dtype == np.float32 and np.isfinite(clips).all()
    assert labels == list(ONESHOT_LABELS) * 6
    for clip in clips:
        peak = np.abs(clip).max()
        assert -12.5 <= peak_dbfs(clip) <= -0.9
        first = int(np.argmax(np.abs(clip) > 0.1 * peak))
        assert first <= 0.004 * 16000  # the hit starts within a few ms of the clip's start
        assert np.abs(clip[-16:]).max() < 1e-3 * peak + 1e-6  # hits end (or fade) before the clip does


def test_oneshots_are_deterministic_prefix_stable_and_seeded(hits):
    clips, labels = hits
    again, again_labels = oneshot_clips(8, seed=3, sample_rate=16000, clip_samples=16384)
    np.testing.assert_array_equal(again, clips[:8])
    assert again_labels == labels[:8]
    other, _ = oneshot_clips(8, seed=4, sample_rate=16000, clip_samples=16384)
    assert not any(np.allclose(a, b) for a, b in zip(other, again))


def test_oneshot_labels_sound_different_and_kits_vary(hits):
    clips, labels = hits
    spec = log_mel_spectrogram(clips, 16000)  # [n, 40 bands, frames], dB
    power = 10 ** (spec / 10)
    centroid = (power.sum(axis=2) * np.arange(spec.shape[1])).sum(axis=1) / power.sum(axis=(1, 2))
    by_label = {name: centroid[[i for i, label in enumerate(labels) if label == name]] for name in ONESHOT_LABELS}
    # Hats are bright, kicks and toms dark: the mel-band centroids of every hat exceed every kick's.
    assert by_label["closed_hat"].min() > by_label["kick"].max()
    assert by_label["open_hat"].min() > by_label["tom"].max()
    # Open hats ring longer than closed ones (energy in the second half of the first 0.5 s).
    late = power[:, :, 31:62].sum(axis=(1, 2)) / power[:, :, :62].sum(axis=(1, 2))
    opened = late[[i for i, label in enumerate(labels) if label == "open_hat"]]
    closed = late[[i for i, label in enumerate(labels) if label == "closed_hat"]]
    assert opened.min() > closed.max()
    # Every kit is its own: no two hits of a label alike, and the levels spread over several dB.
    for name in ONESHOT_LABELS:
        same = clips[[i for i, label in enumerate(labels) if label == name]]
        assert np.std(by_label[name]) > 0
        assert np.ptp([peak_dbfs(clip) for clip in same]) > 2.0


def test_fit_with_fade_pads_or_fades_a_cut_end():
    audio = np.ones(1000, np.float32)
    padded = fit_with_fade(audio, 1500, 1000)
    assert padded.shape == (1500,) and padded[:1000].min() == 1.0 and padded[1000:].max() == 0.0
    cut = fit_with_fade(audio, 500, 1000)  # 10 ms fade at 1 kHz: the last 10 samples ramp down
    assert cut.shape == (500,) and cut[490] == 1.0 and cut[-1] == 0.0
    assert np.all(np.diff(cut[490:]) < 0)


def oneshot_source(hits=8, seconds=0.5, seed=0):
    return {"name": "hits", "kind": "demo", "content": "oneshots", "hits": hits, "hit_seconds": seconds, "seed": seed}


def test_oneshot_source_writes_labelled_wavs_and_reuses_them(tmp_path):
    download(oneshot_source(), tmp_path / "cache", tmp_path / "raw" / "items.tsv", tmp_path / "raw" / "failures.tsv")
    header = (tmp_path / "raw" / "items.tsv").read_text().splitlines()[0].split("\t")
    assert header == ["path", "file", "license", "label", "size", "mtime_ns"]
    rows = read_tsv(tmp_path / "raw" / "items.tsv")
    assert [row["label"] for row in rows] == list(ONESHOT_LABELS) + ["kick", "snare"]
    stamps = []
    for row in rows:
        audio, rate = sf.read(row["path"], dtype="float32")
        assert rate == SAMPLE_RATE and audio.ndim == 1 and audio.shape[0] == round(0.5 * SAMPLE_RATE)
        assert row["label"] in row["file"] and row["license"] == LICENSE
        peak = np.abs(audio).max()
        assert peak > 0.2 and np.argmax(np.abs(audio) > 0.1 * peak) <= 0.004 * SAMPLE_RATE
        stamps.append(Path(row["path"]).stat().st_mtime_ns)
    again = fetch_source(oneshot_source(hits=10), tmp_path / "cache")  # two more: the first eight are reused
    assert [item.path.stat().st_mtime_ns for item in again.items][:8] == stamps
    assert len(again.items) == 10


def test_schema_knows_demo_content_and_fills_its_defaults():
    config = validate_config({"sources": [{"name": "drums", "kind": "demo"}, oneshot_source()]})
    loops, oneshots = config["sources"]
    assert loops["content"] == "loops" and oneshots["content"] == "oneshots"
    assert {key: loops[key] for key in source_defaults("demo")} == {**source_defaults("demo"), "content": "loops"}
    with pytest.raises(ConfigError) as error:
        validate_config({"sources": [{"name": "drums", "kind": "demo", "content": "beats"}]})
    assert "sources[0](drums).content" in str(error.value) and "'oneshots'" in str(error.value)


def test_every_demo_voice_ends_without_a_click():
    # A kick or tom still rings where its sample stops: without the fade that is a click, which
    # onset detection (and a listener) takes for one more hit.
    for index in range(12):
        hit, label = synthesize_oneshot(4, index)
        assert np.abs(hit[-44:]).max() <= 0.01 * np.abs(hit).max(), label


@pytest.mark.slow
def test_oneshots_run_through_the_data_stages(tmp_path):
    from workflow_helpers import copy_workflow, snakemake, write_config

    workdir = copy_workflow(tmp_path / "repo")
    write_config(workdir, {"sources": [oneshot_source(hits=12, seconds=1.0)], "audio": {"clip_seconds": 1.0}})
    snakemake(workdir, "--cores", "1", "results/dataset/manifest.tsv")
    items = read_tsv(workdir / "results" / "raw" / "hits" / "items.tsv")
    assert [row["label"] for row in items] == list(ONESHOT_LABELS) * 2
    manifest = read_tsv(workdir / "results" / "dataset" / "manifest.tsv")
    assert sorted(row["file"] for row in manifest) == sorted(row["file"] for row in items)  # one clip per hit
    assert all(float(row["offset_s"]) == 0.0 for row in manifest)
    # Issue 10: the label travels items.tsv -> listings -> converted index -> segment -> dataset manifest.
    label_of = {row["file"]: row["label"] for row in items}
    assert [row["label"] for row in manifest] == [label_of[row["file"]] for row in manifest]
    summary = json.loads((workdir / "results" / "dataset" / "summary.json").read_text())
    assert summary["clips_per_label"] == {label: 2 for label in ONESHOT_LABELS}
    assert any("has only 2 clips" in warning for warning in summary["warnings"])  # 2 < 8: tiny classes
    ids, names = clip_labels(workdir / "results" / "dataset" / "manifest.tsv")
    assert names == sorted(ONESHOT_LABELS) and [names[i] for i in ids] == [row["label"] for row in manifest]
    clips = open_clips(workdir / "results" / "dataset" / "clips.json")
    assert clips.shape == (12, 16000)
    clips = clips[:]
    assert (np.abs(clips[:, : round(0.004 * 16000)]).max(axis=1) > 0.05).all()  # each clip starts on its hit
