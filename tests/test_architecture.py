"""The layout rules of DESIGN.md, checked on the import graph so they stay true as slices grow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hotswap"
# Pure modules: no I/O, no framework. They are tested without a database or an app.
PURE = sorted(
    [*SRC.glob("*/model.py"), *SRC.glob("*/rules.py"), *(SRC / "core").glob("*.py"), *(SRC / "targeting").glob("*.py")]
)
FRAMEWORKS = ("sqlalchemy", "fastapi", "starlette", "httpx", "redis", "asyncpg", "aiosqlite", "pydantic_settings")
# Settings are read at the composition root only; everything else is handed what it needs.
COMPOSITION_ROOT = {"container.py", "api.py", "cli.py", "settings.py"}


def _parse_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


# Parsed while the module is collected, before any test runs: CPython 3.11's parser can fail
# with "AST constructor recursion depth mismatch" once some test has raised a RecursionError
# (deep JSON and condition documents do, on purpose) in the same thread.
_IMPORTS = {path: _parse_imports(path) for path in SRC.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    return _IMPORTS[path] if path in _IMPORTS else _parse_imports(path)


def test_there_are_pure_modules_to_check() -> None:
    assert {p.parent.name for p in SRC.glob("*/model.py")} >= {"auth", "approvals", "audit", "configs"}


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_modules_import_no_framework(path: Path) -> None:
    bad = {name for name in _imports(path) if name.split(".")[0] in FRAMEWORKS}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SRC.rglob("*.py") if p.relative_to(SRC).as_posix() not in COMPOSITION_ROOT),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_only_the_composition_root_reads_settings(path: Path) -> None:
    assert "hotswap.settings" not in _imports(path)


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_modules_stay_small(path: Path) -> None:
    # DESIGN.md: a module past ~400 lines is asking to be split (migrations are exempt).
    assert len(path.read_text().splitlines()) <= 450
