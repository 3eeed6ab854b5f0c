"""The gallery page: self-contained, one player per sample, and it really plays in a browser."""

import json
import os
import re
import shutil
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from audiogan.gallery import write_gallery
from audiogan.tsv import read_tsv
from evaluation_fixtures import make_run

REPO = Path(__file__).resolve().parents[1]
COUNT = 6


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text of <style> blocks."""

    def __init__(self):
        super().__init__()
        self.tags, self.styles, self._in_style = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def _parse(page):
    parser = _Elements()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    paths, config = make_run(tmp_path_factory.mktemp("run"), count=COUNT)
    # Flag sample 1 as a near-copy, as evaluate would for a copied clip.
    metrics = json.loads(paths["metrics"].read_text())
    metrics["samples"][1]["near_copy"] = True
    metrics["memorization"]["near_copies"] = 1
    metrics["samples"][1]["nearest_clip"].update(source="drums", file="take_2.wav", offset_s=3.0)
    paths["metrics"].write_text(json.dumps(metrics))
    _write(paths, config)
    return paths, config


def _write(paths, config, **changes):
    args = dict(out_html=paths["html"], samples_table=paths["table"], contact_sheet=paths["contact_sheet"],
                loss_curve=paths["loss_curve"], quality_csv=paths["quality"], metrics_json=paths["metrics"],
                config=config)
    args.update(changes)
    write_gallery(**args)
    return Path(args["out_html"]).read_text(encoding="utf-8")


def test_one_player_and_spectrogram_per_sample(run):
    paths, _ = run
    page = paths["html"].read_text(encoding="utf-8")
    parsed = _parse(page)
    audio = [attrs for tag, attrs in parsed.tags if tag == "audio"]
    files = [row["file"] for row in read_tsv(paths["table"])]
    assert [a["src"] for a in audio] == files
    assert all("controls" in a for a in audio)
    for file in files:
        assert (paths["html"].parent / file).is_file()  # the src resolves beside the page
    images = [attrs["src"] for tag, attrs in parsed.tags if tag == "img"]
    # One spectrogram per sample, the contact sheet, and the training curves (FD-mel over steps is a
    # panel of those, shown once).
    assert len(images) == COUNT + 2
    assert page.count("FD-mel panel") == 1
    assert all(src.startswith("data:image/png;base64,") for src in images)
    for seed in range(1234, 1234 + COUNT):
        assert f"seed {seed}" in page


def test_self_contained_no_network_references(run):
    paths, _ = run
    page = paths["html"].read_text(encoding="utf-8")
    parsed = _parse(page)
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "link", "iframe", "object", "embed", "base")]
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            if name in ("src", "href", "srcset", "poster", "action", "data") and value:
                assert value.startswith("data:") or ":" not in value and not value.startswith("//"), (tag, name, value)
            assert not re.match(r"\s*(https?:|//)", value or ""), (tag, name, value)
    css = "".join(parsed.styles)
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    # The source URL is shown as text only; the cookie file's path is never shown.
    assert "https://example.org/watch?v=abc" in page
    assert "cookies" not in page


def test_metrics_and_near_copies_are_explained(run):
    paths, config = run
    page = paths["html"].read_text(encoding="utf-8")
    metrics = json.loads(paths["metrics"].read_text())
    assert f"{metrics['fd_mel']['generated']:.2f}" in page
    assert f"Real clips score {metrics['fd_mel']['real_floor']:.2f}" in page
    assert f"an untrained generator {metrics['fd_mel']['untrained_ceiling']:.2f}" in page
    assert "NDB/K" in page and "Near-copies" in page and "Diversity" in page
    assert page.count('class="badge warn">near-copy<') == 1
    assert f"1 / {COUNT}" in page
    assert "Closest training clip: drums / take_2.wav @ 3.0 s" in page
    for key in ("clip_seconds", "model_size", "subtype"):
        assert f"<dt>{key}</dt>" in page


def test_missing_quality_rows_and_wrong_folder(run, tmp_path):
    paths, config = run
    empty = tmp_path / "quality.csv"
    empty.write_text("step,fd_mel\n")
    page = _write(paths, config, out_html=paths["html"].with_name("other.html"), quality_csv=empty)
    assert "FD-mel over steps: not recorded for this run." in page and "FD-mel panel" not in page
    page = _write(paths, config, out_html=paths["html"].with_name("other.html"), loss_curve=tmp_path / "none.png")
    assert "Not recorded for this run." in page
    with pytest.raises(ValueError, match="beside the samples table"):
        _write(paths, config, out_html=tmp_path / "index.html")


def _artifacts() -> Path:
    folder = Path(os.environ.get("AUDIOGAN_ARTIFACTS") or REPO / "tests" / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wait(driver, script, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_page_plays_in_headless_chromium(run):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths, _ = run
    profile = tempfile.mkdtemp(prefix="audiogan-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(paths["html"].resolve().as_uri())
        assert _wait(driver, "return document.readyState === 'complete'")
        driver.execute_script("document.querySelectorAll('audio').forEach(a => a.load())")
        ready = _wait(driver, "return Array.from(document.querySelectorAll('audio')).every("
                              "a => a.readyState >= 1 || a.error)")
        audio = driver.execute_script(
            "return Array.from(document.querySelectorAll('audio')).map("
            "a => ({src: a.currentSrc, ready: a.readyState, duration: a.duration, error: a.error && a.error.code}))")
        assert ready and len(audio) == COUNT
        for element in audio:
            assert element["error"] is None and element["ready"] >= 1, element
            assert element["duration"] == pytest.approx(1.0, abs=0.01), element
            assert element["src"].startswith("file://")
        images = driver.execute_script(
            "return Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth}))")
        assert len(images) == COUNT + 2 and all(i["complete"] and i["width"] > 0 for i in images), images
        # Nothing was fetched from anywhere but the disk.
        fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert all(name.startswith(("file:", "data:")) for name in fetched), fetched
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(max(height, 900), 8000))
        shot = _artifacts() / "gallery.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_gallery_shows_source_urls_without_their_secrets(run, tmp_path):
    paths, config = run
    secret = {**config, "sources": [*config["sources"], {
        "name": "web2", "kind": "youtube", "urls": ["https://example.org/a.mp3?v=2&token=tok-SECRET"]}]}
    page = _write(paths, secret, out_html=paths["html"].with_name("secret.html"))
    assert "https://example.org/a.mp3?v=2" in page and "SECRET" not in page


def test_samples_no_better_than_noise_are_called_so(run, tmp_path):
    """FD-mel at or beyond the untrained ceiling: the page says so in words, and what to do."""
    paths, config = run
    metrics = json.loads(paths["metrics"].read_text())
    fd = metrics["fd_mel"]
    pages = {}
    for name, factor in (("learning", 0.5), ("noisy", 1.5)):
        table = tmp_path / f"{name}.json"
        table.write_text(json.dumps({**metrics, "fd_mel": {**fd, "generated": fd["untrained_ceiling"] * factor}}))
        pages[name] = _write(paths, config, out_html=paths["html"].with_name(f"{name}.html"), metrics_json=table)
    assert "not yet better than noise" not in pages["learning"]
    assert "These samples are not yet better than noise" in pages["noisy"]
    assert "train.steps" in pages["noisy"] and "config/paper.yaml" in pages["noisy"] and "more audio" in pages["noisy"]
