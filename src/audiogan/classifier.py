"""A small log-mel CNN that tells labelled clips apart, and the scores built on it.

The quality benchmark trains one on real labelled clips (drum one-shots) and reads generated clips
through it: the Inception Score (Salimans et al., 2016; WaveGAN's evaluation on SC09) is
exp(E_x KL(p(y|x) || p(y))) — high when each clip is confidently one class (it sounds like
*something*) and the classes are evenly covered (variety). Chance is 1, the number of classes the
maximum; real clips set the reachable value. `label_accuracy` checks a conditional generator's
clips against the labels they were asked for.

Input features are `audiogan.features.log_mel_spectrogram` (40 bands, 32 ms frames), scaled by the
training clips' mean and spread. Everything runs on the CPU and is deterministic for a seed (with
the same number of torch threads).

A judge trained only on clean synthesized clips learns that a drum's tail is digital silence: white
noise at -70 dBFS (inaudible under a hit) turns every real kick into an "open hat" for it, and a
generator's quiet noise floor decides its verdict more than the hit does (benchmarks/RESULTS.md).
`noise_floor_dbfs` trains it on half of its clips with white noise added at a random level in
that range, so that it judges the sound rather than the floor under it.

Generated clips lie outside what a judge was trained on, and there one small CNN's verdict depends
on its seed: of judges that all score 1.00 on held-out real one-shots, one called 32 generated
snares snares, another called all 32 kicks (benchmarks/RESULTS.md).
`train_classifier_ensemble` trains several judges from consecutive seeds on one split and
`ClassifierEnsemble` averages their probabilities, so that a verdict belongs to the clips rather
than to one seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .features import log_mel_spectrogram

CHANNELS = (16, 32, 64)
GAIN_JITTER_DB = 6.0  # training clips are shifted by up to this much in level: generated levels vary
HELD_OUT_FRACTION = 0.2  # share of each label that train_classifier scores it on
NOISE_FLOOR_DBFS = (-90.0, -40.0)  # a robust judge's range of added noise (rms); -30 dBFS is audible on a hat
_PREDICT_BATCH = 256


class _Network(nn.Module):
    """Three conv blocks over [1, bands, frames], global average pooling, one linear layer."""

    def __init__(self, classes: int, channels: Sequence[int] = CHANNELS):
        super().__init__()
        layers: list[nn.Module] = []
        previous = 1
        for index, width in enumerate(channels):
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            if index < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            previous = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(previous, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))


class ClipClassifier:
    """A trained classifier: labels, the sample rate it was trained at, feature scaling, network."""

    def __init__(self, labels: Sequence[str], sample_rate: int, mean: float, std: float, network: nn.Module):
        self.labels = tuple(labels)
        self.sample_rate = int(sample_rate)
        self.mean, self.std = float(mean), float(std)
        self.network = network.eval()

    def _scaled(self, features: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((features - self.mean) / self.std).float().unsqueeze(1)

    def probabilities(self, clips: np.ndarray) -> np.ndarray:
        """p(label | clip): float64 `[n, len(labels)]`, rows summing to 1, for clips `[n, samples]`."""
        return self.probabilities_of_features(log_mel_spectrogram(np.asarray(clips, dtype=np.float32), self.sample_rate))

    def probabilities_of_features(self, features: np.ndarray) -> np.ndarray:
        """`probabilities` from the clips' unscaled log-mel spectrograms (`log_mel_spectrogram`)."""
        out = []
        with torch.inference_mode():
            for start in range(0, len(features), _PREDICT_BATCH):
                logits = self.network(self._scaled(features[start : start + _PREDICT_BATCH]))
                out.append(F.softmax(logits.double(), dim=1).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)))

    def predict(self, clips: np.ndarray) -> list[str]:
        """The most probable label of each clip."""
        return [self.labels[i] for i in self.probabilities(clips).argmax(axis=1)]


@dataclass(frozen=True)
class ClassifierReport:
    """How training went: accuracies on the training and the held-out clips, counts, time."""

    held_out_accuracy: float
    train_accuracy: float
    train_clips: int
    held_out_clips: int
    epochs: int
    seconds: float


def split_by_label(labels: Sequence[str], held_out_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: (train indices, held-out indices), sorted; each label keeps at least
    one clip on each side when it has two or more."""
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be between 0 and 1, got {held_out_fraction}")
    rng = np.random.default_rng(seed)
    names = np.asarray(labels)
    train, held = [], []
    for name in sorted(set(labels)):
        members = rng.permutation(np.flatnonzero(names == name))
        count = int(round(len(members) * held_out_fraction))
        count = min(max(count, 1), len(members) - 1) if len(members) >= 2 else 0
        held.extend(members[:count])
        train.extend(members[count:])
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(held, dtype=np.int64))


def train_classifier(
    clips: np.ndarray,
    labels: Sequence[str],
    sample_rate: int,
    *,
    held_out_fraction: float = HELD_OUT_FRACTION,
    epochs: int = 12,
    batch_size: int = 32,
    learning_rate: float = 5e-3,
    seed: int = 0,
    noise_floor_dbfs: tuple[float, float] | None = None,
    split_seed: int | None = None,
) -> tuple[ClipClassifier, ClassifierReport]:
    """Train a classifier on labelled clips `[n, samples]`, holding out a stratified share to score it.

    With `noise_floor_dbfs` (low, high), each training batch has white noise added to half of its
    clips, at an rms level drawn uniformly from that range (a fresh draw every epoch); the held-out
    clips are scored clean. `split_seed` (default: `seed`) draws the held-out split, so that judges
    of different seeds can share one. Needs at least two labels with two clips each. Deterministic
    for a seed (same torch threads); the global torch RNG is left as it was.
    """
    started = time.perf_counter()
    clips = np.asarray(clips, dtype=np.float32)
    if clips.ndim != 2 or len(clips) != len(labels):
        raise ValueError(f"need clips [n, samples] and n labels, got shape {clips.shape} and {len(labels)} labels")
    names = sorted(set(labels))
    counts = {name: list(labels).count(name) for name in names}
    if len(names) < 2 or min(counts.values()) < 2:
        raise ValueError(f"a classifier needs two or more labels with two or more clips each, got {counts}")
    targets = np.array([names.index(label) for label in labels], dtype=np.int64)
    train_idx, held_idx = split_by_label(labels, held_out_fraction, seed if split_seed is None else split_seed)

    features = log_mel_spectrogram(clips, sample_rate)
    mean, std = float(features[train_idx].mean()), float(features[train_idx].std()) + 1e-6
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = _Network(len(names))
        classifier = ClipClassifier(names, sample_rate, mean, std, network)
        optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
        for _ in range(epochs):
            network.train()
            order = rng.permutation(train_idx)
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                gain = rng.uniform(-GAIN_JITTER_DB, GAIN_JITTER_DB, size=(len(batch), 1, 1))
                batch_features = (features[batch] if noise_floor_dbfs is None
                                  else log_mel_spectrogram(with_noise_floor(clips[batch], noise_floor_dbfs, rng), sample_rate))
                x = classifier._scaled(batch_features + gain.astype(np.float32))
                loss = F.cross_entropy(network(x), torch.from_numpy(targets[batch]))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            schedule.step()
        network.eval()
    report = ClassifierReport(
        held_out_accuracy=label_accuracy(classifier, clips[held_idx], [labels[i] for i in held_idx]),
        train_accuracy=label_accuracy(classifier, clips[train_idx], [labels[i] for i in train_idx]),
        train_clips=len(train_idx),
        held_out_clips=len(held_idx),
        epochs=epochs,
        seconds=round(time.perf_counter() - started, 3),
    )
    return classifier, report


class ClassifierEnsemble:
    """Classifiers of the same labels and rate heard together: p(label | clip) is their mean."""

    def __init__(self, members: Sequence[ClipClassifier]):
        if not members:
            raise ValueError("an ensemble needs at least one classifier")
        if len({(m.labels, m.sample_rate) for m in members}) > 1:
            raise ValueError("the classifiers of an ensemble must share their labels and sample rate")
        self.members = tuple(members)
        self.labels, self.sample_rate = members[0].labels, members[0].sample_rate

    def member_probabilities(self, clips: np.ndarray) -> list[np.ndarray]:
        """Each member's p(label | clip), in order; the clips' features are computed once for all."""
        features = log_mel_spectrogram(np.asarray(clips, dtype=np.float32), self.sample_rate)
        return [member.probabilities_of_features(features) for member in self.members]

    def probabilities(self, clips: np.ndarray) -> np.ndarray:
        """The members' mean p(label | clip): float64 `[n, len(labels)]`."""
        return np.mean(self.member_probabilities(clips), axis=0)

    def predict(self, clips: np.ndarray) -> list[str]:
        """The most probable label of each clip, by the mean of the members."""
        return [self.labels[i] for i in self.probabilities(clips).argmax(axis=1)]


def train_classifier_ensemble(
    clips: np.ndarray, labels: Sequence[str], sample_rate: int, *, members: int, seed: int = 0, **settings
) -> tuple[ClassifierEnsemble, list[ClassifierReport]]:
    """`members` classifiers (`train_classifier` with `settings`) from seeds `seed`, `seed + 1`, ...,
    all holding out the split of `seed`; one report per member."""
    if members < 1:
        raise ValueError(f"an ensemble needs at least one member, got {members}")
    trained = [train_classifier(clips, labels, sample_rate, seed=seed + index, split_seed=seed, **settings)
               for index in range(members)]  # fmt: skip
    return ClassifierEnsemble([classifier for classifier, _ in trained]), [report for _, report in trained]


def with_noise_floor(clips: np.ndarray, level_range_dbfs: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """`clips` [n, samples] with white noise added to a random half of them, each at an rms level
    drawn uniformly from `level_range_dbfs` (float32; the others unchanged)."""
    low, high = level_range_dbfs
    if low > high:
        raise ValueError(f"noise floor range must be (low, high), got {level_range_dbfs}")
    levels = 10.0 ** (rng.uniform(low, high, size=(len(clips), 1)) / 20.0)
    chosen = rng.random((len(clips), 1)) < 0.5
    noise = rng.standard_normal(clips.shape) * levels * chosen
    return (clips + noise).astype(np.float32)


def label_accuracy(classifier: ClipClassifier, clips: np.ndarray, labels: Sequence[str]) -> float:
    """Share of clips the classifier assigns to the given label (e.g. the label a conditional
    generator was asked for). NaN for no clips."""
    if len(clips) != len(labels):
        raise ValueError(f"{len(clips)} clips but {len(labels)} labels")
    if len(labels) == 0:
        return float("nan")
    predicted = classifier.predict(clips)
    return float(np.mean([p == label for p, label in zip(predicted, labels)]))


def inception_score(probabilities: np.ndarray) -> float:
    """exp(mean over clips of KL(p(y|x) || p(y))), p(y) the mean of the rows; `[n, classes]` rows sum to 1.

    1 when every clip gets the same distribution; the number of classes when each clip is one class
    for certain and the classes are used equally.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probabilities must be [n >= 1, classes >= 1], got shape {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("probabilities must be non-negative with rows summing to 1")
    marginal = p.mean(axis=0)
    # 0 * log 0 = 0: only terms with p > 0 count (where p > 0, the marginal is > 0 too).
    terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(np.where(p > 0, marginal, 1.0))), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))
