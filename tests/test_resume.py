"""Checkpoints, resuming, preemption and crashes (audiogan.checkpoint, audiogan.training)."""

from __future__ import annotations

import random
import signal
import time

import numpy as np
import pytest
import torch

from audiogan.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_generator,
    prune_checkpoints,
    rng_state,
    save_checkpoint,
    save_generator,
    set_rng_state,
)
from audiogan.model import ModelConfig, WaveGANGenerator
from audiogan.training import PREEMPTED_EXIT_CODE, launch_training, run_id
from train_fixtures import (
    CLIP_SECONDS,
    SAMPLE_RATE,
    loss_values,
    make_clips,
    outputs_in,
    read_rows,
    TrainingProcess,
    summary_path,
    tiny_config,
)


def test_checkpoint_round_trip_restores_tensors_and_rng_streams(tmp_path):
    model = WaveGANGenerator(ModelConfig(model_size=2))
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = {
        "step": 7,
        "generator": model.state_dict(),
        "rng": rng_state(),
        "config": {"betas": [0.5, 0.9], "x": None},
    }
    save_checkpoint(checkpoint_path(tmp_path, 7), state)
    expected = (random.random(), np.random.rand(), torch.rand(2))

    path, loaded = latest_checkpoint(tmp_path)  # loads with weights_only=True
    assert path.name == "ckpt_00000007.pt" and loaded["step"] == 7 and loaded["config"] == state["config"]
    for key, value in model.state_dict().items():
        assert torch.equal(loaded["generator"][key], value)
    set_rng_state(loaded["rng"])
    assert (random.random(), np.random.rand()) == expected[:2]
    assert torch.equal(torch.rand(2), expected[2])


def test_latest_checkpoint_skips_damaged_and_temp_files_and_prune_keeps_the_newest(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(checkpoint_path(tmp_path, step), {"step": step, "w": torch.ones(3) * step})
    good = checkpoint_path(tmp_path, 3).read_bytes()
    checkpoint_path(tmp_path, 4).write_bytes(good[: len(good) // 2])  # truncated
    checkpoint_path(tmp_path, 5).write_bytes(b"")  # empty
    (tmp_path / ".ckpt_00000006.pt.abc.tmp.pt").write_bytes(good)  # an interrupted write
    path, state = latest_checkpoint(tmp_path)
    assert path == checkpoint_path(tmp_path, 3) and torch.equal(state["w"], torch.full((3,), 3.0))
    assert latest_checkpoint(tmp_path, max_step=2)[1]["step"] == 2
    assert latest_checkpoint(tmp_path / "missing") is None

    prune_checkpoints(tmp_path, keep=2, up_to_step=4)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [3, 4, 5]  # 5 is beyond up_to_step
    assert not list(tmp_path.glob(".ckpt_*"))


def test_generator_file_round_trip(tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(model_size=2, latent_dim=8, slice_length=32768)
    generator = WaveGANGenerator(config)
    save_generator(
        tmp_path / "generator.pt", generator, config, 22050, 1.5, 12, {"steps": 12, "betas": [0.5, 0.9]},
        family="wavegan", recipe="wavegan",
    )
    loaded, meta = load_generator(tmp_path / "generator.pt")
    assert not loaded.training
    assert meta == {
        "family": "wavegan",
        "recipe": "wavegan",
        "model": {"model_size": 2, "latent_dim": 8, "slice_length": 32768, "phase_shuffle": 2, "channels": 1,
                  "n_labels": 0, "envelope": False, "upsample_filter": "none", "minibatch_std": 0},
        "sample_rate": 22050,
        "clip_seconds": 1.5,
        "step": 12,
        "config": {"steps": 12, "betas": [0.5, 0.9]},
        "labels": [],
    }
    z = torch.rand(2, 8)
    with torch.no_grad():
        assert torch.equal(loaded(z), generator.eval()(z))
    with pytest.raises(FileNotFoundError, match="generator file"):
        load_generator(tmp_path / "nothing.pt")


def test_resume_is_bit_for_bit_equal_to_a_straight_run(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = tiny_config(steps=12, checkpoint_every=6, n_critic=2)

    def train(steps: int, state: str, out: str) -> None:
        launch_training(clips, summary_path(clips), {**config, "steps": steps}, tmp_path / state,
                        outputs_in(tmp_path / out))  # fmt: skip

    train(12, "straight", "a")
    train(6, "split", "b")
    assert load_generator(tmp_path / "b" / "generator.pt")[1]["step"] == 6
    train(12, "split", "b")

    straight, _ = load_generator(tmp_path / "a" / "generator.pt")
    resumed, meta = load_generator(tmp_path / "b" / "generator.pt")
    assert meta["step"] == 12
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    # Same critic and optimizer states, and the same loss history (without the it/s timing column).
    state_a = latest_checkpoint(next((tmp_path / "straight").iterdir()))[1]
    state_b = latest_checkpoint(next((tmp_path / "split").iterdir()))[1]
    for key in ("critic", "opt_d", "opt_g"):
        torch.testing.assert_close(state_a[key], state_b[key], rtol=0, atol=0)
    assert torch.equal(state_a["losses"][:, :5], state_b["losses"][:, :5])
    assert np.array_equal(
        loss_values(tmp_path / "a" / "losses.csv"), loss_values(tmp_path / "b" / "losses.csv")
    )
    assert [r["step"] for r in read_rows(tmp_path / "b" / "quality.csv")] == ["6", "12"]
    previews = sorted(p.name for p in (tmp_path / "b" / "previews").iterdir())
    assert previews == ["step_000006.wav", "step_000012.wav"]


def _wait_for_rows(path, rows: int, training: TrainingProcess, timeout: float = 60.0) -> None:
    """Wait until the live losses.csv has at least `rows` rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and len(path.read_text().splitlines()) > rows:
            return
        if not training.running():
            raise AssertionError(f"training exited early: {training.finish()}")
        time.sleep(0.05)
    raise AssertionError(f"no progress in {path}")


def test_sigterm_checkpoints_exits_143_and_the_rerun_resumes(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = tiny_config(steps=100000, checkpoint_every=100000)
    state_root = tmp_path / "state"
    state_dir = state_root / run_id(config, SAMPLE_RATE, CLIP_SECONDS, clips)
    training = TrainingProcess(clips, state_root, tmp_path / "out", config, tmp_path / "1.log")
    _wait_for_rows(state_dir / "losses.csv", 3, training)
    training.process.send_signal(signal.SIGTERM)
    code, text = training.finish()
    assert code == PREEMPTED_EXIT_CODE, text
    assert "received SIGTERM" in text
    path, state = latest_checkpoint(state_dir)
    stopped = state["step"]
    assert stopped >= 3 and state["losses"].shape[0] == stopped

    final = stopped + 2
    code, text = TrainingProcess(
        clips, state_root, tmp_path / "out", {**config, "steps": final}, tmp_path / "2.log"
    ).finish()
    assert code == 0, text
    assert f"resuming run {state_dir.name}" in text
    _, meta = load_generator(tmp_path / "out" / "generator.pt")
    assert meta["step"] == final
    assert [int(r["step"]) for r in read_rows(tmp_path / "out" / "losses.csv")] == list(range(1, final + 1))


def test_kill_9_at_random_moments_never_leaves_a_bad_latest_checkpoint(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = tiny_config(
        steps=100000, checkpoint_every=1, keep_checkpoints=2
    )  # a checkpoint write every step
    state_root = tmp_path / "state"
    state_dir = state_root / run_id(config, SAMPLE_RATE, CLIP_SECONDS, clips)
    rng = random.Random(0)
    reached = 0
    for attempt in range(3):
        training = TrainingProcess(clips, state_root, tmp_path / "out", config, tmp_path / f"{attempt}.log")
        # Row k+1 is appended after checkpoint k is complete: from then on a checkpoint exists.
        _wait_for_rows(state_dir / "losses.csv", reached + 2, training)
        time.sleep(rng.uniform(0.0, 0.5))
        training.process.kill()
        training.finish()
        found = latest_checkpoint(state_dir)
        assert found is not None
        path, state = found
        torch.load(path, weights_only=True)  # loads as it is
        assert state["step"] > reached  # progress, never back
        reached = state["step"]

    final = TrainingProcess(
        clips, state_root, tmp_path / "out", {**config, "steps": reached + 2}, tmp_path / "end.log"
    )
    code, text = final.finish()
    assert code == 0, text
    assert load_checkpoint(checkpoint_path(state_dir, reached + 2))["step"] == reached + 2
    assert not list(state_dir.glob(".ckpt_*"))  # interrupted writes were cleaned up
    assert len(read_rows(tmp_path / "out" / "losses.csv")) == reached + 2
