"""Which convert/segment shard each item of a source belongs to: stable under additions.

An item's shard follows from a hash of its identity (its `file`, what the user knows it as), not
from its row number, so adding or removing one item never moves the others. Shards are the leaves
of a binary trie over the hash bits: a node holding more than `target_bytes` of input files (and
more than one item) splits in two by the next bit. The leaves are a function of the set of items
(and their sizes) alone, so a fresh run and a run grown one item at a time get the same shards,
and one added item changes one shard (or splits it in two).

Shard ids are trie node numbers (root 1, children 2k and 2k+1), so they stay valid wildcards.
Per shard, one listing (`shard_<id>.tsv`) is written, and only rewritten when its rows change:
Snakemake then reruns exactly the shards whose items changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Sequence

from .atomic import atomic_write_bytes
from .tsv import tsv_line, write_tsv

log = logging.getLogger(__name__)

_KEY_BITS = 48  # depth limit: items with equal 48-bit keys share a shard whatever their size
SHARD_COLUMNS = ("shard", "items", "bytes")
LISTING_PREFIX, LISTING_SUFFIX = "shard_", ".tsv"


def item_key(file: str) -> int:
    """48-bit hash of an item's identity (names that are not valid UTF-8 hash by their bytes)."""
    digest = hashlib.sha256(file.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:6], "big")


def plan_shards(keys: Sequence[int], sizes: Sequence[int], target_bytes: int) -> dict[int, list[int]]:
    """Shard id -> positions of its items (in the given order): the trie leaves (see module doc)."""
    order = sorted(range(len(keys)), key=lambda i: (keys[i], i))
    shards: dict[int, list[int]] = {}
    stack = [(1, 0, order)]  # (node id, depth, positions sorted by key)
    while stack:
        node, depth, members = stack.pop()
        if not members:
            continue
        if len(members) == 1 or depth >= _KEY_BITS or sum(sizes[i] for i in members) <= target_bytes:
            shards[node] = sorted(members)
            continue
        bit = 1 << (_KEY_BITS - 1 - depth)
        split = next((n for n, i in enumerate(members) if keys[i] & bit), len(members))
        stack.append((2 * node + 1, depth + 1, members[split:]))
        stack.append((2 * node, depth + 1, members[:split]))
    return dict(sorted(shards.items()))


def write_shard_listings(
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    target_bytes: int,
    listing_dir: str | os.PathLike,
    shards_tsv: str | os.PathLike,
) -> dict[int, list[int]]:
    """Split a source's items into shards; write each listing only if its content changed, remove
    listings of shards that are gone, and write the table of shards (id, items, bytes).

    Each row needs `file` and `size` (bytes of the input file, the shard's weight).
    """
    listing_dir = Path(listing_dir)
    listing_dir.mkdir(parents=True, exist_ok=True)
    sizes = [int(row.get("size") or 0) for row in rows]
    shards = plan_shards([item_key(str(row["file"])) for row in rows], sizes, target_bytes)
    header = "\t".join(columns) + "\n"
    wanted, rewritten = set(), 0
    for shard, members in shards.items():
        path = listing_dir / f"{LISTING_PREFIX}{shard}{LISTING_SUFFIX}"
        wanted.add(path.name)
        data = (header + "".join(tsv_line(rows[i], columns) for i in members)).encode("utf-8", "surrogateescape")
        if _read_or_none(path) != data:  # untouched shards keep their mtime: nothing reruns for them
            atomic_write_bytes(path, data)
            rewritten += 1
    for old in listing_dir.glob(f"{LISTING_PREFIX}*{LISTING_SUFFIX}"):
        if old.name not in wanted:
            old.unlink()
    write_tsv(
        shards_tsv,
        ({"shard": s, "items": len(m), "bytes": sum(sizes[i] for i in m)} for s, m in shards.items()),
        SHARD_COLUMNS,
    )
    log.info("%d items in %d shards (target %.1f MB each); %d listings rewritten",
             len(rows), len(shards), target_bytes / 1e6, rewritten)  # fmt: skip
    return shards


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
