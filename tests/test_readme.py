"""Every command README.md shows works as shown (issue 9): a newcomer follows the README only.

Shell blocks and inline `snakemake ...` commands are read from the README itself. Snakemake commands
run for real as dry runs in a copy of the workflow; the Python snippet runs for real against a tiny
generator; other shell lines (e.g. writing a config file) run in the copy; install scripts, pip extras
and the options of the multi-node torchrun command are checked to exist.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from evaluation_fixtures import tiny_generator
from workflow_helpers import REPO, copy_workflow

README = REPO / "README.md"


def shell_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def commands() -> list[str]:
    """Each command of the README's shell blocks (continuations joined, `&&` chains split), then
    each inline `snakemake ...` of its text."""
    found = []
    for block in shell_blocks():
        if block.lstrip().startswith("python3 -c"):
            found.append(block.strip())  # one command spanning lines
            continue
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            found.extend(part.strip() for part in line.split("&&") if part.strip())
    text = re.sub(r"```.*?```", "", README.read_text(encoding="utf-8"), flags=re.S)
    found.extend(re.findall(r"`(snakemake [^`]+)`", text))
    return found


def test_the_readme_shows_the_commands_this_test_knows():
    everything = commands()
    assert "bash .ci/install.sh" in everything and "bash .ci/run" in everything
    assert sum(c.startswith("snakemake ") for c in everything) >= 5
    assert any(c.startswith("python3 -c") for c in everything)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("readme"))


def _run(command: list[str] | str, cwd: Path, **options) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, **options)
    assert result.returncode == 0, f"{command!r} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


def test_every_readme_command_works(workdir):
    srun_options = set()
    for command in commands():
        words = shlex.split(command) if not command.startswith("python3 -c") else []
        if command.startswith("bash .ci/"):
            script = REPO / words[1]
            assert script.is_file(), command
            _run(["bash", "-n", str(script)], REPO)
        elif command == ". .venv/bin/activate":
            assert ".venv" in (REPO / ".ci" / "python-env.sh").read_text()
        elif command.startswith("snakemake "):
            result = _run([sys.executable, "-m", "snakemake", "--dry-run", *words[1:]], workdir)
            assert "Traceback" not in result.stderr, command
        elif command.startswith("python3 -c"):
            tiny_generator(workdir / "results" / "model" / "generator.pt", sample_rate=16000)
            _run(["bash", "-c", command], workdir, env={**_env(), "PYTHONPATH": str(REPO / "src")})
            assert (workdir / "again.wav").stat().st_size > 1000
        elif command.startswith("pip install -e"):
            extras = re.search(r"\[(.*)\]", command).group(1).split(",")
            declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
            assert set(extras) <= set(declared), command
        elif command.startswith(("head=", "srun ")):
            srun_options |= {w.split("=")[0] for w in words if w.startswith("--")}
        else:  # e.g. writing the override file the next command reads
            _run(["bash", "-c", command], workdir)
    # The multi-node example's torchrun and audiogan.training options exist.
    help_text = _run([sys.executable, "-m", "audiogan.training", "--help"], REPO,
                     env={**_env(), "PYTHONPATH": str(REPO / "src")}).stdout
    help_text += _run([sys.executable, "-m", "torch.distributed.run", "--help"], REPO).stdout
    assert srun_options and all(option in help_text for option in srun_options), srun_options


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
