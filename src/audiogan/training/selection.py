"""Which checkpoint is best, and when to stop: decided from the quality history (step, FD-mel).

FD-mel of the generator's clips against real training clips is lower when the generated sounds
are distributed more like the real ones. Training on small data is not monotone in steps, so the
best-scoring checkpoint is kept besides the latest and rendered by default; optionally the run
goes back to it, with lower learning rates, when quality drifts away (`restore_best_after`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence


def best_row(quality: Sequence[Sequence[float]]) -> tuple[int, float] | None:
    """(step, fd_mel) of the lowest finite score; the earliest on ties; None without scores."""
    scored = [(float(fd), int(step)) for step, fd in quality if math.isfinite(float(fd))]
    if not scored:
        return None
    fd, step = min(scored)
    return step, fd


def checkpoints_since_best(quality: Sequence[Sequence[float]], since_step: int | None = None) -> int:
    """Scored checkpoints after the best one, or after `since_step` when that is later (0 when the
    latest is the best)."""
    best = best_row(quality)
    if best is None:
        return 0
    since = best[0] if since_step is None else max(best[0], since_step)
    return sum(1 for step, _ in quality if int(step) > since)


def should_stop_early(quality: Sequence[Sequence[float]], patience: int | None) -> bool:
    return patience is not None and checkpoints_since_best(quality) >= patience


def should_restore_best(quality: Sequence[Sequence[float]], after: int | None, last_restore_step: int | None) -> bool:
    """True when `after` scored checkpoints have passed without a better score, counted from the
    best one or from the last return to it, whichever is later (each return gets a fresh count)."""
    return after is not None and checkpoints_since_best(quality, last_restore_step) >= after


def describe(kind: str, step: int, quality: Sequence[Sequence[float]]) -> dict[str, Any]:
    """What the generator file records about why it holds these weights (shown in the gallery)."""
    scores = {int(s): float(fd) for s, fd in quality}
    fd = scores.get(int(step), math.nan)
    count = len(quality)
    if kind == "best":
        reason = f"step {step}, lowest FD-mel {fd:.0f} of {count} checkpoints"
    elif kind == "step":
        reason = f"step {step}, as asked (render.checkpoint)" + (f", FD-mel {fd:.0f}" if math.isfinite(fd) else "")
    else:
        reason = f"step {step}, the last step" + (f" (FD-mel {fd:.0f})" if math.isfinite(fd) else "")
    return {"checkpoint": kind, "step": int(step), "fd_mel": fd, "checkpoints": count, "reason": reason}
