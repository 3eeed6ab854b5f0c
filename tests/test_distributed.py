"""Data-parallel training: 2 gloo processes on the CPU reproduce 1 process (audiogan.distributed)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from audiogan import distributed
from audiogan.checkpoint import list_checkpoints, load_generator
from audiogan.model import ModelConfig, WaveGANGenerator
from audiogan.training import launch_training, run_id
from train_fixtures import (
    CLIP_SECONDS, SAMPLE_RATE, loss_values, make_clips, outputs_in, summary_path, tiny_config,
)


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([t.flatten() for t in module.state_dict().values()])


def test_outside_torchrun_setup_is_a_single_process(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    ctx = distributed.setup("cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.enabled) == (0, 1, True, False)
    values = torch.tensor([1.0, 2.0])
    assert torch.equal(distributed.mean_across_ranks(values), values)
    assert distributed.any_rank(True, ctx.device) and not distributed.any_rank(False, ctx.device)


def test_two_gloo_processes_match_one_process_for_the_same_global_batch(tmp_path, caplog):
    clips = make_clips(tmp_path / "clips.npy")
    config = tiny_config(batch_size=4, n_critic=2, steps=3, checkpoint_every=3, threads=2)

    launch_training(clips, summary_path(clips), config, tmp_path / "one", outputs_in(tmp_path / "one_out"))
    with caplog.at_level(logging.INFO, logger="audiogan.train"):
        launch_training(
            clips,
            summary_path(clips),
            {**config, "gpus": 2},
            tmp_path / "two",
            outputs_in(tmp_path / "two_out"),
        )

    one, two = loss_values(tmp_path / "one_out" / "losses.csv"), loss_values(
        tmp_path / "two_out" / "losses.csv"
    )
    assert one.shape == two.shape == (3, 5)
    # float32 sums in another order: g_loss (~1e-4, a difference of scores) differs by ~1e-6.
    np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5)
    g_one, _ = load_generator(tmp_path / "one_out" / "generator.pt")
    g_two, meta = load_generator(tmp_path / "two_out" / "generator.pt")
    assert meta["config"]["gpus"] == 2
    # Weights: Adam turns the tiny rounding differences of near-zero gradients into whole
    # lr-sized steps, so compare the runs' difference with how far training moved the weights.
    torch.manual_seed(config["seed"])  # training seeds, then builds the generator first
    initial = _flat(WaveGANGenerator(ModelConfig(**meta["model"])))
    moved = (_flat(g_one) - initial).norm()
    assert moved > 0 and (_flat(g_two) - _flat(g_one)).norm() < 0.1 * moved
    # The workers' log reached this process; only rank 0 logged progress and wrote checkpoints.
    assert "[rank 0] INFO audiogan.train: step 3/3" in caplog.text and "[rank 1] INFO" not in caplog.text
    state_dir = tmp_path / "two" / run_id({**config, "gpus": 2}, SAMPLE_RATE, CLIP_SECONDS, clips)
    assert [step for step, _ in list_checkpoints(state_dir)] == [3]
