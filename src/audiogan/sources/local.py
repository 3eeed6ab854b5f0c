"""The `local` source: audio and video files in a folder on this machine, searched recursively.

Nothing is decoded or copied here; the conversion stage reads the files in place and reports any
that turn out not to be audio. A broken symbolic link and a file whose name is not valid UTF-8 (the
tables that carry names between stages are UTF-8) become failures with their reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterator

from ..atomic import atomic_write_text
from . import FetchResult, Item, SourceError, printable_name

log = logging.getLogger(__name__)

# Containers ffmpeg (or libsndfile) reads audio from; `extensions` in the config replaces this.
DEFAULT_EXTENSIONS = frozenset(
    """
    wav wave flac ogg oga opus mp3 mp2 m4a m4b aac mp4 m4v mov webm mka mkv aiff aif aifc wma wmv
    asf au snd caf w64 rf64 ac3 eac3 amr 3gp 3g2 ape wv tta dts mpc ra spx voc avi flv ts
    """.split()
)


def fetch(source: dict[str, Any], cache_dir: Path) -> FetchResult:
    """List the audio files under `source["path"]` (sorted, hidden files and folders skipped)."""
    name = source.get("name")
    root = Path(source["path"]).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise SourceError(f"source {name!r}: path {str(root)!r} {what}")
    allowed = _extensions(source.get("extensions"))
    license_ = source.get("license", "")

    items, failures, skipped = [], [], 0
    base = root.resolve()  # once: per file, only symbolic links are resolved (realpath is 5 lstats)
    for relative, is_link, dangling in _walk(str(root)):
        if os.path.splitext(relative)[1].lower().lstrip(".") not in allowed:
            skipped += 1
            continue
        shown = printable_name(relative)
        if dangling:
            target = os.readlink(os.path.join(root, relative))
            failures.append((shown, f"broken symbolic link: its target {printable_name(target)!r} does not exist"))
        elif not _is_utf8(relative):
            failures.append((shown, "file name is not valid UTF-8: rename the file (e.g. convmv -f latin1 -t utf8)"))
        else:
            path = (root / relative).resolve() if is_link else base / relative
            items.append(Item(path=path, file=relative, license=license_))
    if not items:
        problems = f"; {len(failures)} unusable: " + "; ".join(f"{f}: {r}" for f, r in failures[:3]) if failures else ""
        raise SourceError(
            f"source {name!r}: no audio files under {str(root)!r} "
            f"(looked for: {', '.join(sorted(allowed))}; {skipped} other files ignored{problems})"
        )
    log.info("source %r: %d audio files in %s (%d other files ignored)", name, len(items), root, skipped)
    return FetchResult(items=items, failures=failures)


def _walk(root: str, relative: str = "") -> Iterator[tuple[str, bool, bool]]:
    """(relative posix name, is a symbolic link, is a dangling link) of every non-hidden file under
    `root`, in sorted order, without descending into hidden folders or symbolic links to folders.

    One `scandir` per folder: the entry types come from the directory listing, so a regular file
    costs no `stat` here (a million files: seconds, not minutes as with `rglob` + `resolve`).
    """
    folder = os.path.join(root, relative) if relative else root
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except PermissionError:  # skipped, as `Path.rglob` does
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # hidden files and anything inside hidden folders (.git, .Trash, ._ resource forks)
        name = f"{relative}/{entry.name}" if relative else entry.name
        is_link = entry.is_symlink()
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, name)
        elif entry.is_file(follow_symlinks=True):
            yield name, is_link, False
        elif is_link and not os.path.exists(entry.path):
            yield name, True, True


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def _extensions(configured: list[str] | None) -> frozenset[str]:
    if not configured:
        return DEFAULT_EXTENSIONS
    return frozenset(ext.lower().lstrip(".") for ext in configured)


def folder_fingerprint(root: str | os.PathLike, cache_file: str | os.PathLike | None = None) -> str:
    """A hash of the modification times of every (non-hidden) folder under `root`.

    A folder's mtime changes when an entry is added, removed or renamed in it, which covers new,
    deleted and replaced files (editors and copies that write a new file and rename it). It is
    cheap at any size: with `cache_file` (the folder tree of the last call), only folders whose
    mtime changed are listed again, so an unchanged tree costs one `stat` per folder and none per
    file. A file rewritten in place (same name, same folder) is not seen; `refresh: always` re-lists
    everything. Names that are not valid UTF-8 are handled as bytes.
    """
    root = Path(root).expanduser()
    try:
        cached = json.loads(Path(cache_file).read_text(encoding="utf-8")) if cache_file else {}
    except (OSError, ValueError):
        cached = {}
    if cached.get("root") != str(root):
        cached = {"root": str(root), "folders": {}}
    folders: dict[str, list] = {}
    digest = hashlib.sha256()
    pending = [""]
    while pending:
        relative = pending.pop()
        folder = os.path.join(root, relative) if relative else str(root)
        try:
            mtime = os.stat(folder).st_mtime_ns
        except OSError:
            continue
        known = cached["folders"].get(relative)
        if known and known[0] == mtime:
            children = known[1]
        else:
            try:
                with os.scandir(folder) as entries:
                    children = sorted(
                        entry.name for entry in entries
                        if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=True)
                    )
            except OSError:
                children = []
        folders[relative] = [mtime, children]
        digest.update(os.fsencode(relative) + b"\0" + str(mtime).encode() + b"\n")
        pending.extend(os.path.join(relative, child) if relative else child for child in reversed(children))
    if cache_file and folders != cached["folders"]:
        try:
            atomic_write_text(cache_file, json.dumps({"root": str(root), "folders": folders}))
        except OSError:
            pass  # a read-only cache only makes the next call slower
    return digest.hexdigest()
