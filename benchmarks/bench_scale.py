"""Benchmark: does the workflow stay fast with a Common-Voice-sized folder of 20,000 short MP3s?

Builds, in a temp work folder, a `kind: local` source of N short MP3 clips (a few distinct
espeak-ng / sine clips encoded once at 32 kHz mono, 48 kHz mono and 44.1 kHz stereo, then
hard-linked to N names in 20 sub-folders, so setup is fast), writes a config with
`convert.shards: 8`, and times:
  1. `snakemake -n` (the whole DAG, dry run)                       goal < 10 s
  2. `snakemake --cores 2 results/dataset/manifest.tsv` (download, convert, segment)
  3. the same command again, with nothing to do (no-op rerun)       goal < 5 s
  4. conversion throughput: audiogan.audio_io.load_mono on the short MP3s in one process,
     in x realtime per core                                         goal >= 1000

    python benchmarks/bench_scale.py [--clips 20000] [--shards 8] [--workdir DIR] [--keep]
                                     [--dry-run-only] [--profile]

`--profile` runs the dry run once more under cProfile and prints the 25 most expensive calls.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

# (kind, text or frequency, seconds, rate, channels): distinct clips, CV-like lengths and formats.
CLIPS = [
    ("speech", "the quick brown fox jumps over the lazy dog", 4.0, 32000, 1),
    ("speech", "she sells sea shells by the sea shore", 3.5, 48000, 1),
    ("speech", "how much wood would a woodchuck chuck", 4.5, 44100, 2),
    ("speech", "peter piper picked a peck of pickled peppers", 5.0, 32000, 1),
    ("sine", "220", 3.0, 48000, 1),
    ("sine", "330", 4.0, 32000, 1),
    ("speech", "one two three four five six seven", 4.0, 48000, 1),
    ("sine", "440", 3.5, 44100, 2),
]


def make_clips(folder: Path) -> list[tuple[Path, float]]:
    """Encode the distinct clips once; returns (mp3, seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for index, (kind, what, seconds, rate, channels) in enumerate(CLIPS):
        mp3 = folder / f"distinct_{index}.mp3"
        if kind == "speech":
            wav = folder / f"distinct_{index}.wav"
            subprocess.run(["espeak-ng", "-w", str(wav), what], check=True, capture_output=True)
            inputs = ["-i", str(wav)]
        else:
            inputs = ["-f", "lavfi", "-i", f"sine=frequency={what}:duration={seconds}"]
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *inputs,
             "-af", f"apad=whole_dur={seconds}", "-t", str(seconds),
             "-ar", str(rate), "-ac", str(channels), "-c:a", "libmp3lame", "-b:a", "64k", str(mp3)],
            check=True, capture_output=True,
        )
        out.append((mp3, seconds))
    return out


def populate(source_dir: Path, clips: list[tuple[Path, float]], count: int) -> float:
    """Hard-link (or copy) the distinct clips to `count` CV-style names; returns total seconds."""
    total = 0.0
    for n in range(count):
        mp3, seconds = clips[n % len(clips)]
        dest = source_dir / f"part_{n % 20:02d}" / f"common_voice_xx_{10_000_000 + n}.mp3"
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(mp3, dest)
        except OSError:
            shutil.copyfile(mp3, dest)
        total += seconds
    return total


def write_config(workdir: Path, source_dir: Path, shards: int) -> Path:
    config = workdir / "bench.yaml"
    # One 1 s clip per file (hop 4 s) keeps clips.npy at ~1.3 GB for 20,000 files at 16 kHz.
    config.write_text(
        "sources:\n"
        f"  - {{name: cv, kind: local, path: {source_dir}, license: CC0-1.0}}\n"
        "audio: {sample_rate: 16000, clip_seconds: 1.0, hop_seconds: 4.0}\n"
        f"convert: {{shards: {shards}}}\n"
        "train: {steps: 1, device: cpu}\n"
        "render: {count: 2}\n",
        encoding="utf-8",
    )
    return config


def snakemake_cmd(workdir: Path, config: Path, *args: str) -> list[str]:
    exe = shutil.which("snakemake")
    base = [exe] if exe else [sys.executable, "-m", "snakemake"]
    profile = REPO / "profiles" / "default"
    # An empty workflow profile folder makes snakemake stop; use none until it has a config.yaml.
    no_profile = [] if (profile / "config.yaml").exists() or not profile.exists() else ["--workflow-profile", "none"]
    return [*base, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(config), *no_profile, *args]


CPU_TIMES: list[float] = []  # user+sys seconds of each timed command (robust to a busy machine)


def timed(cmd: list[str], check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_TIMES.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return elapsed, proc


def conversion_throughput(files: list[Path], seconds_each: list[float], rate: int = 16000) -> float:
    """x realtime of load_mono (decode + mono + resample) on one core, in this process."""
    from audiogan.audio_io import load_mono

    load_mono(files[0], rate)  # warm-up (imports, first decoder set-up)
    start = time.process_time()
    for path in files:
        load_mono(path, rate)
    cpu = time.process_time() - start
    return sum(seconds_each) / cpu


def profile_dry_run(workdir: Path, config: Path) -> None:
    import cProfile
    import pstats

    out = workdir / "dryrun.prof"
    cmd = snakemake_cmd(workdir, config, "-n")
    argv = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "snakemake", *cmd[cmd.index("-s"):]]
    subprocess.run(argv, capture_output=True, text=True)
    stats = pstats.Stats(str(out))
    stats.sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--dry-run-only", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--throughput-files", type=int, default=400)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="audiogan-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    for leftover in ("distinct", "cv_clips", "results", "cache", "logs", ".snakemake"):
        shutil.rmtree(workdir / leftover, ignore_errors=True)  # a reused --workdir starts clean
    print(f"work folder: {workdir}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average at start {os.getloadavg()[0]:.1f}")
    try:
        start = time.perf_counter()
        clips = make_clips(workdir / "distinct")
        source_dir = workdir / "cv_clips"
        audio_seconds = populate(source_dir, clips, args.clips)
        config = write_config(workdir, source_dir, args.shards)
        print(f"setup: {args.clips} files, {audio_seconds / 3600:.1f} h of audio, {time.perf_counter() - start:.1f} s")

        version_s, _ = timed(snakemake_cmd(workdir, config, "--version"))
        print(f"snakemake --version (start-up alone): {version_s:.2f} s wall, {CPU_TIMES[-1]:.2f} s CPU")
        dry = [timed(snakemake_cmd(workdir, config, "-n"))[0] for _ in range(3)]
        dry_cpu = CPU_TIMES[-3:]
        _, proc = timed(snakemake_cmd(workdir, config, "-n"))
        jobs = [line for line in proc.stdout.splitlines() if line.strip().startswith("total")]
        print(f"snakemake -n: median {statistics.median(dry):.2f} s wall, {statistics.median(dry_cpu):.2f} s CPU "
              f"over 3 runs ({', '.join(f'{t:.2f}' for t in dry)}); {' '.join(jobs[0].split()) if jobs else ''} jobs"
              "  goal < 10 s")
        if args.profile:
            profile_dry_run(workdir, config)

        if not args.dry_run_only:
            target = "results/dataset/manifest.tsv"
            full, _ = timed(snakemake_cmd(workdir, config, "--cores", "2", target))
            print(f"pipeline to {target}: {full:.1f} s wall, {CPU_TIMES[-1]:.1f} s CPU "
                  f"({audio_seconds / full:.0f} x realtime overall on 2 cores; {audio_seconds / CPU_TIMES[-1]:.0f} x per CPU second)")
            noop = []
            for _ in range(3):
                elapsed, proc = timed(snakemake_cmd(workdir, config, "--cores", "2", target))
                noop.append(elapsed)
                if "Nothing to be done" not in proc.stdout + proc.stderr:
                    ran = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip().startswith(("rule ", "localrule "))]
                    print(f"  note: the rerun was not a no-op; it ran: {', '.join(ran) or '(see log)'}")
                    (workdir / "not_noop.log").write_text(proc.stdout + proc.stderr)
            print(f"no-op rerun: median {statistics.median(noop):.2f} s wall, {statistics.median(CPU_TIMES[-3:]):.2f} s CPU "
                  f"({', '.join(f'{t:.2f}' for t in noop)})  goal < 5 s")
            manifest = workdir / target
            rows = sum(1 for _ in manifest.open()) - 1 if manifest.exists() else 0
            print(f"manifest rows: {rows}; load average now {os.getloadavg()[0]:.1f}")

        n = min(args.throughput_files, args.clips)
        files = sorted(source_dir.rglob("*.mp3"))[:n]
        seconds = [clips[int(p.stem.rsplit("_", 1)[1]) % len(clips)][1] for p in files]
        speed = conversion_throughput(files, seconds)
        print(f"conversion (load_mono to 16 kHz mono, one core): {speed:.0f} x realtime over {n} files  goal >= 1000")
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
