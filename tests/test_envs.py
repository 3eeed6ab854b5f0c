"""The conda env of each rule, and pyproject.toml, provide every package the rule's code imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from audiogan.codedeps import module_closure
from audiogan.sources import KINDS

from conftest import REPO

# import name -> (conda-forge package, PyPI distribution)
PACKAGES = {
    "numpy": ("numpy", "numpy"),
    "scipy": ("scipy", "scipy"),
    "soundfile": ("pysoundfile", "soundfile"),
    "soxr": ("python-soxr", "soxr"),
    "pyloudnorm": ("pyloudnorm", "pyloudnorm"),
    "yt_dlp": ("yt-dlp", "yt-dlp"),
    "torch": ("pytorch", "torch"),
    "matplotlib": ("matplotlib-base", "matplotlib"),
    "jsonschema": ("jsonschema", "jsonschema"),
    "yaml": ("pyyaml", "pyyaml"),
}


def third_party_imports(entry_modules: list[str]) -> set[str]:
    names: set[str] = set()
    for path in module_closure(*entry_modules):
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name != "audiogan"}


def rules_with_envs() -> list[tuple[str, list[str], Path]]:
    """(rule, entry modules from its `code(...)` input, its conda env file) for every rule with code."""
    found = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?:rule|checkpoint) ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0]
            env = re.search(r'conda:\s*\n\s*"\.\./(envs/[^"]+)"', block)
            if "source_code(" in block:
                entries = [f"sources.{kind}" for kind in KINDS]
            else:
                match = re.search(r"code=code\(([^)]*)\)", block)
                entries = re.findall(r'"([^"]+)"', match.group(1)) if match else []
            if entries:
                assert env, f"rule {name} runs library code but names no conda env"
                found.append((name, entries, REPO / env.group(1)))
    return found


def conda_packages(env_file: Path) -> set[str]:
    names = set()
    for dependency in yaml.safe_load(env_file.read_text())["dependencies"]:
        for spec in dependency["pip"] if isinstance(dependency, dict) else [dependency]:
            names.add(re.split(r"[<>=! ]", spec, maxsplit=1)[0].lower())
    return names


RULES = rules_with_envs()


def test_every_stage_is_checked():
    assert {"download", "convert", "segment", "train", "render", "evaluate", "gallery", "pack"} <= {r[0] for r in RULES}


@pytest.mark.parametrize("rule, entries, env_file", RULES, ids=[r[0] for r in RULES])
def test_conda_env_provides_the_rules_imports(rule, entries, env_file):
    available = conda_packages(env_file)
    for module in third_party_imports(entries):
        assert module in PACKAGES, f"rule {rule} imports {module}: add it to PACKAGES in this test"
        assert PACKAGES[module][0] in available, f"rule {rule} imports {module}; {env_file.name} lacks {PACKAGES[module][0]}"


def test_pyproject_provides_every_import():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared = {re.split(r"[<>=!\[ ]", d, maxsplit=1)[0].lower() for d in pyproject["project"]["dependencies"]}
    every_module = [p.stem if p.name != "__init__.py" else "sources" for p in (REPO / "src" / "audiogan").glob("*.py")]
    imports = third_party_imports([m for m in every_module if m != "__init__"] + [f"sources.{k}" for k in KINDS])
    for module in imports:
        assert PACKAGES[module][1] in declared, f"pyproject.toml lacks {PACKAGES[module][1]} (imported as {module})"
