"""The quality benchmark's own parts: its data, its scoring and its table (benchmarks/bench_quality.py).

The end-to-end run needs the training package; these parts do not, and run on real files here.
"""

import importlib.util
import json
import math

import numpy as np
import pytest

from audiogan.classifier import train_classifier
from audiogan.config import section_settings
from audiogan.frechet import fd_mel_progress
from audiogan.sources.demo import ONESHOT_LABELS, oneshot_clips

from conftest import REPO
from evaluation_fixtures import tiny_generator

_spec = importlib.util.spec_from_file_location("bench_quality", REPO / "benchmarks" / "bench_quality.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_fd_mel_progress_reads_fd_between_ceiling_and_floor():
    assert fd_mel_progress(1000.0, 10.0, 1000.0) == pytest.approx(0.0)
    assert fd_mel_progress(10.0, 10.0, 1000.0) == pytest.approx(1.0)
    assert fd_mel_progress(100.0, 10.0, 1000.0) == pytest.approx(0.5)  # log scale: the geometric middle
    assert fd_mel_progress(2000.0, 10.0, 1000.0) < 0  # worse than untrained
    # The CPU probe quoted in issue 11: 11,825 between a floor of 253 and a ceiling of 36,779.
    assert fd_mel_progress(11825.0, 253.0, 36779.0) == pytest.approx(0.228, abs=0.001)
    assert fd_mel_progress(None, 10.0, 1000.0) is None
    assert fd_mel_progress(0.0, 10.0, 1000.0) is None
    assert fd_mel_progress(50.0, 100.0, 100.0) is None  # no scale


def test_make_dataset_writes_what_training_reads(tmp_path):
    clips_path = bench.make_dataset(tmp_path / "small", 12, seed=5)
    clips = np.load(clips_path)
    assert clips.shape == (12, 16384) and clips.dtype == np.float32
    expected, labels = oneshot_clips(12, 5, 16000, 16384)
    np.testing.assert_array_equal(clips, expected)
    summary = json.loads((tmp_path / "small" / "summary.json").read_text())
    assert summary["audio"] == {"sample_rate": 16000, "clip_samples": 16384, "clip_seconds": 1.024}
    assert summary["clips"] == 12
    assert summary["labels"] == {name: 2 for name in ONESHOT_LABELS}
    assert bench.dataset_labels(clips_path) == labels
    assert not [p.name for p in (tmp_path / "small").iterdir() if p.name.startswith(".")]  # no temp files


def test_an_untrained_generator_scores_at_the_ceiling(tmp_path):
    clips_path = bench.make_dataset(tmp_path / "data", 24, seed=1)
    classifier, _ = train_classifier(np.load(clips_path), bench.dataset_labels(clips_path), 16000, epochs=1, seed=0)
    # Seeded like evaluate's own untrained reference (evaluate.seed 0): the same network, so FD-mel
    # must sit exactly at the ceiling.
    generator = tiny_generator(tmp_path / "generator.pt", sample_rate=16000, clip_seconds=1.024, seed=0, step=7)
    scores = bench.score_generator(generator, clips_path, classifier, 6, tmp_path / "samples",
                                   section_settings("evaluate", {}))
    assert scores["step"] == 7 and scores["samples"] == 6
    assert scores["fd_mel"] == pytest.approx(scores["fd_ceiling"])
    assert scores["fd_progress"] == pytest.approx(0.0, abs=1e-9)
    assert scores["fd_floor"] < scores["fd_ceiling"]
    assert 1.0 <= scores["is_generated"] <= len(ONESHOT_LABELS)
    assert 0.0 <= scores["ndb"] <= 1.0 and 0 <= scores["near_copies"] <= 6
    assert len(list((tmp_path / "samples").glob("sample_*.wav"))) == 6
    real = bench.real_inception_score(classifier, clips_path, 24, seed=0)
    assert 1.0 <= real <= len(ONESHOT_LABELS)


def _row(set_name, variant, is_generated):
    return {"set": set_name, "clips": 300, "variant": variant, "steps": 120, "step": 100, "it_per_s": 2.5,
            "cpu_seconds": 120.0,
            "is_generated": is_generated, "is_real": 5.0, "fd_mel": 900.0, "fd_progress": 0.4, "ndb": 0.3,
            "ndb_real": 0.1, "near_copies": 0, "samples": 64}


def test_ratios_are_excess_over_chance_against_the_baseline_on_the_same_set():
    rows = bench.add_ratios([_row("small", "wavegan", 1.5), _row("small", "modern", 2.5),
                             _row("large", "modern", 2.0), _row("tiny", "wavegan", 1.001), _row("tiny", "modern", 2.0)])
    # No baseline on "large"; on "tiny" the baseline is at chance, and a ratio to nothing is noise.
    assert [row["is_excess_ratio"] for row in rows] == [pytest.approx(1.0), pytest.approx(3.0), None, None, None]
    table = bench.format_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert "| small (300) | modern | 120 (100) | 2.50 | 120 | 2.50 | 5.00 | 3.00 | 900 | 0.40 | 0.30 (0.10) | 0/64 |" in table
    assert table[4].count("n/a") == 1


def test_every_variant_names_a_recipe_and_the_baseline_is_one_of_them():
    assert bench.BASELINE in bench.VARIANTS
    assert all(values["recipe"] in ("wavegan", "modern") for values in bench.VARIANTS.values())
    assert all({"p", "adaptive"} <= set(values["augment"]) for values in bench.VARIANTS.values())
    assert math.isclose(bench.CLIP_SAMPLES / bench.SAMPLE_RATE, 1.024)


def test_train_config_layers_the_variant_over_the_common_settings():
    variant = bench.VARIANTS["modern + augment p=0.5"]
    before = json.dumps(bench.VARIANTS, sort_keys=True)
    config = bench.train_config(variant, 2.5, {"model_size": 4, "augment": {"target": 0.7}})
    assert config == {**bench.COMMON_TRAIN, "model_size": 4, "recipe": "modern",
                      "augment": {"target": 0.7, "p": 0.5, "adaptive": False}, "max_minutes": 2.5}
    config["augment"]["p"] = 0.9
    assert json.dumps(bench.VARIANTS, sort_keys=True) == before  # the table is not shared with a run
    # Only what a variant names: the recipe's own defaults (betas, EMA, ...) are the training package's.
    assert "betas" not in bench.train_config(bench.VARIANTS["wavegan"], 1.0)


def test_a_quiet_noise_floor_costs_one_shots_much_fd_mel():
    # Half of a one-shot is digital silence: FD-mel grows steeply as a noise floor rises into it.
    rows = dict(bench.noise_floor_fd(32, (-90, -60, -40)))
    assert rows[-90.0] < 2 * rows[None] + 50  # far below anything audible: about the clean score
    assert rows[-60.0] > 10 * rows[-90.0] and rows[-40.0] > rows[-60.0]
