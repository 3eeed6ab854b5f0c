"""Mozilla Data Collective client and the resumable HTTP download, against a local emulation."""

from __future__ import annotations

import hashlib
import logging
import os

import pytest

from audiogan import httpfetch
from audiogan.sources import mdc
from http_fixtures import LocalServer, MDCDataset, MDCEmulation

KEY = "mdc-test-key-0123456789"


@pytest.fixture
def archive_bytes():
    return os.urandom(300_000)


@pytest.fixture
def api(tmp_path, archive_bytes, monkeypatch):
    served = tmp_path / "served"
    (served / "files").mkdir(parents=True)
    (served / "files" / "mcv-scripted-xx-v17.0.tar.gz").write_bytes(archive_bytes)
    monkeypatch.setenv(mdc.API_KEY_ENV, KEY)
    with LocalServer(served) as server:
        server.mdc = MDCEmulation(api_key=KEY, datasets=[MDCDataset(
            id="cm0001", slug="common-voice-xx-17", file="files/mcv-scripted-xx-v17.0.tar.gz",
            checksum="sha256:" + hashlib.sha256(archive_bytes).hexdigest(), size=len(archive_bytes),
        )])
        yield server


def fetch(server, dest, dataset="common-voice-xx-17"):
    return mdc.fetch_archive(dataset, dest, api_url=server.url("api"))


def test_download_by_slug_verifies_checksum(api, tmp_path, archive_bytes, caplog):
    caplog.set_level(logging.DEBUG)
    path = fetch(api, tmp_path / "dl")
    assert path == tmp_path / "dl" / "mcv-scripted-xx-v17.0.tar.gz"
    assert path.read_bytes() == archive_bytes
    assert [(r.method, r.path.split("?")[0]) for r in api.requests] == [
        ("GET", "/api/datasets/common-voice-xx-17"),
        ("POST", "/api/datasets/cm0001/download"),
        ("GET", "/files/mcv-scripted-xx-v17.0.tar.gz"),
    ]
    post = api.requests[1]
    assert post.headers["Authorization"] == f"Bearer {KEY}"
    # The key goes to the API only, never to the (pre-signed) download host.
    assert "Authorization" not in api.requests[2].headers
    # Neither the key nor the pre-signed query string is logged.
    assert KEY not in caplog.text and "presigned-secret" not in caplog.text
    assert hashlib.sha256(archive_bytes).hexdigest() in caplog.text  # the verification is logged

    api.clear()
    assert fetch(api, tmp_path / "dl") == path
    assert [r.method for r in api.requests] == ["GET"]  # details only: the verified copy is reused


def test_bare_hex_checksum_is_accepted(api, tmp_path, archive_bytes):
    api.mdc.datasets[0].checksum = hashlib.sha256(archive_bytes).hexdigest()
    assert fetch(api, tmp_path / "dl", dataset="cm0001").read_bytes() == archive_bytes


def test_missing_key_is_a_clear_error(api, tmp_path, monkeypatch):
    monkeypatch.delenv(mdc.API_KEY_ENV)
    with pytest.raises(mdc.MDCError, match="set the environment variable MDC_API_KEY"):
        fetch(api, tmp_path / "dl")
    assert api.requests == []


def test_bad_key_401(api, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(mdc.API_KEY_ENV, "wrong-key-secret")
    with pytest.raises(mdc.MDCError, match="HTTP 401: bad API key") as info:
        fetch(api, tmp_path / "dl")
    assert "wrong-key-secret" not in str(info.value) and "wrong-key-secret" not in caplog.text
    assert not (tmp_path / "dl" / "mcv-scripted-xx-v17.0.tar.gz").exists()


def test_terms_not_accepted_403(api, tmp_path):
    api.mdc.forbidden = True
    with pytest.raises(mdc.MDCError, match="HTTP 403: .*accept the dataset's terms on the website first"):
        fetch(api, tmp_path / "dl")


def test_unknown_dataset_404(api, tmp_path):
    with pytest.raises(mdc.MDCError, match="'nope'.*HTTP 404: no such dataset"):
        fetch(api, tmp_path / "dl", dataset="nope")


def test_rate_limited_then_success(api, tmp_path, archive_bytes, caplog):
    caplog.set_level(logging.WARNING)
    api.mdc.rate_limited, api.mdc.retry_after = 2, "0"
    assert fetch(api, tmp_path / "dl").read_bytes() == archive_bytes
    assert caplog.text.count("rate limited; waiting 0 s (Retry-After)") == 2


def test_rate_limited_too_long_gives_up(api, tmp_path):
    api.mdc.rate_limited = mdc.MAX_RATE_LIMIT_RETRIES + 1
    with pytest.raises(mdc.MDCError, match="HTTP 429: rate limited, retry later"):
        fetch(api, tmp_path / "dl")
    assert len(api.requests) == mdc.MAX_RATE_LIMIT_RETRIES + 1  # bounded


def test_dropped_download_resumes_with_range(api, tmp_path, archive_bytes, caplog):
    caplog.set_level(logging.INFO)
    api.drop_once.add("/files/mcv-scripted-xx-v17.0.tar.gz")
    path = fetch(api, tmp_path / "dl")
    assert path.read_bytes() == archive_bytes
    file_requests = [r for r in api.requests if r.path.startswith("/files/")]
    assert len(file_requests) == 2
    assert "Range" not in file_requests[0].headers
    assert file_requests[1].headers["Range"] == f"bytes={len(archive_bytes) // 2}-"
    assert "connection lost" in caplog.text
    assert not list((tmp_path / "dl").glob("*.part*"))


def test_corrupt_checksum_leaves_no_complete_file(api, tmp_path):
    api.mdc.datasets[0].checksum = "sha256:" + "0" * 64
    with pytest.raises(mdc.MDCError, match="checksum mismatch"):
        fetch(api, tmp_path / "dl")
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == []


def test_partial_file_from_an_interrupted_run_is_resumed(api, tmp_path, archive_bytes):
    url = api.url("files/mcv-scripted-xx-v17.0.tar.gz")
    dest = tmp_path / "dl" / "a.tar.gz"
    checksum = hashlib.sha256(archive_bytes).hexdigest()
    # The connection drops halfway, then the server is unavailable: this run gives up.
    api.script["/files/mcv-scripted-xx-v17.0.tar.gz"] = ["drop", 503]
    with pytest.raises(httpfetch.DownloadError, match="HTTP 503"):
        httpfetch.download(url, dest, checksum=checksum, attempts=1)
    assert not dest.exists()  # a partial download never counts as complete
    assert dest.with_name("a.tar.gz.part").stat().st_size == len(archive_bytes) // 2

    api.clear()
    httpfetch.download(url, dest, checksum=checksum)
    assert dest.read_bytes() == archive_bytes
    assert [r.headers.get("Range") for r in api.requests] == [f"bytes={len(archive_bytes) // 2}-"]


def test_changed_file_is_not_spliced_onto_an_old_partial(api, tmp_path, archive_bytes):
    served = api.root / "files" / "mcv-scripted-xx-v17.0.tar.gz"
    url = api.url("files/mcv-scripted-xx-v17.0.tar.gz")
    dest = tmp_path / "dl" / "a.tar.gz"
    api.script["/files/mcv-scripted-xx-v17.0.tar.gz"] = ["drop", 503]
    with pytest.raises(httpfetch.DownloadError):
        httpfetch.download(url, dest, attempts=1)
    assert dest.with_name("a.tar.gz.part").exists()
    new_bytes = os.urandom(len(archive_bytes))
    served.write_bytes(new_bytes)  # the file changed upstream: If-Range no longer matches
    httpfetch.download(url, dest)
    assert dest.read_bytes() == new_bytes


def test_checksum_parsing():
    digest = "ab" * 32
    assert httpfetch.parse_checksum(f"sha256:{digest.upper()}") == ("sha256", digest)
    assert httpfetch.parse_checksum(digest) == ("sha256", digest)
    assert httpfetch.parse_checksum("md5:" + "0" * 32) == ("md5", "0" * 32)
    for bad in ("sha256:xyz", "abc", "crc99:00"):
        with pytest.raises(httpfetch.DownloadError):
            httpfetch.parse_checksum(bad)
    assert httpfetch.safe_url("https://u:p@host:8443/a/b.tar.gz?X-Amz-Signature=s#f") == "https://host:8443/a/b.tar.gz"


def test_only_http_urls_are_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("local file")
    with pytest.raises(httpfetch.DownloadError, match="only http and https"):
        httpfetch.download(secret.as_uri(), tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    with pytest.raises(mdc.MDCError, match="must be an http"):
        mdc.dataset_details("x", api_url="file:///etc")


# -- the API key stays with the API host -------------------------------------------------------------


def test_api_key_does_not_follow_a_redirect_to_another_host(api, tmp_path, archive_bytes, caplog):
    """The API (127.0.0.1:A) answers 302 to another host name and port (localhost:B); B must never
    see the key, yet the answer from there is used."""
    caplog.set_level(logging.INFO)
    with LocalServer(tmp_path / "served") as other:
        other.mdc = api.mdc
        elsewhere = f"http://localhost:{other.port}/api/datasets/common-voice-xx-17"
        api.redirects["/api/datasets/common-voice-xx-17"] = elsewhere
        details = mdc.dataset_details("common-voice-xx-17", api.url("api"), KEY)
        assert details["id"] == "cm0001"
        assert other.requests and all("Authorization" not in r.headers for r in other.requests)
    assert api.requests[0].headers.get("Authorization") == f"Bearer {KEY}"
    assert f"redirected to another host, http://localhost:{other.port}/api/datasets/common-voice-xx-17" in caplog.text
    assert KEY not in caplog.text


def test_redirect_to_another_host_that_fails_says_so(api, tmp_path):
    with LocalServer(tmp_path / "served") as other:  # no API emulation there: 404
        api.redirects["/api/datasets/common-voice-xx-17"] = f"http://localhost:{other.port}/nowhere"
        with pytest.raises(mdc.MDCError) as error:
            mdc.dataset_details("common-voice-xx-17", api.url("api"), KEY)
        assert all("Authorization" not in r.headers for r in other.requests)
    message = str(error.value)
    assert f"redirected to another host (http://localhost:{other.port}/nowhere)" in message
    assert "not sent the API key" in message and "HTTP 404" in message and KEY not in message


def test_same_host_redirect_keeps_the_key(api):
    api.redirects["/api/datasets/old-slug"] = api.url("api/datasets/common-voice-xx-17")
    assert mdc.dataset_details("old-slug", api.url("api"), KEY)["id"] == "cm0001"
    assert [r.headers.get("Authorization") for r in api.requests] == [f"Bearer {KEY}"] * 2


def test_download_redirected_to_a_presigned_host_completes_without_the_key(api, tmp_path, archive_bytes):
    """A 302 from the API host to storage on another host still downloads, without Authorization."""
    with LocalServer(tmp_path / "served") as storage:
        api.redirects["/files/archive"] = f"http://localhost:{storage.port}/files/mcv-scripted-xx-v17.0.tar.gz?sig=s3cret"
        dest = httpfetch.download(api.url("files/archive"), tmp_path / "out" / "a.tar.gz",
                                  headers={"Authorization": f"Bearer {KEY}"}, size=len(archive_bytes))
        assert dest.read_bytes() == archive_bytes
        assert storage.paths() == ["/files/mcv-scripted-xx-v17.0.tar.gz"]
        assert all("Authorization" not in r.headers for r in storage.requests)
    assert api.requests[0].headers.get("Authorization") == f"Bearer {KEY}"
