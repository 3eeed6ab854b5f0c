"""convert_shard: shard split by row position, concatenated audio, index and rejects."""

import numpy as np
import pytest

from audio_fixtures import ffmpeg_encode, stereo, tone, write_file
from audiogan.audio_io import load_mono
from audiogan.convert import convert_shard
from audiogan.sources import ITEM_COLUMNS
from audiogan.tsv import read_tsv, write_tsv


@pytest.fixture
def items(tmp_path):
    folder = tmp_path / "files"
    paths = [
        write_file(folder / "a.wav", stereo(tone(1.0, 44100, 440, 0.5), tone(1.0, 44100, 440, 0.1)), 44100),
        write_file(folder / "b.flac", tone(0.5, 22050, 300), 22050),
        write_file(folder / "c.mp3", tone(0.7, 48000, 600), 48000),
        folder / "broken.ogg",
        write_file(folder / "e.ogg", tone(0.3, 32000, 800), 32000),
        folder / "empty.wav",
        folder / "f.m4a",
    ]
    paths[3].write_bytes(b"OggS" + b"\x00" * 100)
    paths[5].write_bytes(b"")
    ffmpeg_encode(paths[1], paths[6], "-c:a", "aac")
    rows = [{"path": str(p), "file": f"music/{p.name}", "license": f"L{i}", "extra": "x"} for i, p in enumerate(paths)]
    table = tmp_path / "items.tsv"
    write_tsv(table, rows, (*ITEM_COLUMNS, "extra"))
    return table, paths


def run(table, tmp_path, shard, shards, rate=16000):
    out = {key: tmp_path / "out" / f"shard_{shard}{suffix}" for key, suffix in
           (("audio", ".npy"), ("index", ".tsv"), ("rejects", ".rejects.tsv"))}  # fmt: skip
    convert_shard(table, shard, shards, rate, out["audio"], out["index"], out["rejects"])
    return np.load(out["audio"]), read_tsv(out["index"]), read_tsv(out["rejects"])


def test_shards_split_by_row_position_and_index_the_audio(items, tmp_path):
    table, paths = items
    audio, index, rejects = run(table, tmp_path, 0, 2)
    # rows 0, 2, 4, 6 belong to shard 0
    assert [row["file"] for row in index] == ["music/a.wav", "music/c.mp3", "music/e.ogg", "music/f.m4a"]
    assert [row["license"] for row in index] == ["L0", "L2", "L4", "L6"]
    assert rejects == []
    assert audio.dtype == np.float32 and audio.ndim == 1
    starts = [int(row["start"]) for row in index]
    lengths = [int(row["length"]) for row in index]
    assert starts == [0, *np.cumsum(lengths)[:-1].tolist()]
    assert audio.size == sum(lengths)
    for row, path in zip(index, [paths[0], paths[2], paths[4], paths[6]]):
        start, length = int(row["start"]), int(row["length"])
        np.testing.assert_array_equal(audio[start : start + length], load_mono(path, 16000))
    assert lengths[0] == 16000 and lengths[2] == 4800  # exact for lossless / same-duration files
    np.testing.assert_allclose(np.max(np.abs(audio[2000:14000])), 0.3, rtol=0.02)  # stereo averaged


def test_rejects_record_undecodable_and_empty_files(items, tmp_path):
    table, _ = items
    audio, index, rejects = run(table, tmp_path, 1, 2, rate=8000)
    assert [row["file"] for row in index] == ["music/b.flac"]
    assert int(index[0]["length"]) == 4000
    assert audio.size == 4000
    assert [row["file"] for row in rejects] == ["music/broken.ogg", "music/empty.wav"]
    assert "not decodable" in rejects[0]["reason"]
    assert "empty file" in rejects[1]["reason"]


def test_empty_shard_writes_valid_empty_outputs(items, tmp_path):
    table, _ = items
    audio, index, rejects = run(table, tmp_path, 9, 10)
    assert audio.shape == (0,) and audio.dtype == np.float32
    assert np.load(tmp_path / "out" / "shard_9.npy", mmap_mode="r").shape == (0,)
    assert index == [] and rejects == []
    assert (tmp_path / "out" / "shard_9.tsv").read_text() == "file\tlicense\tstart\tlength\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "shard_9.npy", "shard_9.rejects.tsv", "shard_9.tsv"]  # fmt: skip


def test_shard_out_of_range_is_an_error(items, tmp_path):
    table, _ = items
    with pytest.raises(ValueError, match="shard 2 is out of range for 2 shards"):
        run(table, tmp_path, 2, 2)
