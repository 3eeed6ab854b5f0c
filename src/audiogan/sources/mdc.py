"""A small client for the Mozilla Data Collective REST API (where Common Voice releases live).

Three calls: `GET {api}/datasets/{id-or-slug}` (details: id, filename, checksum),
`POST {api}/datasets/{id}/download` (a short-lived pre-signed `downloadUrl`, `sizeBytes`,
`checksum`), then the archive itself through `audiogan.httpfetch` (resumable, checksum
verified). The API key comes from the environment variable MDC_API_KEY and is sent only to
the API, never to the pre-signed download host, and never logged.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .. import httpfetch
from . import SourceError, UnsafePathError, confined_path

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://mozilladatacollective.com/api"
API_KEY_ENV = "MDC_API_KEY"
MAX_RATE_LIMIT_RETRIES = 3
MAX_RETRY_AFTER_S = 120.0


class MDCError(SourceError):
    """The Data Collective refused or failed a request; the message says what to do."""


def api_key_from_env() -> str:
    """The API key from MDC_API_KEY, or a clear error saying how to get one."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise MDCError(
            f"Mozilla Data Collective: set the environment variable {API_KEY_ENV} to your API key "
            "(create one in your Data Collective profile, and accept the dataset's terms on its page)"
        )
    return key


def dataset_details(dataset: str, api_url: str = DEFAULT_API_URL, api_key: str | None = None) -> dict[str, Any]:
    """GET /datasets/{dataset}: the dataset's id, filename, checksum and other metadata."""
    return _call("GET", api_url, f"datasets/{_quote(dataset)}", dataset, api_key)


def request_download(dataset_id: str, api_url: str = DEFAULT_API_URL, api_key: str | None = None) -> dict[str, Any]:
    """POST /datasets/{id}/download: a fresh pre-signed downloadUrl with sizeBytes and checksum."""
    payload = _call("POST", api_url, f"datasets/{_quote(dataset_id)}/download", dataset_id, api_key)
    if not payload.get("downloadUrl"):
        raise MDCError(f"Mozilla Data Collective: no downloadUrl in the answer for dataset {dataset_id!r}")
    return payload


def fetch_archive(
    dataset: str,
    dest_dir: str | os.PathLike,
    api_url: str = DEFAULT_API_URL,
    api_key: str | None = None,
) -> Path:
    """Download dataset `dataset` (id or slug) into `dest_dir` unless a verified copy is there.

    Returns the archive's path. The checksum the API reports is verified; a partial download
    is resumed with HTTP Range on the next call.
    """
    api_key = api_key or api_key_from_env()
    details = dataset_details(dataset, api_url, api_key)
    dataset_id = str(details.get("id") or dataset)
    dest = _archive_path(Path(dest_dir), details.get("filename") or f"{dataset_id}.tar.gz")
    filename = dest.name
    try:
        if details.get("checksum") and httpfetch.is_complete(dest, details["checksum"]):
            log.info("dataset %s: %s already downloaded and verified", dataset_id, filename)
            return dest
        plan = request_download(dataset_id, api_url, api_key)
        checksum = plan.get("checksum") or details.get("checksum")
        if not checksum:
            log.warning("dataset %s: the API gave no checksum; only the size will be verified", dataset_id)
        size = plan.get("sizeBytes")
        log.info("dataset %s: downloading %s (%s bytes)", dataset_id, filename, size if size is not None else "?")
        return httpfetch.download(
            plan["downloadUrl"], dest, checksum=checksum, size=int(size) if size is not None else None
        )
    except httpfetch.DownloadError as error:
        raise MDCError(f"dataset {dataset_id}: {error}") from None


def _call(method: str, api_url: str, endpoint: str, dataset: str, api_key: str | None) -> dict[str, Any]:
    if urllib.parse.urlsplit(api_url).scheme.lower() not in ("http", "https"):
        raise MDCError(f"Mozilla Data Collective: api_url {api_url!r} must be an http(s) URL")
    url = api_url.rstrip("/") + "/" + endpoint
    headers = {"Accept": "application/json", "User-Agent": httpfetch.USER_AGENT}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    data = None
    if method == "POST":
        data, headers["Content-Type"] = b"{}", "application/json"
    for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with httpfetch.urlopen(request, timeout=60) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            if error.code == 429 and attempt < MAX_RATE_LIMIT_RETRIES:
                wait = _retry_after(error.headers.get("Retry-After"), attempt)
                log.warning(
                    "Mozilla Data Collective: rate limited; waiting %.0f s (Retry-After) before retry %d of %d",
                    wait, attempt + 1, MAX_RATE_LIMIT_RETRIES,
                )
                time.sleep(wait)
                continue
            raise _explain(error.code, dataset, api_url, redirected_to=error.url) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise MDCError(f"Mozilla Data Collective at {httpfetch.safe_url(api_url)}: request failed: {error}") from None
    raise AssertionError("unreachable")


def _explain(code: int, dataset: str, api_url: str, redirected_to: str | None = None) -> MDCError:
    where = f"Mozilla Data Collective ({httpfetch.safe_url(api_url)}), dataset {dataset!r}"
    if redirected_to and httpfetch.origin(redirected_to) != httpfetch.origin(api_url):
        # The answer is another host's, which was (rightly) not given the key: say so, or a 401/404
        # from there reads like a bad key or a missing dataset.
        return MDCError(
            f"{where}: the API redirected to another host ({httpfetch.safe_url(redirected_to)}), which was "
            f"not sent the API key, and answered HTTP {code}"
        )
    reasons = {
        401: f"bad API key: check {API_KEY_ENV}",
        403: "access denied: accept the dataset's terms on the website first (sign in, open the dataset page, agree)",
        404: "no such dataset (check the id or slug)",
        410: "the dataset has been removed",
        429: "rate limited, retry later",
    }
    return MDCError(f"{where}: HTTP {code}: {reasons.get(code, 'request failed')}")


def _retry_after(value: str | None, attempt: int) -> float:
    """Seconds to wait: Retry-After as seconds or an HTTP date, else exponential; bounded."""
    wait = None
    if value:
        value = value.strip()
        if value.isdigit():
            wait = float(value)
        else:
            try:
                wait = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                wait = None
    if wait is None:
        wait = 2.0 ** attempt
    return max(0.0, min(wait, MAX_RETRY_AFTER_S))


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _archive_path(dest_dir: Path, name: str) -> Path:
    """Where the archive goes: the API's filename reduced to a plain name inside `dest_dir`."""
    name = Path(str(name).replace("\\", "/")).name
    try:
        if name.startswith("."):
            raise UnsafePathError("hidden file name")
        return confined_path(dest_dir, name)
    except UnsafePathError as error:
        raise MDCError(f"Mozilla Data Collective: unusable archive filename: {error}") from None
