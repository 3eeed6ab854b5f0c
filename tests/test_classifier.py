"""The log-mel CNN classifier and the Inception Score the quality benchmark reads through it."""

import numpy as np
import pytest

from audiogan.classifier import (
    ClassifierEnsemble,
    inception_score,
    label_accuracy,
    split_by_label,
    train_classifier,
    train_classifier_ensemble,
    with_noise_floor,
)

RATE = 8000


def two_kinds(count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Half-second clips, alternately a low decaying tone ('tone') and a bright noise burst ('noise')."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE // 2) / RATE
    clips, labels = [], []
    for index in range(count):
        level = rng.uniform(0.2, 0.9)
        if index % 2 == 0:
            clip = np.sin(2 * np.pi * rng.uniform(80, 160) * t) * np.exp(-t / rng.uniform(0.05, 0.2))
            labels.append("tone")
        else:
            noise = np.diff(rng.standard_normal(t.size + 1))  # differenced: tilted towards high frequencies
            clip = noise * np.exp(-t / rng.uniform(0.02, 0.1))
            labels.append("noise")
        clips.append(level * clip / np.abs(clip).max())
    return np.asarray(clips, np.float32), labels


@pytest.fixture(scope="module")
def trained():
    clips, labels = two_kinds(40, seed=0)
    return train_classifier(clips, labels, RATE, epochs=6, batch_size=8, seed=3)


def test_inception_score_of_confident_evenly_spread_predictions_is_the_class_count():
    assert inception_score(np.tile(np.eye(5), (3, 1))) == pytest.approx(5.0)


def test_inception_score_of_identical_predictions_is_one():
    assert inception_score(np.tile([0.2, 0.3, 0.5], (7, 1))) == pytest.approx(1.0)
    assert inception_score(np.tile([0.0, 1.0], (4, 1))) == pytest.approx(1.0)  # all one class: no variety


def test_inception_score_matches_its_definition_on_a_small_case():
    # Rows [1, 0] and [.5, .5]: marginal [.75, .25]; KLs ln(4/3) and .5 ln(2/3) + .5 ln 2.
    expected = np.exp((np.log(4 / 3) + 0.5 * np.log(2 / 3) + 0.5 * np.log(2)) / 2)
    assert inception_score(np.array([[1.0, 0.0], [0.5, 0.5]])) == pytest.approx(expected)


def test_inception_score_rejects_what_is_not_a_distribution():
    with pytest.raises(ValueError, match="sum"):
        inception_score(np.array([[0.5, 0.6]]))
    with pytest.raises(ValueError, match="shape"):
        inception_score(np.zeros((0, 3)))


def test_split_is_stratified_disjoint_and_complete():
    labels = ["a"] * 10 + ["b"] * 5 + ["c"] * 2
    train, held = split_by_label(labels, 0.2, seed=1)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(17))
    assert [labels[i] for i in held].count("a") == 2
    assert [labels[i] for i in held].count("b") == 1 and [labels[i] for i in held].count("c") == 1
    again, _ = split_by_label(labels, 0.2, seed=1)
    np.testing.assert_array_equal(train, again)


def test_classifier_separates_two_different_sounds(trained):
    classifier, report = trained
    assert classifier.labels == ("noise", "tone")
    assert report.held_out_clips == 8 and report.train_clips == 32
    assert report.held_out_accuracy >= 0.85
    fresh, labels = two_kinds(20, seed=9)  # clips it never saw
    assert label_accuracy(classifier, fresh, labels) >= 0.9
    probabilities = classifier.probabilities(fresh)
    assert probabilities.shape == (20, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    # Right and evenly spread over the two kinds: well above chance (1), at most 2.
    assert 1.3 < inception_score(probabilities) <= 2.0
    # Relabelled clips score low: label_accuracy compares with the labels given.
    swapped = ["tone" if label == "noise" else "noise" for label in labels]
    assert label_accuracy(classifier, fresh, swapped) <= 0.1


def test_training_is_deterministic_for_a_seed(trained):
    classifier, _ = trained
    clips, labels = two_kinds(40, seed=0)
    again, _ = train_classifier(clips, labels, RATE, epochs=6, batch_size=8, seed=3)
    other, _ = train_classifier(clips, labels, RATE, epochs=6, batch_size=8, seed=4)
    probe, _ = two_kinds(6, seed=5)
    np.testing.assert_array_equal(classifier.probabilities(probe), again.probabilities(probe))
    assert not np.allclose(classifier.probabilities(probe), other.probabilities(probe))


def test_training_needs_two_labels_with_two_clips_each():
    clips, _ = two_kinds(4, seed=0)
    with pytest.raises(ValueError, match="two or more labels"):
        train_classifier(clips, ["tone"] * 4, RATE)
    with pytest.raises(ValueError, match="two or more labels"):
        train_classifier(clips, ["tone", "tone", "tone", "noise"], RATE)


def test_a_judge_trained_with_a_noise_floor_hears_the_sound_not_the_floor(trained):
    strict, _ = trained
    clips, labels = two_kinds(40, seed=0)
    robust, report = train_classifier(clips, labels, RATE, epochs=6, batch_size=8, seed=3, noise_floor_dbfs=(-90, -40))
    assert report.held_out_accuracy >= 0.85  # scored on clean clips
    fresh, fresh_labels = two_kinds(20, seed=9)
    hiss = np.random.default_rng(1).standard_normal(fresh.shape).astype(np.float32) * 10 ** (-60 / 20)
    # Decaying tones over a -60 dBFS floor: the clean-trained judge calls many of them noise.
    assert label_accuracy(strict, fresh + hiss, fresh_labels) <= 0.8
    assert label_accuracy(robust, fresh + hiss, fresh_labels) >= 0.95
    assert label_accuracy(robust, fresh, fresh_labels) >= 0.9


def test_noise_floor_goes_on_about_half_the_clips_at_the_levels_asked():
    clips = np.zeros((400, 2000), np.float32)
    noisy = with_noise_floor(clips, (-60.0, -40.0), np.random.default_rng(0))
    rms_db = 20 * np.log10(np.sqrt(np.mean(noisy.astype(np.float64) ** 2, axis=1)) + 1e-20)
    touched = rms_db > -200
    assert 0.4 < touched.mean() < 0.6
    assert rms_db[touched].min() > -61 and rms_db[touched].max() < -39
    with pytest.raises(ValueError, match="low, high"):
        with_noise_floor(clips, (-40.0, -60.0), np.random.default_rng(0))


def test_an_ensemble_averages_members_of_consecutive_seeds_that_share_one_split():
    clips, labels = two_kinds(40, seed=0)
    ensemble, reports = train_classifier_ensemble(clips, labels, RATE, members=3, seed=3, epochs=4, batch_size=8)
    assert len(ensemble.members) == len(reports) == 3
    assert all(report.held_out_accuracy >= 0.85 for report in reports)
    # Feature scaling is fitted on the training share: equal for one split, different for another.
    assert len({member.mean for member in ensemble.members}) == 1
    other_split, _ = train_classifier(clips, labels, RATE, epochs=1, batch_size=8, seed=3, split_seed=4)
    assert other_split.mean != ensemble.members[0].mean
    second, _ = train_classifier(clips, labels, RATE, epochs=4, batch_size=8, seed=4, split_seed=3)
    probe, probe_labels = two_kinds(8, seed=7)
    np.testing.assert_array_equal(second.probabilities(probe), ensemble.members[1].probabilities(probe))
    each = [member.probabilities(probe) for member in ensemble.members]
    assert not np.allclose(each[0], each[1])  # other seeds, other networks
    np.testing.assert_allclose(ensemble.probabilities(probe), np.mean(each, axis=0))
    for shared, alone in zip(ensemble.member_probabilities(probe), each):  # features computed once
        np.testing.assert_array_equal(shared, alone)
    assert label_accuracy(ensemble, probe, probe_labels) >= 0.85


def test_an_ensemble_refuses_no_members_and_mixed_labels(trained):
    classifier, _ = trained
    clips, labels = two_kinds(12, seed=0)
    with pytest.raises(ValueError, match="at least one"):
        train_classifier_ensemble(clips, labels, RATE, members=0)
    with pytest.raises(ValueError, match="at least one"):
        ClassifierEnsemble([])
    renamed = ["low" if label == "tone" else "high" for label in labels]
    other, _ = train_classifier(clips, renamed, RATE, epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="share their labels"):
        ClassifierEnsemble([classifier, other])
