"""Source kind `common_voice`: clips of one split of a Common Voice release archive.

The archive is a local path, an http(s) URL (downloaded into the cache, resumable), or a
Mozilla Data Collective dataset (`dataset:`, see `mdc.py`). Releases are large (English is
~90 GB), so the archive is streamed (`tarfile` mode "r|*") and only the selected clips are
written out, under `cache_dir/clips/<lang>/`.

Streaming order: real archives list the TSVs before `clips/`, so one pass normally suffices.
The code does not rely on it: a clip met before its folder's split TSV is noted by name only
(never buffered), and if the selection then needs such clips a second pass extracts just those.

A rerun with the same archive and selection reads nothing: `cache_dir/selection.json` lists the
chosen rows, and the items are rebuilt from it as long as every clip is still in the cache.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
import shutil
import tarfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from .. import httpfetch
from ..atomic import atomic_path, atomic_write_text
from . import FetchResult, Item, SourceError, UnsafePathError, confined_path, mdc, printable_name

log = logging.getLogger(__name__)

SPLITS = ("validated", "train", "dev", "test", "other", "invalidated")
FILTER_COLUMNS = ("gender", "age", "accents", "locale", "variant")
EXTRA_COLUMNS = ("sentence", "gender", "age", "accents", "variant", "locale", "client_id", "split")
SELECTION_VERSION = 1

csv.field_size_limit(2**31 - 1)


def fetch(source: dict[str, Any], cache_dir: Path) -> FetchResult:
    """Select and extract the configured split's clips; see the module docstring."""
    name = source.get("name", "common_voice")
    split = source.get("split", "validated")
    if split not in SPLITS:
        raise SourceError(f"source {name!r}: split {split!r} is not one of {', '.join(SPLITS)}")
    unknown = sorted(set(source.get("filters") or {}) - set(FILTER_COLUMNS))
    if unknown:
        raise SourceError(f"source {name!r}: cannot filter on {', '.join(unknown)}; allowed: {', '.join(FILTER_COLUMNS)}")
    cache_dir = Path(cache_dir)
    key = _selection_key(source)
    cached = _load_selection(cache_dir, key)
    if cached is not None:
        log.info("source %s: selection unchanged, %d clips already extracted; archive not read", name, len(cached.items))
        return cached

    archive = _resolve_archive(source, cache_dir)
    selection = Selection(
        split=split,
        filters={k: set(v) for k, v in (source.get("filters") or {}).items()},
        max_clips=source.get("max_clips"),
        clips_dir=cache_dir / "clips",
    )
    scan_archive(archive, selection)
    result = selection.result(source.get("license", "CC0-1.0"))
    _save_selection(cache_dir, key, result)
    log.info(
        "source %s: %d clips of %s.tsv selected from %s (%d failures)",
        name, len(result.items), split, archive.name, len(result.failures),
    )
    return result


# -- selection ------------------------------------------------------------------------------


@dataclass
class Selection:
    """What to take from an archive, and what the scan found."""

    split: str
    filters: dict[str, set[str]]
    max_clips: int | None
    clips_dir: Path
    rows: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (folder, clip) -> row
    destinations: dict[tuple[str, str], Path] = field(default_factory=dict)  # confined to clips_dir
    tsv_folders: set[str] = field(default_factory=set)  # folders whose split TSV has been read
    extracted: dict[tuple[str, str], Path] = field(default_factory=dict)
    seen_early: set[tuple[str, str]] = field(default_factory=set)  # clips met before their TSV
    refused: list[tuple[str, str]] = field(default_factory=list)
    bad_rows: list[tuple[str, str]] = field(default_factory=list)

    def full(self) -> bool:
        return self.max_clips is not None and len(self.rows) >= self.max_clips

    def add_tsv(self, folder: str, handle: Iterable[str], member_name: str) -> None:
        """Read a split TSV (quoting off: sentences hold stray quotes) and keep matching rows."""
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        columns = reader.fieldnames or []
        if "path" not in columns:
            raise SourceError(f"{member_name}: no 'path' column (columns: {', '.join(columns)})")
        missing = [c for c in self.filters if c not in columns]
        if missing:
            raise SourceError(
                f"{member_name}: cannot filter on {', '.join(missing)}: not a column of this release "
                f"(columns: {', '.join(columns)})"
            )
        self.tsv_folders.add(folder)
        for row in reader:
            if self.full():
                break
            if any((row.get(col) or "") not in allowed for col, allowed in self.filters.items()):
                continue
            clip, lang = row.get("path") or "", _lang(folder, row)
            shown = f"{printable_name(lang)}/clips/{printable_name(clip)}"
            if not _plain_name(clip):
                self.bad_rows.append((shown, "unsafe or empty clip name in TSV"))
                continue
            try:
                # The language folder may come from the row's `locale` cell: as untrusted as the name.
                destination = confined_path(self.clips_dir, lang, clip)
            except UnsafePathError as error:
                self.bad_rows.append((shown, f"refused: {error}"))
                continue
            if (folder, clip) not in self.rows:
                self.rows[(folder, clip)] = row
                self.destinations[(folder, clip)] = destination

    def wants(self, folder: str, clip: str) -> bool:
        return (folder, clip) in self.rows and (folder, clip) not in self.extracted

    def pending(self) -> set[tuple[str, str]]:
        return set(self.rows) - set(self.extracted)

    def destination(self, folder: str, clip: str) -> Path:
        return self.destinations[(folder, clip)]

    def result(self, license: str) -> FetchResult:
        result = FetchResult()
        for (folder, clip), row in self.rows.items():
            lang = _lang(folder, row)
            file = f"{lang}/clips/{clip}"
            path = self.extracted.get((folder, clip))
            if path is None:
                result.failures.append((file, f"listed in {self.split}.tsv but not in the archive"))
                continue
            extra = {col: row.get(col) or "" for col in EXTRA_COLUMNS if col not in ("client_id", "split")}
            extra["client_id"] = _hash_client(row.get("client_id") or "")
            extra["split"] = self.split
            result.items.append(Item(path=path, file=file, license=license, extra=extra))
        result.failures.extend(self.bad_rows)
        result.failures.extend(self.refused)
        return result


def scan_archive(archive: Path, selection: Selection) -> None:
    """Stream `archive` once (twice only if clips precede their TSV) and extract the selection."""
    _scan(archive, selection, second_pass=False)
    if not selection.tsv_folders:
        raise SourceError(f"{archive.name}: no {selection.split}.tsv in the archive (is it a Common Voice release?)")
    late = selection.pending() & selection.seen_early
    if late:
        log.info("%s: %d selected clips came before their TSV; reading the archive a second time", archive.name, len(late))
        _scan(archive, selection, second_pass=True)


def _scan(archive: Path, selection: Selection, second_pass: bool) -> None:
    split_tsv = f"{selection.split}.tsv"
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                problem = _unsafe(member)
                if problem:
                    if not second_pass:
                        shown = printable_name(member.name)
                        log.warning("%s: refused archive member '%s': %s", archive.name, shown, problem)
                        selection.refused.append((shown, f"refused archive member: {problem}"))
                    continue
                if not member.isfile():
                    continue
                path = PurePosixPath(member.name)  # PurePosixPath drops "./" components
                folder = _folder(path.parent)
                if path.name == split_tsv and not second_pass:
                    # Line by line: a stream member cannot seek, and big TSVs need not sit in memory.
                    lines = _tsv_lines(tar.extractfile(member), member.name, selection.bad_rows)
                    selection.add_tsv(folder, lines, member.name)
                elif path.parent.name == "clips":
                    lang_folder = _folder(path.parent.parent)
                    key = (lang_folder, path.name)
                    if selection.wants(*key):
                        selection.extracted[key] = _extract(tar, member, selection.destination(*key))
                    elif lang_folder not in selection.tsv_folders:
                        selection.seen_early.add(key)
                if selection.tsv_folders and not selection.pending():
                    # Everything selected is out; a release holds one language, so the rest of
                    # the archive is not needed.
                    break
    except (tarfile.TarError, EOFError, OSError) as error:
        raise SourceError(f"{archive.name}: cannot read the archive: {error}") from None


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> Path:
    """Write one clip member to `dest` (atomically); an identical cached copy is kept as is."""
    if dest.exists() and dest.stat().st_size == member.size:
        return dest
    # The member's bytes go to a name we chose, but tarfile's "data" filter (no absolute paths,
    # no escaping links, no devices) still vets it, as a second guard behind _unsafe().
    try:
        tarfile.data_filter(member, str(dest.parent))
    except tarfile.FilterError as error:
        raise SourceError(f"refused archive member {member.name!r}: {error}") from None
    source = tar.extractfile(member)
    if source is None:
        raise SourceError(f"{member.name}: not a regular file")
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    return dest


def _unsafe(member: tarfile.TarInfo) -> str | None:
    """Why a member must not be extracted, or None. Checked for every member, extracted or not."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in parts:
        return "path leaves the archive folder"
    if member.issym() or member.islnk():
        return "link"
    if not (member.isfile() or member.isdir()):
        return "not a regular file or folder"
    return None


def _tsv_lines(raw: Iterable[bytes], member_name: str, bad_rows: list[tuple[str, str]]) -> Iterable[str]:
    """The TSV's lines as text; a line that is not UTF-8 or holds a stray carriage return (which
    the csv reader cannot take unquoted) is skipped and recorded, not fatal."""
    for number, line in enumerate(raw, 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            bad_rows.append((f"{printable_name(member_name)}:{number}", "TSV line is not valid UTF-8; row skipped"))
            continue
        if "\r" in text.rstrip("\r\n"):
            bad_rows.append((f"{printable_name(member_name)}:{number}", "TSV line holds a carriage return; row skipped"))
            continue
        yield text


def _folder(path: PurePosixPath) -> str:
    text = path.as_posix()
    return "" if text == "." else text


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def _lang(folder: str, row: dict[str, str]) -> str:
    """The language code: the release folder's name (`.../<lang>/`), else the locale column."""
    return PurePosixPath(folder).name if folder else (row.get("locale") or "xx")


def _hash_client(client_id: str) -> str:
    return hashlib.sha256(client_id.encode("utf-8")).hexdigest()[:16] if client_id else ""


# -- where the archive comes from -------------------------------------------------------------


def _resolve_archive(source: dict[str, Any], cache_dir: Path) -> Path:
    if source.get("dataset"):
        api_url = source.get("api_url") or mdc.DEFAULT_API_URL
        try:
            return mdc.fetch_archive(source["dataset"], cache_dir / "archives", api_url=api_url)
        except mdc.MDCError as error:
            raise SourceError(f"source {source.get('name')!r}: {error}") from None
    archive = str(source.get("archive") or "")
    if not archive:
        raise SourceError(f"source {source.get('name')!r}: give `archive` (path or URL) or `dataset`")
    scheme = urllib.parse.urlsplit(archive).scheme.lower()
    if scheme in ("http", "https"):
        name = PurePosixPath(urllib.parse.urlsplit(archive).path).name or "archive.tar.gz"
        dest = cache_dir / "archives" / f"{hashlib.sha256(archive.encode()).hexdigest()[:12]}-{name}"
        try:
            return httpfetch.download(archive, dest)
        except httpfetch.DownloadError as error:
            raise SourceError(f"source {source.get('name')!r}: {error}") from None
    if scheme and len(scheme) > 1:
        raise SourceError(f"source {source.get('name')!r}: archive URL scheme {scheme!r} is not supported (http, https)")
    path = Path(archive).expanduser()
    if not path.is_file():
        raise SourceError(f"source {source.get('name')!r}: archive {archive!r} not found")
    return path


def _archive_identity(source: dict[str, Any]) -> dict[str, Any]:
    if source.get("dataset"):
        return {"dataset": source["dataset"], "api_url": source.get("api_url") or mdc.DEFAULT_API_URL}
    archive = str(source.get("archive") or "")
    if urllib.parse.urlsplit(archive).scheme.lower() in ("http", "https"):
        return {"url": archive}
    path = Path(archive).expanduser()
    try:
        stat = path.stat()
        return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    except OSError:
        return {"path": str(path)}


# -- selection cache ----------------------------------------------------------------------------


def _selection_key(source: dict[str, Any]) -> str:
    key = {
        "version": SELECTION_VERSION,
        "archive": _archive_identity(source),
        "split": source.get("split", "validated"),
        "filters": {k: sorted(v) for k, v in sorted((source.get("filters") or {}).items())},
        "max_clips": source.get("max_clips"),
        "license": source.get("license", "CC0-1.0"),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _save_selection(cache_dir: Path, key: str, result: FetchResult) -> None:
    payload = {
        "key": key,
        "items": [{"path": str(i.path), "file": i.file, "license": i.license, "extra": i.extra} for i in result.items],
        "failures": [list(f) for f in result.failures],
    }
    atomic_write_text(cache_dir / "selection.json", json.dumps(payload, ensure_ascii=False))


def _load_selection(cache_dir: Path, key: str) -> FetchResult | None:
    try:
        payload = json.loads((cache_dir / "selection.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if payload.get("key") != key:
        return None
    items = [Item(Path(i["path"]), i["file"], i["license"], i["extra"]) for i in payload["items"]]
    if not all(item.path.is_file() for item in items):
        return None
    return FetchResult(items=items, failures=[tuple(f) for f in payload["failures"]])
