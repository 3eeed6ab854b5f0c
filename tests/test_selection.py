"""Keeping the best checkpoint, going back to it, early stopping and the time budget (training.selection)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from train_fixtures import (
    CLIP_SECONDS,
    SAMPLE_RATE,
    latest_state,
    make_clips,
    outputs_in,
    read_rows,
    summary_path,
    tiny_config,
)

from audiogan.checkpoint import (
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    load_generator,
)
from audiogan.gallery import _rendered_checkpoint
from audiogan.training import launch_training, run_id
from audiogan.training.selection import (
    best_row,
    checkpoints_since_best,
    describe,
    should_restore_best,
    should_stop_early,
)


def test_best_row_and_patience_from_the_quality_history():
    quality = [(100, 900.0), (200, 500.0), (300, math.nan), (400, 700.0), (500, 500.0)]
    assert best_row(quality) == (200, 500.0)  # NaN ignored; the earliest on ties
    assert checkpoints_since_best(quality) == 3
    assert should_stop_early(quality, 3) and not should_stop_early(quality, 4)
    assert not should_stop_early(quality, None)
    assert best_row([]) is None and checkpoints_since_best([]) == 0
    assert describe("best", 200, quality)["reason"] == "step 200, lowest FD-mel 500 of 5 checkpoints"


def test_returning_to_the_best_counts_from_the_best_or_the_last_return():
    quality = [(100, 900.0), (200, 500.0), (300, 600.0), (400, 700.0), (500, 650.0)]
    assert should_restore_best(quality, 3, None) and not should_restore_best(quality, 4, None)
    assert not should_restore_best(quality, None, None) and not should_restore_best([], 1, None)
    # After a return at step 400 the count starts again: one checkpoint since.
    assert not should_restore_best(quality, 2, 400) and should_restore_best(quality + [(600, 700.0)], 2, 400)
    # A return before the best (a new best came since) counts from the best.
    assert should_restore_best(quality, 3, 100)


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


# The modern recipe with EMA and R1, scored at every step, going back after two checkpoints without a
# better score; rates this high make the tiny seeded run drift (and go back) several times.
def restoring_config(**overrides) -> dict:
    settings = {"recipe": "modern", "r1_every": 2, "ema_halflife": 2, "steps": 16, "checkpoint_every": 1,
                "score_count": 4, "restore_best_after": 2, "learning_rate": 1e-2, "critic_learning_rate": 4e-2}
    return tiny_config(**{**settings, **overrides})


def test_a_drifting_run_goes_back_to_its_best_checkpoint_at_lower_rates(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = restoring_config(keep_checkpoints=1)
    outputs = outputs_in(tmp_path / "out")
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs)

    quality = _quality(outputs.quality)
    assert [s for s, _ in quality] == list(range(1, 17))  # the step count goes on through each return
    state = latest_state(tmp_path, config, clips)
    restores = [tuple(row) for row in state["restores"].tolist()]
    assert len(restores) >= 2, "the seeded tiny run drifts more than once"
    last_at = None
    for at, back in restores:
        history = [row for row in quality if row[0] <= at]
        assert best_row(history)[0] == back  # back to the best checkpoint as scored then
        assert should_restore_best(history, 2, last_at)  # ... once two checkpoints since brought nothing better
        last_at = at
    factor = 0.5 ** len(restores)
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1e-2 * factor)
    assert state["opt_d"]["param_groups"][0]["lr"] == pytest.approx(4e-2 * factor)
    # The best full checkpoint is spared besides the newest `keep_checkpoints` one.
    state_dir = tmp_path / "state" / run_id(config, SAMPLE_RATE, CLIP_SECONDS, clips)
    assert [s for s, _ in list_checkpoints(state_dir)] == sorted({best_row(quality)[0], 16})


def test_going_back_restores_the_best_checkpoints_networks_and_optimizers(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    # A rate factor so small that the step after a return leaves the restored weights as they were.
    config = restoring_config(restore_lr_factor=1e-9, keep_checkpoints=100)
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs_in(tmp_path / "out"))
    state_dir = tmp_path / "state" / run_id(config, SAMPLE_RATE, CLIP_SECONDS, clips)
    at, back = (int(v) for v in latest_state(tmp_path, config, clips)["restores"][0])
    returned, best, left = (load_checkpoint(checkpoint_path(state_dir, s)) for s in (at + 1, back, at))
    for part in ("generator", "critic"):
        for name, value in returned[part].items():
            torch.testing.assert_close(value, best[part][name], rtol=0, atol=1e-6, msg=f"{part} {name}")
        assert any(not torch.allclose(v, left[part][k], atol=1e-6) for k, v in returned[part].items())
    assert returned["opt_g"]["state"][0]["step"] == best["opt_g"]["state"][0]["step"] + 1


def test_a_run_stopped_where_it_goes_back_resumes_as_if_never_stopped(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = restoring_config()
    outputs = outputs_in(tmp_path / "whole")
    launch_training(clips, summary_path(clips), config, tmp_path / "whole", outputs)
    at = int(latest_state(tmp_path, config, clips, "whole")["restores"][0][0])
    # Stopped at the checkpoint where it went back (scored, not yet returned), then resumed.
    for steps in (at, 16):
        launch_training(clips, summary_path(clips), {**config, "steps": steps}, tmp_path / "parts",
                        outputs_in(tmp_path / "parts_out"))  # fmt: skip
    whole, parts = load_generator(outputs.generator)[0], load_generator(tmp_path / "parts_out" / "generator.pt")[0]
    for a, b in zip(whole.state_dict().values(), parts.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert _quality(outputs.quality) == _quality(tmp_path / "parts_out" / "quality.csv")


def test_two_gloo_processes_stop_early_and_go_back_together(tmp_path):
    # Only rank 0 scores the previews; the others must still agree on where to go back and to stop.
    clips = make_clips(tmp_path / "clips.npy")
    config = restoring_config(batch_size=4, steps=12, threads=2, patience=4)
    for name, gpus in (("one", 1), ("two", 2)):
        launch_training(clips, summary_path(clips), {**config, "gpus": gpus}, tmp_path / name,
                        outputs_in(tmp_path / f"{name}_out"))  # fmt: skip
    one, two = (latest_state(tmp_path, {**config, "gpus": g}, clips, name) for name, g in (("one", 1), ("two", 2)))
    assert one["restores"].tolist() == two["restores"].tolist() and one["restores"].numel() > 0
    assert one["step"] == two["step"] < 12  # patience ended both at the same step
    # (Not r1: on the steps between lazy R1 steps it repeats the last value, which after going back
    # is the one rank 0 saved in the checkpoint rather than the mean over ranks; it is not trained on.)
    losses = [[[float(v) for k, v in row.items() if k not in ("r1", "it_per_s")]
               for row in read_rows(tmp_path / f"{name}_out" / "losses.csv")] for name in ("one", "two")]  # fmt: skip
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4, atol=1e-5)
