"""FD-mel, NDB/K and nearest-neighbour metrics on controlled inputs, and the evaluate stage."""

import numpy as np
import pytest
import torch

from audiogan.features import clip_features
from audiogan.metrics import diversity_per_label, frechet_distance, kmeans, ndb, nearest, two_proportion_differs
from evaluation_fixtures import tone_hits

RATE = 8000


@pytest.fixture(scope="module")
def family():
    """Features of two independent draws of one family of sounds, and of variants of the second."""
    return {
        "a": clip_features(tone_hits(120, RATE, seed=1), RATE),
        "b": clip_features(tone_hits(120, RATE, seed=2), RATE),
        "octave_up": clip_features(tone_hits(120, RATE, seed=2, pitch=2.0), RATE),
        "quieter": clip_features(tone_hits(120, RATE, seed=2, gain=0.5 * 10 ** (-12 / 20)), RATE),
    }


def test_fd_of_identical_sets_is_zero(family):
    assert frechet_distance(family["a"], family["a"]) == pytest.approx(0.0, abs=1e-6 * np.trace(np.cov(family["a"].T)))


def test_fd_grows_with_pitch_and_level_shifts(family):
    same = frechet_distance(family["a"], family["b"])
    assert same > 0
    assert frechet_distance(family["a"], family["octave_up"]) > 5 * same
    assert frechet_distance(family["a"], family["quieter"]) > 5 * same


def test_fd_matches_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (4000, 3))
    b = rng.normal(2.0, 2.0, (4000, 3))
    # |mu|^2 = 3 * 4; per dim var 1 and 4: 1 + 4 - 2 * 2 = 1
    assert frechet_distance(a, b) == pytest.approx(12.0 + 3.0, rel=0.05)


def test_fd_with_fewer_samples_than_dimensions(family):
    small = family["b"][:10]  # 10 samples, 80 dimensions: a singular covariance
    value = frechet_distance(family["a"], small)
    assert np.isfinite(value) and value > 0
    assert value == pytest.approx(frechet_distance(small, family["a"]), rel=1e-6)
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(family["a"], family["b"][:1])


def _standardize(reference, *others):
    mean, std = reference.mean(0), reference.std(0)
    return [(x - mean) / std for x in (reference, *others)]


def test_ndb_is_zero_for_identical_sets_and_high_for_other_sounds(family):
    a, b, octave = _standardize(family["a"], family["b"], family["octave_up"])
    centroids = kmeans(a, 10, seed=0)
    fraction, ref_shares, other_shares = ndb(a, a, centroids)
    assert fraction == 0.0 and np.allclose(ref_shares, other_shares)
    assert ndb(a, b, centroids)[0] <= 0.3  # same family: at most a few bins by chance
    assert ndb(a, octave, centroids)[0] >= 0.5  # an octave up lands in other bins


def test_kmeans_is_seeded_and_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]], dtype=float)
    points = np.concatenate([c + rng.normal(0, 0.5, (50, 2)) for c in centres])
    found = kmeans(points, 3, seed=7)
    np.testing.assert_array_equal(found, kmeans(points, 3, seed=7))
    for centre in centres:
        assert np.min(np.linalg.norm(found - centre, axis=1)) < 0.5
    with pytest.raises(ValueError, match="k-means"):
        kmeans(points[:2], 3, seed=0)


def test_two_proportion_test():
    # 50/100 vs 50/100: no difference; 50/100 vs 10/100: z ~ 6.
    differs = two_proportion_differs(np.array([50.0, 50.0, 0.0]), 100, np.array([50.0, 10.0, 0.0]), 100)
    assert differs.tolist() == [False, True, False]


def test_nearest_leave_one_out():
    pool = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.5]])
    index, distance = nearest(pool[:1] + 0.1, pool)
    assert index.tolist() == [0] and distance[0] == pytest.approx(0.1)
    index, distance = nearest(pool, pool, leave_one_out=True)
    assert index.tolist() == [1, 2, 1]
    assert distance[1] == pytest.approx(0.5 / np.sqrt(2))  # RMS over the 2 dimensions


def test_diversity_within_each_label_compares_alike_counts():
    rng = np.random.default_rng(0)
    spread = rng.standard_normal((10, 4))
    # "kick": eight copies of one sound; "snare": eight different ones; "tom": one sample; "clap": no real clips.
    gen = np.concatenate([np.repeat(spread[:1], 8, axis=0), spread[:8], spread[8:9], spread[:3]])
    labels = ["kick"] * 8 + ["snare"] * 8 + ["tom"] + ["clap"] * 3
    held = rng.standard_normal((30, 4))
    held_labels = ["kick"] * 12 + ["snare"] * 5 + ["tom"] * 13
    result = diversity_per_label(gen, labels, held, held_labels, np.random.default_rng(1))
    assert list(result) == ["kick", "snare", "tom", "clap"]  # in the samples' order
    assert result["kick"]["generated"] == 0.0 and result["snare"]["generated"] > 0.5
    assert result["kick"]["held_out_clips"] == 8 and result["snare"]["held_out_clips"] == 5  # at most all there are
    assert result["kick"]["held_out"] > 0.5
    assert result["tom"] == {"samples": 1, "generated": None, "held_out_clips": 1, "held_out": None}
    assert result["clap"]["held_out_clips"] == 0 and result["clap"]["held_out"] is None
    assert diversity_per_label(gen, [""] * len(gen), held, held_labels, np.random.default_rng(1)) == {}


# -- the evaluate stage, end to end -----------------------------------------------------------------


def _dataset(folder, clips):
    from audiogan.tsv import write_tsv

    np.save(folder / "clips.npy", clips)
    rows = [
        {"index": i, "source": "drums", "file": f"loop_{i // 10}.wav", "offset_s": 2.0 * (i % 10),
         "level_dbfs": -6.0, "license": "CC0-1.0"}
        for i in range(len(clips))
    ]
    write_tsv(folder / "manifest.tsv", rows, ["index", "source", "file", "offset_s", "level_dbfs", "license"])
    return folder / "clips.npy", folder / "manifest.tsv"


def test_evaluate_flags_a_copied_training_clip(tmp_path):
    import json

    import soundfile as sf

    from audiogan.audio_io import resample
    from audiogan.metrics import evaluate
    from audiogan.render import render_samples
    from evaluation_fixtures import tiny_generator

    clips = tone_hits(80, RATE, seconds=1.0, seed=3)
    clips_path, manifest_path = _dataset(tmp_path, clips)
    generator = tiny_generator(tmp_path / "generator.pt", sample_rate=RATE, clip_seconds=1.0)
    out = tmp_path / "samples"
    paths = [out / f"sample_{i:04d}.wav" for i in range(8)]
    # Rendered at another rate than the model's: evaluate resamples back.
    render_samples(generator, out, out / "samples.tsv", out / "contact_sheet.png", 8, 40, 16000, "PCM_24")
    sf.write(paths[2], resample(clips[17], RATE, 16000), 16000, subtype="PCM_24")  # a copy of clip 17

    settings = {"max_real_clips": 500, "ndb_bins": 5, "seed": 3, "copy_threshold": 0.5}
    metrics = evaluate(out / "samples.tsv", generator, clips_path, manifest_path, settings, tmp_path / "metrics.json")
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics

    assert metrics["clips"] == {"total": 80, "used": 80, "reference": 40, "held_out": 40, "compared": 8,
                                "searched_for_copies": 80}
    assert metrics["seeds"] == {"evaluate": 3, "samples": list(range(40, 48))}
    flagged = [s["index"] for s in metrics["samples"] if s["near_copy"]]
    assert flagged == [2]
    copy = metrics["samples"][2]
    assert copy["nearest_clip"] == {"index": 17, "source": "drums", "file": "loop_1.wav", "offset_s": 14.0,
                                    "license": "CC0-1.0"}
    assert copy["nn_train_distance"] < metrics["memorization"]["threshold_distance"]
    assert metrics["memorization"]["near_copies"] == 1

    fd = metrics["fd_mel"]
    # Near-silent untrained samples are far from tone hits; real clips are close to each other.
    assert fd["real_floor"] < fd["generated"] and fd["real_floor"] < fd["untrained_ceiling"]
    assert metrics["ndb"]["bins"] == 5 and 0.0 <= metrics["ndb"]["held_out_real"] <= 0.4
    # Near-silent samples crowd into few bins: some bin at least differs (8 samples give the
    # test little power).
    assert metrics["ndb"]["generated"] > 0
    assert sum(share == 0 for share in metrics["ndb"]["generated_shares"]) >= 2
    assert all(s["nn_generated_distance"] is not None for s in metrics["samples"])

    # A smaller seeded sample of the real clips: the counts follow, and the same seed repeats exactly.
    settings = {**settings, "max_real_clips": 20}
    first = evaluate(out / "samples.tsv", generator, clips_path, manifest_path, settings, tmp_path / "m1.json")
    again = evaluate(out / "samples.tsv", generator, clips_path, manifest_path, settings, tmp_path / "m2.json")
    assert first["clips"] == {"total": 80, "used": 20, "reference": 10, "held_out": 10, "compared": 8,
                              "searched_for_copies": 20}
    first.pop("seconds"), again.pop("seconds")
    assert first == again
    # The untrained reference generator runs where train.device says; on the CPU ("auto" here) the
    # numbers are those of the default.
    on_device = evaluate(out / "samples.tsv", generator, clips_path, manifest_path, settings, tmp_path / "m3.json",
                         device="auto")
    on_device.pop("seconds")
    if torch.cuda.is_available():
        assert on_device["fd_mel"]["untrained_ceiling"] == pytest.approx(first["fd_mel"]["untrained_ceiling"], rel=1e-3)
    else:
        assert on_device == first
