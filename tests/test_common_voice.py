"""Common Voice source: a real (small) release archive, streamed; local path, http URL, MDC API."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from audiogan.dataset import samples_to_float32
from audiogan.sources import SourceError, common_voice, download
from audiogan.tsv import read_tsv
from cv_fixtures import COLUMNS, STRAY_QUOTE, build_cv_archive, encode_mp3s
from http_fixtures import LocalServer, MDCDataset, MDCEmulation


@pytest.fixture(scope="module")
def mp3s(tmp_path_factory):
    return encode_mp3s(tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="module")
def release(tmp_path_factory, mp3s):
    return build_cv_archive(tmp_path_factory.mktemp("release"), mp3s=mp3s)


def source(archive, **options):
    return {"name": "cv", "kind": "common_voice", "archive": str(archive), **options}


def test_validated_split_by_default_with_metadata(release, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    cache = tmp_path / "cache"
    result = common_voice.fetch(source(release.path), cache)

    rows = release.splits["validated"]
    assert [item.file for item in result.items] == [f"xx/clips/{row['path']}" for row in rows]
    for item, row in zip(result.items, rows):
        assert item.path.read_bytes() == release.clip_bytes[row["path"]]
        assert item.path.is_relative_to(cache)
        assert item.license == "CC0-1.0"
        assert item.extra["sentence"] == row["sentence"]
        assert item.extra["gender"] == row["gender"] and item.extra["age"] == row["age"]
        assert item.extra["accents"] == row["accents"] and item.extra["locale"] == "xx"
        assert item.extra["split"] == "validated"
        assert re.fullmatch(r"[0-9a-f]{16}", item.extra["client_id"])
        assert item.extra["client_id"] not in row["client_id"]  # hashed, not a prefix of the original
    # The sentence with an unbalanced quote survives intact (quoting disabled).
    assert STRAY_QUOTE in [item.extra["sentence"] for item in result.items]
    # Only the selected clips were written out.
    assert sorted(p.name for p in (cache / "clips" / "xx").iterdir()) == sorted(r["path"] for r in rows)


def test_escaping_member_is_refused_and_logged(release, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    cache = tmp_path / "deep" / "cache"
    result = common_voice.fetch(source(release.path), cache)
    assert ("../escape", "refused archive member: path leaves the archive folder") in result.failures
    assert "refused archive member '../escape'" in caplog.text
    for place in (cache / "escape", cache.parent / "escape", cache / "clips" / "escape", tmp_path / "escape"):
        assert not place.exists()


@pytest.mark.parametrize("split", ["train", "dev", "test", "other", "invalidated"])
def test_only_the_selected_split_reaches_the_items(release, tmp_path, split):
    result = common_voice.fetch(source(release.path, split=split), tmp_path / "cache")
    expected = release.clip_names(split)
    assert [item.path.name for item in result.items] == expected
    assert {item.extra["split"] for item in result.items} == {split}
    assert sorted(p.name for p in (tmp_path / "cache" / "clips" / "xx").iterdir()) == sorted(expected)


def test_filters_and_max_clips(release, tmp_path):
    women = common_voice.fetch(source(release.path, filters={"gender": ["female_feminine"]}), tmp_path / "a")
    expected = [r["path"] for r in release.splits["validated"] if r["gender"] == "female_feminine"]
    assert [i.path.name for i in women.items] == expected and len(expected) >= 2

    two = common_voice.fetch(
        source(release.path, filters={"age": ["twenties", "thirties"], "accents": ["England English"]}, max_clips=2),
        tmp_path / "b",
    )
    rows = [r for r in release.splits["validated"] if r["age"] in ("twenties", "thirties") and r["accents"] == "England English"]
    assert [i.path.name for i in two.items] == [r["path"] for r in rows[:2]]

    first3 = common_voice.fetch(source(release.path, max_clips=3), tmp_path / "c")
    assert [i.path.name for i in first3.items] == release.clip_names("validated")[:3]


def test_filter_on_a_column_the_release_lacks_is_a_clear_error(tmp_path, mp3s):
    old = build_cv_archive(tmp_path / "old", mp3s=mp3s, columns=tuple(c for c in COLUMNS if c not in ("variant", "segment")))
    with pytest.raises(SourceError, match=r"cannot filter on variant: not a column of this release"):
        common_voice.fetch(source(old.path, filters={"variant": ["x"]}), tmp_path / "cache")
    with pytest.raises(SourceError, match=r"cannot filter on shoe_size"):
        common_voice.fetch(source(old.path, filters={"shoe_size": ["42"]}), tmp_path / "cache")
    # Without the filter, the older layout reads fine.
    assert len(common_voice.fetch(source(old.path), tmp_path / "cache").items) == len(old.splits["validated"])


def test_clips_before_their_tsv_are_still_extracted(tmp_path, mp3s, caplog):
    caplog.set_level(logging.INFO)
    odd = build_cv_archive(tmp_path / "odd", clips_first=True, mp3s=mp3s)
    result = common_voice.fetch(source(odd.path, split="dev"), tmp_path / "cache")
    assert [i.path.name for i in result.items] == odd.clip_names("dev")
    assert all(i.path.read_bytes() == odd.clip_bytes[i.path.name] for i in result.items)
    assert "reading the archive a second time" in caplog.text


def test_missing_split_tsv_is_a_clear_error(tmp_path):
    import tarfile

    bogus = tmp_path / "not-cv.tar.gz"
    with tarfile.open(bogus, "w:gz") as tar:
        readme = tmp_path / "README"
        readme.write_text("hello")
        tar.add(readme, arcname="something/README")
    with pytest.raises(SourceError, match=r"no validated\.tsv in the archive"):
        common_voice.fetch(source(bogus), tmp_path / "cache")
    with pytest.raises(SourceError, match="not found"):
        common_voice.fetch(source(tmp_path / "nope.tar.gz"), tmp_path / "cache")


def test_rerun_with_same_selection_does_not_read_the_archive(release, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    with LocalServer(release.path.parent) as server:
        cfg = source(server.url(release.path.name), split="train")
        first = common_voice.fetch(cfg, tmp_path / "cache")
        assert server.paths() == [f"/{release.path.name}"]
        # Remove the downloaded archive: a rerun must not need it (nor the network).
        for archive in (tmp_path / "cache" / "archives").iterdir():
            archive.unlink()
        server.clear()
        again = common_voice.fetch(cfg, tmp_path / "cache")
        assert server.requests == []
        assert [i.path for i in again.items] == [i.path for i in first.items]
        assert "archive not read" in caplog.text
        # A changed selection needs the archive again: fetched once more.
        more = common_voice.fetch({**cfg, "split": "validated"}, tmp_path / "cache")
        assert len(more.items) == len(release.splits["validated"])
        assert server.paths() == [f"/{release.path.name}"]


def test_http_archive_download_resumes_after_a_drop(release, tmp_path):
    with LocalServer(release.path.parent) as server:
        server.drop_once.add(f"/{release.path.name}")
        result = common_voice.fetch(source(server.url(release.path.name)), tmp_path / "cache")
        ranges = [r.headers.get("Range") for r in server.requests]
    assert ranges[0] is None and ranges[1] and ranges[1].startswith("bytes=")
    assert len(result.items) == len(release.splits["validated"])
    (archive,) = [p for p in (tmp_path / "cache" / "archives").iterdir() if p.name.endswith(".tar.gz")]
    assert archive.read_bytes() == release.path.read_bytes()


def test_mdc_dataset_ingest(tmp_path, mp3s, monkeypatch):
    import hashlib

    mdc_release = build_cv_archive(tmp_path / "files", mdc_name=True, mp3s=mp3s)
    data = mdc_release.path.read_bytes()
    with LocalServer(tmp_path) as server:
        server.mdc = MDCEmulation(api_key="k-123", datasets=[MDCDataset(
            id="cmabc123", slug="common-voice-xx-17", file=f"files/{mdc_release.path.name}",
            checksum="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data),
        )])
        monkeypatch.setenv("MDC_API_KEY", "k-123")
        cfg = {"name": "cv", "kind": "common_voice", "dataset": "common-voice-xx-17",
               "api_url": server.url("api"), "split": "test", "license": "CC0-1.0"}
        result = common_voice.fetch(cfg, tmp_path / "cache")
        assert [i.path.name for i in result.items] == mdc_release.clip_names("test")
        assert ("POST", "/api/datasets/cmabc123/download") in [(r.method, r.path) for r in server.requests]
        # Another split: the verified archive is reused (no new download request).
        server.clear()
        other = common_voice.fetch({**cfg, "split": "dev"}, tmp_path / "cache")
        assert [i.path.name for i in other.items] == mdc_release.clip_names("dev")
        assert "POST" not in [r.method for r in server.requests]
        assert f"/files/{mdc_release.path.name}" not in server.paths()


def test_download_writes_items_tsv_and_convert_reads_it(release, tmp_path):
    from audiogan.convert import convert_shard

    items_tsv, failures_tsv = tmp_path / "raw" / "items.tsv", tmp_path / "raw" / "failures.tsv"
    download(source(release.path, split="train"), tmp_path / "cache", items_tsv, failures_tsv)
    rows = read_tsv(items_tsv)
    assert [r["file"] for r in rows] == [f"xx/clips/{n}" for n in release.clip_names("train")]
    assert {"sentence", "gender", "age", "accents", "locale", "client_id", "split"} <= set(rows[0])
    assert STRAY_QUOTE in [r["sentence"] for r in rows]
    assert read_tsv(failures_tsv) == [{"file": "../escape", "reason": "refused archive member: path leaves the archive folder"}]

    out = tmp_path / "converted"
    convert_shard(items_tsv, 16000, out / "shard_0.npy", out / "shard_0.tsv", out / "shard_0.rejects.tsv")
    index = read_tsv(out / "shard_0.tsv")
    stored = np.load(out / "shard_0.npy")
    audio = samples_to_float32(stored)
    assert [r["file"] for r in index] == [r["file"] for r in rows]  # 32k mono, 48k mono, 44.1k stereo all decode
    assert read_tsv(out / "shard_0.rejects.tsv") == []
    assert stored.dtype == np.int16 and audio.size == sum(int(r["length"]) for r in index)
    # espeak speech of about a second: lengths in a sane range at 16 kHz, and not silent.
    assert all(8000 < int(r["length"]) < 64000 for r in index)
    assert float(np.abs(audio).max()) > 0.05


def test_labels_from_a_column_with_the_source_label_for_empty_cells(release, tmp_path):
    """Issue 10: `labels: gender` labels each clip by its gender cell; an empty cell takes `label`."""
    raw = tmp_path / "raw"
    download(source(release.path, labels="gender", label="unknown"), tmp_path / "cache", raw / "items.tsv",
             raw / "failures.tsv")  # fmt: skip
    rows = read_tsv(raw / "items.tsv")
    expected = [row["gender"] or "unknown" for row in release.splits["validated"]]
    assert [row["label"] for row in rows] == expected
    assert "unknown" in expected and len(set(expected)) >= 3  # the fixture has empty and several genders
    download(source(release.path, labels="gender"), tmp_path / "cache", raw / "items.tsv", raw / "failures.tsv")
    genders = [r["gender"] for r in release.splits["validated"]]
    assert [row["label"] for row in read_tsv(raw / "items.tsv")] == genders


# -- hostile archives: nothing leaves the cache folder, every refusal is recorded -------------------


def _raw_member(tar, name: str, data: bytes = b"", *, link: str | None = None) -> None:
    """A member with any name (non-UTF-8 bytes travel as surrogates, as tarfile reads them back)."""
    import io
    import tarfile

    info = tarfile.TarInfo(name)
    if link is not None:
        info.type, info.linkname = tarfile.SYMTYPE, link
    else:
        info.size = len(data)
    info.mtime = 1_700_000_000
    tar.addfile(info, io.BytesIO(data) if link is None else None)


def _top_level_archive(path, rows: list[tuple[bytes, bytes]], members: list[tuple[str, dict]]) -> None:
    """`validated.tsv` at the top of the archive (so the language folder comes from `locale`),
    its rows given as raw (path, locale) cells, then the members in order."""
    import tarfile

    tsv = b"client_id\tpath\tsentence\tlocale\n" + b"".join(b"c\t" + p + b"\ts\t" + loc + b"\n" for p, loc in rows)
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape") as tar:
        for name, options in members[:1]:
            _raw_member(tar, name, **options)
        _raw_member(tar, "validated.tsv", tsv)
        for name, options in members[1:]:
            _raw_member(tar, name, **options)


def _files_under(root):
    return {p for p in root.rglob("*") if not p.is_dir()}


def test_locale_cell_cannot_place_a_clip_outside_the_cache(tmp_path, mp3s):
    """The issue's attack: locale `/home/someone/.ssh`, path `authorized_keys`, a member clips/authorized_keys."""
    ssh = tmp_path / "home" / "someone" / ".ssh"
    archive = tmp_path / "attack.tar.gz"
    rows = [(b"authorized_keys", str(ssh).encode()), (b"sub.mp3", b"../../.."), (b"good.mp3", b"xx")]
    members = [("README", {"data": b"x"}), ("clips/authorized_keys", {"data": b"ssh-ed25519 AAAA attacker"}),
               ("clips/sub.mp3", {"data": mp3s[0]}), ("clips/good.mp3", {"data": mp3s[0]})]
    _top_level_archive(archive, rows, members)
    cache = tmp_path / "a" / "b" / "cache"
    before = _files_under(tmp_path)

    result = common_voice.fetch(source(archive), cache)

    assert not ssh.exists()
    assert {p for p in _files_under(tmp_path) - before if not p.is_relative_to(cache)} == set()
    assert [item.path for item in result.items] == [cache.resolve() / "clips" / "xx" / "good.mp3"]
    reasons = dict(result.failures)
    assert reasons[f"{ssh}/clips/authorized_keys"].startswith("refused: ")
    assert "path separator" in reasons[f"{ssh}/clips/authorized_keys"]
    assert reasons["../../../clips/sub.mp3"].startswith("refused: ")


def test_hostile_archive_table_writes_nothing_outside_and_records_every_refusal(tmp_path, mp3s):
    """A table of hostile TSV cells and members; each must be refused with a recorded reason."""
    outside = tmp_path / "outside"
    outside.mkdir()
    long = b"L" * 300
    # (path cell, locale cell, what the failure's `file` column contains)
    table = [
        (b"t01.mp3", str(outside).encode(), "/clips/t01.mp3"),   # absolute locale
        (b"t02.mp3", b"../../..", "../../../clips/t02.mp3"),     # climbing locale
        (b"t03.mp3", b"..", "../clips/t03.mp3"),
        (b"t04.mp3", b".", "./clips/t04.mp3"),
        (b"../t05.mp3", b"xx", "xx/clips/../t05.mp3"),            # climbing path
        (str(outside / "t06.mp3").encode(), b"xx", "t06.mp3"),    # absolute path
        (b"t07.mp3", b"x\x00y", "x\\x00y/clips/t07.mp3"),         # NUL in locale
        (b"t08\x00.mp3", b"xx", "xx/clips/t08\\x00.mp3"),         # NUL in path
        (b"t09" + long + b".mp3", b"xx", "t09LLL"),               # name too long
        (b"t10.mp3", long, "/clips/t10.mp3"),                     # locale too long
        (b"t11.mp3", b"\xff\xfe", "validated.tsv:12"),            # non-UTF-8 locale
        (b"t12\xe9.mp3", b"xx", "validated.tsv:13"),              # non-UTF-8 path
        (b"t13.mp3", b"x\ry", "validated.tsv:14"),                # carriage return in a cell
        (b"", b"xx", "xx/clips/"),                                # empty path
        (b"..", b"xx", "xx/clips/.."),
        (b"t16.mp3", b"C:\\Windows", "C:\\Windows/clips/t16.mp3"),  # Windows-style absolute locale
        (b"link.mp3", b"xx", "xx/clips/link.mp3"),                # the member is a symlink: never extracted
        (b"good.mp3", b"xx", None),
    ]
    members = [
        ("../evil", {"data": b"evil"}),
        (str(outside / "abs_evil"), {"data": b"evil"}),
        ("clips/../../evil2", {"data": b"evil"}),
        ("clips/link.mp3", {"link": str(outside / "target")}),
        ("clips/t12\udce9.mp3", {"data": mp3s[0]}),
        ("clips/t09" + "L" * 300 + ".mp3", {"data": mp3s[0]}),
    ]
    members += [(f"clips/t{n:02d}.mp3", {"data": mp3s[0]}) for n in (1, 2, 3, 4, 7, 10, 11, 13, 16)]
    members += [("clips/good.mp3", {"data": mp3s[1]})]
    archive = tmp_path / "hostile.tar.gz"
    _top_level_archive(archive, [(p, loc) for p, loc, _ in table], members)
    cache = tmp_path / "deep" / "er" / "cache"
    items_tsv, failures_tsv = tmp_path / "raw" / "items.tsv", tmp_path / "raw" / "failures.tsv"
    before = _files_under(tmp_path)

    download(source(archive), cache, items_tsv, failures_tsv)

    written = _files_under(tmp_path) - before - {items_tsv, failures_tsv}
    assert written and all(p.is_relative_to(cache) for p in written), sorted(map(str, written))
    assert not any(outside.iterdir())
    assert [r["file"] for r in read_tsv(items_tsv)] == ["xx/clips/good.mp3"]
    assert (cache / "clips" / "xx" / "good.mp3").read_bytes() == mp3s[1]
    failures = read_tsv(failures_tsv)
    shown = [f["file"] for f in failures]
    for _, _, expected in table[:-1]:
        assert any(expected in file for file in shown), (expected, shown)
    for name in ("../evil", str(outside / "abs_evil"), "clips/../../evil2", "clips/link.mp3"):
        assert any(f["file"] == name and f["reason"].startswith("refused archive member") for f in failures), name
    assert len(failures) == len(table) - 1 + 4
    assert all(f["reason"] for f in failures)


def test_mdc_route_confines_a_hostile_archive(tmp_path, mp3s, monkeypatch):
    import hashlib

    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "files" / "mcv-scripted-xx-v1.tar.gz"
    archive.parent.mkdir()
    _top_level_archive(
        archive, [(b"k.mp3", str(outside).encode()), (b"good.mp3", b"xx")],
        [("../evil", {"data": b"evil"}), ("clips/k.mp3", {"data": mp3s[0]}), ("clips/good.mp3", {"data": mp3s[0]})],
    )
    data = archive.read_bytes()
    with LocalServer(tmp_path) as server:
        server.mdc = MDCEmulation(api_key="k-1", datasets=[MDCDataset(
            id="cmx", slug="cv-xx", file=f"files/{archive.name}",
            checksum="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data),
        )])
        monkeypatch.setenv("MDC_API_KEY", "k-1")
        cache = tmp_path / "cache"
        result = common_voice.fetch({"name": "cv", "kind": "common_voice", "dataset": "cv-xx",
                                     "api_url": server.url("api")}, cache)
    assert not any(outside.iterdir()) and not (tmp_path / "evil").exists()
    assert [i.file for i in result.items] == ["xx/clips/good.mp3"]
    files = dict(result.failures)
    assert files["../evil"].startswith("refused archive member") and files[f"{outside}/clips/k.mp3"].startswith("refused")
