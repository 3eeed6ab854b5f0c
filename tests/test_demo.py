"""The demo source: deterministic synthesized drum loops in rotating formats, cached by params."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogan.loudness import peak_dbfs, rms_dbfs
from audiogan.sources import demo as demo_module
from audiogan.sources import download, fetch_source
from audiogan.sources.demo import LICENSE, SAMPLE_RATE, plan_track, synthesize_track
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
