"""Source kinds: each turns one `sources:` entry of the config into local audio files.

A kind is a module in this package with a `fetch(source, cache_dir) -> FetchResult` function.
`cache_dir` is the source's own folder under `cache/sources/`; it survives reruns, so a kind can
keep downloads and archives there and fetch only what is new.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..jobs import ExpectedError
from ..tsv import write_tsv

log = logging.getLogger(__name__)

KINDS = ("demo", "local", "youtube", "common_voice")

# Columns every items.tsv starts with; kinds may append their own provenance columns.
ITEM_COLUMNS = ("path", "file", "license")
FAILURE_COLUMNS = ("file", "reason")
# Appended to every row: the file's size (the shard weight) and mtime (a change reconverts it).
VERSION_COLUMNS = ("size", "mtime_ns")


@dataclass
class Item:
    """One audio file ready to convert."""

    path: Path  # local file to decode
    file: str  # what the user knows it as: path relative to the source, or the URL
    license: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific provenance

    def row(self) -> dict[str, Any]:
        return {"path": str(self.path), "file": self.file, "license": self.license, **self.extra}


@dataclass
class FetchResult:
    items: list[Item] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def label_pattern() -> re.Pattern[str]:
    """What a label may look like (the schema's `$defs.label`, the one place that says it)."""
    from ..config import load_schema

    return re.compile(load_schema()["$defs"]["label"]["pattern"])


def apply_labels(source: dict[str, Any], result: FetchResult) -> None:
    """Give each item its label, in `extra["label"]`: its own (demo one-shots), else the one its
    `labels` setting derives (`folders`: the first-level sub-folder of a `local` source; a column
    name: that Common Voice column), else the source's `label`, else none. An item whose derived
    label is not a valid label name becomes a failure saying so; the others go on.
    """
    fixed, derive = source.get("label") or "", source.get("labels") or ""
    if not (fixed or derive or any(item.extra.get("label") for item in result.items)):
        return  # unlabelled: rows (and so shard listings) stay exactly as they were
    pattern = label_pattern()
    kept = []
    for item in result.items:
        label = str(item.extra.get("label") or "")
        if not label and derive == "folders":
            label = item.file.split("/", 1)[0] if "/" in item.file else ""
        elif not label and derive:
            label = str(item.extra.get(derive) or "")
        if label and not pattern.fullmatch(label):
            reason = (f"label {printable_name(label)!r} (from `labels: {derive}`) is not a valid label: "
                      "a letter or digit, then letters, digits, '_', '.', '-', '+', at most 64")
            result.failures.append((item.file, reason))
            continue
        item.extra["label"] = label or fixed
        kept.append(item)
    result.items[:] = kept


class SourceError(ExpectedError, RuntimeError):
    """A source cannot deliver anything usable; the message names the source."""


class UnsafePathError(SourceError):
    """A name taken from downloaded content would leave the source's cache folder."""


MAX_NAME_BYTES = 255  # the longest file name Linux and macOS file systems take


def confined_path(root: Path, *names: str) -> Path:
    """`root/names...`, resolved, for names that come from untrusted content (archive members,
    TSV cells, API answers); raises UnsafePathError, saying why, unless each name is one plain
    file-system name and the resolved result lies inside `root`.

    Every path a source derives from downloaded content goes through here.
    """
    for name in names:
        if not name or name in (".", ".."):
            raise UnsafePathError(f"name '{printable_name(name)}' is empty, '.' or '..'")
        if "\0" in name:
            raise UnsafePathError("name contains a NUL character")
        if "/" in name or "\\" in name:
            raise UnsafePathError(f"name '{printable_name(name)}' contains a path separator")
        try:
            size = len(name.encode("utf-8"))
        except UnicodeEncodeError:
            raise UnsafePathError(f"name '{printable_name(name)}' is not valid UTF-8") from None
        if size > MAX_NAME_BYTES:
            raise UnsafePathError(f"name of {size} bytes is longer than {MAX_NAME_BYTES}")
    base = Path(root).resolve()
    path = base.joinpath(*names).resolve()
    if path == base or not path.is_relative_to(base):
        raise UnsafePathError(f"'{printable_name('/'.join(names))}' resolves outside {str(base)!r}")
    return path


def printable_name(name: str) -> str:
    """`name` as it can be shown in a log or a table: itself when printable, else with its odd
    bytes (control characters, invalid UTF-8 kept by surrogateescape) written as escapes."""
    if name.isprintable():
        return name
    return repr(name.encode("utf-8", "surrogateescape"))[2:-1]


def fetch_source(source: dict[str, Any], cache_dir: Path) -> FetchResult:
    """Fetch one configured source into `cache_dir` and list its items."""
    kind = source["kind"]
    if kind not in KINDS:
        raise SourceError(f"source {source.get('name')!r}: unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
    module = importlib.import_module(f"{__name__}.{kind}")
    # Absolute, so that kinds can compare and store paths freely (items.tsv lists absolute paths).
    cache_dir = Path(cache_dir).expanduser().resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    return module.fetch(source, cache_dir)


def download(
    source: dict[str, Any],
    cache_dir: str | os.PathLike,
    items_tsv: str | os.PathLike,
    failures_tsv: str | os.PathLike,
    listing_dir: str | os.PathLike | None = None,
    shards_tsv: str | os.PathLike | None = None,
    shard_bytes: int = 256_000_000,
    poll: str = "",
) -> None:
    """Fetch one source and write its items.tsv and failures.tsv (the download stage), and, given
    `listing_dir` and `shards_tsv`, its per-shard listings (audiogan.sharding).

    `poll` non-empty asks kinds that can grow on their own (playlists, channels) to look for new
    items even when their last fetch was complete; each new value polls once.
    Raises SourceError, naming the source and summarizing the failures, when no item at all could
    be fetched: a later stage could only fail in a less clear way.
    """
    name = source.get("name", source.get("kind"))
    result = fetch_source({**source, "poll": poll} if poll else source, Path(cache_dir))
    apply_labels(source, result)
    if not result.items:
        raise SourceError(f"source {name!r}: no items could be fetched ({_summarize(result.failures)})")
    columns = list(ITEM_COLUMNS)
    for item in result.items:
        columns.extend(key for key in item.extra if key not in columns)
    columns.extend(key for key in VERSION_COLUMNS if key not in columns)
    rows = [_with_version(item) for item in result.items]
    write_tsv(items_tsv, rows, columns)
    write_tsv(failures_tsv, ({"file": f, "reason": r} for f, r in result.failures), FAILURE_COLUMNS)
    if listing_dir is not None and shards_tsv is not None:
        from ..sharding import write_shard_listings

        write_shard_listings(rows, columns, shard_bytes, listing_dir, shards_tsv)
    log.info("source %r: %d items, %d failures", name, len(result.items), len(result.failures))
    for file, reason in result.failures[:20]:
        log.warning("source %r: skipped %s: %s", name, file, reason)


def _with_version(item: Item) -> dict[str, Any]:
    """The item's row plus its file's size and mtime: a changed file changes its shard's listing."""
    row = item.row()
    try:
        stat = os.stat(item.path)
        row.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    except OSError:  # conversion reports the missing file as a reject
        row.update(size=0, mtime_ns=0)
    return row


def _summarize(failures: list[tuple[str, str]], shown: int = 3) -> str:
    if not failures:
        return "nothing found"
    parts = [f"{file}: {reason}" for file, reason in failures[:shown]]
    more = f"; and {len(failures) - shown} more" if len(failures) > shown else ""
    return f"{len(failures)} failed: " + "; ".join(parts) + more
