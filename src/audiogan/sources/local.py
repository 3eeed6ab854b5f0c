"""The `local` source: audio and video files in a folder on this machine, searched recursively.

Nothing is decoded or copied here; the conversion stage reads the files in place and reports any
that turn out not to be audio. A broken symbolic link and a file whose name is not valid UTF-8 (the
tables that carry names between stages are UTF-8) become failures with their reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

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
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue  # hidden files and anything inside hidden folders (.git, .Trash, ._ resource forks)
        dangling = path.is_symlink() and not path.exists()
        if not (path.is_file() or dangling):
            continue
        if path.suffix.lower().lstrip(".") not in allowed:
            skipped += 1
            continue
        shown = printable_name(relative.as_posix())
        if dangling:
            failures.append((shown, f"broken symbolic link: its target {printable_name(os.readlink(path))!r} does not exist"))
        elif not _is_utf8(relative.as_posix()):
            failures.append((shown, "file name is not valid UTF-8: rename the file (e.g. convmv -f latin1 -t utf8)"))
        else:
            items.append(Item(path=path.resolve(), file=relative.as_posix(), license=license_))
    if not items:
        problems = f"; {len(failures)} unusable: " + "; ".join(f"{f}: {r}" for f, r in failures[:3]) if failures else ""
        raise SourceError(
            f"source {name!r}: no audio files under {str(root)!r} "
            f"(looked for: {', '.join(sorted(allowed))}; {skipped} other files ignored{problems})"
        )
    log.info("source %r: %d audio files in %s (%d other files ignored)", name, len(items), root, skipped)
    return FetchResult(items=items, failures=failures)


def folder_fingerprint(path: str | os.PathLike) -> str:
    """A digest of the names, sizes and mtimes of everything under the folder (nothing is read):
    it changes when a file is added, removed or changed. Any byte string is a valid name here."""
    digest = hashlib.sha256()
    root = Path(path).expanduser()
    for entry in sorted(root.rglob("*")) if root.is_dir() else []:
        if entry.is_file() or entry.is_symlink():
            stat = entry.stat() if entry.exists() else entry.lstat()
            digest.update(os.fsencode(entry.relative_to(root)) + f"\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


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
