"""Resumable HTTP download of one large file: Range requests, checksum, atomic rename.

Bytes go to `<dest>.part`; a dropped connection resumes from the bytes already on disk
(`Range: bytes=N-`, guarded by `If-Range` so a changed file restarts instead of being spliced).
The file gets its final name only after its size and checksum are verified, so a partial or
corrupt download never looks complete. `<dest>.verified` records the checksum the final file
was verified against, so a rerun with the same expected checksum does not hash it again.

URLs are logged without their query string: pre-signed download links carry credentials there.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Mapping

from .atomic import atomic_write_text, disk_full
from .jobs import ExpectedError

log = logging.getLogger(__name__)

USER_AGENT = "audiogan/0.1 (+httpfetch)"
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_TRANSIENT = {500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class DownloadError(ExpectedError, RuntimeError):
    """A download failed; the message names the file and the reason."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the expected checksum."""


def parse_checksum(text: str) -> tuple[str, str]:
    """`"sha256:<hex>"` or a bare 64-digit hex string -> ("sha256", "<hex>").

    Other hashlib names are accepted with a prefix ("md5:<hex>").
    """
    text = text.strip()
    algorithm, sep, digest = text.partition(":")
    if not sep:
        algorithm, digest = "sha256", text
    algorithm = algorithm.lower().replace("-", "")
    if algorithm not in hashlib.algorithms_guaranteed:
        raise DownloadError(f"unsupported checksum algorithm {algorithm!r} in {text!r}")
    expected_len = hashlib.new(algorithm).digest_size * 2
    if not _HEX.match(digest) or len(digest) != expected_len:
        raise DownloadError(f"malformed {algorithm} checksum {text!r} (expected {expected_len} hex digits)")
    return algorithm, digest.lower()


# Query parameters that may carry a credential (matched anywhere in the name, any case), and those
# of pre-signed storage links, whose whole query is the credential.
_CREDENTIAL_PARAM = re.compile(r"token|sig|key|secret|pass|auth|credential|session|policy", re.I)
_PRESIGNED_PARAM = re.compile(r"^x-(amz|goog|ms)-", re.I)
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I)


def safe_url(url: str) -> str:
    """The URL as it may be shown (logs, error messages, tables, the gallery): without user info,
    fragment, or any query parameter that may carry a credential (`token=`, `sig=`, `api_key=`, ...).
    A pre-signed storage link (X-Amz-*, X-Goog-* parameters) loses its whole query. Other
    parameters stay, so `watch?v=...&token=...` still names the video.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    fields = [field for field in parts.query.split("&") if field]
    names = [urllib.parse.unquote_plus(field.split("=", 1)[0]) for field in fields]
    if any(_PRESIGNED_PARAM.match(name) for name in names):
        fields = []
    query = "&".join(field for field, name in zip(fields, names) if not _CREDENTIAL_PARAM.search(name))
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, query, ""))


def redact_urls(text: str) -> str:
    """`text` with every URL in it passed through `safe_url` (for messages from other libraries)."""
    def redact(match: re.Match) -> str:
        url = match.group()
        stripped = url.rstrip(".,:;)]")  # sentence punctuation after a URL is not part of it
        return safe_url(stripped) + url[len(stripped):]

    return _URL_IN_TEXT.sub(redact, text)


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL: credentials sent to one origin must not reach another."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")


class _CredentialsStayHome(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but a redirect to another origin (e.g. an API's 302 to a pre-signed
    storage URL) goes there without the Authorization and Cookie headers, and says so.

    urllib's own handler copies every header onto the redirected request, API key included.
    """

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and origin(newurl) != origin(req.full_url):
            dropped = [name for name in list(new.headers) if name.lower() in _CREDENTIAL_HEADERS]
            for name in dropped:
                del new.headers[name]
            if dropped:
                log.warning(
                    "%s redirected to another host, %s: following it without the %s header(s)",
                    safe_url(req.full_url), safe_url(newurl), ", ".join(dropped),
                )
        return new


_OPENER = urllib.request.build_opener(_CredentialsStayHome)


def urlopen(request: urllib.request.Request, timeout: float):
    """`urllib.request.urlopen`, except that credentials never follow a redirect to another host."""
    return _OPENER.open(request, timeout=timeout)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    checksum: str | None = None,
    size: int | None = None,
    headers: Mapping[str, str] | None = None,
    attempts: int = 5,
    timeout: float = 60.0,
    backoff: float = 0.5,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download `url` to `dest` unless a verified copy is already there; return `dest`.

    `checksum` ("sha256:<hex>" or hex) and `size` are verified when given. A connection that
    drops is resumed from the bytes on disk, at most `attempts` times in a row without
    progress. Raises DownloadError (HTTP errors, too many drops) or ChecksumError (in which
    case neither the partial nor a final file is left behind).
    """
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise DownloadError(f"refusing to download {safe_url(url)!r}: only http and https URLs are fetched")
    dest = Path(dest)
    expected = parse_checksum(checksum) if checksum else None
    if _is_complete(dest, expected):
        log.info("%s: already downloaded", dest.name)
        return dest

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    meta = dest.with_name(dest.name + ".part.json")
    identity = {"checksum": ":".join(expected) if expected else None, "size": size, "url": None if expected else safe_url(url)}
    validator = _resume_validator(part, meta, identity)

    algorithm = expected[0] if expected else "sha256"
    hasher, hashed = hashlib.new(algorithm), 0
    failures = 0  # failed attempts in a row without new bytes
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset == size:
            break
        if hashed != offset:  # a partial file from an earlier call: hash its bytes first
            hasher = hashlib.new(algorithm)
            with open(part, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    hasher.update(block)
            hashed = offset
        request_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
            if validator:
                request_headers["If-Range"] = validator
        try:
            validator = _transfer(url, part, meta, identity, request_headers, offset, hasher, timeout, chunk_size)
            hashed = part.stat().st_size
            if size is None or hashed >= size:
                break
            raise http.client.IncompleteRead(b"", size - hashed)  # closed early without an error
        except _Restart as restart:
            log.warning("%s: %s; starting over", dest.name, restart)
            part.unlink(missing_ok=True)
            hasher, hashed = hashlib.new(algorithm), 0
            continue
        except urllib.error.HTTPError as error:
            if error.code not in _TRANSIENT:
                raise DownloadError(f"download of {safe_url(url)} failed: HTTP {error.code} {error.reason}") from None
            problem = f"HTTP {error.code} {error.reason}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            full = disk_full(error, part) if isinstance(error, OSError) else None
            if full is not None:
                raise full from None  # not a network problem: retrying cannot help
            problem = f"connection lost ({error})"
        # Every block written was also hashed, so the hasher matches the bytes on disk.
        hashed = part.stat().st_size if part.exists() else 0
        failures = 0 if hashed > offset else failures + 1
        if failures >= attempts:
            raise DownloadError(f"download of {safe_url(url)} failed after {attempts} attempts without progress: {problem}")
        wait = min(backoff * 2 ** max(failures - 1, 0), 30.0)
        log.warning("%s: %s at %d bytes; resuming in %.1f s", dest.name, problem, hashed, wait)
        time.sleep(wait)

    _verify_and_publish(dest, part, meta, hasher, expected, size)
    return dest


class _Restart(Exception):
    """The partial file cannot be continued (server ignored the range, or the file changed)."""


def _transfer(url, part, meta, identity, headers, offset, hasher, timeout, chunk_size) -> str | None:
    """One HTTP request appending the body to `part`; returns the response's validator (ETag)."""
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        response = urlopen(request, timeout=timeout)  # scheme checked in download
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # Nothing after `offset`: the part already holds the whole file, or more than it.
            total = _total_from_content_range(error.headers.get("Content-Range", ""))
            if total is not None and total == offset:
                return None
            raise _Restart("server refused the resume range") from None
        raise
    with response:
        validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        if offset and response.status == 200:
            raise _Restart("server sent the whole file instead of the requested range")
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise _Restart(f"unexpected Content-Range {response.headers.get('Content-Range')!r}")
        length = response.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        if offset == 0:
            atomic_write_text(meta, json.dumps({**identity, "validator": validator}))
        received = 0
        with open(part, "ab" if offset else "wb") as handle:
            while True:
                block = response.read(chunk_size)
                if not block:
                    break
                handle.write(block)
                hasher.update(block)
                received += len(block)
            handle.flush()
            os.fsync(handle.fileno())
        if remaining is not None and received < remaining:
            raise http.client.IncompleteRead(b"", remaining - received)
    return validator


def _total_from_content_range(value: str) -> int | None:
    match = re.match(r"^bytes \*/(\d+)$", value.strip())
    return int(match.group(1)) if match else None


def _resume_validator(part: Path, meta: Path, identity: dict) -> str | None:
    """Keep a partial file only if it belongs to the same expected file; return its validator."""
    if not part.exists():
        meta.unlink(missing_ok=True)
        return None
    try:
        saved = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    if not saved or any(saved.get(k) != v for k, v in identity.items()):
        log.info("%s: discarding a partial download of a different file", part.name)
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        return None
    log.info("%s: resuming after %d bytes", part.name, part.stat().st_size)
    return saved.get("validator")


def is_complete(dest: str | os.PathLike, checksum: str | None = None) -> bool:
    """Whether `dest` is a finished download (matching `checksum` if given).

    A final file that does not match the checksum is removed (the source has changed).
    """
    return _is_complete(Path(dest), parse_checksum(checksum) if checksum else None)


def _is_complete(dest: Path, expected: tuple[str, str] | None) -> bool:
    if not dest.exists():
        return False
    if expected is None:
        return True
    marker = dest.with_name(dest.name + ".verified")
    wanted = ":".join(expected)
    try:
        if marker.read_text(encoding="utf-8").strip() == wanted:
            return True
    except OSError:
        pass
    if file_digest(dest, expected[0]) == expected[1]:
        atomic_write_text(marker, wanted + "\n")
        return True
    log.info("%s: the local copy does not match the expected checksum; downloading again", dest.name)
    dest.unlink()
    marker.unlink(missing_ok=True)
    return False


def _verify_and_publish(dest, part, meta, hasher, expected, size) -> None:
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        raise DownloadError(f"{dest.name}: got {actual_size} bytes, expected {size}")
    digest = hasher.hexdigest()
    if expected and digest != expected[1]:
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        raise ChecksumError(f"{dest.name}: checksum mismatch: expected {expected[0]}:{expected[1]}, got {digest}")
    os.replace(part, dest)
    meta.unlink(missing_ok=True)
    if expected:
        atomic_write_text(dest.with_name(dest.name + ".verified"), ":".join(expected) + "\n")
    else:
        dest.with_name(dest.name + ".verified").unlink(missing_ok=True)
    log.info("%s: downloaded %d bytes (%s %s)", dest.name, actual_size, expected[0] if expected else "sha256", digest)
