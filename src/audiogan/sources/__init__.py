"""Source kinds: each turns one `sources:` entry of the config into local audio files.

A kind is a module in this package with a `fetch(source, cache_dir) -> FetchResult` function.
`cache_dir` is the source's own folder under `cache/sources/`; it survives reruns, so a kind can
keep downloads and archives there and fetch only what is new.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("demo", "local", "youtube", "common_voice")

# Columns every items.tsv starts with; kinds may append their own provenance columns.
ITEM_COLUMNS = ("path", "file", "license")
FAILURE_COLUMNS = ("file", "reason")


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


class SourceError(RuntimeError):
    """A source cannot deliver anything usable; the message names the source."""


def fetch_source(source: dict[str, Any], cache_dir: Path) -> FetchResult:
    """Fetch one configured source into `cache_dir` and list its items."""
    kind = source["kind"]
    if kind not in KINDS:
        raise SourceError(f"source {source.get('name')!r}: unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
    module = importlib.import_module(f"{__name__}.{kind}")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    return module.fetch(source, cache_dir)
