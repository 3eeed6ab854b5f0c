"""segment_shard + index_dataset: clip boundaries, silence, normalization, rejects, manifest and summary."""

import json

import numpy as np
import pytest

from audio_fixtures import tone, write_failures, write_shard
from audiogan.loudness import (
    integrated_loudness,
    loudness_normalize,
    normalize,
    peak_dbfs,
    peak_normalize,
    rms_dbfs,
)
from audiogan.dataset import clip_labels, open_clips
from audiogan.segment import DatasetError, clip_levels, index_dataset, segment_shard
from audiogan.tsv import read_tsv

RATE = 8000
AUDIO = {"sample_rate": RATE, "clip_seconds": 1.0, "hop_seconds": 0.5, "normalize": "none",
         "peak_dbfs": -1.0, "loudness_lufs": -16.0, "min_level_dbfs": -50.0}  # fmt: skip


def ramp(seconds, rate=RATE):
    """A signal whose value tells its own position (so a clip shows where it was cut)."""
    return (np.arange(int(round(seconds * rate)), dtype=np.float32) / (seconds * rate) * 0.9 + 0.05)


def build(tmp_path, layout, **audio):
    """The segment stage as the workflow runs it: one job per shard, then the index step."""
    audio = {**AUDIO, **audio}
    for entry_ in layout:
        for shard in entry_["shards"]:
            stem = shard["audio"][: -len(".npy")]
            segmented = {"clips": f"{stem}.clips.npy", "manifest": f"{stem}.manifest.tsv",
                         "rejects": f"{stem}.seg-rejects.tsv", "stats": f"{stem}.json"}  # fmt: skip
            segment_shard(shard, audio, *segmented.values())
            shard.update(segmented)
    out = {name: tmp_path / "dataset" / name
           for name in ("clips.json", "clip_index.npy", "manifest.tsv", "rejects.tsv", "summary.json")}  # fmt: skip
    index_dataset(layout, audio, *out.values())
    clips = open_clips(out["clips.json"])
    return (clips, read_tsv(out["manifest.tsv"]), read_tsv(out["rejects.tsv"]),
            json.loads(out["summary.json"].read_text()))  # fmt: skip


def entry(tmp_path, name, shards, failures=()):
    return {
        "name": name,
        "shards": [write_shard(tmp_path / name, f"shard_{k}", items, rejects=rejects)
                   for k, (items, rejects) in enumerate(shards)],  # fmt: skip
        "failures": write_failures(tmp_path / name / "failures.tsv", list(failures)),
    }


def test_clip_offsets_hop_and_dropped_tail(tmp_path):
    signal = ramp(3.3)
    layout = [entry(tmp_path, "s", [({"a.wav": signal}, [])])]
    clips, manifest, rejects, summary = build(tmp_path, layout)
    # 1 s clips every 0.5 s from 3.3 s: starts 0, 0.5, 1, 1.5, 2 (2.5 would end at 3.5 > 3.3)
    assert [float(row["offset_s"]) for row in manifest] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert clips.shape == (5, RATE) and clips.dtype == np.float32
    for k, row in enumerate(manifest):
        start = int(float(row["offset_s"]) * RATE)
        np.testing.assert_array_equal(clips[k], signal[start : start + RATE])
        assert (row["index"], row["source"], row["file"], row["license"]) == (str(k), "s", "a.wav", "CC0-1.0")
    assert rejects == []
    assert summary["clips"] == 5 and summary["clips_per_source"] == {"s": 5}
    assert summary["total_seconds"] == 5.0
    assert summary["audio"]["clip_samples"] == RATE and summary["audio"]["hop_samples"] == RATE // 2


def test_hop_longer_than_clip_and_exact_rounding(tmp_path):
    signal = ramp(3.8)
    layout = [entry(tmp_path, "s", [({"a.wav": signal}, [])])]
    clips, manifest, _, _ = build(tmp_path, layout, hop_seconds=1.5, clip_seconds=0.70001)
    assert clips.shape == (3, 5600)  # round(0.70001 * 8000) samples; starts 0, 1.5, 3.0 s
    assert [float(row["offset_s"]) for row in manifest] == [0.0, 1.5, 3.0]
    np.testing.assert_array_equal(clips[1], signal[12000:17600])
    np.testing.assert_array_equal(clips[2], signal[24000:29600])


def test_clip_levels_match_direct_rms():
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(10_000) * np.linspace(0.001, 0.5, 10_000)).astype(np.float32)
    offsets, levels = clip_levels(audio, 1000, 700)
    assert offsets.tolist() == list(range(0, 9001, 700))
    expected = [rms_dbfs(audio[o : o + 1000]) for o in offsets]
    np.testing.assert_allclose(levels, expected, atol=1e-4)
    assert clip_levels(audio[:999], 1000, 700)[0].size == 0
    assert clip_levels(audio[:1000], 1000, 700)[0].tolist() == [0]


def test_short_items_silence_and_merged_rejects(tmp_path):
    quiet = np.concatenate([tone(1.0, RATE, 200, 0.5), np.zeros(2 * RATE, np.float32)])
    layout = [
        entry(
            tmp_path, "mix",
            [({"loud.wav": tone(2.0, RATE, 300, 0.5), "short.wav": tone(0.5, RATE)}, [("bad.ogg", "not decodable")]),
             ({"silent.wav": np.zeros(3 * RATE, np.float32), "half.wav": quiet}, [])],
            failures=[("https://x.org/v", "HTTP Error 404")],
        )
    ]  # fmt: skip
    clips, manifest, rejects, summary = build(tmp_path, layout)
    assert [(row["file"], row["offset_s"]) for row in manifest] == [
        ("loud.wav", "0.0"), ("loud.wav", "0.5"), ("loud.wav", "1.0"),
        ("half.wav", "0.0"), ("half.wav", "0.5")]  # fmt: skip  (half.wav 1.0..2.0 is silent: dropped)
    assert np.isfinite(clips).all()
    by_file = {row["file"]: row for row in rejects}
    assert set(by_file) == {"https://x.org/v", "bad.ogg", "short.wav", "silent.wav"}
    assert all(row["source"] == "mix" for row in rejects)
    assert by_file["https://x.org/v"]["reason"] == "download: HTTP Error 404"
    assert by_file["bad.ogg"]["reason"] == "convert: not decodable"
    assert by_file["short.wav"]["reason"] == "shorter than one clip (0.50 s)"
    assert by_file["silent.wav"]["reason"].startswith("silent: all 5 clips below -50 dBFS")
    source = summary["sources"]["mix"]
    assert source["rejected"] == {"download": 1, "convert": 1, "too_short": 1, "silent": 1}
    assert source["silent_clips"] == 5 + 3  # silent.wav's five and half.wav's last three
    assert source["items"] == 4 and source["clips"] == 5
    assert summary["rejected"]["silent"] == 1


def test_levels_in_manifest_are_before_normalization(tmp_path):
    signal = tone(2.0, RATE, 250, 0.1)
    layout = [entry(tmp_path, "s", [({"a.wav": signal}, [])])]
    clips, manifest, _, _ = build(tmp_path, layout, normalize="peak", peak_dbfs=-3.0)
    for row in manifest:
        assert float(row["level_dbfs"]) == pytest.approx(rms_dbfs(signal[:RATE]), abs=0.01)  # about -23 dBFS
    for clip in clips:
        assert peak_dbfs(clip) == pytest.approx(-3.0, abs=0.01)


def test_peak_normalization_hits_the_target(tmp_path):
    rng = np.random.default_rng(3)
    items = {f"n{i}.wav": (rng.standard_normal(3 * RATE) * 10 ** (-i)).astype(np.float32) for i in range(3)}
    clips, _, _, _ = build(tmp_path, [entry(tmp_path, "s", [(items, [])])], normalize="peak", peak_dbfs=-1.0)
    assert len(clips) == 15
    for clip in clips:
        assert peak_dbfs(clip) == pytest.approx(-1.0, abs=0.01)


def test_loudness_normalization_within_half_a_lu(tmp_path):
    rate = 16000
    rng = np.random.default_rng(4)
    items = {
        "noise.wav": (rng.standard_normal(3 * rate) * 0.02).astype(np.float32),
        "tone.wav": tone(3.0, rate, 1000, 0.3),
    }
    clips, _, _, _ = build(tmp_path, [entry(tmp_path, "s", [(items, [])])],
                           sample_rate=rate, normalize="loudness", loudness_lufs=-20.0)  # fmt: skip
    assert len(clips) == 10
    for clip in clips:
        assert integrated_loudness(np.asarray(clip), rate) == pytest.approx(-20.0, abs=0.5)


def test_silence_never_gives_nan(tmp_path):
    # Digital silence is always dropped (its level is -inf); a whisper 400 dB down is kept when the
    # floor allows it, and no normalization mode may turn it into NaN or inf.
    whisper = tone(2.0, RATE, 300, 1e-20)
    for mode in ("peak", "loudness", "none"):
        clips, manifest, _, _ = build(tmp_path, [entry(tmp_path, "s", [({"z.wav": whisper}, [])])],
                                      normalize=mode, min_level_dbfs=-1000.0)  # fmt: skip
        assert len(clips) == 3 and np.isfinite(clips).all()
        assert float(manifest[0]["level_dbfs"]) == pytest.approx(rms_dbfs(whisper[:RATE]), abs=0.01)
    for mode in ("peak", "loudness", "none"):
        assert np.array_equal(normalize(np.zeros((2, 8000), np.float32), mode, 8000), np.zeros((2, 8000)))
    assert not np.isnan(loudness_normalize(np.zeros(100, np.float32), 16000)).any()
    assert not np.isnan(peak_normalize(np.zeros(100, np.float32))).any()
    short = tone(0.2, 16000, 500, 0.01)  # under 0.4 s: matched on RMS instead of BS.1770
    assert rms_dbfs(loudness_normalize(short, 16000, -20.0)) == pytest.approx(-20.0, abs=0.01)


def test_normalize_modes_and_clipping():
    loud = np.array([0.0, 3.0, -2.0], np.float32)
    np.testing.assert_array_equal(normalize(loud, "none"), [0.0, 1.0, -1.0])
    batch = np.stack([tone(0.5, 16000, 300, 0.1), tone(0.5, 16000, 300, 0.8)])
    for row in normalize(batch, "peak", peak_dbfs=-6.0):
        assert peak_dbfs(row) == pytest.approx(-6.0, abs=0.01)
    assert np.max(np.abs(normalize(tone(1.0, 16000, 300, 0.5), "loudness", 16000, lufs=0.0))) <= 1.0
    with pytest.raises(ValueError, match="unknown mode 'loud'"):
        normalize(loud, "loud")


def test_source_without_clips_is_an_error_and_nothing_is_written(tmp_path):
    layout = [
        entry(tmp_path, "good", [({"a.wav": tone(2.0, RATE)}, [])]),
        entry(tmp_path, "tiny", [({"b.wav": tone(0.3, RATE)}, [("c.mp3", "bad")]), ({}, [])],
              failures=[("u", "gone")]),  # fmt: skip
    ]
    with pytest.raises(DatasetError, match=r"source 'tiny': no clips .*1 shorter than one clip.*1 not decodable"):
        build(tmp_path, layout)
    assert not (tmp_path / "dataset").exists() or not any((tmp_path / "dataset").iterdir())


def test_several_sources_and_shards_in_layout_order(tmp_path):
    layout = [
        entry(tmp_path, "one", [({"a.wav": tone(1.0, RATE)}, []), ({"b.wav": tone(1.5, RATE)}, [])]),
        entry(tmp_path, "two", [({"c.wav": tone(1.0, RATE)}, [])]),
    ]
    clips, manifest, _, summary = build(tmp_path, layout)
    assert [(row["source"], row["file"]) for row in manifest] == [
        ("one", "a.wav"), ("one", "b.wav"), ("one", "b.wav"), ("two", "c.wav")]  # fmt: skip
    assert [row["index"] for row in manifest] == ["0", "1", "2", "3"]
    assert summary["clips_per_source"] == {"one": 3, "two": 1}
    assert clips.shape == (4, RATE)


def test_inconsistent_shard_index_is_reported(tmp_path):
    layout = [entry(tmp_path, "s", [({"a.wav": tone(2.0, RATE)}, [])])]
    index = layout[0]["shards"][0]["index"]
    with open(index, "a") as handle:
        handle.write("ghost.wav\t\t16000\t99999\n")
    with pytest.raises(DatasetError, match="ghost.wav"):
        build(tmp_path, layout)


def test_labels_reach_the_manifest_summary_and_clip_labels(tmp_path, caplog):
    """Issue 10: each clip carries its item's label; the summary counts them and warns about tiny ones."""
    items = {f"{label}_{n}.wav": tone(2.0, RATE) for label, n in [("snare", 0), ("kick", 0), ("kick", 1)]}
    items["loose.wav"] = tone(2.0, RATE)
    labels = {file: file.split("_")[0] for file in items if "_" in file}
    layout = [{"name": "kit", "shards": [write_shard(tmp_path / "kit", "shard_0", items, labels=labels)],
               "failures": write_failures(tmp_path / "kit" / "failures.tsv", [])}]  # fmt: skip
    clips, manifest, _, summary = build(tmp_path, layout)
    assert len(manifest) == len(clips) == 4 * 3  # 3 clips of 1 s every 0.5 s in each 2 s item
    assert [row["label"] for row in manifest] == [labels.get(row["file"], "") for row in manifest]
    assert summary["clips_per_label"] == {"kick": 6, "snare": 3} and summary["unlabelled_clips"] == 3
    assert any("'kick' has only 6 clips" in w for w in summary["warnings"])
    assert any("'snare' has only 3 clips" in w for w in summary["warnings"])
    assert any("3 clips have no label" in w for w in summary["warnings"])
    assert "'snare' has only 3 clips" in caplog.text
    ids, names = clip_labels(tmp_path / "dataset" / "manifest.tsv")
    assert names == ["kick", "snare"] and ids.dtype == np.int64
    assert [names[i] if i >= 0 else "" for i in ids] == [row["label"] for row in manifest]


def test_unlabelled_dataset_has_an_empty_label_column_and_no_warnings(tmp_path):
    layout = [entry(tmp_path, "a", [({"x.wav": tone(2.0, RATE)}, [])])]
    clips, manifest, _, summary = build(tmp_path, layout)
    assert {row["label"] for row in manifest} == {""}
    assert summary["clips_per_label"] == {} and summary["warnings"] == [] and summary["unlabelled_clips"] == 3
    ids, names = clip_labels(tmp_path / "dataset" / "manifest.tsv")
    assert names == [] and ids.tolist() == [-1, -1, -1]


# -- one-shots (issue 10): audio.segment: onsets ---------------------------------------------------

ONSETS = {"segment": "onsets", "clip_seconds": 0.5, "onset_min_gap_seconds": 0.05,
          "onset_pre_roll_seconds": 0.005, "onset_fade_seconds": 0.01}  # fmt: skip


def hits_at(times, seconds, rate=RATE, decay=0.03):
    """Silence with a decaying noise burst starting at each of `times` (seconds)."""
    rng = np.random.default_rng(1)
    audio = np.zeros(int(round(seconds * rate)), np.float32)
    length = int(0.2 * rate)
    envelope = np.exp(-np.arange(length) / (decay * rate)).astype(np.float32)
    for when in times:
        start = int(round(when * rate))
        piece = (rng.uniform(-0.8, 0.8, length) * envelope)[: len(audio) - start]
        audio[start : start + len(piece)] += piece
    return audio


def test_onset_clips_start_just_before_each_hit_and_fade_out(tmp_path):
    # 1.27 s is 20 ms after 1.25 s: closer than the gap, so merged into it.
    times, seconds = [0.3, 0.9, 1.25, 1.27, 2.0], 2.2
    layout = [entry(tmp_path, "hits", [({"hits.wav": hits_at(times, seconds)}, [])])]
    clips, manifest, rejects, summary = build(tmp_path, layout, **ONSETS)
    clip, pre = int(0.5 * RATE), int(0.005 * RATE)
    starts = np.array([float(row["offset_s"]) for row in manifest])
    expected = np.array([0.3, 0.9, 1.25, 2.0]) - 0.005
    assert starts.shape == expected.shape and np.abs(starts - expected).max() < 0.002  # within 2 ms
    assert rejects == [] and summary["clips"] == 4 and summary["audio"]["segment"] == "onsets"
    rows = clips[:]
    assert (np.abs(rows[:, : pre // 2]).max(axis=1) < 0.01).all()  # silence just before the hit ...
    assert (np.abs(rows[:, pre : pre + int(0.005 * RATE)]).max(axis=1) > 0.2).all()  # ... then the hit
    # The clip at 0.9 s ends where the next (1.25 s) starts, faded out; silence after.
    span = int(round((expected[2] - expected[1]) * RATE))
    assert np.abs(rows[1, span - 2 : span]).max() < 0.02 and not rows[1, span:].any()
    # The last hit: the item ends 0.2 s after it, the rest of the 0.5 s clip is silence.
    tail = int(round((seconds - expected[3]) * RATE))
    assert not rows[3, tail:].any() and np.abs(rows[3, :tail]).max() > 0.2
    assert clips.shape == (4, clip)


def test_onsets_item_shorter_than_a_clip_is_padded_and_silence_is_rejected(tmp_path):
    layout = [entry(tmp_path, "hits", [({"short.wav": hits_at([0.05], 0.25), "silent.wav": np.zeros(RATE)}, [])])]
    clips, manifest, rejects, summary = build(tmp_path, layout, **ONSETS)
    assert [row["file"] for row in manifest] == ["short.wav"] and len(clips) == 1
    assert [(r["file"], r["reason"]) for r in rejects] == [("silent.wav", "no onsets found (no hit rises above the silence)")]
    assert summary["rejected"]["too_short"] == 0


def test_onset_clips_of_a_demo_drum_loop_start_on_its_hits(tmp_path):
    """On a synthesized drum loop, clips start within 5 ms (plus the pre-roll) of the known hit times."""
    from audiogan.sources.demo import SAMPLE_RATE, synthesize_track, track_hits

    seconds, gap = 6.0, 0.05
    audio = synthesize_track(0, 2, seconds, seconds).mean(axis=1)
    known = np.array(sorted(t for part in track_hits(0, 2, seconds, seconds).values() for t, _ in part))
    layout = [entry(tmp_path, "loop", [({"loop.wav": audio}, [])])]
    clips, manifest, _, _ = build(tmp_path, layout, **{**ONSETS, "sample_rate": SAMPLE_RATE})
    onsets = np.array([float(row["offset_s"]) for row in manifest]) + 0.005
    error = np.abs(onsets[:, None] - known[None, :]).min(axis=1)
    merged: list[float] = []  # hits closer than the gap to the last kept one count once
    for when in known[known < seconds - 0.1]:  # the arrangement runs past the rendered length
        if not merged or when - merged[-1] >= gap:
            merged.append(when)
    assert len(onsets) >= 0.8 * len(merged)  # recall (bench_onsets: 0.8 to 1.0)
    assert (error < 0.005).mean() >= 0.95  # precision: clips start on hits
    assert np.all(np.diff(onsets) >= gap - 1e-3)  # hits closer than the gap were merged
