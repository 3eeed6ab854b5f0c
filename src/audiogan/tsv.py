"""Tab-separated tables with a header row, the format every stage hands to the next.

Quoting is disabled on purpose: Common Voice sentences contain unbalanced quotes, and a quote
character must never swallow the rest of a file. Backslash, tab, carriage return and newline inside
values are written as the escapes `\\`, `\t`, `\r`, `\n` and decoded on read, so a row is always
one line and every value comes back exactly: a file named `x<TAB>y.wav` stays a different file
from `x y.wav`.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from .atomic import atomic_open

csv.field_size_limit(2**31 - 1)


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\r": "\\r", "\n": "\\n"}
_UNESCAPES = {escape: char for char, escape in _ESCAPES.items()}
_TO_ESCAPE = re.compile(r"[\\\t\r\n]")
_TO_UNESCAPE = re.compile(r"\\[\\trn]")


def escape(value: object) -> str:
    """One value as written in a cell (None is empty)."""
    if value is None:
        return ""
    text = str(value)
    # Fast path (a million-row listing has millions of cells): printable text without a backslash
    # holds nothing to escape, since tab, CR and LF are not printable.
    if "\\" not in text and text.isprintable():
        return text
    return _TO_ESCAPE.sub(lambda m: _ESCAPES[m.group()], text)


def unescape(cell: str) -> str:
    """The value a cell written by `escape` holds."""
    return _TO_UNESCAPE.sub(lambda m: _UNESCAPES[m.group()], cell) if "\\" in cell else cell


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
    return "\t".join(escape(row.get(col, "")) for col in columns) + "\n"


@contextlib.contextmanager
def tsv_writer(path: str | os.PathLike, columns: Sequence[str]) -> Iterator[Callable[[Mapping[str, object]], None]]:
    """Write a table row by row (streaming), atomically: yields a function taking one row dict."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join(columns) + "\n")
        yield lambda row: handle.write(tsv_line(row, columns))


def read_tsv(path: str | os.PathLike) -> list[dict[str, str]]:
    """Read a table written by `write_tsv` into a list of dicts (escapes decoded)."""
    return list(read_tsv_rows(path))


def read_tsv_rows(path: str | os.PathLike) -> Iterator[dict[str, str]]:
    """The rows of a table written by `write_tsv`, one dict at a time (streaming, escapes decoded)."""
    with open(Path(path), encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in reader:
            yield {key: unescape(value) if isinstance(value, str) else value for key, value in row.items()}
