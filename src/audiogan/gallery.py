"""The gallery page: one self-contained HTML file to listen to and judge a run's samples.

Everything it shows is inside the file (CSS inline, images as data: URIs) except the audio,
which it plays from the WAV files beside it; it opens from disk with no network at all.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import soundfile as sf

from .atomic import atomic_write_text
from .frechet import fd_mel_progress
from .httpfetch import safe_url
from .plots import has_quality, spectrogram_png
from .tsv import read_tsv

log = logging.getLogger(__name__)

# Source settings worth showing per kind (secrets such as cookie files are never shown).
SOURCE_KEYS = {
    "demo": ("tracks", "seed", "min_seconds", "max_seconds"),
    "local": ("path", "extensions", "license"),
    "youtube": ("urls", "max_items", "license_filter", "min_duration", "max_duration"),
    "common_voice": ("dataset", "archive", "split", "filters", "max_clips", "license"),
}
CONFIG_SECTIONS = {
    "audio": ("sample_rate", "clip_seconds", "hop_seconds", "normalize", "peak_dbfs", "loudness_lufs", "min_level_dbfs"),
    "train": ("model_size", "batch_size", "steps", "n_critic", "learning_rate", "critic_learning_rate", "lr_decay_to",
              "restore_best_after", "betas", "gp_weight", "phase_shuffle", "envelope", "upsample_filter", "latent_dim",
              "device", "gpus", "seed"),
    "render": ("count", "seed", "sample_rate", "subtype", "pack"),
}


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(png: bytes | None) -> str | None:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii") if png else None


def _file_uri(path: str | os.PathLike | None) -> str | None:
    if path is None or not Path(path).is_file() or Path(path).stat().st_size == 0:
        return None
    return _data_uri(Path(path).read_bytes())


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _read_wav(path: Path) -> tuple[np.ndarray, int] | None:
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        log.warning("gallery: cannot read %s (%s); showing it without a spectrogram", path, error)
        return None
    return audio.mean(axis=1), rate


# -- sections --------------------------------------------------------------------------------------


def _fd_scale(fd: Mapping[str, Any]) -> str:
    """A bar from the real-data floor to the untrained ceiling (log scale) with the run's mark."""
    floor, ceiling = fd.get("real_floor"), fd.get("untrained_ceiling")
    progress = fd_mel_progress(fd.get("generated"), floor, ceiling)
    if progress is None:
        return ""
    percent = 100.0 * min(max(1.0 - progress, 0.0), 1.0)  # the bar runs from the floor (left)
    return (
        '<div class="scale" aria-hidden="true"><div class="track"></div>'
        f'<div class="mark" style="left:{percent:.1f}%"></div></div>'
        f'<div class="scale-labels"><span>real data {_num(floor)}</span><span>untrained {_num(ceiling)}</span></div>'
    )


def _percent(value: Any) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{100.0 * value:.1f}%"


def _full_band_cards(metrics: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """Cards of the full-band numbers, where the model's rate carries them (metrics.json may be null)."""
    cards = []
    high = metrics.get("high_band") or {}
    if high.get("real") is not None:
        cards.append((
            f"Energy above {float(high.get('above_hz', 8000)) / 1000:g} kHz", _percent(high.get("generated")),
            f"Share of the samples' energy in the top of the band (cymbals, hats, air); real clips: "
            f"{_percent(high.get('real'))}. A 16 kHz model resampled for export has none.", "",
        ))  # fmt: skip
    fd_20k = metrics.get("fd_mel_20k") or {}
    if fd_20k.get("generated") is not None:
        cards.append((
            f"FD-mel to {float(fd_20k.get('fmax_hz', 20000)) / 1000:g} kHz", _num(fd_20k.get("generated")),
            f"FD-mel on mel bands spanning 0-{float(fd_20k.get('fmax_hz', 20000)) / 1000:g} kHz. Real clips "
            f"score {_num(fd_20k.get('real_floor'))}, an untrained generator {_num(fd_20k.get('untrained_ceiling'))}.",
            _fd_scale(fd_20k),
        ))  # fmt: skip
    return cards


def _metric_cards(metrics: Mapping[str, Any]) -> str:
    if not metrics:
        return '<p class="muted">No metrics were computed for this run.</p>'
    fd = metrics.get("fd_mel", {})
    ndb = metrics.get("ndb", {})
    memo = metrics.get("memorization", {})
    div = metrics.get("diversity", {})
    total = len(metrics.get("samples", []))
    cards = [
        ("FD-mel", _num(fd.get("generated")),
         f"How far the samples' sound statistics are from real clips (lower is better). Real clips score "
         f"{_num(fd.get('real_floor'))}, an untrained generator {_num(fd.get('untrained_ceiling'))}.",
         _fd_scale(fd)),
        ("NDB/K", _num(ndb.get("generated")),
         f"Share of the {_esc(ndb.get('bins', '?'))} kinds of sound in the data (k-means bins) that the samples "
         f"over- or under-represent. Real clips score {_num(ndb.get('held_out_real'))} by chance; "
         f"near 1 means mode collapse. With {total} samples only large differences count.", ""),
        ("Near-copies", f"{_esc(memo.get('near_copies', 0))} / {total}",
         f"Samples closer to a training clip than {_num(memo.get('copy_threshold'))}\u00d7 the typical distance "
         f"between real clips ({_num(memo.get('held_out_median_nn_train'))}); listen before you use them.", ""),
        ("Diversity", _num(div.get("generated_median_nn_generated")),
         "Median distance from a sample to its most similar other sample; real clips: "
         f"{_num(div.get('held_out_median_nn_held_out'))}. Much lower means the samples repeat each other.", ""),
    ]
    cards += _full_band_cards(metrics)
    parts = []
    for title, value, text, extra in cards:
        parts.append(
            f'<div class="card metric"><div class="metric-title">{title}</div>'
            f'<div class="metric-value">{value}</div>{extra}<p>{text}</p></div>'
        )
    clips = metrics.get("clips", {})
    note = (
        f'<p class="muted small">Measured on {_esc(clips.get("used", "?"))} of {_esc(clips.get("total", "?"))} '
        f'training clips (evaluation seed {_esc(metrics.get("seeds", {}).get("evaluate", "?"))}), features: '
        f'{_esc(metrics.get("features", "log-mel"))}.</p>'
    )
    return f'{_verdict(fd)}<div class="metrics">{"".join(parts)}</div>{note}'


def _label_diversity(scores: Mapping[str, Any] | None) -> str:
    """A label's diversity beside its heading, where metrics.json has it."""
    if not scores or scores.get("generated") is None:
        return ""
    real = f" (real clips {_num(scores['held_out'])})" if scores.get("held_out") is not None else ""
    return (f' \u00b7 <span class="muted" title="median distance from a sample of this label to its most similar '
            f'other one">diversity {_num(scores["generated"])}{real}</span>')


def _verdict(fd: Mapping[str, Any]) -> str:
    """In words, when the samples are no closer to the data than an untrained generator's noise."""
    generated, ceiling = fd.get("generated"), fd.get("untrained_ceiling")
    if not all(isinstance(v, (int, float)) for v in (generated, ceiling)) or generated < ceiling:
        return ""
    return (
        '<p class="verdict">These samples are not yet better than noise: their FD-mel '
        f"({_num(generated)}) is no lower than an untrained generator's ({_num(ceiling)}). Train longer "
        "(raise <code>train.steps</code>; the next run resumes from the last checkpoint), give it more audio, "
        "or train the paper-size model on a GPU (<code>--configfile config.yaml config/paper.yaml</code>).</p>"
    )


def _sample_card(row: Mapping[str, str], score: Mapping[str, Any], folder: Path) -> str:
    file = row["file"]
    wav = _read_wav(folder / file)
    duration = f"{len(wav[0]) / wav[1]:.2f} s \u00b7 {wav[1]} Hz" if wav else "unreadable"
    image = _data_uri(spectrogram_png(*wav)) if wav and len(wav[0]) >= 1024 else None
    near = bool(score.get("near_copy"))
    badge = '<span class="badge warn">near-copy</span>' if near else ""
    detail = ""
    if score:
        nearest = score.get("nearest_clip") or {}
        where = nearest.get("file", "")
        if nearest.get("offset_s") is not None:
            where += f" @ {nearest['offset_s']:.1f} s"
        detail = (
            f'<div class="facts"><span title="distance to the nearest training clip">nearest clip '
            f'{_num(score.get("nn_train_distance"))}</span><span title="distance to the most similar other sample">'
            f'nearest sample {_num(score.get("nn_generated_distance"))}</span></div>'
        )
        if near:
            detail += f'<div class="near">Closest training clip: {_esc(nearest.get("source", ""))} / {_esc(where)}</div>'
    picture = (
        f'<img class="spec" src="{image}" alt="spectrogram of {_esc(file)}">' if image
        else '<div class="spec missing">no spectrogram</div>'
    )
    return (
        f'<article class="card sample{" flagged" if near else ""}">'
        f'<header><span class="name">#{_esc(row["index"])}</span><span class="seed">seed {_esc(row["seed"])}</span>{badge}</header>'
        f"{picture}"
        f'<audio controls preload="metadata" src="{_esc(file)}"></audio>'
        f'<div class="meta"><span>{duration}</span><a href="{_esc(file)}" download>{_esc(Path(file).name)}</a></div>'
        f"{detail}</article>"
    )


def _blends_section(rows: list[dict[str, str]]) -> str:
    """One row per blend: where it goes, its audition file, and a player per step."""
    if not rows:
        return ""
    blends: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        blends.setdefault(row["blend"], []).append(row)
    parts = []
    for steps in blends.values():
        first = steps[0]

        def end(label: str, seed: str) -> str:
            return f"{_esc(label)} (seed {_esc(seed)})" if label else f"seed {_esc(seed)}"

        players = "".join(
            f'<div class="step">{float(step["position"]):.2f}<audio controls preload="none" src="{_esc(step["file"])}"></audio></div>'
            for step in steps
        )
        parts.append(
            f'<div class="card blend"><header><b>{end(first["from_label"], first["from_seed"])} \u2192 '
            f'{end(first["to_label"], first["to_seed"])}</b> \u00b7 {len(steps)} steps</header>'
            f'<audio controls preload="metadata" src="{_esc(first["audition"])}"></audio>'
            f'<div class="steps">{players}</div></div>'
        )
    return "<h2>Blends</h2>" + "".join(parts)


def _value_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value_text(v)}" for k, v in value.items())
    if value is None:
        return "default"
    return str(value)


def _config_summary(config: Mapping[str, Any]) -> str:
    rows = []
    for source in config.get("sources", []):
        keys = SOURCE_KEYS.get(source.get("kind"), ())
        shown = {**source, "urls": [safe_url(url) for url in source.get("urls", [])]}  # no ?token= on the page
        settings = ", ".join(f"{k}: {_value_text(shown[k])}" for k in keys if k in source and source[k] not in ("", None))
        rows.append(
            f"<tr><td>{_esc(source.get('name', ''))}</td><td>{_esc(source.get('kind', ''))}</td>"
            f"<td><code>{_esc(settings)}</code></td></tr>"
        )
    sources = (
        '<table class="sources"><thead><tr><th>source</th><th>kind</th><th>settings</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    blocks = []
    for section, keys in CONFIG_SECTIONS.items():
        values = dict(config.get(section, {}))
        if section == "render" and values.get("sample_rate") is None:
            values["sample_rate"] = f"{config.get('audio', {}).get('sample_rate', '?')} (as audio)"
        items = "".join(
            f"<dt>{_esc(k)}</dt><dd>{_esc(_value_text(values[k]))}</dd>" for k in keys if k in values
        )
        blocks.append(f'<div class="card"><h3>{section}</h3><dl>{items}</dl></div>')
    return sources + f'<div class="config">{"".join(blocks)}</div>'


def _figure(title: str, uri: str | None, alt: str, caption: str) -> str:
    if not uri:
        return f'<div class="card figure"><h3>{title}</h3><p class="muted">Not recorded for this run.</p></div>'
    return f'<div class="card figure"><h3>{title}</h3><img src="{uri}" alt="{_esc(alt)}"><p class="caption">{caption}</p></div>'


# -- the page --------------------------------------------------------------------------------------


def write_gallery(
    out_html: str | os.PathLike,
    samples_table: str | os.PathLike,
    contact_sheet: str | os.PathLike | None,
    loss_curve: str | os.PathLike | None,
    quality_csv: str | os.PathLike | None,
    metrics_json: str | os.PathLike | None,
    config: Mapping[str, Any],
    blends_table: str | os.PathLike | None = None,
) -> None:
    """Write the gallery page `out_html` (atomically), beside the samples it plays: samples grouped
    by label, then each blend as a row (its audition file, then its steps).

    Audio `src` attributes are the sample files relative to the page, so the page must live in the
    samples table's folder (results/samples/).
    """
    out_html, table = Path(out_html), Path(samples_table)
    if out_html.resolve().parent != table.resolve().parent:
        raise ValueError(f"gallery page {out_html} must be written beside the samples table {table}")
    rows = read_tsv(table)
    metrics = json.loads(Path(metrics_json).read_text(encoding="utf-8")) if metrics_json and Path(metrics_json).is_file() else {}
    scores = {str(s.get("index")): s for s in metrics.get("samples", [])}
    by_label: dict[str, list[str]] = {}
    for row in rows:
        by_label.setdefault(row.get("label", ""), []).append(_sample_card(row, scores.get(str(row["index"]), {}), table.parent))
    per_label = metrics.get("diversity", {}).get("per_label", {})
    samples = "".join(
        (f"<h3>{_esc(label)} \u00b7 {len(cards)} samples{_label_diversity(per_label.get(label))}</h3>" if label else "")
        + f'<div class="samples">{"".join(cards)}</div>'
        for label, cards in by_label.items()
    )
    blend_rows = read_tsv(blends_table) if blends_table and Path(blends_table).is_file() else []

    train = config.get("train", {})
    subtitle = " \u00b7 ".join(
        part for part in (
            f"{len(rows)} samples",
            _rendered_checkpoint(metrics),
            f"WaveGAN d={train['model_size']}{' + envelope' if train.get('envelope') else ''}" if "model_size" in train else "",
            f"{train['recipe']} recipe" if "recipe" in train else "",
            ", ".join(sorted({s.get("kind", "") for s in config.get("sources", [])})) + " audio" if config.get("sources") else "",
        ) if part
    )
    sheet = _file_uri(contact_sheet)
    sheet_block = (
        f'<details class="card"><summary>Contact sheet: every sample on one image</summary>'
        f'<img src="{sheet}" alt="contact sheet of all samples"></details>' if sheet else ""
    )
    page = PAGE.format(
        title="audiogan samples",
        subtitle=_esc(subtitle),
        metrics=_metric_cards(metrics),
        samples=samples,
        blends=_blends_section(blend_rows),
        contact_sheet=sheet_block,
        # One figure: training's loss_curve.png already holds the FD-mel-over-steps panel when recorded.
        training=_figure("Training", _file_uri(loss_curve), "loss curves and FD-mel over steps",
                         LOSS_CAPTION + " " + (QUALITY_CAPTION if has_quality(quality_csv) else QUALITY_MISSING)),
        config=_config_summary(config),
        css=CSS,
    )
    atomic_write_text(out_html, page)
    log.info("wrote %s (%d samples)", out_html, len(rows))


def _rendered_checkpoint(metrics: Mapping[str, Any]) -> str:
    """Which training step the samples come from, and why that one (from metrics.json)."""
    checkpoint = metrics.get("checkpoint") or {}
    if checkpoint.get("reason"):
        return f"rendered from {checkpoint['reason']}"
    step = metrics.get("step")
    return f"trained {step} steps" if step is not None else ""


LOSS_CAPTION = (
    "wavegan recipe: the Wasserstein estimate (critic's gap between real and generated clips) should "
    "shrink as the generator improves; the gradient penalty should stay small. modern recipe: "
    "E[sign D(real)] near 1 means the critic is overfitting the real clips; adaptive augmentation "
    "then raises its probability."
)
QUALITY_CAPTION = (
    "FD-mel panel: a fixed batch of preview latents at each checkpoint, against training clips. It uses fewer "
    "clips than the metrics above: read its trend, not its level."
)
QUALITY_MISSING = "FD-mel over steps: not recorded for this run."

CSS = """
:root { --ink:#1f2233; --muted:#6b7083; --line:#e4e6ee; --bg:#f6f7fb; --card:#fff; --accent:#e4572e; --warn:#b4232a; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--ink); background:var(--bg); }
header.top { background:linear-gradient(120deg,#1f2233,#3a2d4f); color:#fff; padding:28px 32px 24px; }
header.top h1 { margin:0; font-size:28px; letter-spacing:.3px; }
header.top p { margin:4px 0 0; color:#cfd2e3; }
main { max-width:1240px; margin:0 auto; padding:8px 24px 48px; }
h2 { font-size:18px; margin:32px 0 12px; letter-spacing:.2px; }
h3 { font-size:14px; margin:0 0 8px; color:var(--muted); text-transform:uppercase; letter-spacing:.6px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:14px 16px;
        box-shadow:0 1px 2px rgba(20,20,40,.04); }
.metrics { display:grid; grid-template-columns:repeat(auto-fit,minmax(240px,1fr)); gap:14px; }
.metric-title { font-size:13px; color:var(--muted); text-transform:uppercase; letter-spacing:.6px; }
.metric-value { font-size:30px; font-weight:650; margin:2px 0 6px; font-variant-numeric:tabular-nums; }
.metric p { margin:6px 0 0; font-size:13px; color:#40445a; }
.scale { position:relative; height:10px; margin:4px 0 2px; }
.scale .track { position:absolute; inset:3px 0; border-radius:3px; background:linear-gradient(90deg,#2a9d8f,#e9c46a,#e76f51); }
.scale .mark { position:absolute; top:-3px; width:4px; height:16px; margin-left:-2px; background:var(--ink); border-radius:2px; }
.scale-labels { display:flex; justify-content:space-between; font-size:11px; color:var(--muted); }
.samples { display:grid; grid-template-columns:repeat(auto-fill,minmax(280px,1fr)); gap:14px; }
.sample header { display:flex; align-items:baseline; gap:10px; margin-bottom:8px; }
.sample .name { font-weight:650; font-size:16px; }
.sample .seed { color:var(--muted); font-size:13px; font-variant-numeric:tabular-nums; }
.sample.flagged { border-color:#f0b4b4; box-shadow:0 0 0 2px #fbe3e3; }
.badge { margin-left:auto; font-size:11px; font-weight:650; padding:2px 8px; border-radius:999px; text-transform:uppercase; letter-spacing:.5px; }
.badge.warn { background:#fde8e8; color:var(--warn); }
img.spec, .spec.missing { display:block; width:100%; height:90px; border-radius:8px; background:#12101c; object-fit:fill; }
.spec.missing { color:#999; display:flex; align-items:center; justify-content:center; font-size:12px; }
audio { width:100%; margin:10px 0 4px; height:36px; }
.meta, .facts { display:flex; justify-content:space-between; gap:8px; font-size:12px; color:var(--muted); }
.meta a { color:var(--accent); text-decoration:none; }
.near { margin-top:6px; font-size:12px; color:var(--warn); overflow-wrap:anywhere; }
.figures { display:grid; grid-template-columns:1fr; gap:14px; align-items:start; }
.verdict { background:#fde8e8; color:var(--warn); border-radius:8px; padding:10px 14px; }
.caption { margin:8px 0 0; font-size:12px; color:var(--muted); }
.figure img, details img { width:100%; height:auto; display:block; }
details { margin-top:14px; }
summary { cursor:pointer; font-weight:600; }
table.sources { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:12px; overflow:hidden; }
table.sources th, table.sources td { text-align:left; padding:8px 12px; border-bottom:1px solid var(--line); font-size:13px; vertical-align:top; }
table.sources th { color:var(--muted); font-weight:600; background:#fafbfe; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap:anywhere; }
.config { display:grid; grid-template-columns:repeat(auto-fit,minmax(260px,1fr)); gap:14px; margin-top:14px; }
dl { display:grid; grid-template-columns:auto 1fr; gap:2px 14px; margin:0; font-size:13px; }
dt { color:var(--muted); }
dd { margin:0; font-variant-numeric:tabular-nums; overflow-wrap:anywhere; }
.muted { color:var(--muted); }
.small { font-size:12px; }
.blend { margin-bottom:14px; }
.blend .steps { display:grid; grid-template-columns:repeat(auto-fill,minmax(150px,1fr)); gap:8px; margin-top:8px; }
.blend .step { font-size:12px; color:var(--muted); }
.blend .step audio { height:30px; margin:2px 0 0; }
footer { text-align:center; color:var(--muted); font-size:12px; padding:24px; }
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header class="top"><h1>{title}</h1><p>{subtitle}</p></header>
<main>
<h2>How good are they?</h2>
{metrics}
<h2>Samples</h2>
{samples}
{blends}
{contact_sheet}
<h2>Training</h2>
<div class="figures">{training}</div>
<h2>Run configuration</h2>
{config}
</main>
<footer>Generated by audiogan. Samples are WAV files in this folder; the page works offline.</footer>
</body>
</html>
"""
