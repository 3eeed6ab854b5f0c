"""A real single-node SLURM cluster for integration tests: munged, slurmctld and slurmd on this host.

Needs root and the Debian packages `slurm-wlm` and `munge`. No systemd and no accounting database:
job states come from `squeue` (completed jobs stay visible for `MinJobAge` seconds).

`slurm.conf` has to be at /etc/slurm/slurm.conf: the SLURM job step clears every `SLURM_*`
variable before its nested `srun`, so a `SLURM_CONF` pointing elsewhere would be lost. An existing
/etc/slurm/slurm.conf (or gres.conf) is moved aside and put back by `stop()`.

The node offers a fake GPU (`gpu:<type>:1` backed by /dev/null), so that GPU requests are scheduled
for real: a job asking for `--gpus=<type>:1` runs with `CUDA_VISIBLE_DEVICES=0`.
All state (keys, sockets, pid files, logs, spool) lives under one folder, fixed by default, so that a
crashed run's daemons are found by their pid files and stopped by the next `start()`.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from audiogan.atomic import atomic_write_bytes, atomic_write_text

MARKER = "# written by audiogan tests/slurm_cluster.py"
SLURM_ETC = Path("/etc/slurm")
BACKUP_SUFFIX = ".audiogan-backup"
DEFAULT_ROOT = Path("/tmp/audiogan-slurm")
# A machine has one /etc/slurm: concurrent test sessions take turns through this lock (released by
# stop(), or by the kernel when the holding process ends).
LOCK_PATH = Path("/tmp/audiogan-slurm.lock")
REQUIRED_BINARIES = (
    "munged", "slurmctld", "slurmd", "sinfo", "squeue", "sbatch", "srun", "scontrol", "scancel",
)
# Rules ask for up to 16 GB; the test node advertises at least this much so that they can be
# scheduled on a small machine (nothing enforces it: no cgroups here).
MIN_NODE_MEMORY_MB = 32768


class SlurmClusterError(RuntimeError):
    """The test cluster could not be started; the message names the daemon and its log."""


def unavailable_reason() -> str | None:
    """Why a real SLURM cannot be started here (not root, binaries missing), or None if it can."""
    if os.geteuid() != 0:
        return "a real SLURM test cluster needs root (slurmd runs jobs as root here)"
    missing = [name for name in REQUIRED_BINARIES if shutil.which(name) is None]
    if missing:
        return f"SLURM/munge binaries missing: {', '.join(missing)} (apt-get install slurm-wlm munge)"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _clean_env() -> dict[str, str]:
    """The caller's environment without SLURM settings that would point the tools elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}


@dataclass
class SlurmCluster:
    """A single-node cluster whose files live under `root`; `start()` then `stop()`."""

    root: Path = DEFAULT_ROOT
    gpu_type: str = "a100"
    partition: str = "debug"
    # Only tests of the backup logic change this: SLURM's tools read /etc/slurm.
    etc: Path = SLURM_ETC

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.etc = Path(self.etc)
        self.host = socket.gethostname().split(".")[0]
        self._lock_fd: int | None = None

    # Paths -----------------------------------------------------------------------------------
    @property
    def munge_key(self) -> Path:
        return self.root / "munge" / "munge.key"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def controller_log(self) -> Path:
        return self.log_dir / "slurmctld.log"

    @property
    def node_log(self) -> Path:
        return self.log_dir / "slurmd.log"

    def _pid_file(self, daemon: str) -> Path:
        return self.root / "run" / f"{daemon}.pid"

    # Life cycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0, lock_timeout: float = 900.0) -> None:
        """Take the machine-wide lock, stop leftovers of an earlier run, write the configuration,
        start the daemons and wait until the node is idle."""
        reason = unavailable_reason()
        if reason:
            raise SlurmClusterError(reason)
        self._acquire_lock(lock_timeout)
        try:
            self._stop_daemons()
            for sub in ("munge", "run", "log", "state", "spool"):
                shutil.rmtree(self.root / sub, ignore_errors=True)
                (self.root / sub).mkdir(parents=True, mode=0o700)
            self._start_munge(timeout)
            self._write_config()
            self._run_daemon("slurmctld", ["slurmctld"])
            self._wait_for(lambda: self._command_ok(["scontrol", "ping"], "is UP"), timeout,
                           "slurmctld answering `scontrol ping`", self.controller_log)
            self._run_daemon("slurmd", ["slurmd"])
            self.wait_until_idle(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Cancel leftover jobs, stop the daemons by their pid files, put back a site's own config."""
        self._cancel_jobs()
        self._stop_daemons()
        for name in ("slurm.conf", "gres.conf"):
            self._restore(self.etc / name)
        self._release_lock()

    def __enter__(self) -> "SlurmCluster":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # Queries ---------------------------------------------------------------------------------
    def node_state(self) -> str:
        result = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True,
                                env=_clean_env(), timeout=30)
        return result.stdout.strip()

    def wait_until_idle(self, timeout: float = 60.0) -> None:
        """Wait until the node takes jobs; raise with slurmd's log if it ends up drained or invalid."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.node_state()
            if state == "idle":
                return
            if state.startswith(("inval", "drain")):
                break
            time.sleep(0.5)
        raise SlurmClusterError(f"node {self.host} is {state or 'not registered'!r}, not idle\n"
                                + _tail(self.node_log) + _tail(self.controller_log))

    # Internals -------------------------------------------------------------------------------
    def _start_munge(self, timeout: float) -> None:
        atomic_write_bytes(self.munge_key, os.urandom(1024))
        self.munge_key.chmod(0o400)
        self._run_daemon("munged", [
            "munged", "--force",
            f"--key-file={self.munge_key}",
            f"--socket={self.munge_socket}",
            f"--pid-file={self._pid_file('munged')}",
            f"--log-file={self.log_dir / 'munged.log'}",
            f"--seed-file={self.root / 'munge' / 'munged.seed'}",
        ])
        self._wait_for(self.munge_socket.exists, timeout, "munged's socket", self.log_dir / "munged.log")

    def _node_line(self) -> str:
        """`slurmd -C`'s description of this host, with enough memory to schedule every rule."""
        out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True,
                             env=_clean_env(), timeout=30).stdout
        line = next(part for part in out.splitlines() if part.startswith("NodeName="))
        fields = dict(item.split("=", 1) for item in line.split())
        fields.pop("UpTime", None)
        fields["NodeName"] = self.host
        fields["RealMemory"] = str(max(int(fields.get("RealMemory", "0")), MIN_NODE_MEMORY_MB))
        fields["NodeAddr"] = "127.0.0.1"
        fields["Gres"] = f"gpu:{self.gpu_type}:1"
        fields["State"] = "UNKNOWN"
        return " ".join(f"{key}={value}" for key, value in fields.items())

    def _write_config(self) -> None:
        root = self.root
        conf = f"""{MARKER}
ClusterName=audiogantest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={root / 'state'}
SlurmdSpoolDir={root / 'spool'}
SlurmctldPidFile={self._pid_file('slurmctld')}
SlurmdPidFile={self._pid_file('slurmd')}
SlurmctldLogFile={self.controller_log}
SlurmdLogFile={self.node_log}
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Trust the node line below (memory raised for the tests) instead of the hardware.
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue (the executor's status command, and the tests' evidence)
# this long.
MinJobAge=3600
DefMemPerCPU=1000
MailProg=/bin/true
ReturnToService=2
GresTypes=gpu
{self._node_line()}
PartitionName={self.partition} Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""
        gres = f"""{MARKER}
AutoDetect=off
NodeName={self.host} Name=gpu Type={self.gpu_type} File=/dev/null
"""
        self.etc.mkdir(parents=True, exist_ok=True)
        for name, text in (("slurm.conf", conf), ("gres.conf", gres)):
            path = self.etc / name
            self._set_aside(path)
            atomic_write_text(path, text)
            path.chmod(0o644)

    @staticmethod
    def _ours(path: Path) -> bool:
        try:
            return path.read_text(errors="replace").startswith(MARKER)
        except FileNotFoundError:
            return False

    def _set_aside(self, path: Path) -> None:
        """Move a site's own file out of the way (once: a leftover of ours is just overwritten)."""
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        if path.exists() and not self._ours(path):
            if backup.exists():
                raise SlurmClusterError(f"both {path} and {backup} exist; refusing to overwrite either")
            os.replace(path, backup)

    def _restore(self, path: Path) -> None:
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        if backup.exists():
            os.replace(backup, path)
        elif self._ours(path):
            path.unlink()

    def _run_daemon(self, name: str, argv: list[str]) -> None:
        # The daemons fork into the background and write their pid files; a non-zero exit here
        # means they refused to start.
        result = subprocess.run(argv, capture_output=True, text=True, env=_clean_env(), timeout=60)
        if result.returncode != 0:
            raise SlurmClusterError(f"{name} failed to start (exit {result.returncode}): "
                                    f"{result.stderr.strip() or result.stdout.strip()}\n"
                                    + _tail(self.log_dir / f"{name}.log"))

    def _acquire_lock(self, timeout: float) -> None:
        fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise SlurmClusterError(f"another session held {LOCK_PATH} (its SLURM test cluster) "
                                            f"for more than {timeout:.0f} s") from None
                time.sleep(1)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def _cancel_jobs(self, timeout: float = 30.0) -> None:
        """Cancel this cluster's unfinished jobs (a test that failed half-way) and wait for them to end."""
        pid = _read_pid(self._pid_file("slurmctld"))
        if pid is None or _process_name(pid) != "slurmctld":
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = subprocess.run(
                ["squeue", "-h", "-t", "PENDING,RUNNING,COMPLETING,SUSPENDED", "-o", "%i"],
                capture_output=True, text=True, env=_clean_env(), timeout=30,
            )
            job_ids = result.stdout.split()
            if result.returncode != 0 or not job_ids:
                return
            subprocess.run(["scancel", *job_ids], capture_output=True, env=_clean_env(), timeout=30)
            time.sleep(1)

    def _stop_daemons(self) -> None:
        # Reverse start order; each by its own pid file, and only if that pid is still that daemon.
        for name in ("slurmd", "slurmctld", "munged"):
            pid_file = self._pid_file(name)
            pid = _read_pid(pid_file)
            if pid is not None and _process_name(pid) == name:
                _terminate(pid)
            pid_file.unlink(missing_ok=True)

    @staticmethod
    def _command_ok(argv: list[str], expect: str) -> bool:
        result = subprocess.run(argv, capture_output=True, text=True, env=_clean_env(), timeout=30)
        return result.returncode == 0 and expect in result.stdout

    @staticmethod
    def _wait_for(check, timeout: float, what: str, log: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.3)
        raise SlurmClusterError(f"timed out after {timeout:.0f} s waiting for {what}\n" + _tail(log))


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _terminate(pid: int, grace: float = 15.0) -> None:
    """SIGTERM, wait for the process to go, SIGKILL if it does not."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if _process_name(pid) is None or _is_zombie(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return re.search(r"\)\s+Z\s", stat) is not None


def _tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return f"({path} does not exist)\n"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last lines of {path}:\n" + "\n".join(text) + "\n"
