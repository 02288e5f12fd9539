"""The ksqlDB-compatible server is its own package: it talks to the replay library only over HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

import ksqldb_lite

PACKAGE_DIR = Path(ksqldb_lite.__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_ksqldb_lite_never_imports_the_replay_library() -> None:
    sources = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(sources) > 10  # the scan really covers the package
    offenders = {
        str(path.relative_to(PACKAGE_DIR)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] == "replay"
        )
        for path in sources
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}
