"""Keeping the best checkpoint, early stopping and the time budget (audiogan.training.selection)."""

from __future__ import annotations

import math

import torch

from audiogan.checkpoint import list_checkpoints, load_generator
from audiogan.gallery import _rendered_checkpoint
from audiogan.training import launch_training, run_id
from audiogan.training.selection import best_row, checkpoints_since_best, describe, should_stop_early
from train_fixtures import CLIP_SECONDS, SAMPLE_RATE, make_clips, outputs_in, read_rows, summary_path, tiny_config


def test_best_row_and_patience_from_the_quality_history():
    quality = [(100, 900.0), (200, 500.0), (300, math.nan), (400, 700.0), (500, 500.0)]
    assert best_row(quality) == (200, 500.0)  # NaN ignored; the earliest on ties
    assert checkpoints_since_best(quality) == 3
    assert should_stop_early(quality, 3) and not should_stop_early(quality, 4)
    assert not should_stop_early(quality, None)
    assert best_row([]) is None and checkpoints_since_best([]) == 0
    assert describe("best", 200, quality)["reason"] == "step 200, lowest FD-mel 500 of 5 checkpoints"


def _quality(path) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r["fd_mel"])) for r in read_rows(path)]


def test_the_best_generator_is_kept_besides_the_latest_and_says_why(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = tiny_config(steps=8, checkpoint_every=1, keep_checkpoints=1, score_count=4)
    outputs = outputs_in(tmp_path / "out")
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs)

    quality = _quality(outputs.quality)
    assert [s for s, _ in quality] == list(range(1, 9))
    best_step, best_fd = min(quality, key=lambda row: (row[1], row[0]))
    best, meta = load_generator(outputs.best)
    assert meta["step"] == best_step and meta["selection"]["checkpoint"] == "best"
    assert meta["selection"]["reason"] == f"step {best_step}, lowest FD-mel {best_fd:.0f} of 8 checkpoints"
    latest, latest_meta = load_generator(outputs.generator)
    assert latest_meta["step"] == 8 and latest_meta["selection"]["checkpoint"] == "latest"
    state_dir = tmp_path / "state" / run_id(config, SAMPLE_RATE, CLIP_SECONDS, clips)
    assert [s for s, _ in list_checkpoints(state_dir)] == [8]  # only `keep_checkpoints` full checkpoints
    assert sorted(p.name for p in state_dir.glob("best_*.pt")) == [f"best_{best_step:08d}.pt"]
    if best_step != 8:
        assert any(not torch.equal(a, b) for a, b in zip(best.state_dict().values(), latest.state_dict().values()))
    # The gallery line for it.
    assert _rendered_checkpoint({"step": best_step, "checkpoint": meta["selection"]}).startswith(
        f"rendered from step {best_step}, lowest FD-mel"
    )


def test_patience_stops_early_and_writes_the_outputs(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = tiny_config(steps=12, checkpoint_every=1, patience=1, score_count=4)
    outputs = outputs_in(tmp_path / "out")
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs)

    quality = _quality(outputs.quality)
    last = quality[-1][0]
    # It stopped at the first checkpoint without a better score (seeded: one comes early).
    expected = next(step for step, _ in quality if should_stop_early([r for r in quality if r[0] <= step], 1))
    assert last == expected < 12
    assert load_generator(outputs.generator)[1]["step"] == last
    assert len(read_rows(outputs.losses)) == last
    # Rerunning the same run does not train on: it ended.
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs)
    assert _quality(outputs.quality)[-1][0] == last


def test_the_time_budget_finishes_normally(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = tiny_config(steps=100000, checkpoint_every=1000, max_minutes=0.02)  # 1.2 s
    outputs = outputs_in(tmp_path / "out")
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs)
    step = load_generator(outputs.generator)[1]["step"]
    assert 0 < step < 100000
    assert _quality(outputs.quality)[-1][0] == step and len(read_rows(outputs.losses)) == step
    assert load_generator(outputs.best)[1]["step"] == step  # the only scored checkpoint
    # The budget counts the whole run: a rerun with the same budget has nothing left to do.
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs)
    assert load_generator(outputs.generator)[1]["step"] == step
    # Raising it continues the same run.
    launch_training(clips, summary_path(clips), {**config, "max_minutes": 0.15}, tmp_path / "state", outputs)
    assert load_generator(outputs.generator)[1]["step"] > step
    assert len(list((tmp_path / "state").iterdir())) == 1


def test_a_kept_step_is_exported_and_a_pruned_one_is_refused_by_name(tmp_path):
    import pytest

    from audiogan.training.export import export_generator

    clips = make_clips(tmp_path / "clips.npy")
    config = tiny_config(steps=4, checkpoint_every=1, keep_checkpoints=2, score_count=4)
    outputs = outputs_in(tmp_path / "out")
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs)
    export_generator(clips, summary_path(clips), config, tmp_path / "state", 4, tmp_path / "step4.pt")
    exported, meta = load_generator(tmp_path / "step4.pt")
    latest = load_generator(outputs.generator)[0]
    assert meta["step"] == 4 and meta["selection"]["checkpoint"] == "step"
    assert all(torch.equal(a, b) for a, b in zip(exported.state_dict().values(), latest.state_dict().values()))
    best_step = load_generator(outputs.best)[1]["step"]
    pruned = next(step for step in (1, 2) if step != best_step)  # neither among the newest 2 nor the best
    with pytest.raises(ValueError, match=rf"step {pruned} of run .* is not kept \(kept steps: .*3, 4\)"):
        export_generator(clips, summary_path(clips), config, tmp_path / "state", pruned, tmp_path / "old.pt")
