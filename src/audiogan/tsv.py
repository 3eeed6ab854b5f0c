"""Tab-separated tables with a header row, the format every stage hands to the next.

Quoting is disabled on purpose: Common Voice sentences contain unbalanced quotes, and a quote
character must never swallow the rest of a file. Tabs and newlines inside values are replaced by
spaces on write, so a row is always one line.
"""

from __future__ import annotations

import contextlib
import csv
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from .atomic import atomic_open

csv.field_size_limit(2**31 - 1)


def _clean(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def write_tsv(
    path: str | os.PathLike, rows: Iterable[Mapping[str, object]], columns: Sequence[str]
) -> int:
    """Write `rows` (dicts) with the given column order, atomically. Returns the row count."""
    count = 0
    with tsv_writer(path, columns) as write:
        for row in rows:
            write(row)
            count += 1
    return count


def tsv_line(row: Mapping[str, object], columns: Sequence[str]) -> str:
    """One row as a table line (with its newline)."""
    return "\t".join(_clean(row.get(col, "")) for col in columns) + "\n"


@contextlib.contextmanager
def tsv_writer(path: str | os.PathLike, columns: Sequence[str]) -> Iterator[Callable[[Mapping[str, object]], None]]:
    """Write a table row by row (streaming), atomically: yields a function taking one row dict."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join(columns) + "\n")
        yield lambda row: handle.write(tsv_line(row, columns))


def read_tsv(path: str | os.PathLike) -> list[dict[str, str]]:
    """Read a table written by `write_tsv` (or a Common Voice TSV) into a list of dicts."""
    with open(Path(path), encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [dict(row) for row in reader]
