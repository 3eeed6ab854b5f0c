"""Rendering: exact lengths, rates and WAV subtypes; seeds that regenerate any sample alone."""

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogan.render import regenerate, render_samples
from audiogan.tsv import read_tsv
from evaluation_fixtures import tiny_generator


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return tiny_generator(tmp_path_factory.mktemp("model") / "generator.pt", sample_rate=16000, clip_seconds=1.0)


def _render(generator, folder, count, seed=100, sample_rate=16000, subtype="FLOAT"):
    render_samples(generator, folder, folder / "samples.tsv", folder / "contact_sheet.png", count, seed, sample_rate, subtype)
    return [folder / f"sample_{i:04d}.wav" for i in range(count)]


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_length_rate_and_subtype(generator, tmp_path, subtype):
    paths = _render(generator, tmp_path, 3, sample_rate=44100, subtype=subtype)
    for path in paths:
        info = sf.info(path)
        assert (info.samplerate, info.frames, info.channels, info.subtype) == (44100, 44100, 1, subtype)
    rows = read_tsv(tmp_path / "samples.tsv")
    assert rows == [{"index": str(i), "file": f"sample_{i:04d}.wav", "seed": str(100 + i), "label": ""} for i in range(3)]
    assert (tmp_path / "contact_sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_odd_clip_length_is_exact(tmp_path):
    # 0.75 s at 11025 Hz -> 8268.75: rounds to 8269 samples, at the model rate and after resampling.
    generator = tiny_generator(tmp_path / "g.pt", sample_rate=11025, clip_seconds=0.75)
    paths = _render(generator, tmp_path / "out", 2, sample_rate=48000, subtype="PCM_16")
    assert [sf.info(p).frames for p in paths] == [36000, 36000]
    assert regenerate(generator, 5).shape == (8269,)


def test_same_seed_same_sample_whatever_the_batch(generator, tmp_path):
    paths = _render(generator, tmp_path, 20, seed=500)  # two batches; FLOAT at the model rate: lossless
    sample_17, rate = sf.read(paths[17], dtype="float32")
    assert rate == 16000
    alone = regenerate(generator, 517)
    assert alone.dtype == np.float32 and alone.shape == (16000,)
    np.testing.assert_allclose(sample_17, alone, atol=1e-6)
    assert np.abs(alone).max() > 0
    # A different seed gives a different sample.
    assert not np.allclose(sf.read(paths[16], dtype="float32")[0], alone, atol=1e-6)


def test_stale_samples_are_removed(generator, tmp_path):
    _render(generator, tmp_path, 5)
    (tmp_path / "keep.wav").write_bytes(b"not a sample")
    _render(generator, tmp_path, 2)
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["keep.wav", "sample_0000.wav", "sample_0001.wav"]
    assert len(read_tsv(tmp_path / "samples.tsv")) == 2


def test_unknown_subtype_is_rejected(generator, tmp_path):
    with pytest.raises(ValueError, match="subtype 'PCM_8'"):
        _render(generator, tmp_path, 1, subtype="PCM_8")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        regenerate(tmp_path / "missing.pt", 1)


def test_render_follows_the_device_setting(generator, tmp_path):
    """`device` is train.device: auto renders what the CPU renders here; cuda renders the same samples
    up to float rounding on a GPU machine and fails clearly on one without; a typo is a config error."""
    from audiogan.config import ConfigError

    cpu = [sf.read(p, dtype="float32")[0] for p in _render(generator, tmp_path / "cpu", 3)]
    folder = tmp_path / "auto"
    render_samples(generator, folder, folder / "samples.tsv", folder / "sheet.png", 3, 100, 16000, "FLOAT", device="auto")
    for i, expected in enumerate(cpu):
        np.testing.assert_allclose(sf.read(folder / f"sample_{i:04d}.wav", dtype="float32")[0], expected, atol=1e-4)
    folder = tmp_path / "cuda"
    if torch.cuda.is_available():
        render_samples(generator, folder, folder / "samples.tsv", folder / "sheet.png", 3, 100, 16000, "FLOAT",
                       device="cuda")
        for i, expected in enumerate(cpu):
            np.testing.assert_allclose(sf.read(folder / f"sample_{i:04d}.wav", dtype="float32")[0], expected, atol=1e-3)
    else:
        with pytest.raises(RuntimeError, match="train.device is 'cuda' but PyTorch sees no CUDA GPU"):
            render_samples(generator, folder, folder / "samples.tsv", folder / "sheet.png", 3, 100, 16000, "FLOAT",
                           device="cuda")
    with pytest.raises(ConfigError, match="train.device: 'gpu'"):
        render_samples(generator, folder, folder / "samples.tsv", folder / "sheet.png", 3, 100, 16000, "FLOAT",
                       device="gpu")
