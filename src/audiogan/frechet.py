"""Fréchet distance between Gaussian fits of two feature sets (the FD in FD-mel).

Kept apart from `metrics` so that training, which reports FD-mel at each checkpoint, does not
depend on the evaluation and rendering code. `fd_mel_progress` reads an FD between its two
reference points (the gallery's scale, the quality benchmark's table).
"""

from __future__ import annotations

import math

import numpy as np


def _gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need a [N >= 2, D] feature matrix to fit a Gaussian, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(a: np.ndarray, b: np.ndarray, ridge: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature sets `a` `[N, D]` and `b` `[M, D]`.

    d² = |mu_a - mu_b|² + tr(C_a + C_b - 2 (C_a^½ C_b C_a^½)^½). The matrix square roots come from
    symmetric eigen-decompositions (always real and stable, unlike a general sqrtm of C_a C_b). A
    small ridge (relative to the mean variance) keeps covariances of N < D samples well posed.
    """
    mu_a, cov_a = _gaussian(a)
    mu_b, cov_b = _gaussian(b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature sizes differ: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    dim = mu_a.shape[0]
    scale = max((np.trace(cov_a) + np.trace(cov_b)) / (2 * dim), 1e-12)
    eye = np.eye(dim) * ridge * scale
    cov_a, cov_b = cov_a + eye, cov_b + eye
    root_a = _psd_sqrt(cov_a)
    cross = _psd_sqrt(root_a @ cov_b @ root_a)
    value = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(cross))
    return max(value, 0.0)


def fd_mel_progress(generated: float | None, floor: float | None, ceiling: float | None) -> float | None:
    """How far FD-mel came from the untrained ceiling towards the real floor, on a log scale:
    0 at the ceiling, 1 at the floor, negative when worse than untrained, above 1 below the floor.

    None when a value is missing or not positive, or the ceiling is not above the floor (no scale).
    """
    values = (generated, floor, ceiling)
    if not all(isinstance(v, (int, float)) and v > 0 for v in values) or ceiling <= floor:
        return None
    return (math.log(ceiling) - math.log(generated)) / (math.log(ceiling) - math.log(floor))
