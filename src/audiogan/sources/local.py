"""The `local` source: audio and video files in a folder on this machine, searched recursively.

Nothing is decoded or copied here; the conversion stage reads the files in place and reports any
that turn out not to be audio.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import FetchResult, Item, SourceError

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

    items, skipped = [], 0
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue  # hidden files and anything inside hidden folders (.git, .Trash, ._ resource forks)
        if not path.is_file():
            continue
        if path.suffix.lower().lstrip(".") not in allowed:
            skipped += 1
            continue
        items.append(Item(path=path.resolve(), file=relative.as_posix(), license=license_))
    if not items:
        raise SourceError(
            f"source {name!r}: no audio files under {str(root)!r} "
            f"(looked for: {', '.join(sorted(allowed))}; {skipped} other files ignored)"
        )
    log.info("source %r: %d audio files in %s (%d other files ignored)", name, len(items), root, skipped)
    return FetchResult(items=items, failures=[])


def _extensions(configured: list[str] | None) -> frozenset[str]:
    if not configured:
        return DEFAULT_EXTENSIONS
    return frozenset(ext.lower().lstrip(".") for ext in configured)
