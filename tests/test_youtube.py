"""youtube source kind through real yt-dlp against a local HTTP server (no internet)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess

import numpy as np
import pytest
import yt_dlp

from audiogan.sources import SourceError, download, youtube
from audiogan.tsv import read_tsv
from http_fixtures import LocalServer, write_audio_page, write_jsonld_page


def _encode(wav, out, *args):
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), *args, str(out)], check=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Served files: two different clip.mp3 in a/ and b/, an AAC .m4a, pages with <audio> tags and JSON-LD."""
    root = tmp_path_factory.mktemp("www")
    wav = root.parent / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "testing one two three"], check=True, capture_output=True)
    for sub in ("a", "b", "c"):
        (root / sub).mkdir()
    _encode(wav, root / "a" / "clip.mp3", "-ar", "32000", "-ac", "1", "-c:a", "libmp3lame")
    _encode(wav, root / "b" / "clip.mp3", "-ar", "48000", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "96k")
    _encode(wav, root / "song.m4a", "-ar", "44100", "-ac", "2", "-c:a", "aac")
    _encode(wav, root / "c" / "one.mp3", "-ar", "22050", "-ac", "1", "-c:a", "libmp3lame")
    _encode(wav, root / "c" / "two.m4a", "-c:a", "aac")
    write_audio_page(root / "page.html", "Two sounds", ["c/one.mp3", "c/two.m4a"])
    with LocalServer(root) as server:
        write_jsonld_page(root / "long.html", "Long talk", server.url("b/clip.mp3"), duration_s=605)
        write_jsonld_page(root / "short.html", "Short talk", server.url("a/clip.mp3"), duration_s=3, uploader="Bea")
        yield server


@pytest.fixture
def server(site):
    site.clear()
    site.not_found.clear()
    return site


def source(*urls, **options):
    return {"name": "web", "kind": "youtube", "urls": list(urls), **options}


def test_direct_files_keep_original_and_provenance(server, tmp_path):
    urls = [server.url("a/clip.mp3"), server.url("song.m4a")]
    result = youtube.fetch(source(*urls), tmp_path)
    assert [item.file for item in result.items] == urls
    assert result.failures == []
    for item, name in zip(result.items, ["a/clip.mp3", "song.m4a"]):
        original = (server.root / name).read_bytes()
        assert item.path.read_bytes() == original  # the original stream, not re-encoded
        assert item.path.suffix == (server.root / name).suffix
        assert item.extra["sha256"] == hashlib.sha256(original).hexdigest()
        assert item.extra["url"] == item.file and item.extra["source_url"] == item.file
        assert item.extra["extractor"] == "generic" and item.extra["id"] == name.split("/")[-1].rsplit(".", 1)[0]
        assert item.extra["ytdlp_version"] == yt_dlp.version.__version__
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item.extra["retrieved_at"])
        assert set(youtube.PROVENANCE_COLUMNS) <= set(item.extra)
        sidecar = json.loads(item.path.with_suffix(".json").read_text())
        assert {k: sidecar[k] for k in youtube.PROVENANCE_COLUMNS} == item.extra


def test_same_basename_from_two_urls_does_not_collide(server, tmp_path):
    a, b = server.url("a/clip.mp3"), server.url("b/clip.mp3")
    result = youtube.fetch(source(a, b), tmp_path)
    assert [item.file for item in result.items] == [a, b]
    first, second = (item.path for item in result.items)
    assert first != second
    assert first.read_bytes() == (server.root / "a" / "clip.mp3").read_bytes()
    assert second.read_bytes() == (server.root / "b" / "clip.mp3").read_bytes()


def test_page_with_audio_tags_is_a_playlist(server, tmp_path):
    page = server.url("page.html")
    result = youtube.fetch(source(page), tmp_path / "all")
    assert [item.file for item in result.items] == [server.url("c/one.mp3"), server.url("c/two.m4a")]
    assert all(item.extra["source_url"] == page for item in result.items)
    assert [item.path.read_bytes() for item in result.items] == [
        (server.root / "c" / "one.mp3").read_bytes(), (server.root / "c" / "two.m4a").read_bytes()]

    server.clear()
    one = youtube.fetch(source(page, max_items=1), tmp_path / "one")
    assert [item.file for item in one.items] == [server.url("c/one.mp3")]
    assert "/c/two.m4a" not in server.paths()


def test_a_404_is_recorded_and_the_run_goes_on(server, tmp_path):
    missing, good = server.url("gone.mp3"), server.url("a/clip.mp3")
    result = youtube.fetch(source(missing, good), tmp_path)
    assert [item.file for item in result.items] == [good]
    ((file, reason),) = result.failures
    assert file == missing and "HTTP Error 404" in reason


def test_a_source_whose_items_all_fail_raises(server, tmp_path):
    with pytest.raises(SourceError, match=r"'web'.*HTTP Error 404"):
        download(source(server.url("gone.mp3")), tmp_path / "cache", tmp_path / "items.tsv", tmp_path / "failures.tsv")
    assert not (tmp_path / "items.tsv").exists()


def test_rerun_added_and_removed_urls(server, tmp_path):
    a, b, song = server.url("a/clip.mp3"), server.url("b/clip.mp3"), server.url("song.m4a")
    youtube.fetch(source(a, b), tmp_path)
    assert server.paths()

    server.clear()
    again = youtube.fetch(source(a, b), tmp_path)
    assert server.requests == []  # nothing fetched on a rerun
    assert [item.file for item in again.items] == [a, b]

    added = youtube.fetch(source(a, b, song), tmp_path)
    assert set(server.paths()) == {"/song.m4a"}  # only the new URL
    assert [item.file for item in added.items] == [a, b, song]

    server.clear()
    removed = youtube.fetch(source(a, song), tmp_path)
    assert [item.file for item in removed.items] == [a, song]
    assert server.requests == []


def test_refresh_polls_a_grown_page_and_fetches_only_the_new_item(server, tmp_path):
    page_file = server.root / "grow.html"
    write_audio_page(page_file, "Growing", ["c/one.mp3"])
    page = server.url("grow.html")
    first = youtube.fetch(source(page), tmp_path)
    assert [item.file for item in first.items] == [server.url("c/one.mp3")]

    write_audio_page(page_file, "Growing", ["c/one.mp3", "c/two.m4a"])  # a new upload
    server.clear()
    assert [i.file for i in youtube.fetch(source(page), tmp_path).items] == [server.url("c/one.mp3")]
    assert server.requests == []  # without a refresh, a complete URL is not contacted

    polled = youtube.fetch(source(page, poll="2026-12-01"), tmp_path)
    assert [item.file for item in polled.items] == [server.url("c/one.mp3"), server.url("c/two.m4a")]
    assert "/grow.html" in server.paths() and "/c/two.m4a" in server.paths()
    assert "/c/one.mp3" not in server.paths()  # the archive skips what is already downloaded

    server.clear()
    youtube.fetch(source(page, poll="2026-12-01"), tmp_path)
    assert server.requests == []  # each poll value polls once


def test_file_deleted_from_cache_is_fetched_again(server, tmp_path):
    a = server.url("a/clip.mp3")
    (item,) = youtube.fetch(source(a), tmp_path).items
    item.path.unlink()
    server.clear()
    (again,) = youtube.fetch(source(a), tmp_path).items
    assert again.path.read_bytes() == (server.root / "a" / "clip.mp3").read_bytes()
    assert "/a/clip.mp3" in server.paths()


def test_duration_filter(server, tmp_path):
    long_, short, direct = server.url("long.html"), server.url("short.html"), server.url("b/clip.mp3")
    result = youtube.fetch(source(long_, short, direct, max_duration=600), tmp_path / "max")
    assert [item.file for item in result.items] == [short, direct]  # unknown duration passes
    assert result.items[0].extra["duration"] == 3 and result.items[0].extra["uploader"] == "Bea"
    assert result.items[1].extra["duration"] is None
    assert result.failures == [(long_, "skipped: duration 605 s outside [0, 600] s")]

    floor = youtube.fetch(source(long_, short, min_duration=5), tmp_path / "min")
    assert [item.file for item in floor.items] == [long_]
    assert floor.failures == [(short, "skipped: duration 3 s outside [5, inf] s")]

    # Tightening the filter later drops an already-downloaded item without re-downloading.
    server.clear()
    tighter = youtube.fetch(source(long_, short, min_duration=700), tmp_path / "min")
    assert tighter.items == []
    assert (long_, "skipped: duration 605 s outside [700, inf] s") in tighter.failures
    assert "/b/clip.mp3" not in server.paths()


def test_licence_filter(server, tmp_path):
    url = server.url("a/clip.mp3")
    result = youtube.fetch(source(url, license_filter="creative commons"), tmp_path)
    assert result.items == []
    assert result.failures == [(url, "skipped: no licence information (license_filter 'creative commons' is set)")]
    assert "/a/clip.mp3" in server.paths()  # inspected, but not downloaded: no file in the cache
    assert not list((tmp_path / "media").rglob("*.mp3"))

    settings = youtube.Settings.from_source(source(url, license_filter="creative commons|cc0"))
    cc = {"license": "Creative Commons Attribution license (reuse allowed)", "duration": 10}
    assert settings.reject_reason(cc, incomplete=False) is None
    assert settings.reject_reason({"license": "CC0"}, incomplete=False) is None
    assert "does not match" in settings.reject_reason({"license": "Standard YouTube License"}, incomplete=False)
    # Flat playlist entries carry no licence yet: they are not rejected before their page is read.
    assert settings.reject_reason({"id": "x"}, incomplete=True) is None
    with pytest.raises(SourceError, match="license_filter"):
        youtube.Settings.from_source(source(url, license_filter="(unclosed"))


def test_cookies_are_used_but_never_logged(server, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    secret_dir = tmp_path / "private-cookie-dir-xyz"
    secret_dir.mkdir()
    cookies = secret_dir / "cookies.txt"
    content = "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tcookie-value-s3cr3t\n"
    cookies.write_text(content)
    url = server.url("a/clip.mp3")
    download(source(url, cookies=str(cookies)), tmp_path / "cache", tmp_path / "items.tsv", tmp_path / "failures.tsv")

    assert any("session=cookie-value-s3cr3t" in r.headers.get("Cookie", "") for r in server.requests)
    assert "cookies: yes" in caplog.text
    out = capsys.readouterr()
    written = [p.read_text(errors="replace") for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.suffix in (".json", ".txt")]
    written.append((tmp_path / "items.tsv").read_text())
    for text in [caplog.text, out.out, out.err, *written]:
        assert "private-cookie-dir-xyz" not in text and "cookie-value-s3cr3t" not in text
    assert cookies.read_text() == content  # the user's file is not rewritten

    with pytest.raises(SourceError, match="cookies file does not exist") as info:
        youtube.fetch(source(url, cookies=str(secret_dir / "nope.txt")), tmp_path / "cache2")
    assert "private-cookie-dir-xyz" not in str(info.value)


def test_file_urls_need_allow_file_urls(server, tmp_path):
    file_url = (server.root / "a" / "clip.mp3").as_uri()
    refused = youtube.fetch(source(file_url), tmp_path / "no")
    assert refused.items == [] and refused.failures == [(file_url, "file:// URLs need allow_file_urls: true")]
    allowed = youtube.fetch(source(file_url, allow_file_urls=True), tmp_path / "yes")
    assert [item.path.read_bytes() for item in allowed.items] == [(server.root / "a" / "clip.mp3").read_bytes()]


def test_download_items_tsv_then_convert(server, tmp_path):
    from audiogan.convert import convert_shard

    urls = [server.url("a/clip.mp3"), server.url("song.m4a"), server.url("gone.mp3")]
    items_tsv, failures_tsv = tmp_path / "raw" / "items.tsv", tmp_path / "raw" / "failures.tsv"
    download(source(*urls, rate_limit="10M", retries=1, sleep_interval=0), tmp_path / "cache", items_tsv, failures_tsv)
    rows = read_tsv(items_tsv)
    assert [r["file"] for r in rows] == urls[:2]
    assert list(rows[0])[:3] == ["path", "file", "license"]
    assert set(youtube.PROVENANCE_COLUMNS) <= set(rows[0])
    assert [r["file"] for r in read_tsv(failures_tsv)] == [urls[2]]

    out = tmp_path / "converted"
    convert_shard(items_tsv, 16000, out / "s.npy", out / "s.tsv", out / "s.rejects.tsv")
    index = read_tsv(out / "s.tsv")
    assert [r["file"] for r in index] == urls[:2]  # MP3 and AAC both decode
    assert read_tsv(out / "s.rejects.tsv") == []
    audio = np.load(out / "s.npy")
    assert audio.size == sum(int(r["length"]) for r in index) and float(np.abs(audio).max()) > 0.05


def test_url_secrets_never_reach_logs_or_tables(server, tmp_path, caplog):
    """`?token=` / `sig=` in a configured URL: the download works (the server gets the full URL),
    but logs, items.tsv and failures.tsv show the URL without them, like pre-signed links."""
    caplog.set_level(logging.DEBUG)
    good = server.url("a/clip.mp3") + "?v=7&token=tok-SECRET-1&sig=sig-SECRET-2"
    gone = server.url("gone.mp3") + "?api_key=key-SECRET-3"
    raw = tmp_path / "raw"
    download(source(good, gone), tmp_path / "cache", raw / "items.tsv", raw / "failures.tsv")
    assert any("token=tok-SECRET-1" in r.path for r in server.requests)  # the real request kept it
    items, failures = read_tsv(raw / "items.tsv"), read_tsv(raw / "failures.tsv")
    assert [row["file"] for row in items] == [server.url("a/clip.mp3") + "?v=7"]
    assert [row["file"] for row in failures] == [server.url("gone.mp3")]
    shown = caplog.text + (raw / "items.tsv").read_text() + (raw / "failures.tsv").read_text()
    assert "SECRET" not in shown


def test_safe_url_is_one_rule_for_presigned_links_and_url_tokens():
    from audiogan.httpfetch import redact_urls, safe_url

    assert safe_url("https://www.youtube.com/watch?v=abc&token=t&list=PL1") == "https://www.youtube.com/watch?v=abc&list=PL1"
    assert safe_url("https://s3.example/b.tar.gz?X-Amz-Date=1&X-Amz-Signature=s&part=2") == "https://s3.example/b.tar.gz"
    assert safe_url("https://cdn/a.mp3?Signature=s&Key-Pair-Id=k&Policy=p&Expires=9") == "https://cdn/a.mp3?Expires=9"
    assert safe_url("https://u:pw@h/a?access_token=x#frag") == "https://h/a"
    assert redact_urls("failed: https://h/a.mp3?token=x: HTTP 403.") == "failed: https://h/a.mp3: HTTP 403."
