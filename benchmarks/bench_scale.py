"""Benchmark: the workflow on 10k-1M short files; full run, dry run, no-op, one file added or removed.

Makes its own data in a temp work folder: a `kind: local` source of N short 16 kHz 16-bit WAV files
(0.25-1.2 s; a few distinct files hard-linked to N names in folders of 1,000, so setup is fast),
and runs the workflow up to the dataset (`results/dataset/summary.json`: download, convert,
segment) with the real `snakemake` command. For each N it prints, per variant (this checkout, and
with `--baseline REV` the same steps with the workflow as of git revision REV, exported with
`git archive`, for a comparison in the same run):

  full run, dry run and no-op (median of 3), one file added then rerun, one file removed then
  rerun (wall seconds; convert jobs that ran), peak anonymous memory (RssAnon, sampled from /proc
  every 0.1 s) of each stage's jobs, and disk per stage (converted audio, dataset).

    python benchmarks/bench_scale.py --items 10000 100000 [--baseline a3da7f4] [--shard-mb 256]
    python benchmarks/bench_scale.py --items 1000000 --dry-run-only   # DAG cost: download + dry run
    nice -n 5 python benchmarks/bench_scale.py --items 1000000 --seconds 0.25   # all steps at 1M, ~8 GB

`--seconds S` makes every file S seconds long (one distinct file), instead of the 0.25-1.2 s mix:
at 1M files that is 8 GB of 16-bit audio rather than 24 GB, and the per-item costs dominate.

`--dry-run-only` runs the download checkpoint (lists the files, writes the shard listings) and then
times the dry run, which then plans every convert and segment job: the DAG at that size, without
converting any audio.
"""

from __future__ import annotations

import argparse
import errno
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
RATE = 16000
DURATIONS = [0.25, 0.4, 0.55, 0.7, 0.85, 1.0, 1.1, 1.2]  # seconds of the distinct files (--seconds: one)
TARGET = "results/dataset/summary.json"
STAGES = ("download", "convert", "segment", "dataset")


def make_distinct(folder: Path) -> list[Path]:
    """A few distinct short WAV files (tones with noise); hard-linked to many names later."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i, seconds in enumerate(DURATIONS):
        t = np.arange(int(seconds * RATE)) / RATE
        audio = 0.3 * np.sin(2 * np.pi * (180 + 70 * i) * t) + 0.02 * rng.standard_normal(t.size)
        path = folder / f"distinct_{i}.wav"
        sf.write(path, audio.astype(np.float32), RATE, subtype="PCM_16")
        paths.append(path)
    return paths


def populate(source_dir: Path, distinct: list[Path], count: int) -> tuple[float, int]:
    """Hard-link the distinct files to `count` names, 1,000 per folder; (seconds, 16-bit bytes)."""
    seconds = 0.0
    for n in range(count):
        index = n % len(distinct)
        folder = source_dir / f"part_{n // 1000:04d}"
        if n % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        try:
            os.link(distinct[index], folder / f"clip_{n:07d}.wav")
        except OSError as error:  # a file system's limit of links per inode (65,000 on ext4)
            if error.errno != errno.EMLINK:
                raise
            copy = distinct[index].with_name(f"{distinct[index].stem}_{n}.wav")
            shutil.copyfile(distinct[index], copy)
            distinct[index] = copy
            os.link(copy, folder / f"clip_{n:07d}.wav")
        seconds += DURATIONS[index]
    return seconds, int(seconds * RATE * 2)


def write_config(workdir: Path, source_dir: Path, baseline: bool, shard_mb: float) -> Path:
    config = workdir / "bench.yaml"
    convert = "{shards: 2}" if baseline else f"{{shard_mb: {shard_mb}}}"
    config.write_text(
        "sources:\n"
        f"  - {{name: files, kind: local, path: {source_dir}, license: CC0-1.0}}\n"
        "audio: {sample_rate: 16000, clip_seconds: 0.25, hop_seconds: 0.25}\n"
        f"convert: {convert}\n"
        "train: {steps: 1, device: cpu}\n",
        encoding="utf-8",
    )
    return config


def snakemake_cmd(repo: Path, workdir: Path, config: Path, *args: str) -> list[str]:
    exe = shutil.which("snakemake")
    base = [exe] if exe else [sys.executable, "-m", "snakemake"]
    return [*base, "-s", str(repo / "Snakefile"), "-d", str(workdir), "--configfile", str(config), *args]


class AnonPeaks:
    """Peak RssAnon (MiB) per stage of the workflow's script jobs, sampled from /proc."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = str(workdir.resolve())  # only this benchmark's jobs (the machine is shared)
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "AnonPeaks":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                    if ".snakemake/scripts/" not in cmdline or not os.readlink(f"/proc/{pid}/cwd").startswith(self.workdir):
                        continue
                    stage = next((s for s in STAGES if f".{s}.py" in cmdline), None)
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if stage and line.startswith("RssAnon:"):
                        mib = int(line.split()[1]) / 1024
                        self.peaks[stage] = max(self.peaks.get(stage, 0.0), mib)


def timed(cmd: list[str], peaks: AnonPeaks | None = None) -> tuple[float, float, str]:
    """(wall s, CPU s of the command and its children, output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return wall, cpu, proc.stdout + proc.stderr


def jobs_run(output: str, rule: str) -> int:
    return sum(1 for line in output.splitlines() if line.startswith("Finished jobid") and f"(Rule: {rule})" in line)


def disk_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def median_of(cmd: list[str], runs: int = 3) -> tuple[float, float, str]:
    results = [timed(cmd) for _ in range(runs)]
    walls = [r[0] for r in results]
    return statistics.median(walls), statistics.median(r[1] for r in results), results[-1][2]


def run_variant(name: str, repo: Path, workdir: Path, source_dir: Path, pcm_mb: float, args) -> dict:
    """All measurements for one workflow version on one prepared folder."""
    for leftover in ("results", "cache", "logs", ".snakemake"):
        shutil.rmtree(workdir / leftover, ignore_errors=True)
    legacy = name == "baseline" and args.baseline_config == "legacy"
    config = write_config(workdir, source_dir, legacy, args.shard_mb)
    run = snakemake_cmd(repo, workdir, config, "--cores", "2", TARGET)
    row: dict = {"variant": name, "load": [os.getloadavg()[0]]}
    if args.dry_run_only:
        target = "results/raw/files/items.tsv" if legacy else "results/raw/files/shards.tsv"
        row["download"] = timed(snakemake_cmd(repo, workdir, config, "--cores", "2", target))[0]
        row["dry"], _, out = median_of(snakemake_cmd(repo, workdir, config, "-n", TARGET))
        row["planned_convert"] = next((int(parts[1]) for parts in map(str.split, out.splitlines())
                                       if len(parts) == 2 and parts[0] == "convert" and parts[1].isdigit()), 0)  # fmt: skip
        return row
    with AnonPeaks(workdir) as peaks:
        row["full"], row["full_cpu"], _ = timed(run)
    row["peaks"] = dict(peaks.peaks)
    row["load"].append(os.getloadavg()[0])
    row["dry"], _, _ = median_of(snakemake_cmd(repo, workdir, config, "-n", TARGET))
    row["noop"], _, out = median_of(run)
    assert "Nothing to be done" in out, out[-2000:]
    row["converted_mb"] = disk_mb(workdir / "results" / "converted")
    row["raw_mb"] = disk_mb(workdir / "results" / "raw")  # listings (items, shards)
    row["segments_mb"] = disk_mb(workdir / "results" / "segments")
    row["dataset_mb"] = disk_mb(workdir / "results" / "dataset") + row["segments_mb"]
    row["disk_ratio"] = (row["converted_mb"] + row["dataset_mb"]) / pcm_mb

    added = source_dir / "part_0000" / "added.wav"
    t = np.arange(int(0.9 * RATE)) / RATE
    sf.write(added, (0.3 * np.sin(2 * np.pi * 777 * t)).astype(np.float32), RATE, subtype="PCM_16")
    with AnonPeaks(workdir) as peaks:
        row["add"], row["add_cpu"], out = timed(run)
    row["add_peaks"] = dict(peaks.peaks)
    row["add_convert_jobs"] = jobs_run(out, "convert")
    added.unlink()
    row["remove"], row["remove_cpu"], out = timed(run)
    row["remove_convert_jobs"] = jobs_run(out, "convert")
    row["load"].append(os.getloadavg()[0])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[10_000])
    parser.add_argument("--baseline", help="git revision to compare with (exported with git archive)")
    parser.add_argument("--baseline-config", choices=("legacy", "same"), default="legacy",
                        help="legacy: the baseline takes `convert.shards: 2` (before item-level shards); "
                             "same: the same config as this checkout (a baseline after them)")
    parser.add_argument("--shard-mb", type=float, default=256)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--dry-run-only", action="store_true")
    parser.add_argument("--seconds", type=float, help="make every file this long (default: a 0.25-1.2 s mix)")
    args = parser.parse_args()

    if args.seconds:
        DURATIONS[:] = [args.seconds]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="audiogan-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {workdir}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, load average at start {os.getloadavg()[0]:.1f}")  # fmt: skip
    variants = [("this", REPO)]
    if args.baseline:
        base_repo = workdir / "baseline_repo"
        shutil.rmtree(base_repo, ignore_errors=True)
        base_repo.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base_repo)], input=archive.stdout, check=True)
        variants.append(("baseline", base_repo))
    rows = []
    try:
        for count in args.items:
            source_dir = workdir / f"files_{count}"
            shutil.rmtree(source_dir, ignore_errors=True)
            start = time.perf_counter()
            distinct = make_distinct(workdir / "distinct")
            seconds, pcm_bytes = populate(source_dir, distinct, count)
            print(f"\n{count} files, {seconds / 3600:.1f} h of audio, {pcm_bytes / 1e9:.2f} GB as 16-bit PCM; "
                  f"setup {time.perf_counter() - start:.0f} s")  # fmt: skip
            for name, repo in variants:
                row = run_variant(name, repo, workdir, source_dir, pcm_bytes / 1e6, args)
                row["items"] = count
                rows.append(row)
                print(f"  {name}: {row}", flush=True)
            if not args.keep:
                shutil.rmtree(source_dir, ignore_errors=True)
                for leftover in ("results", "cache", "logs", ".snakemake"):
                    shutil.rmtree(workdir / leftover, ignore_errors=True)
        print_table(rows, args.dry_run_only)
        print(f"load averages at end (1/5/15 min): {os.getloadavg()}")
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def print_table(rows: list[dict], dry_only: bool) -> None:
    print()
    if dry_only:
        print("| items | variant | download job (s) | dry run (s) | convert jobs planned |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['items']:,} | {r['variant']} | {r['download']:.1f} | {r['dry']:.1f} | {r['planned_convert']} |")
        return
    print("| items | variant | full run (s) | dry run (s) | no-op (s) | add one (s, convert jobs) | remove one (s, convert jobs)"
          " | peak RssAnon MiB (download/convert/segment/dataset) | disk MB converted + dataset (x 16-bit PCM) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        peaks = "/".join(f"{r['peaks'].get(s, float('nan')):.0f}" for s in STAGES)
        print(f"| {r['items']:,} | {r['variant']} | {r['full']:.1f} ({r['full_cpu']:.0f} CPU) | {r['dry']:.1f} | {r['noop']:.1f} | "
              f"{r['add']:.1f} ({r['add_convert_jobs']}) | {r['remove']:.1f} ({r['remove_convert_jobs']}) | {peaks} | "
              f"{r['converted_mb']:.0f} + {r['dataset_mb']:.0f} ({r['disk_ratio']:.2f}x) |")  # fmt: skip
    print("load average (1 min) at start, after the full run, at end: " + "; ".join(
        f"{r['items']:,} {r['variant']}: " + "/".join(f"{x:.1f}" for x in r["load"]) for r in rows))  # fmt: skip


if __name__ == "__main__":
    main()
