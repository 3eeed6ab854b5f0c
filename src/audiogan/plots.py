"""Figures: training curves, quality over steps, spectrogram images and the contact sheet.

Matplotlib runs headless (Agg). Figures are written atomically, or returned as PNG bytes for
inlining in the gallery page.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from .atomic import atomic_write_bytes  # noqa: E402
from .features import log_mel_spectrogram  # noqa: E402

LOSS_SERIES = (
    ("d_loss", "critic loss"),
    ("g_loss", "generator loss"),
    ("wasserstein", "Wasserstein estimate"),
    ("gradient_penalty", "gradient penalty"),
    ("r1", "R1 penalty (real clips)"),
    ("real_sign", "E[sign D(real)] (critic overfitting)"),
    ("augment_p", "augmentation probability"),
)
ACCENT = "#e4572e"
INK = "#2b2d42"
SPECTROGRAM_CMAP = "magma"
SPECTROGRAM_RANGE_DB = 80.0  # dynamic range shown below each image's loudest point


def read_numeric_table(path: str | os.PathLike | None) -> dict[str, np.ndarray]:
    """Columns of a CSV or TSV file (delimiter sniffed from the header) as float arrays.

    A missing or empty file gives an empty dict; unparsable cells become NaN.
    """
    if path is None or not Path(path).is_file():
        return {}
    with open(path, encoding="utf-8", newline="") as handle:
        header = handle.readline()
        if not header.strip():
            return {}
        delimiter = "\t" if "\t" in header else ","
        handle.seek(0)
        rows = list(csv.DictReader(handle, delimiter=delimiter))
    if not rows:
        return {}
    columns: dict[str, np.ndarray] = {}
    for name in rows[0]:
        if name is None:
            continue
        values = []
        for row in rows:
            try:
                values.append(float(row.get(name) or "nan"))
            except ValueError:
                values.append(float("nan"))
        columns[name.strip()] = np.asarray(values, dtype=np.float64)
    return columns


def figure_png(fig: plt.Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes and close it."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor=fig.get_facecolor())
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _style(ax: plt.Axes) -> None:
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _smooth(values: np.ndarray) -> np.ndarray:
    """Moving average over ~2% of the points, so trends show through per-step noise."""
    width = max(1, len(values) // 50)
    if width == 1:
        return values
    kernel = np.ones(width) / width
    padded = np.concatenate([np.full(width - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def _plot_quality(ax: plt.Axes, quality: dict[str, np.ndarray]) -> None:
    steps, fd = quality["step"], quality["fd_mel"]
    ok = np.isfinite(steps) & np.isfinite(fd)
    ax.plot(steps[ok], fd[ok], marker="o", color=ACCENT, linewidth=2)
    ax.set_title("FD-mel of training previews (lower is better)")
    ax.set_xlabel("generator step")
    ax.set_ylabel("FD-mel")
    _style(ax)


def _has_quality(quality: dict[str, np.ndarray]) -> bool:
    return "step" in quality and "fd_mel" in quality and bool(
        np.any(np.isfinite(quality["step"]) & np.isfinite(quality["fd_mel"]))
    )


def training_curves_png(losses_csv: str | os.PathLike, quality_csv: str | os.PathLike | None = None) -> bytes:
    """The loss curves (and FD-mel over steps when `quality_csv` has rows) as PNG bytes."""
    losses = read_numeric_table(losses_csv)
    quality = read_numeric_table(quality_csv)
    series = [(key, label) for key, label in LOSS_SERIES if key in losses]
    with_quality = _has_quality(quality)
    panels = max(1, len(series)) + int(with_quality)
    cols = 2 if panels > 1 else 1
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.0 * rows), squeeze=False)
    flat = list(axes.ravel())
    steps = losses.get("step")
    if not series or steps is None or len(steps) == 0:
        flat[0].text(0.5, 0.5, "no losses recorded", ha="center", va="center", transform=flat[0].transAxes)
        flat[0].set_axis_off()
    for ax, (key, label) in zip(flat, series):
        values = losses[key]
        ok = np.isfinite(steps) & np.isfinite(values)
        ax.plot(steps[ok], values[ok], color="#8d99ae", linewidth=0.8, alpha=0.6, label="per step")
        if ok.sum() > 1:
            ax.plot(steps[ok], _smooth(values[ok]), color=INK, linewidth=1.8, label="smoothed")
        ax.set_title(label)
        ax.set_xlabel("generator step")
        _style(ax)
    if with_quality:
        _plot_quality(flat[max(1, len(series))], quality)
    for ax in flat[max(1, len(series)) + int(with_quality):]:
        ax.set_axis_off()
    fig.tight_layout()
    return figure_png(fig)


def plot_training_curves(
    losses_csv: str | os.PathLike, quality_csv: str | os.PathLike | None, out_png: str | os.PathLike
) -> None:
    """Write the loss curves (d_loss, g_loss, wasserstein, gradient penalty over steps) to `out_png`,
    plus FD-mel over steps if `quality_csv` has rows. Written atomically."""
    atomic_write_bytes(out_png, training_curves_png(losses_csv, quality_csv))


def has_quality(quality_csv: str | os.PathLike | None) -> bool:
    """Whether the table holds FD-mel rows (then the training curves include FD-mel over steps)."""
    return _has_quality(read_numeric_table(quality_csv))


def spectrogram_image(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel spectrogram scaled to 0..1 over the top 80 dB, low frequencies at the bottom."""
    spec = log_mel_spectrogram(np.asarray(audio, dtype=np.float32), sample_rate)
    top = float(spec.max())
    return np.clip((spec - (top - SPECTROGRAM_RANGE_DB)) / SPECTROGRAM_RANGE_DB, 0.0, 1.0)[::-1]


def spectrogram_png(audio: np.ndarray, sample_rate: int, row_height: int = 3) -> bytes:
    """A bare spectrogram image (one pixel column per frame, `row_height` pixels per mel band), as PNG bytes.

    Written straight from the array (no figure), which keeps a gallery of many samples quick.
    """
    image = np.repeat(spectrogram_image(audio, sample_rate), row_height, axis=0)
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, image, cmap=SPECTROGRAM_CMAP, vmin=0.0, vmax=1.0, format="png")
    return buffer.getvalue()


def plot_contact_sheet(
    clips: Sequence[np.ndarray], sample_rate: int, labels: Sequence[str], out_png: str | os.PathLike
) -> None:
    """A labelled grid of log-mel spectrograms, one cell per clip, written atomically to `out_png`."""
    if len(clips) != len(labels):
        raise ValueError(f"{len(clips)} clips but {len(labels)} labels")
    count = max(1, len(clips))
    cols = min(4, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 1.7 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, clip, label in zip(axes.ravel(), clips, labels):
        ax.imshow(
            spectrogram_image(clip, sample_rate), aspect="auto", cmap=SPECTROGRAM_CMAP,
            vmin=0.0, vmax=1.0, interpolation="nearest",
        )
        ax.set_title(label, fontsize=8, loc="left")
    fig.suptitle(f"log-mel spectrograms ({sample_rate} Hz, 0 Hz at the bottom)", fontsize=9)
    fig.tight_layout()
    atomic_write_bytes(out_png, figure_png(fig, dpi=90))
