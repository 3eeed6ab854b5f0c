"""Builds a small Common Voice release archive in the real layout, for the tests.

`build_cv_archive(workdir)` writes `cv-corpus-<ver>-<date>-<lang>.tar.gz` (or the MDC name
`mcv-scripted-<lang>-v<ver>.tar.gz`) holding `cv-corpus-<ver>-<date>/<lang>/` with
`clips/*.mp3` (espeak-ng speech encoded by ffmpeg at 32 kHz mono, 48 kHz mono and 44.1 kHz
stereo, as in real releases), the split TSVs with the real columns, `clip_durations.tsv`, a
README, and one hostile member named `../escape`.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

COLUMNS = (
    "client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
    "age", "gender", "accents", "variant", "locale", "segment",
)
VERSION, DATE, LANG = "17.0", "2024-03-15", "xx"
# (rate, channels) of the three encodings every clip cycles through.
FORMATS = ((32000, 1), (48000, 1), (44100, 2))
STRAY_QUOTE = 'She said "hello there.'


@dataclass
class CVArchive:
    path: Path
    lang: str
    splits: dict[str, list[dict[str, str]]]  # split name -> rows as written
    clip_bytes: dict[str, bytes] = field(default_factory=dict)  # clip name -> mp3 bytes

    def clip_names(self, split: str) -> list[str]:
        return [row["path"] for row in self.splits[split]]


def _encode_mp3s(workdir: Path) -> list[bytes]:
    """Three short espeak-ng utterances as MP3 at the three real rates/layouts."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for index, ((rate, channels), text) in enumerate(zip(FORMATS, ("one two three", "hello world", "good morning"))):
        wav = workdir / f"speech{index}.wav"
        mp3 = workdir / f"speech{index}.mp3"
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav),
             "-ar", str(rate), "-ac", str(channels), "-c:a", "libmp3lame", "-b:a", "48k", str(mp3)],
            check=True, capture_output=True,
        )
        out.append(mp3.read_bytes())
    return out


def _rows(lang: str) -> dict[str, list[dict[str, str]]]:
    people = [
        ("male_masculine", "twenties", "England English"),
        ("female_feminine", "thirties", "Scottish English"),
        ("", "", ""),
        ("female_feminine", "twenties", "England English"),
    ]
    sentences = [
        "The quick brown fox.", STRAY_QUOTE, "It's a fine day.", "Numbers: one, two, three.",
        "A short line.", "Another one.", "Don't stop now", "Quite so", "Sure thing.", "Last clip here.",
    ]

    def row(n: int, up: int, down: int) -> dict[str, str]:
        gender, age, accents = people[n % len(people)]
        return {
            "client_id": hashlib.sha512(f"speaker{n % 3}".encode()).hexdigest(),
            "path": f"common_voice_{lang}_{1000 + n}.mp3",
            "sentence_id": hashlib.sha256(sentences[n].encode()).hexdigest(),
            "sentence": sentences[n],
            "sentence_domain": "",
            "up_votes": str(up), "down_votes": str(down),
            "age": age, "gender": gender, "accents": accents,
            "variant": "", "locale": lang, "segment": "",
        }

    validated = [row(n, 2, 0) for n in range(6)]
    return {
        "validated": validated,
        "train": validated[:3],
        "dev": validated[3:5],
        "test": validated[5:6],
        "invalidated": [row(6, 0, 2), row(7, 1, 2)],
        "other": [row(8, 1, 0), row(9, 0, 0)],
    }


def _tsv(rows: list[dict[str, str]], columns=COLUMNS) -> bytes:
    lines = ["\t".join(columns)] + ["\t".join(r.get(c, "") for c in columns) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 1_700_000_000
    tar.addfile(info, io.BytesIO(data))


def build_cv_archive(
    workdir: Path,
    *,
    mdc_name: bool = False,
    clips_first: bool = False,
    escape_member: bool = True,
    mp3s: list[bytes] | None = None,
    columns: tuple[str, ...] = COLUMNS,
) -> CVArchive:
    """Write the archive under `workdir` and describe what is in it.

    `clips_first` puts `clips/` before the TSVs (real archives do the opposite), to exercise
    the second pass. `mp3s` reuses encoded clips from an earlier call (saves ffmpeg time).
    `columns` writes fewer TSV columns, as older releases did (no `variant`, no `segment`).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    mp3s = mp3s or _encode_mp3s(workdir / "speech")
    splits = _rows(LANG)
    all_rows = {r["path"]: r for rows in splits.values() for r in rows}
    clip_bytes = {name: mp3s[i % len(mp3s)] for i, name in enumerate(sorted(all_rows))}
    top = f"cv-corpus-{VERSION}-{DATE}/{LANG}"
    name = f"mcv-scripted-{LANG}-v{VERSION}.tar.gz" if mdc_name else f"cv-corpus-{VERSION}-{DATE}-{LANG}.tar.gz"
    path = workdir / name
    workdir.joinpath(name).unlink(missing_ok=True)

    def add_tables(tar):
        for split, rows in splits.items():
            _add(tar, f"{top}/{split}.tsv", _tsv(rows, columns))
        _add(tar, f"{top}/reported.tsv", b"sentence_id\tsentence\tlocale\treason\n")
        durations = [{"clip": n, "duration[ms]": "1500"} for n in sorted(all_rows)]
        _add(tar, f"{top}/clip_durations.tsv", _tsv(durations, ("clip", "duration[ms]")))

    def add_clips(tar):
        for clip, data in clip_bytes.items():
            _add(tar, f"{top}/clips/{clip}", data)

    with tarfile.open(path, "w:gz") as tar:
        _add(tar, f"cv-corpus-{VERSION}-{DATE}/README.md", b"Common Voice test release (generated).\n")
        if escape_member:
            _add(tar, "../escape", b"this must never be written outside the target folder\n")
        if clips_first:
            add_clips(tar)
            add_tables(tar)
        else:
            add_tables(tar)
            add_clips(tar)
    return CVArchive(path=path, lang=LANG, splits=splits, clip_bytes=clip_bytes)


def encode_mp3s(workdir: Path) -> list[bytes]:
    """The three encoded clips, for reuse across archives in one test session."""
    return _encode_mp3s(workdir)
