"""audiogan.dataset: 16-bit storage round trip and clips read from the converted shards."""

import json

import numpy as np
import pytest

from audiogan.dataset import (
    SHARD_CLIPS_DTYPE,
    ClipSet,
    clip_rows,
    dataset_identity,
    open_clips,
    samples_to_float32,
    to_pcm16,
    write_clip_set,
)
from audiogan.loudness import normalize, normalize_gains


def test_pcm16_round_trip_is_exact_at_full_scale_and_within_half_a_step():
    x = np.concatenate([np.linspace(-1, 1, 100_001, dtype=np.float32), [1.5, -1.5, 0.0]]).astype(np.float32)
    q = to_pcm16(x)
    assert q.dtype == np.int16
    assert q[0] == -32767 and q[100_000] == 32767 and q.min() == -32767  # -32768 is never written
    assert q[-3] == 32767 and q[-2] == -32767 and q[-1] == 0  # out of range: clipped
    back = samples_to_float32(q)
    assert back.dtype == np.float32 and back[0] == -1.0 and back[100_000] == 1.0
    assert np.max(np.abs(back[:100_001] - x[:100_001])) <= 0.5 / 32767 + 1e-7
    np.testing.assert_array_equal(to_pcm16(back), q)  # a second round trip changes nothing
    np.testing.assert_array_equal(clip_rows(q.reshape(-1, 1), slice(None)), back.reshape(-1, 1))


def write_set(tmp_path, shards_audio, starts_per_shard, gains_per_shard, clip):
    shards = []
    for k, (audio, starts, gains) in enumerate(zip(shards_audio, starts_per_shard, gains_per_shard)):
        np.save(tmp_path / f"shard_{k}.npy", audio)
        table = np.empty(len(starts), SHARD_CLIPS_DTYPE)
        table["start"], table["gain"], table["length"] = starts, gains, clip
        np.save(tmp_path / f"shard_{k}.clips.npy", table)
        shards.append({"audio": str(tmp_path / f"shard_{k}.npy"), "clips": str(tmp_path / f"shard_{k}.clips.npy"),
                       "samples": len(audio), "sha256": f"hash{k}"})  # fmt: skip
    out = tmp_path / "dataset" / "clips.json"
    total = write_clip_set(out, tmp_path / "dataset" / "clip_index.npy", shards, clip, 8000)
    return out, total


@pytest.mark.parametrize("mode", ["peak", "loudness", "none"])
def test_clip_set_rows_equal_normalized_clips(tmp_path, mode):
    rng = np.random.default_rng(0)
    clip = 4000
    audio = [to_pcm16(rng.uniform(-0.3, 0.3, 20_000)), to_pcm16(rng.uniform(-0.05, 0.05, 9_000))]
    starts = [[0, 7000, 16_000], [5000]]
    float_audio = [samples_to_float32(a) for a in audio]
    windows = [np.stack([f[s : s + clip] for s in st]) for f, st in zip(float_audio, starts)]
    gains = [normalize_gains(w, mode, sample_rate=8000, peak_dbfs=-1.0, lufs=-10.0) for w in windows]
    path, total = write_set(tmp_path, audio, starts, gains, clip)
    clips = open_clips(path)
    assert isinstance(clips, ClipSet) and total == 4
    assert clips.shape == (4, clip) and len(clips) == 4 and clips.nbytes == 4 * clip * 4
    expected = np.concatenate([normalize(w, mode, sample_rate=8000, peak_dbfs=-1.0, lufs=-10.0)
                               if mode != "loudness" else np.stack([normalize(r, mode, 8000, lufs=-10.0) for r in w])
                               for w in windows])  # fmt: skip
    np.testing.assert_allclose(clips[:], expected, atol=1e-6)
    np.testing.assert_allclose(clips[np.array([3, 1])], expected[[3, 1]], atol=1e-6)
    np.testing.assert_allclose(clips[2], expected[2], atol=1e-6)
    if mode == "peak":
        np.testing.assert_allclose(np.abs(clips[:]).max(axis=1), 10 ** (-1 / 20), rtol=1e-5)
    meta = json.loads(path.read_text())
    assert [s["audio"] for s in meta["shards"]] == ["../shard_0.npy", "../shard_1.npy"]  # relative: movable


def test_identity_changes_with_a_shard_and_plain_npy_still_opens(tmp_path):
    audio = [to_pcm16(np.full(10_000, 0.1, np.float32))]
    path, _ = write_set(tmp_path, audio, [[0, 2000]], [np.ones(2, np.float32)], 4000)
    first = dataset_identity(path)
    path, _ = write_set(tmp_path, audio, [[0, 3000]], [np.ones(2, np.float32)], 4000)
    assert dataset_identity(path) != first and dataset_identity(path)["shape"] == [2, 4000]
    np.save(tmp_path / "plain.npy", np.zeros((3, 5), np.int16))
    plain = open_clips(tmp_path / "plain.npy")
    assert plain.shape == (3, 5) and clip_rows(plain, slice(0, 2)).dtype == np.float32


def test_shard_of_the_wrong_length_is_reported(tmp_path):
    audio = [to_pcm16(np.full(10_000, 0.1, np.float32))]
    path, _ = write_set(tmp_path, audio, [[0]], [np.ones(1, np.float32)], 4000)
    np.save(tmp_path / "shard_0.npy", np.zeros(50, np.int16))  # converted again, index not rebuilt
    with pytest.raises(ValueError, match="rerun the segment stage"):
        open_clips(path)
