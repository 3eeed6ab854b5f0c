"""Render audio samples from a trained generator: seeded samples, per label, and blends.

Sample i of a render uses seed `seed + i`: its latent z ~ U[-1, 1]^latent_dim comes from a
`torch.Generator` seeded with that number alone, so any sample can be regenerated on its own
(`regenerate`) whatever the batch it was rendered in. A conditional generator renders `count`
samples per label (or the counts of `render.labels`), each label with the same seeds: sample 3 of
"kick" and sample 3 of "snare" share their latent, so the label is the only difference.

A blend walks from one end to the other in `steps` renders: the label weights move linearly (the
generator embeds them linearly, so this interpolates the label embeddings) and the latent moves
along the great circle between the two seeds' latents (spherical interpolation keeps it at the
typical distance from the origin, where a straight line would pass through rarely seen short
vectors). Each blend also gets one audition file playing its steps in order.

Layout under the output folder: `sample_NNNN.wav` (unconditional) or `<label>/sample_NNNN.wav`,
and `blends/<name>/step_NN.wav` with `blends/<name>.wav`; folder names are the labels made safe
for any file system (`safe_name`).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from .audio_io import resample, write_audio
from .checkpoint import load_generator
from .devices import resolve_device
from .plots import plot_contact_sheet
from .tsv import write_tsv

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("index", "file", "seed", "label")
BLEND_COLUMNS = ("blend", "step", "position", "file", "audition", "from_label", "from_seed", "to_label", "to_seed")
AUDITION_GAP_SECONDS = 0.25  # silence between the steps of a blend's audition file
BATCH = 16
SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
CONTACT_SHEET_MAX = 64  # cells; a huge render still gives a readable sheet


def latent_vector(seed: int, latent_dim: int) -> torch.Tensor:
    """The latent z ~ U[-1, 1]^latent_dim of one sample, from its own seeded torch.Generator."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.rand(latent_dim, generator=generator) * 2.0 - 1.0


def latent_dim_of(meta: dict) -> int:
    """The generator's latent size, from the checkpoint's model config."""
    try:
        return int(meta["model"]["latent_dim"])
    except (KeyError, TypeError):
        raise ValueError("generator checkpoint: its model config has no latent_dim") from None


def label_names(meta: Mapping[str, Any]) -> list[str]:
    """The labels a generator file is conditioned on, in the order of its label weights ([]: none)."""
    return [str(name) for name in meta.get("labels") or []]


def label_weights(meta: Mapping[str, Any], labels: Sequence[str | None]) -> torch.Tensor | None:
    """One-hot label weights [n, n_labels] for a conditional generator; None for an unconditional one.

    Raises ValueError for a label the generator does not know, or a missing one.
    """
    names = label_names(meta)
    if not names:
        if any(labels):
            raise ValueError("this generator was trained without labels; it cannot render a label")
        return None
    known = {name: i for i, name in enumerate(names)}
    ids = []
    for label in labels:
        if label not in known:
            raise ValueError(f"label {label!r} is not one the generator knows ({', '.join(names)})")
        ids.append(known[label])
    return torch.nn.functional.one_hot(torch.tensor(ids, dtype=torch.int64), len(names)).float()


def generate_clips(
    generator: torch.nn.Module, latents: torch.Tensor, y: torch.Tensor | None, clip_samples: int
) -> Iterable[np.ndarray]:
    """Yield `[batch, clip_samples]` float32 arrays at the model's rate, one row per latent, in order.

    `y`: label weights [n, n_labels] for a conditional generator, else None. The network's output is
    trimmed to `clip_samples` (WaveGAN emits a power-of-two length); a shorter output is
    zero-padded, with a warning.
    """
    device = next(generator.parameters()).device
    for start in range(0, len(latents), BATCH):
        z = latents[start : start + BATCH].to(device)
        labels = None if y is None else y[start : start + BATCH].to(device)
        with torch.inference_mode():
            audio = generator(z, labels).float().cpu().numpy()
        if audio.ndim == 3:  # [N, channels, T]: the samples are mono
            audio = audio.mean(axis=1)
        if audio.shape[1] < clip_samples:
            log.warning("generator output has %d samples, fewer than the clip's %d; padding with silence",
                        audio.shape[1], clip_samples)
            audio = np.pad(audio, ((0, 0), (0, clip_samples - audio.shape[1])))
        yield np.ascontiguousarray(audio[:, :clip_samples], dtype=np.float32)


def seeded_latents(seeds: Sequence[int], latent_dim: int) -> torch.Tensor:
    """[len(seeds), latent_dim]: each row the latent of its seed (`latent_vector`)."""
    return torch.stack([latent_vector(s, latent_dim) for s in seeds])


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Trim or zero-pad a 1-D signal to exactly `samples` (resamplers may be off by one)."""
    if audio.shape[0] >= samples:
        return audio[:samples]
    return np.pad(audio, (0, samples - audio.shape[0]))


def _model_clip_samples(meta: dict) -> tuple[int, int, float]:
    rate, seconds = int(meta["sample_rate"]), float(meta["clip_seconds"])
    return rate, round(seconds * rate), seconds


def regenerate(generator_path: str | os.PathLike, seed: int, label: str | None = None) -> np.ndarray:
    """The sample rendered with latent seed `seed` (and `label`, for a conditional generator), as
    1-D float32 at the model's sample rate."""
    generator, meta = load_generator(generator_path, map_location="cpu")
    rate, clip_samples, _ = _model_clip_samples(meta)
    z = seeded_latents([seed], latent_dim_of(meta))
    return next(iter(generate_clips(generator, z, label_weights(meta, [label]), clip_samples)))[0]


def slerp(a: torch.Tensor, b: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Points along the great circle from `a` to `b` (lengths interpolated linearly), one row per position."""
    norm_a, norm_b = a.norm(), b.norm()
    cosine = torch.clamp(torch.dot(a / norm_a, b / norm_b), -1.0, 1.0)
    omega = torch.arccos(cosine)
    t = positions[:, None]
    if omega.abs() < 1e-6:  # (nearly) the same direction: a straight line is the same path
        return (1 - t) * a + t * b
    direction = (torch.sin((1 - t) * omega) * (a / norm_a) + torch.sin(t * omega) * (b / norm_b)) / torch.sin(omega)
    return direction * ((1 - t) * norm_a + t * norm_b)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """`text` as one harmless path component: letters, digits, '.', '_' and '-' only, not hidden."""
    name = _UNSAFE.sub("_", text).strip("._") or "_"
    return name[:80]


def label_folders(names: Sequence[str]) -> dict[str, str]:
    """A distinct, safe folder name per label (labels come from data: folder names, TSV columns)."""
    folders: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        folder, number = safe_name(name), 2
        while folder.lower() in used or folder == "blends":
            folder, number = f"{safe_name(name)}_{number}", number + 1
        used.add(folder.lower())
        folders[name] = folder
    return folders


@dataclass(frozen=True)
class BlendEnd:
    """One end of a blend: a label (conditional generators) and a latent seed."""

    label: str | None
    seed: int


@dataclass(frozen=True)
class Blend:
    start: BlendEnd
    end: BlendEnd
    steps: int

    @property
    def name(self) -> str:
        def describe(end: BlendEnd) -> str:
            return f"{end.label}-{end.seed}" if end.label is not None else f"seed{end.seed}"

        return safe_name(f"{describe(self.start)}_to_{describe(self.end)}")


def parse_blends(entries: Sequence[Mapping[str, Any]], default_seed: int, labels: Sequence[str]) -> list[Blend]:
    """The `render.blends` entries as Blends. An end is a label name, a seed (integer) or both
    ({label, seed}); a missing seed is `default_seed`, a missing label the other end's. Errors name
    the entry."""
    blends = []
    for number, entry in enumerate(entries, 1):
        where = f"render.blends[{number}]"
        ends = []
        for key in ("from", "to"):
            value = entry.get(key)
            if isinstance(value, Mapping):
                ends.append((value.get("label"), value.get("seed")))
            elif isinstance(value, bool) or value is None:
                raise ValueError(f"{where}.{key}: give a label name, a seed or {{label, seed}}")
            elif isinstance(value, int):
                ends.append((None, value))
            else:
                ends.append((str(value), None))
        (label_a, seed_a), (label_b, seed_b) = ends
        label_a, label_b = label_a if label_a is not None else label_b, label_b if label_b is not None else label_a
        if labels and label_a is None:
            raise ValueError(f"{where}: the generator is conditional: name a label at one end at least")
        if not labels and label_a is not None:
            raise ValueError(f"{where}: the generator was trained without labels; blend two seeds instead")
        for label in (label_a, label_b):
            if labels and label not in labels:
                raise ValueError(f"{where}: label {label!r} is not one the generator knows ({', '.join(labels)})")
        start = BlendEnd(label_a, int(default_seed if seed_a is None else seed_a))
        end = BlendEnd(label_b, int(default_seed if seed_b is None else seed_b))
        if start == end:
            raise ValueError(f"{where}: both ends are the same ({start.label}, seed {start.seed})")
        if "steps" not in entry:
            raise ValueError(f"{where}: give its number of steps")
        blends.append(Blend(start, end, int(entry["steps"])))
    return blends


def blend_inputs(blend: Blend, meta: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The latents [steps, latent_dim], label weights ([steps, n_labels] or None) and positions of a blend."""
    positions = torch.linspace(0.0, 1.0, blend.steps)
    dim = latent_dim_of(meta)
    z = slerp(latent_vector(blend.start.seed, dim), latent_vector(blend.end.seed, dim), positions)
    ends = label_weights(meta, [blend.start.label, blend.end.label])
    y = None if ends is None else (1 - positions[:, None]) * ends[0] + positions[:, None] * ends[1]
    return z, y, positions


def _remove_stale(sample_paths: Sequence[Path]) -> None:
    """Delete sample_*.wav files of an earlier, larger render that this render does not write."""
    keep = {p.resolve() for p in sample_paths}
    for folder in {p.parent for p in sample_paths}:
        for old in folder.glob("sample_*.wav"):
            if old.resolve() not in keep:
                log.info("removing stale sample %s", old)
                old.unlink(missing_ok=True)


@dataclass
class _Written:
    """Samples written so far, for the tables and the contact sheet."""

    rows: list[dict[str, Any]]
    sheet_clips: list[np.ndarray]
    sheet_labels: list[str]


def render_samples(
    generator_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    table_path: str | os.PathLike,
    contact_sheet_path: str | os.PathLike,
    count: int,
    seed: int,
    sample_rate: int,
    subtype: str = "PCM_16",
    *,
    label_counts: Mapping[str, int] | None = None,
    blends: Sequence[Mapping[str, Any]] = (),
    blends_table: str | os.PathLike | None = None,
    device: str = "cpu",
) -> None:
    """Render samples into `out_dir` and write samples.tsv (index, file, seed, label), a contact
    sheet and, with `blends_table`, blends.tsv.

    Unconditional generators: `count` samples, sample i from seed + i. Conditional ones: `count`
    per label, or `label_counts` ({label: count}, only those labels). `blends`: the `render.blends`
    entries (parse_blends). Each file holds exactly round(clip_seconds * sample_rate) samples at
    `sample_rate` Hz in the WAV `subtype` (PCM_16, PCM_24 or FLOAT). The tables' `file` column is
    relative to the table's folder, which is also how the gallery page links the files. `device`:
    the `train.device` setting the generator runs on (on a GPU a sample differs from `regenerate`'s
    CPU rendering by float rounding only).
    """
    if subtype not in SUBTYPES:
        raise ValueError(f"render subtype {subtype!r} is not supported; allowed: {', '.join(SUBTYPES)}")
    out_dir, table_dir = Path(out_dir), Path(table_path).resolve().parent
    generator, meta = load_generator(generator_path, map_location="cpu")
    generator = generator.to(resolve_device(device))
    names = label_names(meta)
    if label_counts and not names:
        raise ValueError("render.labels: the generator was trained without labels")
    plan = dict(label_counts) if label_counts else ({name: count for name in names} if names else {None: count})
    if sum(plan.values()) < 1:
        raise ValueError("render: nothing to render (count 0)")
    folders = label_folders(names)
    model_rate, clip_samples, clip_seconds = _model_clip_samples(meta)
    out_samples = round(clip_seconds * int(sample_rate))
    blend_list = parse_blends(blends, seed, names)
    log.info("rendering %s (seeds from %d) and %d blend(s) from step %s at %d Hz -> %d Hz, %s",
             ", ".join(f"{n} {label or 'samples'}" for label, n in plan.items()), seed, len(blend_list),
             meta.get("step"), model_rate, sample_rate, subtype)  # fmt: skip

    def to_file(clip: np.ndarray) -> np.ndarray:
        return fit_length(resample(clip, model_rate, sample_rate), out_samples)

    written = _Written([], [], [])
    paths: list[Path] = []
    for label, n in plan.items():
        folder = out_dir if label is None else out_dir / folders[label]
        seeds = [int(seed) + i for i in range(n)]
        z = seeded_latents(seeds, latent_dim_of(meta))
        y = label_weights(meta, [label] * n)
        clips = (clip for batch in generate_clips(generator, z, y, clip_samples) for clip in batch)
        for i, (clip, clip_seed) in enumerate(zip(clips, seeds)):
            path = folder / f"sample_{i:04d}.wav"
            audio = to_file(clip)
            write_audio(path, audio, sample_rate, subtype)
            paths.append(path)
            index = len(written.rows)
            if len(written.sheet_clips) < CONTACT_SHEET_MAX:
                written.sheet_clips.append(audio)
                written.sheet_labels.append(f"#{index}  {label + '  ' if label else ''}seed {clip_seed}")
            written.rows.append({"index": index, "file": os.path.relpath(path.resolve(), table_dir),
                                 "seed": clip_seed, "label": label or ""})  # fmt: skip
    _remove_stale(paths)

    blend_rows = []
    gap = np.zeros(round(AUDITION_GAP_SECONDS * int(sample_rate)), np.float32)
    for blend in blend_list:
        z, y, positions = blend_inputs(blend, meta)
        steps = [to_file(clip) for batch in generate_clips(generator, z, y, clip_samples) for clip in batch]
        folder = out_dir / "blends" / blend.name
        audition = out_dir / "blends" / f"{blend.name}.wav"
        write_audio(audition, np.concatenate([part for step in steps for part in (step, gap)]), sample_rate, subtype)
        for number, (audio, position) in enumerate(zip(steps, positions.tolist())):
            path = folder / f"step_{number:02d}.wav"
            write_audio(path, audio, sample_rate, subtype)
            blend_rows.append({
                "blend": blend.name, "step": number, "position": f"{position:.4f}",
                "file": os.path.relpath(path.resolve(), table_dir),
                "audition": os.path.relpath(audition.resolve(), table_dir),
                "from_label": blend.start.label or "", "from_seed": blend.start.seed,
                "to_label": blend.end.label or "", "to_seed": blend.end.seed,
            })  # fmt: skip
    if blends_table is not None:
        write_tsv(blends_table, blend_rows, BLEND_COLUMNS)
    write_tsv(table_path, written.rows, SAMPLE_COLUMNS)
    plot_contact_sheet(written.sheet_clips, int(sample_rate), written.sheet_labels, contact_sheet_path)
    log.info("wrote %d samples, %d blend(s), %s and %s", len(written.rows), len(blend_list), table_path,
             contact_sheet_path)  # fmt: skip
