"""Mode seeking (`train.mode_seeking`): pairs of latents with one label, pushed to sound different."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_conditional import labelled_dataset
from train_fixtures import SAMPLE_RATE, make_clips, outputs_in, read_rows, summary_path, tiny_config

from audiogan.model import ModelConfig, WaveGANGenerator
from audiogan.training import launch_training
from audiogan.training.diversity import ModeSeeking, paired


def test_pairs_ask_for_the_same_label_and_keep_their_latents():
    z = torch.rand(5, 3)
    y = torch.eye(3)[[0, 1, 2, 2, 1]]
    same_z, pair_y = paired(z, y)
    assert same_z is z
    assert pair_y.argmax(1).tolist() == [0, 1, 0, 1, 1]  # clip i + 2 asks for clip i's label; the odd last keeps its own
    assert paired(z, None) == (z, None)  # unconditional: any two latents are a pair


def test_the_term_is_large_for_clips_that_sound_alike_and_blind_to_what_cannot_be_heard():
    t = torch.arange(SAMPLE_RATE) / SAMPLE_RATE
    generator = torch.Generator().manual_seed(0)
    burst = torch.exp(-30 * t)

    def noise() -> torch.Tensor:
        return 0.3 * torch.randn(SAMPLE_RATE, generator=generator) * burst

    tone = 0.3 * torch.sin(2 * torch.pi * 80 * t) * torch.exp(-8 * t)
    term = ModeSeeking(SAMPLE_RATE)
    z = torch.tensor([[0.5, -0.5], [-0.5, 0.5]])

    def value(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(term(torch.stack([a, b]).unsqueeze(1), z))

    first = noise()
    hiss = 10 ** (-90 / 20) * torch.randn(SAMPLE_RATE, generator=generator)  # -90 dBFS
    # The term is log(latent distance / clip distance). Two noise bursts with other random phases
    # differ in every sample but sound alike: e^1.5 times closer than a noise burst and a low tone;
    # the same clip plus inaudible hiss closer still.
    assert value(first, noise()) > value(first, tone) + 1.5
    assert value(first, first + hiss) > value(first, noise()) + 1.0
    assert value(first, first) == pytest.approx(np.log(1.0 / 1e-5), rel=1e-4)  # latents 1 apart, clips 0


def test_minimizing_the_term_pulls_a_generators_pairs_apart():
    torch.manual_seed(0)
    generator = WaveGANGenerator(ModelConfig(model_size=2, latent_dim=8, slice_length=16384))
    term = ModeSeeking(SAMPLE_RATE)
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3)
    z = torch.rand(8, 8) * 2 - 1

    def term_value() -> torch.Tensor:
        return term(generator(z), z)

    start = float(term_value().detach())
    for _ in range(15):
        loss = term_value()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(term_value().detach()) < 0.8 * start


@pytest.mark.parametrize("recipe", ["wavegan", "modern"])
def test_mode_seeking_changes_the_generator_steps_of_a_run(tmp_path, recipe):
    config = tiny_config(recipe=recipe, latent_dim=8)

    def generator_losses(clips, manifest, weight: float, name: str) -> np.ndarray:
        outputs = outputs_in(tmp_path / name)
        launch_training(clips, summary_path(clips), {**config, "mode_seeking": weight}, tmp_path / f"{name}_state",
                        outputs, manifest_path=manifest)  # fmt: skip
        return np.array([float(row["g_loss"]) for row in read_rows(outputs.losses)])

    clips, manifest = labelled_dataset(tmp_path / "data")
    plain, seeking = generator_losses(clips, manifest, 0, "plain"), generator_losses(clips, manifest, 1.0, "seeking")
    assert np.isfinite(seeking).all() and seeking[0] > plain[0]  # the term is positive, added to the first loss
    unlabelled = make_clips(tmp_path / "plain_data" / "clips.npy")
    assert np.isfinite(generator_losses(unlabelled, None, 1.0, "unconditional")).all()
