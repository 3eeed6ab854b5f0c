"""Source kind `youtube`: audio from any page yt-dlp understands (videos, playlists, channels,
web pages with <audio> tags, direct media URLs), through the `yt_dlp.YoutubeDL` Python API.

Layout under the source's cache folder, one key per configured URL (`url_key`, a hash of it):
  media/<key>/<item>.<ext>    the original audio stream, never re-encoded (conversion decodes it)
  media/<key>/<item>.json     provenance of that file (see PROVENANCE_COLUMNS)
  archive/<key>.txt           yt-dlp's download archive for this URL alone
  state/<key>.json            the URL's last run: selection settings, skips, failures
Keying everything by URL matters: yt-dlp's archive is keyed by extractor + id, and the generic
extractor's id is the file's basename, so `a/clip.mp3` and `b/clip.mp3` would collide in one
shared archive or folder.

A URL whose last run succeeded with the same selection settings is not contacted again, so a
rerun, or a config with one URL added, fetches only what is new; a new `poll` value (config
`refresh`) runs yt-dlp again on complete URLs, and its download archive skips what is already
here, so only new uploads of a playlist or channel are fetched; a URL removed from the config
drops its items from the list. Items that fail (404, private, removed, geo-blocked) become
failures with yt-dlp's reason; items rejected by the duration or licence filters become
failures whose reason starts with "skipped:". URLs are shown (logs, tables, and so the manifest
and the gallery) through `httpfetch.safe_url`: a `?token=` or `sig=` in a URL stays in the cache.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..httpfetch import redact_urls, safe_url
from . import FetchResult, Item, SourceError

log = logging.getLogger(__name__)

PROVENANCE_COLUMNS = (
    "url", "source_url", "extractor", "id", "title", "uploader", "duration", "upload_date",
    "retrieved_at", "ytdlp_version", "sha256",
)
_ERROR_RE = re.compile(r"^(?:ERROR:\s*)?(?:\[(?P<ie>[^\]]+)\]\s+(?P<id>[^:\s]+):\s*)?(?P<text>.*)$", re.S)
_CAUSED_BY = re.compile(r"\s*\(caused by .*\)\s*$", re.S)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def url_key(url: str) -> str:
    """Short stable key of a configured URL: its folder and archive names."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def fetch(source: dict[str, Any], cache_dir: Path) -> FetchResult:
    """Download what is new for each configured URL and list the items of all of them."""
    import yt_dlp  # heavy import, only when this kind is used

    cache_dir = Path(cache_dir)
    settings = Settings.from_source(source)
    poll = str(source.get("poll") or "")  # a new value re-checks complete URLs (playlists grow)
    result = FetchResult()
    seen: set[str] = set()
    with _private_cookies(source) as cookie_copy:
        if cookie_copy:
            log.info("cookies: yes")
        for url in source["urls"]:
            state = _UrlState.load(cache_dir, url)
            if state.up_to_date(settings, poll):
                log.info("%s: up to date (%d items), not contacted", safe_url(url), len(state.items))
            else:
                if state.up_to_date(settings):
                    log.info("%s: polling for new items (refresh)", safe_url(url))
                state.polled = poll
                state = _run_ytdlp(yt_dlp, url, settings, state, cookie_copy, source.get("cookies"))
            _list_items(state, settings, seen, result)
            result.failures.extend((safe_url(file), f"skipped: {reason}") for file, reason in state.skipped.values())
            result.failures.extend((safe_url(file), redact_urls(reason)) for file, reason in state.failures)
    log.info("source %s: %d items, %d failed or skipped", source.get("name"), len(result.items), len(result.failures))
    return result


def _list_items(state: "_UrlState", settings: "Settings", seen: set[str], result: FetchResult) -> None:
    """Add a URL's downloaded items that pass the current settings (filters may have changed)."""
    for prov in state.ordered_items():
        if settings.max_items and (prov.get("playlist_index") or 0) > settings.max_items:
            continue
        reason = settings.reject_reason(prov, incomplete=False)
        if reason:
            result.failures.append((safe_url(prov["url"]), f"skipped: {reason}"))
            continue
        if prov["url"] in seen:
            log.info("%s: already listed from an earlier URL; not listed twice", safe_url(prov["url"]))
            continue
        seen.add(prov["url"])
        extra = {col: prov.get(col) for col in PROVENANCE_COLUMNS}
        extra["url"], extra["source_url"] = safe_url(prov["url"]), safe_url(prov.get("source_url") or "")
        result.items.append(Item(state.cache_dir / prov["path"], extra["url"], prov.get("license") or "", extra))


# -- settings and filters ---------------------------------------------------------------------


@dataclass
class Settings:
    """The source's options, checked once; `selection` is what decides which items are taken."""

    max_items: int | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    license_filter: str | None = None
    retries: int = 3
    sleep_interval: float = 0.0
    rate_limit: int | None = None
    allow_file_urls: bool = False
    _license_re: re.Pattern | None = field(default=None, repr=False)
    _duration_fn: Any = field(default=None, repr=False)

    @classmethod
    def from_source(cls, source: dict[str, Any]) -> "Settings":
        from yt_dlp.utils import match_filter_func, parse_bytes

        name = source.get("name")
        settings = cls(
            max_items=source.get("max_items"),
            min_duration=source.get("min_duration"),
            max_duration=source.get("max_duration"),
            license_filter=source.get("license_filter"),
            retries=int(source.get("retries", 3)),
            sleep_interval=float(source.get("sleep_interval", 0) or 0),
            allow_file_urls=bool(source.get("allow_file_urls", False)),
        )
        if source.get("rate_limit"):
            settings.rate_limit = parse_bytes(str(source["rate_limit"]))
            if not settings.rate_limit:
                raise SourceError(f"source {name!r}: rate_limit {source['rate_limit']!r} is not a size like 500K or 1M")
        if settings.license_filter:
            try:
                settings._license_re = re.compile(settings.license_filter, re.IGNORECASE)
            except re.error as error:
                raise SourceError(f"source {name!r}: license_filter is not a valid regular expression: {error}") from None
        # "<?" / ">?": an item whose duration is unknown passes (direct files often have none).
        conditions = []
        if settings.min_duration is not None:
            conditions.append(f"duration >=? {settings.min_duration}")
        if settings.max_duration is not None:
            conditions.append(f"duration <=? {settings.max_duration}")
        if conditions:
            settings._duration_fn = match_filter_func([" & ".join(conditions)])
        return settings

    def selection(self) -> dict[str, Any]:
        return {
            "max_items": self.max_items, "min_duration": self.min_duration,
            "max_duration": self.max_duration, "license_filter": self.license_filter,
        }

    def reject_reason(self, info: dict[str, Any], incomplete: Any) -> str | None:
        """Why an item fails the duration or licence filter, or None.

        `incomplete` is yt-dlp's flag: True for flat playlist entries (licence unknown yet),
        a set of missing format fields, or False.
        """
        if self._duration_fn is not None and self._duration_fn(info, incomplete) is not None:
            return (
                f"duration {info.get('duration')} s outside "
                f"[{self.min_duration if self.min_duration is not None else 0}, "
                f"{self.max_duration if self.max_duration is not None else 'inf'}] s"
            )
        if self._license_re is not None and incomplete is not True:
            licence = info.get("license")
            if not licence:
                return f"no licence information (license_filter {self.license_filter!r} is set)"
            if not self._license_re.search(str(licence)):
                return f"licence {licence!r} does not match license_filter {self.license_filter!r}"
        return None


# -- per-URL state ----------------------------------------------------------------------------


@dataclass
class _UrlState:
    cache_dir: Path
    url: str
    selection: dict[str, Any] | None = None
    complete: bool = False
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # archive id -> provenance
    skipped: dict[str, tuple[str, str]] = field(default_factory=dict)  # archive id -> (file, reason)
    failures: list[tuple[str, str]] = field(default_factory=list)
    polled: str = ""  # the poll token of the last yt-dlp run ("" when none was asked for)

    @property
    def key(self) -> str:
        return url_key(self.url)

    @property
    def media_dir(self) -> Path:
        return self.cache_dir / "media" / self.key

    @property
    def archive(self) -> Path:
        return self.cache_dir / "archive" / f"{self.key}.txt"

    @property
    def state_file(self) -> Path:
        return self.cache_dir / "state" / f"{self.key}.json"

    @classmethod
    def load(cls, cache_dir: Path, url: str) -> "_UrlState":
        state = cls(cache_dir=cache_dir, url=url)
        try:
            saved = json.loads(state.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        if saved.get("url") == url:
            state.selection = saved.get("selection")
            state.complete = bool(saved.get("complete"))
            state.skipped = {k: tuple(v) for k, v in saved.get("skipped", {}).items()}
            state.failures = [tuple(f) for f in saved.get("failures", [])]
            state.polled = str(saved.get("polled", ""))
        state.reload_items()
        return state

    def reload_items(self) -> None:
        """Items are their provenance files; one whose media file is gone is forgotten."""
        self.items = {}
        lost = []
        for meta in sorted(self.media_dir.glob("*.json")) if self.media_dir.is_dir() else []:
            try:
                prov = json.loads(meta.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if (self.cache_dir / prov.get("path", "")).is_file():
                self.items[prov["archive_id"]] = prov
            else:
                lost.append(prov.get("archive_id"))
                meta.unlink(missing_ok=True)
        if lost:
            log.warning("%s: %d downloaded files are missing from the cache; fetching them again", safe_url(self.url), len(lost))
            self._forget_in_archive(set(lost))
            self.complete = False

    def _forget_in_archive(self, archive_ids: set[str]) -> None:
        if not self.archive.exists():
            return
        lines = self.archive.read_text(encoding="utf-8").splitlines()
        atomic_write_text(self.archive, "".join(f"{line}\n" for line in lines if line.strip() not in archive_ids))

    def up_to_date(self, settings: Settings, poll: str = "") -> bool:
        """Complete with these settings, and (when a poll is asked for) already polled for it."""
        return self.complete and self.selection == settings.selection() and (not poll or poll == self.polled)

    def ordered_items(self) -> list[dict[str, Any]]:
        return sorted(self.items.values(), key=lambda p: (p.get("playlist_index") or 0, p.get("id") or ""))

    def save(self) -> None:
        atomic_write_text(self.state_file, json.dumps({
            "url": self.url, "selection": self.selection, "complete": self.complete,
            "skipped": self.skipped, "failures": self.failures, "polled": self.polled,
        }, ensure_ascii=False, indent=1))


# -- running yt-dlp ---------------------------------------------------------------------------


class _Collector:
    """yt-dlp's logger, match filter and post-processor hooks for one URL.

    Errors are attributed to the item being processed (set when the match filter sees it with
    full information), else to the configured URL. Nothing yt-dlp says reaches our log with a
    cookies path in it.
    """

    def __init__(self, url: str, settings: Settings, secrets: list[str]) -> None:
        self.url = url
        self.settings = settings
        self.secrets = [s for s in secrets if s]
        self.current: tuple[str, str] | None = None  # (archive id, item url)
        self.errors: list[tuple[str, str]] = []
        self.skipped: dict[str, tuple[str, str]] = {}
        self.downloaded = 0

    # logger interface
    def debug(self, message: str) -> None:
        if message.startswith("[debug] "):
            return  # verbose internals (option dumps, headers): never logged
        log.debug("yt-dlp: %s", self._clean(message))

    def info(self, message: str) -> None:
        log.info("yt-dlp: %s", self._clean(message))

    def warning(self, message: str) -> None:
        log.warning("yt-dlp: %s", self._clean(message))

    def error(self, message: str) -> None:
        text = self._clean(message)
        match = _ERROR_RE.match(text)
        reason = _CAUSED_BY.sub("", match.group("text")).strip() if match else text
        if match and match.group("ie"):
            reason = f"[{match.group('ie')}] {match.group('id')}: {reason}"
        file = self.current[1] if self.current else self.url
        self.errors.append((file, reason or "unknown error"))
        log.warning("%s failed: %s", safe_url(file), reason)

    def _clean(self, message: str) -> str:
        message = _ANSI.sub("", str(message))
        for secret in self.secrets:
            message = message.replace(secret, "<cookies>")
        return redact_urls(message)

    # match filter: duration and licence
    def match_filter(self, info: dict[str, Any], *, incomplete: Any = False) -> str | None:
        reason = self.settings.reject_reason(info, incomplete)
        archive_id = _archive_id(info)
        if reason:
            self.skipped[archive_id] = (_item_url(info, self.url), reason)
            log.info("%s skipped: %s", safe_url(_item_url(info, self.url)), reason)
            return reason
        if incomplete is not True:
            self.current = (archive_id, _item_url(info, self.url))
        return None


def _archive_id(info: dict[str, Any]) -> str:
    from yt_dlp.utils import make_archive_id

    return make_archive_id(info.get("extractor_key") or info.get("ie_key") or info.get("extractor") or "generic", info.get("id"))


def _item_url(info: dict[str, Any], source_url: str) -> str:
    """The item's own URL: its web page, or for media embedded in the configured page the media URL."""
    page = info.get("webpage_url") or info.get("original_url") or info.get("url") or source_url
    on_configured_page = page in (source_url, info.get("playlist_webpage_url"))
    embedded = on_configured_page and (info.get("playlist_index") is not None or info.get("extractor") == "html5")
    return str(info["url"]) if embedded and info.get("url") else str(page)


def _make_postprocessors(collector: _Collector, state: _UrlState, source_url: str):
    from yt_dlp.postprocessor import PostProcessor
    from yt_dlp.version import __version__ as ytdlp_version

    class NameItem(PostProcessor):
        """Before download: a file name no other item of this URL can share."""

        def run(self, info):
            info["audiogan_key"] = hashlib.sha256(_archive_id(info).encode("utf-8")).hexdigest()[:12]
            return [], info

    class RecordItem(PostProcessor):
        """After download: hash the file and write its provenance beside it."""

        def run(self, info):
            path = Path(info["filepath"])
            prov = {
                "url": _item_url(info, source_url),
                "source_url": source_url,
                "extractor": info.get("extractor"),
                "id": info.get("id"),
                "title": info.get("title"),
                "uploader": info.get("uploader"),
                "license": info.get("license"),
                "duration": info.get("duration"),
                "upload_date": info.get("upload_date"),
                "retrieved_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
                "ytdlp_version": ytdlp_version,
                "sha256": _sha256(path),
                "archive_id": _archive_id(info),
                "playlist_index": info.get("playlist_index"),
                "path": path.relative_to(state.cache_dir).as_posix(),
            }
            atomic_write_text(path.with_suffix(".json"), json.dumps(prov, ensure_ascii=False, indent=1))
            state.items[prov["archive_id"]] = prov
            collector.skipped.pop(prov["archive_id"], None)
            collector.current = None
            collector.downloaded += 1
            return [], info

    return NameItem(), RecordItem()


def _run_ytdlp(yt_dlp, url: str, settings: Settings, state: _UrlState,
               cookie_copy: Path | None, cookies_option: str | None) -> _UrlState:
    """One yt-dlp run over one configured URL; returns the updated, saved state."""
    if url.lower().startswith("file:") and not settings.allow_file_urls:
        state.failures, state.complete = [(url, "file:// URLs need allow_file_urls: true")], False
        state.skipped = {}
        state.selection = settings.selection()
        state.save()
        return state
    # Paths that must never reach a log line, even inside a yt-dlp message.
    secrets = [str(cookies_option), str(Path(str(cookies_option)).expanduser()), str(cookie_copy)] if cookie_copy else []
    collector = _Collector(url, settings, secrets)
    state.media_dir.mkdir(parents=True, exist_ok=True)
    state.archive.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "format": "bestaudio/best",
        "outtmpl": {"default": str(state.media_dir / "%(audiogan_key)s-%(id).60B.%(ext)s")},
        "restrictfilenames": True,
        "download_archive": str(state.archive),
        "ignoreerrors": True,  # a failing item is recorded and the run goes on
        "logger": collector,
        "quiet": True,
        "noprogress": True,
        "verbose": False,
        "color": {"stdout": "no_color", "stderr": "no_color"},
        "match_filter": collector.match_filter,
        "retries": settings.retries,
        "fragment_retries": settings.retries,
        "extractor_retries": settings.retries,
        "socket_timeout": 30,
        "writeinfojson": False,
        "enable_file_urls": settings.allow_file_urls,
    }
    if settings.max_items:
        options["playlistend"] = settings.max_items
    if settings.sleep_interval:
        options["sleep_interval"] = settings.sleep_interval
    if settings.rate_limit:
        options["ratelimit"] = settings.rate_limit
    if cookie_copy:
        options["cookiefile"] = str(cookie_copy)

    name_pp, record_pp = _make_postprocessors(collector, state, url)
    log.info("%s: fetching (%d items already downloaded)", safe_url(url), len(state.items))
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            ydl.add_post_processor(name_pp, when="pre_process")
            ydl.add_post_processor(record_pp, when="after_move")
            info = ydl.extract_info(url, download=True)
    except (yt_dlp.utils.YoutubeDLError, OSError) as error:
        # ignoreerrors catches item errors; this is the rest (bad cookies file, disk full, ...).
        collector.error(f"ERROR: {error}")
        info = None

    state.reload_items()  # what is on disk now (new files included)
    state.skipped = collector.skipped
    state.failures = list(collector.errors)
    state.selection = settings.selection()
    # A URL that could not be read at all is tried again on the next run.
    state.complete = info is not None
    if info is None and not state.failures:
        state.failures = [(url, "yt-dlp found nothing to download")]
    elif info is not None and not state.items and not state.skipped and not state.failures:
        state.failures = [(url, "no media found at this URL")]
    state.save()
    if not state.items:
        with contextlib.suppress(OSError):
            state.media_dir.rmdir()
    log.info("%s: %d new, %d items in total", safe_url(url), collector.downloaded, len(state.items))
    return state


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _private_cookies:
    """A private temp copy of the cookies file for one run (yt-dlp rewrites the file it is given)."""

    def __init__(self, source: dict[str, Any]) -> None:
        self.path = source.get("cookies")
        self.name = source.get("name")
        self.tmpdir: str | None = None

    def __enter__(self) -> Path | None:
        if not self.path:
            return None
        original = Path(str(self.path)).expanduser()
        if not original.is_file():
            raise SourceError(f"source {self.name!r}: the cookies file does not exist (path not shown, on purpose)")
        self.tmpdir = tempfile.mkdtemp(prefix="audiogan-cookies-")
        copy = Path(self.tmpdir) / "cookies.txt"
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "wb") as out, open(original, "rb") as src:
            shutil.copyfileobj(src, out)
        return copy

    def __exit__(self, *exc) -> None:
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
