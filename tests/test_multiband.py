"""The multiband family (audiogan.multiband): 44.1 kHz 4 s clips, family choice, checkpoints, render."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogan.checkpoint import load_generator, save_generator
from audiogan.config import ConfigError, validate_config
from audiogan.families import get_family, resolve_family
from audiogan.model import ModelConfig, gradient_penalty
from audiogan.render import render_samples
from audiogan.training import train_settings

RATE, SECONDS = 44100, 4.0
CLIP = round(RATE * SECONDS)  # 176,400 samples: longer than WaveGAN's 65,536


def _arguments(**train):
    settings = train_settings({"model_size": 2, "latent_dim": 8, **train})
    family = resolve_family(settings["family"], CLIP)
    return family, get_family(family).arguments(settings, CLIP)


def test_auto_picks_wavegan_where_the_clip_fits_and_multiband_beyond():
    assert resolve_family("auto", 65536) == "wavegan"
    assert resolve_family("auto", 65537) == "multiband"
    assert resolve_family("wavegan", 10**6) == "wavegan"
    family, arguments = _arguments()
    assert family == "multiband"
    # 4 bands of 65,536 samples (ceil(176400 / 4) = 44,100 rounds up to WaveGAN's 65,536).
    assert arguments["bands"] == 4 and arguments["slice_length"] == 4 * 65536 >= CLIP


def test_44k_4s_shapes_and_cost_of_a_16k_model():
    _, arguments = _arguments()
    family = get_family("multiband")
    torch.manual_seed(0)
    generator, critic = family.generator(**arguments), family.critic(**arguments)
    z = torch.rand(2, 8) * 2 - 1
    audio = generator(z)
    assert audio.shape == (2, 1, 4 * 65536)
    assert critic(audio).shape == (2,)
    # The inner networks are the 16 kHz 4 s model's, with 4 channels at the ends.
    assert generator.net.config.slice_length == 65536 and generator.net.config.channels == 4
    wavegan = get_family("wavegan").generator(**dataclasses.asdict(ModelConfig(model_size=2, latent_dim=8,
                                                                               slice_length=65536)))  # fmt: skip
    extra = sum(p.numel() for p in generator.parameters()) - sum(p.numel() for p in wavegan.parameters())
    assert 0 < extra < 0.01 * sum(p.numel() for p in wavegan.parameters())
    # The critic's regularizers differentiate through the filter bank.
    penalty = gradient_penalty(critic, audio.detach(), torch.zeros_like(audio))
    penalty.backward()
    assert critic.net.convs[0].weight.grad.abs().sum() > 0


def test_labels_are_passed_to_the_inner_networks():
    if "n_labels" not in {f.name for f in dataclasses.fields(ModelConfig)}:
        pytest.skip("WaveGAN networks without labels (issue 10 part 1 not merged)")
    _, arguments = _arguments()
    arguments = {**arguments, "n_labels": 3}
    family = get_family("multiband")
    generator, critic = family.generator(**arguments), family.critic(**arguments)
    y = torch.eye(3)[:2]
    z = torch.rand(2, 8) * 2 - 1
    assert not torch.equal(generator(z, y), generator(z, torch.eye(3)[1:]))
    assert critic(generator(z, y), y).shape == (2,)


def test_too_long_clips_are_config_errors_naming_the_key():
    settings = train_settings({"family": "wavegan"})
    with pytest.raises(ConfigError, match="train.family"):
        get_family("wavegan").arguments(settings, CLIP)
    with pytest.raises(ConfigError, match="train.bands"):
        get_family("multiband").arguments(train_settings({"bands": 2}), CLIP)
    # At config load: 44.1 kHz 4 s is valid with the default family (auto), not with wavegan.
    validate_config({"sources": [{"name": "d", "kind": "demo"}], "audio": {"sample_rate": RATE}})
    with pytest.raises(ConfigError, match="train.family: multiband"):
        validate_config({"sources": [{"name": "d", "kind": "demo"}], "audio": {"sample_rate": RATE},
                         "train": {"family": "wavegan"}})  # fmt: skip


def test_checkpoint_round_trip_and_render_at_44k(tmp_path):
    family, arguments = _arguments()
    torch.manual_seed(0)
    generator = get_family(family).generator(**arguments)
    path = tmp_path / "generator.pt"
    save_generator(path, generator, arguments, RATE, SECONDS, 5, {"model_size": 2}, family=family, recipe="modern")
    loaded, meta = load_generator(path)
    assert meta["family"] == "multiband" and meta["model"] == arguments
    z = torch.rand(3, 8) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(z), generator(z))

    render_samples(path, tmp_path / "samples", tmp_path / "samples" / "samples.tsv", tmp_path / "sheet.png",
                   count=2, seed=3, sample_rate=RATE)  # fmt: skip
    paths = sorted((tmp_path / "samples").glob("sample_*.wav"))
    assert len(paths) == 2
    for sample in paths:
        info = sf.info(sample)
        assert (info.samplerate, info.frames) == (RATE, CLIP)  # trimmed to the clip, not the slice
        audio, _ = sf.read(sample)
        assert np.abs(audio).max() > 0
