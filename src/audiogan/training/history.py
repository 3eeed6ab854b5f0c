"""The run's history files: losses.csv, quality.csv, the loss-curve plot and the previews folder.

The live copies in the state folder grow row by row as training runs (readable at any time); the
declared outputs are written whole, atomically, when the run finishes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable

from ..atomic import atomic_path, atomic_write_text

QUALITY_COLUMNS = ("step", "fd_mel")


def _csv_row(values: tuple | list) -> str:
    step, *rest = values
    return ",".join([str(int(step))] + [repr(float(v)) for v in rest]) + "\n"


def write_table(path: str | os.PathLike, columns: tuple[str, ...], rows: list) -> None:
    """Write a CSV table (header + rows) atomically."""
    atomic_write_text(path, ",".join(columns) + "\n" + "".join(_csv_row(r) for r in rows))


def append_rows(path: str | os.PathLike, rows: list) -> None:
    # The live copy in the state folder; the declared outputs are written whole, atomically.
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(_csv_row(r) for r in rows))


def copy_previews(source: Path, target: str | os.PathLike, names: Iterable[str]) -> None:
    """Make `target` hold exactly the preview files `names` from `source` (each copied atomically)."""
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(names)
    for old in folder.glob("step_*.wav"):
        if old.name not in wanted:
            old.unlink()
    for name in sorted(wanted):
        with atomic_path(folder / name) as tmp:
            shutil.copyfile(source / name, tmp)


def write_curves(losses_csv: str | os.PathLike, quality_csv: str | os.PathLike, out_png: str | os.PathLike) -> None:
    from ..plots import plot_training_curves

    plot_training_curves(losses_csv, quality_csv, out_png)
