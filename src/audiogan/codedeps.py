"""Which library files a stage runs: the import closure of its entry modules.

Snakemake reruns a job when its script changes but cannot see the modules the script imports.
The rules declare these files as inputs instead, so editing a module reruns exactly the stages that
import it, directly or indirectly (imports inside functions included), and nothing else.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
PACKAGE = PACKAGE_ROOT.name


def _module_file(dotted: str) -> Path | None:
    """`sources.demo` -> .../audiogan/sources/demo.py (or the package's __init__.py)."""
    base = PACKAGE_ROOT.joinpath(*dotted.split(".")) if dotted else PACKAGE_ROOT
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _dotted_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> frozenset[str]:
    """Package-internal modules `path` imports, as dotted names relative to the package."""
    stat = path.stat()
    return _parsed_imports(path, stat.st_mtime_ns, stat.st_size)


# Every rule asks for its closure while Snakemake parses the workflow, and the closures overlap:
# parse each file once per version (on every invocation, a no-op run included).
@functools.lru_cache(maxsize=None)
def _parsed_imports(path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    here = _dotted_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(anchor + ([node.module] if node.module else []))
            elif node.module and (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
                base = node.module[len(PACKAGE) + 1 :]
            else:
                continue
            found.add(base)
            # `from . import distributed` names modules, not attributes.
            found.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name[len(PACKAGE) + 1 :])
    return frozenset(name for name in found if _module_file(name) is not None)


def module_closure(*modules: str) -> list[str]:
    """Sorted paths of `modules` (dotted, relative to the package) and everything they import."""
    pending = list(modules)
    seen: dict[str, Path] = {}
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            raise ValueError(f"no module {PACKAGE}.{name}")
        seen[name] = path
        pending.extend(_imported_modules(path) - seen.keys())
    return sorted(str(path) for path in seen.values())
