"""The training stage: outputs, run identity, divergence, bad settings (audiogan.training)."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogan.checkpoint import latest_checkpoint, list_checkpoints, load_generator
from audiogan.config import ConfigError
from audiogan.training import (
    PREVIEW_GAP_SECONDS,
    TrainingDiverged,
    launch_training,
    run_id,
)
from audiogan.training import loss_columns
from train_fixtures import (
    CLIP_SECONDS, SAMPLE_RATE, make_clips, outputs_in, read_rows, summary_path, tiny_config, write_summary,
)

LOSS_COLUMNS = loss_columns("wavegan", augmented=False)


def test_training_writes_every_declared_output(tmp_path, caplog):
    clips = make_clips(tmp_path / "clips.npy")  # 16000-sample clips: zero-padded to the 16384 slice
    config = tiny_config(steps=4, checkpoint_every=2, keep_checkpoints=1, preview_count=3)
    outputs = outputs_in(tmp_path / "model")
    with caplog.at_level(logging.INFO, logger="audiogan.train"):
        launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs, log_path=None)

    generator, meta = load_generator(outputs.generator)
    assert meta["step"] == 4 and meta["sample_rate"] == SAMPLE_RATE and meta["clip_seconds"] == CLIP_SECONDS
    assert meta["model"]["slice_length"] == 16384 and meta["model"]["model_size"] == 2
    assert meta["config"]["steps"] == 4 and meta["config"]["n_critic"] == 1
    assert generator(torch.zeros(1, 100)).shape == (1, 1, 16384)

    rows = read_rows(outputs.losses)
    assert list(rows[0]) == list(LOSS_COLUMNS)
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(float(r[c])) for r in rows for c in LOSS_COLUMNS)
    quality = read_rows(outputs.quality)
    assert [r["step"] for r in quality] == ["2", "4"] and all(float(r["fd_mel"]) >= 0 for r in quality)

    previews = sorted(p.name for p in (tmp_path / "model" / "previews").iterdir())
    assert previews == ["step_000002.wav", "step_000004.wav"]
    info = sf.info(tmp_path / "model" / "previews" / previews[-1])
    assert info.samplerate == SAMPLE_RATE
    assert info.frames == 3 * (round(CLIP_SECONDS * SAMPLE_RATE) + round(PREVIEW_GAP_SECONDS * SAMPLE_RATE))
    assert outputs.loss_curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    state_dir = tmp_path / "state" / run_id(config, SAMPLE_RATE, CLIP_SECONDS, clips)
    assert [step for step, _ in list_checkpoints(state_dir)] == [4]  # keep_checkpoints=1
    assert "step 4/4" in caplog.text and "it/s" in caplog.text and "ETA" in caplog.text


def test_run_id_follows_settings_that_change_the_computation(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    base = tiny_config(gp_weight=10.0)

    def rid(config=base, rate=SAMPLE_RATE, seconds=CLIP_SECONDS, path=clips):
        return run_id(config, rate, seconds, path)

    same = [
        {"steps": 999},
        {"checkpoint_every": 7},
        {"keep_checkpoints": 9},
        {"preview_count": 5},
        {"threads": 2},
        {"gp_weight": 10},  # an int and a float of the same value are the same setting
    ]
    for change in same:
        assert rid({**base, **change}) == rid(), change
    different = [
        {"learning_rate": 2e-4},
        {"model_size": 3},
        {"seed": 1},
        {"batch_size": 4},
        {"n_critic": 2},
        {"betas": [0.5, 0.99]},
        {"phase_shuffle": 0},
        {"latent_dim": 50},
    ]
    for change in different:
        assert rid({**base, **change}) != rid(), change
    assert rid(rate=22050) != rid() and rid(seconds=0.9) != rid()
    # Same shape, different content: a different dataset.
    assert rid(path=make_clips(tmp_path / "other.npy", seed=1)) != rid()
    # Filling in the schema's defaults does not change the identity.
    assert run_id({**base, "compile": False}, SAMPLE_RATE, CLIP_SECONDS, clips) == rid()


def test_a_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    # One damaged clip among 16: the first batch that draws it makes the losses NaN.
    clips = make_clips(tmp_path / "clips.npy", nan_clip=5)
    config = tiny_config(steps=200, checkpoint_every=1, keep_checkpoints=2)
    outputs = outputs_in(tmp_path / "model")
    with pytest.raises(TrainingDiverged, match=r"diverged at step (\d+)") as caught:
        launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs)
    bad_step = int(re.search(r"step (\d+)", str(caught.value)).group(1))
    assert bad_step >= 2  # (seeded: clip 5 is first drawn after some good steps)

    path, state = latest_checkpoint(tmp_path / "state" / run_id(config, SAMPLE_RATE, CLIP_SECONDS, clips))
    assert state["step"] == bad_step - 1 and str(path) in str(caught.value)
    assert all(torch.isfinite(t).all() for t in state["generator"].values())
    assert all(torch.isfinite(t).all() for t in state["critic"].values())
    assert not outputs.generator.exists()


def test_bad_settings_are_named(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    outputs = outputs_in(tmp_path / "model")
    with pytest.raises(ConfigError, match="unknown key.*lr"):
        launch_training(clips, summary_path(clips), {"lr": 1e-3}, tmp_path / "state", outputs)
    with pytest.raises(ConfigError, match="batch_size .*divisible by train.gpus"):
        launch_training(clips, summary_path(clips), tiny_config(batch_size=4, gpus=3), tmp_path / "s", outputs)
    long_clips = tmp_path / "long.npy"
    np.save(long_clips, np.zeros((2, 70000), np.float32))
    write_summary(long_clips, 70000)
    with pytest.raises(ConfigError, match="train.family: wavegan: .*70000 samples.*65536.*multiband"):
        launch_training(long_clips, summary_path(long_clips), tiny_config(family="wavegan"), tmp_path / "state", outputs)
