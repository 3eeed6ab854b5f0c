"""convert_shard: a shard listing decoded to concatenated 16-bit (or float32) audio, index and rejects."""

import numpy as np
import pytest

from audio_fixtures import ffmpeg_encode, stereo, tone, write_file
from audiogan.audio_io import load_mono
from audiogan.convert import convert_shard
from audiogan.dataset import samples_to_float32, to_pcm16
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


def run(table, tmp_path, rate=16000, dtype="float32", name="shard_1"):
    out = {key: tmp_path / "out" / f"{name}{suffix}" for key, suffix in
           (("audio", ".npy"), ("index", ".tsv"), ("rejects", ".rejects.tsv"))}  # fmt: skip
    convert_shard(table, rate, out["audio"], out["index"], out["rejects"], dtype=dtype)
    return np.load(out["audio"]), read_tsv(out["index"]), read_tsv(out["rejects"])


def test_listed_items_are_concatenated_and_indexed(items, tmp_path):
    table, paths = items
    audio, index, rejects = run(table, tmp_path)
    good = [paths[i] for i in (0, 1, 2, 4, 6)]
    assert [row["file"] for row in index] == [f"music/{p.name}" for p in good]  # listing order
    assert [row["license"] for row in index] == ["L0", "L1", "L2", "L4", "L6"]
    assert audio.dtype == np.float32 and audio.ndim == 1
    starts = [int(row["start"]) for row in index]
    lengths = [int(row["length"]) for row in index]
    assert starts == [0, *np.cumsum(lengths)[:-1].tolist()]
    assert audio.size == sum(lengths)
    for row, path in zip(index, good):
        start, length = int(row["start"]), int(row["length"])
        np.testing.assert_array_equal(audio[start : start + length], load_mono(path, 16000))
    assert lengths[0] == 16000 and lengths[1] == 8000 and lengths[3] == 4800  # exact for lossless files
    np.testing.assert_allclose(np.max(np.abs(audio[2000:14000])), 0.3, rtol=0.02)  # stereo averaged
    assert [row["file"] for row in rejects] == ["music/broken.ogg", "music/empty.wav"]


def test_int16_storage_is_the_documented_rounding_of_the_float_audio(items, tmp_path):
    table, paths = items
    pcm, index, _ = run(table, tmp_path, dtype="int16", name="pcm")
    floats, _, _ = run(table, tmp_path, dtype="float32", name="float")
    assert pcm.dtype == np.int16 and pcm.shape == floats.shape
    np.testing.assert_array_equal(pcm, to_pcm16(floats))
    np.testing.assert_array_equal(pcm, np.clip(np.rint(floats * 32767), -32767, 32767).astype(np.int16))
    assert np.max(np.abs(samples_to_float32(pcm) - floats)) <= 0.5 / 32767 + 1e-7
    assert (tmp_path / "out" / "pcm.npy").stat().st_size < 0.55 * (tmp_path / "out" / "float.npy").stat().st_size


def test_rejects_record_undecodable_and_empty_files(items, tmp_path):
    table, _ = items
    _, _, rejects = run(table, tmp_path, rate=8000)
    assert [row["file"] for row in rejects] == ["music/broken.ogg", "music/empty.wav"]
    assert "not decodable" in rejects[0]["reason"]
    assert "empty file" in rejects[1]["reason"]


def test_empty_listing_writes_valid_empty_outputs(tmp_path):
    table = tmp_path / "empty.tsv"
    write_tsv(table, [], ITEM_COLUMNS)
    audio, index, rejects = run(table, tmp_path, dtype="int16", name="shard_9")
    assert audio.shape == (0,) and audio.dtype == np.int16
    assert index == [] and rejects == []
    assert (tmp_path / "out" / "shard_9.tsv").read_text() == "file\tlicense\tstart\tlength\tlabel\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "shard_9.npy", "shard_9.rejects.tsv", "shard_9.tsv"]  # fmt: skip


def test_unknown_dtype_is_an_error_naming_the_setting(items, tmp_path):
    table, _ = items
    with pytest.raises(ValueError, match="convert.dtype"):
        run(table, tmp_path, dtype="int8")
    assert not (tmp_path / "out").exists()
