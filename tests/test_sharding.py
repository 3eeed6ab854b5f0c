"""audiogan.sharding: shard membership by item hash, stable under additions and removals."""

import os

from audiogan.sharding import item_key, plan_shards, write_shard_listings
from audiogan.tsv import read_tsv

COLUMNS = ("path", "file", "license", "size", "mtime_ns")


def rows(names, size=1000):
    return [{"path": f"/data/{n}", "file": n, "license": "", "size": size, "mtime_ns": 1} for n in names]


def members(shards, table):
    return {shard: sorted(table[i]["file"] for i in positions) for shard, positions in shards.items()}


def test_shards_follow_the_target_size_and_do_not_depend_on_order():
    table = rows([f"f{i:05d}.wav" for i in range(2000)])
    shards = plan_shards([item_key(r["file"]) for r in table], [r["size"] for r in table], 100_000)
    sizes = [len(p) for p in shards.values()]
    assert sum(sizes) == 2000 and max(sizes) <= 100  # <= target bytes / item size
    assert 20 <= len(shards) <= 60  # leaves are between half full and full, roughly
    shuffled = table[::-1]
    again = plan_shards([item_key(r["file"]) for r in shuffled], [r["size"] for r in shuffled], 100_000)
    assert members(again, shuffled) == members(shards, table)


def test_adding_or_removing_one_item_changes_one_shard_and_matches_a_fresh_plan():
    names = [f"f{i:05d}.wav" for i in range(2000)]
    before = members(plan_shards([item_key(n) for n in names], [1000] * 2000, 100_000), rows(names))
    for changed in (names + ["new one.wav"], names[:700] + names[701:]):
        after = members(plan_shards([item_key(n) for n in changed], [1000] * len(changed), 100_000), rows(changed))
        different = {s for s in set(before) | set(after) if before.get(s) != after.get(s)}
        # one shard changes, or (when it crossed the target) splits into two / merges from two
        assert 1 <= len(different) <= 3, different
        assert sum(len(v) for v in after.values()) == len(changed)


def test_listings_are_rewritten_only_when_their_items_change(tmp_path):
    table = rows([f"f{i:04d}.wav" for i in range(300)])
    shards = write_shard_listings(table, COLUMNS, 50_000, tmp_path / "shards", tmp_path / "shards.tsv")
    listings = {p.name: p for p in (tmp_path / "shards").iterdir()}
    assert len(listings) == len(shards) > 3
    for path in listings.values():
        os.utime(path, ns=(1, 1))  # old mtimes: a rewrite would show
    table[5] = {**table[5], "mtime_ns": 2}  # one file changed
    write_shard_listings(table, COLUMNS, 50_000, tmp_path / "shards", tmp_path / "shards.tsv")
    rewritten = [name for name, p in listings.items() if p.stat().st_mtime_ns != 1]
    owner = next(s for s, pos in shards.items() if 5 in pos)
    assert rewritten == [f"shard_{owner}.tsv"]
    assert read_tsv(tmp_path / "shards.tsv")[0].keys() == {"shard", "items", "bytes"}
    write_shard_listings(table[:1], COLUMNS, 50_000, tmp_path / "shards", tmp_path / "shards.tsv")
    assert len(list((tmp_path / "shards").iterdir())) == 1  # listings of vanished shards are removed


def test_names_that_are_not_utf8_hash_without_crashing():
    assert item_key("caf\udce9.wav") != item_key("café.wav")
