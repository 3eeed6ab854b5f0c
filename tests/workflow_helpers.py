"""Run the real workflow with the real `snakemake` command, in a throwaway copy of the repo.

A copy, because the rerun tests edit library code and must not touch the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "src", "schemas", "config.yaml", "config", "envs", "profiles")


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow's own files (no results, no caches) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, dest / part, ignore=ignore, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy2(source, dest / part)
    return dest


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "test-config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run `snakemake` in `workdir` with its test config; returns the completed process (output captured)."""
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(workdir / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(workdir / "test-config.yaml"), *args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def planned_jobs(workdir: Path, target: str = "samples") -> dict[str, int]:
    """The jobs a real run would execute now, per rule, from a dry run's job table."""
    result = snakemake(workdir, "--dry-run", "--quiet", "rules", "--cores", "2", target)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    jobs: dict[str, int] = {}
    in_table = False
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if not in_table or not parts or set(line.strip()) <= {"-", " "}:
            continue
        if parts[0] == "total":
            break
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    assert jobs, f"could not read the job table from:\n{text[-3000:]}"
    return jobs
