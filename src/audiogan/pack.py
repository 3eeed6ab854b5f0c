"""The sample pack: one zip with the rendered WAVs, a table of them and where they came from.

Samples of a conditional generator go in one folder per label, blends in `blends/` (each blend's
steps in its own folder beside its audition file). With `render.trim` each sample is trimmed of
its trailing silence and faded out (audiogan.trim); the files in results/samples stay as rendered,
which is what the metrics measured.

README.txt states the model's provenance (training step, model and training settings) and the
data's (each source, its kind, how many clips it gave and under which licences), so a pack found
on its own later still says what it is and what its samples may be used for.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import soundfile as sf

from .atomic import atomic_path
from .checkpoint import load_checkpoint
from .render import label_folders
from .trim import trim_tail
from .tsv import read_tsv

log = logging.getLogger(__name__)

FOLDER = "audiogan-samples"  # one top folder, so unzipping never scatters files
CSV_COLUMNS = ("file", "label", "seed", "nn_train_distance", "near_copy", "fd_mel")
ITEMS_LISTED_PER_SOURCE = 200  # attribution lines per source in README.txt
ITEM_DETAIL_KEYS = ("title", "uploader", "channel", "webpage_url")


def _generator_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The generator file's entries other than the weights (no network is built)."""
    state = load_checkpoint(path, map_location="cpu")
    return {key: value for key, value in state.items() if key != "generator"}


def _num(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "n/a"


def _samples_csv(rows: Sequence[Mapping[str, str]], names: Sequence[str], scores: Mapping[str, Mapping[str, Any]],
                 fd_mel: Any) -> str:  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row, name in zip(rows, names):
        score = scores.get(str(row["index"]), {})
        distance = score.get("nn_train_distance")
        writer.writerow([
            name,
            row.get("label", ""),
            row["seed"],
            "" if distance is None else f"{distance:.4f}",
            "" if not score else ("yes" if score.get("near_copy") else "no"),
            "" if fd_mel is None else f"{fd_mel:.4f}",
        ])
    return buffer.getvalue()


def _source_of(items_table: str | os.PathLike) -> str:
    # results/raw/{source}/items.tsv: the folder names the source.
    return Path(items_table).parent.name


def _data_provenance(
    config: Mapping[str, Any], manifest_path: str | os.PathLike, items_tables: Sequence[str | os.PathLike]
) -> list[str]:
    manifest = read_tsv(manifest_path) if manifest_path and Path(manifest_path).is_file() else []
    clips = Counter(row.get("source", "") for row in manifest)
    clip_licences: dict[str, Counter] = defaultdict(Counter)
    clips_per_file: dict[tuple[str, str], int] = Counter()
    for row in manifest:
        clip_licences[row.get("source", "")][row.get("license") or "not stated"] += 1
        clips_per_file[(row.get("source", ""), row.get("file", ""))] += 1
    items = {_source_of(t): read_tsv(t) for t in items_tables if Path(t).is_file()}

    lines = [f"Training data: {len(manifest)} clips from {len(config.get('sources', []))} source(s).", ""]
    for source in config.get("sources", []):
        name, kind = source.get("name", ""), source.get("kind", "")
        listed = items.get(name, [])
        used = [item for item in listed if clips_per_file.get((name, item.get("file", "")), 0)]
        lines.append(f"Source {name!r} (kind: {kind}): {clips.get(name, 0)} clips from {len(used)} of {len(listed)} files.")
        for licence, count in sorted(clip_licences.get(name, {}).items(), key=lambda kv: -kv[1]):
            lines.append(f"  licence {licence}: {count} clips")
        for item in used[:ITEMS_LISTED_PER_SOURCE]:
            details = "; ".join(f"{key}: {item[key]}" for key in ITEM_DETAIL_KEYS if item.get(key))
            licence = item.get("license") or "licence not stated"
            count = clips_per_file[(name, item.get("file", ""))]
            lines.append(f"  - {item.get('file', '')} ({licence}; {count} clips{'; ' + details if details else ''})")
        if len(used) > ITEMS_LISTED_PER_SOURCE:
            lines.append(f"  ... and {len(used) - ITEMS_LISTED_PER_SOURCE} more files (see results/raw/{name}/items.tsv)")
        lines.append("")
    return lines


def _readme(
    meta: Mapping[str, Any], metrics: Mapping[str, Any], data_lines: list[str], count: int, config: Mapping[str, Any]
) -> str:
    fd = metrics.get("fd_mel", {})
    memo = metrics.get("memorization", {})
    render = config.get("render", {})
    lines = [
        "audiogan sample pack",
        "====================",
        "",
        f"{count} audio samples of {meta.get('clip_seconds')} s generated by a {meta.get('family', 'wavegan')} model "
        f"({meta.get('recipe', 'wavegan')} recipe) trained on the",
        "data listed below.",
        "Every file can be regenerated from its seed (samples.csv) with the same generator.",
        "",
        "Files",
        "-----",
        f"sample_NNNN.wav  {meta.get('clip_seconds')} s mono WAV, {render.get('sample_rate') or meta.get('sample_rate')} Hz, "
        f"{render.get('subtype', '')}" + (", trailing silence trimmed and faded out" if render.get("trim") else "")
        + (f"; one folder per label ({', '.join(meta['labels'])})" if meta.get("labels") else ""),
        "blends/          interpolations between labels or seeds: each blend's steps, and one file playing them in order",
        "samples.csv      file, label, seed, nn_train_distance (distance to the nearest training clip, log-mel features),",
        "                 near_copy (yes = suspiciously close to a training clip: check before use), fd_mel of the run",
        "",
        "Model",
        "-----",
        f"training step: {meta.get('step')}"
        + (f" ({meta['selection']['reason']})" if isinstance(meta.get("selection"), dict) else ""),
        f"model sample rate: {meta.get('sample_rate')} Hz, clip length: {meta.get('clip_seconds')} s",
        "model config: " + json.dumps(meta.get("model", {}), sort_keys=True),
        "train config: " + json.dumps(dict((meta.get("config") or config.get("train", {}))), sort_keys=True),
        "",
        "Quality (see the gallery page for explanations)",
        "------------------------------------------------",
        f"FD-mel: {_num(fd.get('generated'))} (lower is better; real clips: {_num(fd.get('real_floor'))}, "
        f"untrained generator: {_num(fd.get('untrained_ceiling'))})",
        f"NDB/K: {_num(metrics.get('ndb', {}).get('generated'))} (share of sound kinds over- or under-represented; "
        f"real clips: {_num(metrics.get('ndb', {}).get('held_out_real'))})",
        f"near-copies of training clips: {memo.get('near_copies')} of {count}",
        "",
        "Data provenance",
        "---------------",
        *data_lines,
        "Licences: generated audio can carry obligations from its training data. Check the licences",
        "above (e.g. attribution for CC BY, no commercial use for NC) before publishing these samples.",
    ]
    return "\n".join(lines) + "\n"


def write_pack(
    out_zip: str | os.PathLike,
    samples_table: str | os.PathLike,
    metrics_json: str | os.PathLike,
    manifest_path: str | os.PathLike,
    items_tables: Sequence[str | os.PathLike],
    generator_path: str | os.PathLike,
    config: Mapping[str, Any],
    blends_table: str | os.PathLike | None = None,
) -> None:
    """Zip the rendered WAVs (and blends), samples.csv and README.txt (provenance) into `out_zip`, atomically."""
    table = Path(samples_table)
    rows = read_tsv(table)
    if not rows:
        raise ValueError(f"{table}: no samples to pack")
    blend_rows = read_tsv(blends_table) if blends_table and Path(blends_table).is_file() else []
    metrics = json.loads(Path(metrics_json).read_text(encoding="utf-8"))
    scores = {str(s.get("index")): s for s in metrics.get("samples", [])}
    meta = _generator_meta(generator_path)
    readme = _readme(meta, metrics, _data_provenance(config, manifest_path, items_tables), len(rows), config)
    folders = label_folders(meta.get("labels") or [])
    trim = bool(config.get("render", {}).get("trim"))
    names = []
    with atomic_path(out_zip) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for row in rows:
            wav = table.parent / row["file"]
            if not wav.is_file():
                raise FileNotFoundError(f"sample {row['index']}: {wav} is listed in {table} but missing")
            label = row.get("label") or ""
            name = f"{folders[label]}/{wav.name}" if label else wav.name
            _add_wav(archive, wav, f"{FOLDER}/{name}", trim)
            names.append(name)
        for blend in blend_rows:
            step = table.parent / blend["file"]
            _add_wav(archive, step, f"{FOLDER}/blends/{blend['blend']}/{step.name}", trim=False)
        for audition in sorted({blend["audition"] for blend in blend_rows}):
            _add_wav(archive, table.parent / audition, f"{FOLDER}/blends/{Path(audition).name}", trim=False)
        csv_text = _samples_csv(rows, names, scores, metrics.get("fd_mel", {}).get("generated"))
        archive.writestr(f"{FOLDER}/samples.csv", csv_text, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(f"{FOLDER}/README.txt", readme, compress_type=zipfile.ZIP_DEFLATED)
    log.info("wrote %s (%d samples, %d blend steps)", out_zip, len(rows), len(blend_rows))


def _add_wav(archive: zipfile.ZipFile, wav: Path, name: str, trim: bool) -> None:
    """Store one WAV (WAV hardly compresses; storing keeps packing fast), trimmed when asked."""
    if not wav.is_file():
        raise FileNotFoundError(f"{wav} is listed for the pack but missing")
    if not trim:
        archive.write(wav, name, compress_type=zipfile.ZIP_STORED)
        return
    info = sf.info(wav)
    audio, rate = sf.read(wav, dtype="float32")
    buffer = io.BytesIO()
    sf.write(buffer, trim_tail(audio, rate), rate, subtype=info.subtype, format="WAV")
    archive.writestr(name, buffer.getvalue(), compress_type=zipfile.ZIP_STORED)
