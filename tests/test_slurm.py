"""The whole workflow on a real single-node SLURM cluster, through profiles/slurm.

Evidence that a stage really ran as a SLURM job comes from SLURM itself: Snakemake's submission lines
give the job ids, and the controller (`squeue`, `scontrol`) confirms each job finished, which rule it
ran (the executor puts `rule_<name>` in the job's comment) and, for training, the GPU it was given.
The training job's own log must name its SLURM job id and CUDA_VISIBLE_DEVICES as seen by the process.

Needs root and slurm-wlm + munge (CI has both); elsewhere the tests are skipped, saying which is missing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from audiogan.atomic import atomic_write_text
from slurm_cluster import MARKER, SlurmCluster, unavailable_reason

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
PROFILE = REPO / "profiles" / "slurm"
GPU_TYPE = "a100"
# Stages that do real work: they must never run on the submit machine.
HEAVY_RULES = {"convert", "segment", "train", "render", "evaluate"}
# Rules that may stay on the submit machine (`localrules:`); `samples` has no body, so it always does.
MAY_BE_LOCAL = {"samples", "gallery", "pack", "download"}
RUN_TIMEOUT_S = 300

TINY_CONFIG = {
    "sources": [{"name": "demo", "kind": "demo", "tracks": 2, "min_seconds": 8, "max_seconds": 8}],
    "audio": {"clip_seconds": 1.0, "hop_seconds": 1.0},
    "convert": {"shard_mb": 0.01},  # under one track's size: one convert job per track
    "train": {
        "model_size": 2, "batch_size": 2, "steps": 2, "checkpoint_every": 1, "preview_count": 2,
        # `auto` asks SLURM for a GPU (train.gpus, default 1, of type gpu_model); with no CUDA on
        # the fake GPU the job then trains on the CPU.
        "device": "auto", "gpu_model": GPU_TYPE,
        "threads": 1,  # fits any node; a job asking for more CPUs than the node has waits forever
    },
    "render": {"count": 2, "pack": True},
    "evaluate": {"max_real_clips": 4},
}

SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
FINISHED = re.compile(r"Finished jobid: (\d+) \(Rule: (\w+)\)")


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real single-node SLURM (munged, slurmctld, slurmd) with one fake GPU, for the whole session."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster(gpu_type=GPU_TYPE)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass(frozen=True)
class Submission:
    job: int  # Snakemake's job id (the same for every attempt)
    slurm_id: int
    rule: str


@dataclass
class SlurmRun:
    workdir: Path
    returncode: int
    output: str
    submitted: list[Submission]  # every sbatch, retried attempts included
    finished_rules: list[str]  # one entry per Snakemake job, local ones included

    def final_attempts(self, rule: str | None = None) -> list[Submission]:
        """The last submission of each Snakemake job (of `rule`): earlier ones failed and were retried."""
        last: dict[int, Submission] = {}
        for sub in self.submitted:
            if rule in (None, sub.rule) and (sub.job not in last or sub.slurm_id > last[sub.job].slurm_id):
                last[sub.job] = sub
        return list(last.values())

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def _env() -> dict[str, str]:
    # Nothing from an enclosing SLURM job or a personal Snakemake profile may leak into the run.
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("SLURM_", "SBATCH_", "SRUN_")) and k != "SNAKEMAKE_PROFILE"}


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster: SlurmCluster, tmp_path_factory) -> SlurmRun:
    workdir = tmp_path_factory.mktemp("slurm-workflow")
    config = workdir / "tiny.yaml"
    atomic_write_text(config, yaml.safe_dump(TINY_CONFIG))
    argv = [
        sys.executable, "-m", "snakemake", "samples",
        "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
        "--configfile", str(config),
        "--workflow-profile", str(PROFILE),
        # Speed only: the executor first asks SLURM for job states this many seconds after a
        # submission, then each wait grows by 10 s while nothing finishes: queries at 7, 24, 51 s
        # suit these 5-20 s jobs (the profile leaves the plugin's default, 40 s, for real clusters).
        "--slurm-init-seconds-before-status-checks", "7",
    ]
    try:
        result = subprocess.run(argv, cwd=workdir, env=_env(), capture_output=True, text=True,
                                timeout=RUN_TIMEOUT_S)
        returncode, output = result.returncode, result.stdout + result.stderr
    except subprocess.TimeoutExpired as error:
        returncode = -1
        output = f"timed out after {RUN_TIMEOUT_S} s\n" + _text(error.stdout) + _text(error.stderr)
    atomic_write_text(workdir / "snakemake.out", output)  # kept for reading after a failure
    submitted = [Submission(int(m[1]), int(m[2]), _rule_from_log_path(m[3]))
                 for m in SUBMITTED.finditer(output)]
    finished = [m[2] for m in FINISHED.finditer(output)]
    return SlurmRun(workdir, returncode, output, submitted, finished)


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _rule_from_log_path(path: str) -> str:
    # The executor logs each job to .snakemake/slurm_logs/rule_<name>/[<wildcards>/]<id>.log
    match = re.search(r"/slurm_logs/rule_(\w+)/", path)
    assert match, f"unexpected SLURM log path {path}"
    return match[1]


def _squeue() -> dict[int, tuple[str, str]]:
    """Every job the controller remembers: id -> (comment, state)."""
    out = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i|%k|%T"], capture_output=True,
                         text=True, check=True, env=_env(), timeout=30).stdout
    jobs = {}
    for line in out.splitlines():
        job_id, comment, state = line.split("|")
        jobs[int(job_id)] = (comment, state)
    return jobs


def _scontrol_job(job_id: int) -> str:
    return subprocess.run(["scontrol", "-d", "show", "job", str(job_id)], capture_output=True, text=True,
                          check=True, env=_env(), timeout=30).stdout


@pytest.mark.slow
def test_workflow_finishes_on_slurm_and_writes_the_gallery(slurm_run: SlurmRun):
    assert slurm_run.returncode == 0, slurm_run.tail()
    results = slurm_run.workdir / "results"
    for name in ("samples/index.html", "metrics.json", "samples/pack.zip",
                 "samples/sounds/sample_0000.wav", "samples/sounds/sample_0001.wav", "model/generator.pt"):
        assert (results / name).stat().st_size > 0, name
    assert "samples" in slurm_run.finished_rules


@pytest.mark.slow
def test_heavy_stages_ran_as_slurm_jobs(slurm_run: SlurmRun):
    assert slurm_run.returncode == 0, slurm_run.tail()
    submitted_rules = {sub.rule for sub in slurm_run.submitted}
    assert HEAVY_RULES <= submitted_rules, f"not submitted to SLURM: {HEAVY_RULES - submitted_rules}"
    assert len(slurm_run.final_attempts("convert")) == TINY_CONFIG["sources"][0]["tracks"]
    # Whatever did not go through SLURM ran on the submit machine: only light rules may.
    slurm_jobs = Counter(sub.rule for sub in slurm_run.final_attempts())
    local = set(Counter(slurm_run.finished_rules) - slurm_jobs)
    assert "samples" in local
    assert local <= MAY_BE_LOCAL, f"ran locally: {local - MAY_BE_LOCAL}"


@pytest.mark.slow
def test_slurm_confirms_each_job_ran_its_rule_and_completed(slurm_run: SlurmRun):
    assert slurm_run.submitted, slurm_run.tail()
    jobs = _squeue()
    for sub in slurm_run.submitted:
        assert sub.slurm_id in jobs, f"SLURM does not know job {sub.slurm_id} ({sub.rule})"
        comment, _ = jobs[sub.slurm_id]
        assert re.fullmatch(rf"rule_{sub.rule}(_wildcards_.*)?", comment), (sub, comment)
    for sub in slurm_run.final_attempts():
        assert jobs[sub.slurm_id][1] == "COMPLETED", (sub, jobs[sub.slurm_id])


@pytest.mark.slow
def test_gpu_stages_were_given_the_gpu_by_slurm(slurm_run: SlurmRun):
    train_jobs = slurm_run.final_attempts("train")
    assert len(train_jobs) == 1, slurm_run.tail()
    job_id = train_jobs[0].slurm_id
    record = _scontrol_job(job_id)
    assert f"TresPerJob=gres:gpu:{GPU_TYPE}:1" in record, record  # what was asked
    assert f"JOB_GRES=gpu:{GPU_TYPE}:1" in record, record  # what was allocated
    # What the training process itself saw (audiogan.train logs these at start).
    train_log = (slurm_run.workdir / "logs" / "train.log").read_text(encoding="utf-8")
    job_ids_seen = re.findall(r"SLURM_JOB_ID=(\d+)", train_log)
    devices_seen = re.findall(r"CUDA_VISIBLE_DEVICES=(\S+)", train_log)
    assert job_ids_seen and int(job_ids_seen[-1]) == job_id, train_log[:2000]
    assert devices_seen and devices_seen[-1] == "0", train_log[:2000]
    # Render and evaluate run where training does (train.device), so they ask for one GPU too.
    for rule in ("render", "evaluate"):
        (job,) = slurm_run.final_attempts(rule)
        assert f"TresPerJob=gres:gpu:{GPU_TYPE}:1" in _scontrol_job(job.slurm_id), rule


def test_cluster_helper_puts_back_a_sites_own_slurm_conf(tmp_path: Path):
    """The helper moves an existing slurm.conf/gres.conf aside and restores it exactly on stop()."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    etc = tmp_path / "etc"
    etc.mkdir()
    site = "# the site's own configuration\nClusterName=site\n"
    (etc / "slurm.conf").write_text(site)
    cluster = SlurmCluster(root=tmp_path / "state", etc=etc)
    cluster._write_config()  # what start() writes, without starting daemons
    assert (etc / "slurm.conf").read_text().startswith(MARKER)
    assert (etc / "gres.conf").read_text().startswith(MARKER)
    cluster._write_config()  # a second start over our own files keeps the site's backup intact
    cluster.stop()
    assert (etc / "slurm.conf").read_text() == site
    assert not (etc / "gres.conf").exists()
    assert sorted(p.name for p in etc.iterdir()) == ["slurm.conf"]
