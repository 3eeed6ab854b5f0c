"""A real HTTP server on 127.0.0.1 for the source tests (no internet needed).

`LocalServer(root)` serves the files under `root` with Range support and records every
request. Hooks: `not_found` (paths answering 404), `drop_once` (paths whose next full or
ranged GET sends half the body and then closes the connection), `script` (per path, a queue
of what the next GETs do: "drop" or an HTTP status such as 503) and `mdc` (an emulation of
the Mozilla Data Collective API under /api: GET /api/datasets/{id}, POST
/api/datasets/{id}/download, with a Bearer key check and 401/403/429 modes).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Request:
    method: str
    path: str  # path and query as sent
    headers: dict[str, str]


@dataclass
class MDCDataset:
    id: str
    slug: str
    file: str  # served path under the server root, e.g. "files/mcv-scripted-xx-v1.tar.gz"
    checksum: str  # as the API reports it (e.g. "sha256:<hex>" or hex)
    size: int
    filename: str = ""


@dataclass
class MDCEmulation:
    api_key: str
    datasets: list[MDCDataset] = field(default_factory=list)
    forbidden: bool = False  # 403 on download: terms not accepted
    rate_limited: int = 0  # answer this many API requests with 429 first
    retry_after: str = "0"

    def find(self, ident: str) -> MDCDataset | None:
        return next((d for d in self.datasets if ident in (d.id, d.slug)), None)


class LocalServer:
    """ThreadingHTTPServer on a random port serving `root`; use as a context manager."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests: list[Request] = []
        self.not_found: set[str] = set()
        self.drop_once: set[str] = set()
        self.script: dict[str, list[str | int]] = {}
        self.redirects: dict[str, str] = {}  # path -> absolute URL answered with a 302
        self.mdc: MDCEmulation | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def paths(self, method: str | None = None) -> list[str]:
        """Request paths (without query), optionally only one method."""
        with self._lock:
            return [urllib.parse.urlsplit(r.path).path for r in self.requests if method in (None, r.method)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _make_handler(server: LocalServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format, *args):  # quiet test output
            pass

        def do_HEAD(self):
            self._handle(body=False)

        def do_GET(self):
            self._handle(body=True)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._handle(body=True)

        def _handle(self, body: bool) -> None:
            server.record(Request(self.command, self.path, dict(self.headers.items())))
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            if path in server.redirects:
                return self._send(302, b"moved", "text/plain", {"Location": server.redirects[path]})
            if server.mdc is not None and path.startswith("/api/"):
                return self._api(path)
            if path in server.not_found:
                return self._send(404, b"not found", "text/plain")
            action = None
            if self.command == "GET" and server.script.get(path):
                action = server.script[path].pop(0)
                if isinstance(action, int):
                    return self._send(action, b"scripted failure", "text/plain")
            if self.command == "GET" and path in server.drop_once:
                server.drop_once.discard(path)
                action = "drop"
            file = (server.root / path.lstrip("/")).resolve()
            if server.root.resolve() not in file.parents or not file.is_file():
                return self._send(404, b"not found", "text/plain")
            self._file(file, body, drop=action == "drop")

        # -- static files with Range -------------------------------------------------------
        def _file(self, file: Path, body: bool, drop: bool) -> None:
            data = file.read_bytes()
            etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
            ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            start, end, status = 0, len(data) - 1, 200
            range_header = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            match = re.match(r"^bytes=(\d+)-(\d*)$", range_header or "")
            if match and (if_range is None or if_range == etag):
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else len(data) - 1
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                end = min(end, len(data) - 1)
                status = 206
            chunk = data[start : end + 1]
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(chunk)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if not body:
                return
            if drop and len(chunk) > 1:
                self.wfile.write(chunk[: len(chunk) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)

        # -- Mozilla Data Collective API emulation -----------------------------------------------
        def _api(self, path: str) -> None:
            mdc = server.mdc
            if mdc.rate_limited > 0:
                mdc.rate_limited -= 1
                return self._json(429, {"error": "Rate limit exceeded"}, {"Retry-After": mdc.retry_after})
            match = re.match(r"^/api/datasets/([^/]+)(/download)?$", path)
            if not match:
                return self._json(404, {"error": "not found"})
            dataset = mdc.find(match.group(1))
            is_download = bool(match.group(2))
            if is_download != (self.command == "POST"):
                return self._json(405, {"error": "method not allowed"})
            if is_download and self.headers.get("Authorization") != f"Bearer {mdc.api_key}":
                return self._json(401, {"error": "Unauthorized"})
            if dataset is None:
                return self._json(404, {"error": "Dataset not found"})
            filename = dataset.filename or Path(dataset.file).name
            if not is_download:
                return self._json(200, {
                    "id": dataset.id, "slug": dataset.slug, "name": "Common Voice test",
                    "filename": filename, "checksum": dataset.checksum, "sizeBytes": dataset.size,
                    "license": "CC0-1.0",
                })
            if mdc.forbidden:
                return self._json(403, {"error": "Forbidden"})
            return self._json(200, {
                "downloadUrl": server.url(dataset.file) + "?X-Amz-Signature=presigned-secret-123",
                "filename": filename, "sizeBytes": dataset.size, "checksum": dataset.checksum,
            })

        def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json", headers)

        def _send(self, status: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


def write_audio_page(path: Path, title: str, sources: list[str]) -> None:
    """An HTML page with one <audio> tag per source (yt-dlp sees it as a playlist)."""
    tags = "\n".join(f'<audio controls src="{src}"></audio>' for src in sources)
    path.write_text(f"<html><head><title>{title}</title></head><body>\n{tags}\n</body></html>\n", encoding="utf-8")


def write_jsonld_page(path: Path, title: str, media_url: str, duration_s: int, uploader: str = "Ann") -> None:
    """A page describing one audio file with schema.org JSON-LD (gives yt-dlp a duration)."""
    meta = {
        "@context": "https://schema.org", "@type": "AudioObject", "name": title,
        "contentUrl": media_url, "encodingFormat": "audio/mpeg",
        "duration": f"PT{duration_s}S", "uploadDate": "2024-05-01",
        "author": {"@type": "Person", "name": uploader},
    }
    path.write_text(
        f"<html><head><title>{title}</title>\n<script type=\"application/ld+json\">{json.dumps(meta)}</script>\n"
        "</head><body>audio</body></html>\n",
        encoding="utf-8",
    )
