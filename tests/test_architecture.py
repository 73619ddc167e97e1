"""The layout rules of docs/architecture.md, checked on the import graph so they stay true as
slices grow. Each rule fails on any new violation and names it; `EXCEPTIONS` lists the imports
kept against a rule, each with its reason (it is empty: keep it so). The order of the slices
rules out cycles between them; cycles between modules are checked on their own.

The layers, each importing only from itself and the layers below it:

1. kernel, in two tiers: `targeting` (the pure evaluation engine and the root of the error
   hierarchy it raises; it ships alone in the SDK, so it imports only itself), then `core` (pure:
   ids, clock, errors, environments, signals, cursors, the due-time loop; it may use `targeting`);
2. infrastructure: `storage` (engine, unit of work, column types, snapshot revisions) and
   `observability` (Prometheus, logging);
3. the slices, in the order of `SLICES`: a slice uses the slices before it (their services,
   models and signals), never one after it, and never another slice's `tables` or `repository`;
4. the HTTP adapters: `web` (the kit: dependencies, problems, the hot path) and each slice's
   routes, request/response schemas and views (`api`, `*_api`, `schemas`, `*_schemas`, `views`, `hot`,
   `openapi`), which may use their own slice and the slices before it;
5. the composition root: `container`, `api` (the app factory), `cli`, `settings`, `tables`
   (every table, for migrations), `storage.migrations` and the simulator, which drives the app.

The SDK (`hotswap.sdk`) stands apart: it runs inside game servers, and ships with the targeting
engine alone in its own distribution (`sdk/python`, `hotswap-sdk`). So `sdk` imports only itself
and `targeting`, `targeting` only itself, and both import from outside the standard library only
what that distribution declares. `core.errors` re-exports the root of the error hierarchy from
`targeting.errors` (the engine raises it); nothing else in `core` imports outside `core`.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hotswap"

KERNEL = ("core", "targeting")
INFRASTRUCTURE = ("storage", "observability")
# Lowest first. A slice may use those before it; the ones after it reach it through its signals
# (it never imports them) or implement the ports it declares (the root wires them).
SLICES = (
    "auth",
    "audit",
    "approvals",
    "players",
    "segments",
    "fleet",
    "rollouts",
    "configs",
    "analysis",
    "event_templates",
    "events",
    "delivery",
    "webhooks",
)
ROOT_MODULES = {"hotswap", "hotswap.api", "hotswap.container", "hotswap.settings", "hotswap.tables"}
ROOT_PACKAGES = ("hotswap.cli", "hotswap.simulator", "hotswap.storage.migrations")
ADAPTER_NAMES = {"api", "schemas", "views", "hot", "openapi"}
PRIVATE_TO_SLICE = {"tables", "repository"}

# What the SDK distribution ships (sdk/python/pyproject.toml): the SDK and the targeting engine.
SDK_DISTRIBUTION = ("sdk", "targeting")
SDK_PROJECT = SRC.parents[1] / "sdk" / "python" / "pyproject.toml"

# Imports kept against a rule, each with its reason: (importer, imported) -> why.
EXCEPTIONS: dict[tuple[str, str], str] = {}

# Pure modules: no I/O, no framework. They are tested without a database or an app.
PURE = sorted(
    {
        *SRC.glob("*/model.py"),
        *(SRC / "core").glob("*.py"),
        *(SRC / "targeting").glob("*.py"),
        *(SRC / "analysis" / name for name in ("verdicts.py", "policy.py", "stats.py", "sketch.py")),
        *(SRC / "rollouts" / name for name in ("lifecycle.py", "strategies.py", "codec.py")),
        SRC / "configs" / "payloads.py",
        SRC / "webhooks" / "addresses.py",
        SRC / "configs" / "schema_regex.py",
    }
)
FRAMEWORKS = ("sqlalchemy", "fastapi", "starlette", "httpx", "redis", "asyncpg", "aiosqlite", "pydantic_settings")
# Settings are read at the composition root only; everything else is handed what it needs.
COMPOSITION_ROOT = {"container.py", "api.py", "settings.py", *(f"cli/{p.name}" for p in (SRC / "cli").glob("*.py"))}


@dataclass(frozen=True, slots=True)
class Import:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _raw_imports(path: Path, module: str) -> Iterator[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:  # `from hotswap.events import model` imports the module
                yield f"{source}.{alias.name}", node.lineno


# Parsed while the module is collected, before any test runs: CPython 3.11's parser can fail
# with "AST constructor recursion depth mismatch" once some test has raised a RecursionError
# (deep JSON and condition documents do, on purpose) in the same thread.
FILES = {_module_name(path): path for path in SRC.rglob("*.py")}
_RAW = {module: list(_raw_imports(path, module)) for module, path in FILES.items()}
TREES = {module: ast.parse(path.read_text(), filename=str(path)) for module, path in FILES.items()}


def _resolve(name: str) -> str | None:
    """The module of ours an imported name belongs to (`hotswap.a.b.Thing` -> `hotswap.a.b`)."""
    while name and name not in FILES:
        name = name.rpartition(".")[0]
    return name or None


def _imports() -> list[Import]:
    found: set[Import] = set()
    for module, raw in _RAW.items():
        for name, line in raw:
            if name == "hotswap" or name.startswith("hotswap."):
                target = _resolve(name)
                if target is not None and target != module:
                    found.add(Import(module, target, line))
    return sorted(found, key=lambda i: (i.importer, i.imported, i.line))


IMPORTS = _imports()


def _top(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _is_root(module: str) -> bool:
    return module in ROOT_MODULES or module.startswith(ROOT_PACKAGES)


def _is_adapter(module: str) -> bool:
    last = module.rpartition(".")[2]
    return _top(module) in SLICES and (last in ADAPTER_NAMES or last.endswith(("_api", "_schemas")))


def _problem(edge: Import) -> str | None:
    """Why an import breaks the layering, or None when it is allowed."""
    a, b = edge.importer, edge.imported
    top_a, top_b = _top(a), _top(b)
    if _is_root(a):
        return None
    if top_a in SDK_DISTRIBUTION:  # before the package itself: the SDK distribution ships without it
        if top_a == "sdk":
            return None if top_b in SDK_DISTRIBUTION else "the SDK imports itself and the targeting engine only"
        return None if top_b == "targeting" else "targeting imports only itself: it ships alone in the SDK"
    if b == "hotswap":  # the package itself: its version
        return None
    if _is_root(b):
        return "only the composition root imports the composition root"
    if top_a != top_b and b.rpartition(".")[2] in PRIVATE_TO_SLICE:
        return f"{b} is private to its slice: use its service"
    if top_a == "core":
        return None if top_b in KERNEL else "core imports only the kernel"
    if top_a in KERNEL:
        return None if top_b in KERNEL else "the kernel imports only the kernel"
    if top_a in INFRASTRUCTURE:
        return None if top_b in (*KERNEL, *INFRASTRUCTURE) else "infrastructure imports only the kernel and itself"
    if top_b in (*KERNEL, *INFRASTRUCTURE):
        return None
    if top_a == "web":
        return None if top_b == "web" or (top_b in SLICES and not _is_adapter(b)) else "web is the HTTP kit"
    if top_a not in SLICES:
        return f"{top_a} has no place in the layers: add it to test_architecture.py"
    if top_b not in SLICES:
        return None if top_b == "web" and _is_adapter(a) else f"a slice does not import {top_b}"
    if top_a == top_b:
        return None if _is_adapter(a) or not _is_adapter(b) else "a slice's own code does not import its HTTP adapter"
    if SLICES.index(top_b) > SLICES.index(top_a):
        return f"{top_a} comes before {top_b}: it hears of it through signals, or declares a port"
    if _is_adapter(b) and not _is_adapter(a):
        return f"{b} is an HTTP adapter"
    return None


def test_every_package_has_a_place_in_the_layers() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    placed = {*KERNEL, *INFRASTRUCTURE, *SLICES, "web", "sdk", "simulator", "cli"}
    assert packages == placed


def test_imports_follow_the_layers() -> None:
    broken = [
        f"{edge}: {why}"
        for edge in IMPORTS
        if (why := _problem(edge)) is not None and (edge.importer, edge.imported) not in EXCEPTIONS
    ]
    assert broken == []


def test_the_sdk_distribution_rules_see_what_they_look_for() -> None:
    assert _problem(Import("hotswap.sdk.client", "hotswap.targeting.snapshot", 1)) is None
    assert _problem(Import("hotswap.sdk.client", "hotswap.core.errors", 1)) is not None
    assert _problem(Import("hotswap.sdk.client", "hotswap", 1)) is not None  # not in the SDK's wheel
    assert _problem(Import("hotswap.targeting.rules", "hotswap.core.errors", 1)) is not None
    assert _problem(Import("hotswap.core.errors", "hotswap.targeting.errors", 1)) is None  # the tier below
    assert _problem(Import("hotswap.core.clock", "hotswap.storage.uow", 1)) is not None


def _distribution_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        found = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert found is not None, requirement
        names.add(found.group().lower().replace("_", "-"))
    return names


# Where a distribution's import name is not its own name.
IMPORT_NAMES = {"openfeature-sdk": "openfeature", "google-re2": "re2"}


def _third_party(module: str) -> set[str]:
    tops = {name.split(".")[0] for name, _ in _RAW[module]}
    return {top for top in tops if top != "hotswap" and top not in sys.stdlib_module_names}


def test_the_sdk_distribution_imports_only_what_it_declares() -> None:
    """The SDK and the engine run in a game server that installed `hotswap-sdk` alone: what they
    import from outside the standard library is a dependency of that distribution (the
    OpenFeature provider: of its `openfeature` extra), and each dependency is used."""
    project = tomllib.loads(SDK_PROJECT.read_text())["project"]
    required = {IMPORT_NAMES.get(name, name) for name in _distribution_names(project["dependencies"])}
    extra = {
        IMPORT_NAMES.get(name, name) for name in _distribution_names(project["optional-dependencies"]["openfeature"])
    }
    imported = {module: _third_party(module) for module in FILES if _top(module) in SDK_DISTRIBUTION}
    undeclared = {
        module: sorted(names - required - (extra if module == "hotswap.sdk.openfeature" else set()))
        for module, names in imported.items()
    }
    assert {module: names for module, names in undeclared.items() if names} == {}
    assert set().union(*imported.values()) == required | extra
    assert required == {"httpx", "orjson", "re2"}  # what a game server gets: nothing of the server


def test_the_sdk_distribution_ships_its_packages_and_not_the_server() -> None:
    """Its wheel takes the SDK's and the engine's source from src/, under the `hotswap` namespace
    (no `hotswap/__init__.py`: that file is the server distribution's)."""
    build = tomllib.loads(SDK_PROJECT.read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    shipped = build["force-include"]
    assert sorted(shipped.values()) == [f"hotswap/{package}" for package in sorted(SDK_DISTRIBUTION)]
    for source, target in shipped.items():
        assert (SDK_PROJECT.parent / source).resolve() == SRC / target.removeprefix("hotswap/")
    assert build["bypass-selection"]  # nothing else goes in
    assert not build.get("packages")
    assert not build.get("include")


def test_every_exception_is_still_needed() -> None:
    current = {(edge.importer, edge.imported) for edge in IMPORTS if _problem(edge) is not None}
    assert set(EXCEPTIONS) <= current, "an exception no longer happens: delete it"


def _cycles(edges: list[tuple[str, str]]) -> list[list[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    # Tarjan's strongly connected components, iteratively (the graph is a few hundred nodes deep).
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_module_import_cycles() -> None:
    assert _cycles([(e.importer, e.imported) for e in IMPORTS]) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]) == [["a", "b", "c"]]


# -- signals ---------------------------------------------------------------------------------


def _calls(tree: ast.AST, attribute: str) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attribute:
            yield node


def _is_signal_class(node: ast.ClassDef) -> bool:
    bases = [b.value if isinstance(b, ast.Subscript) else b for b in node.bases]
    return any(
        (isinstance(b, ast.Name) and b.id == "Signal") or (isinstance(b, ast.Attribute) and b.attr == "Signal")
        for b in bases
    )


def _is_frozen_dataclass(node: ast.ClassDef) -> bool:
    return any(
        isinstance(d, ast.Call)
        and getattr(d.func, "id", getattr(d.func, "attr", None)) == "dataclass"
        and any(k.arg == "frozen" and isinstance(k.value, ast.Constant) and k.value.value is True for k in d.keywords)
        for d in node.decorator_list
    )


def test_signals_are_frozen_dataclasses_declared_in_their_publishers_signals_module() -> None:
    misplaced = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and _is_signal_class(node):
                if module.rpartition(".")[2] != "signals" or _top(module) not in SLICES:
                    misplaced.append(f"{module}.{node.name}: not in a slice's signals.py")
                elif not _is_frozen_dataclass(node):
                    misplaced.append(f"{module}.{node.name}: not a frozen dataclass")
    assert misplaced == []


def test_subscribers_are_connected_in_the_composition_root_only() -> None:
    connecting = sorted(
        f"{module}:{call.lineno}"
        for module, tree in TREES.items()
        for call in _calls(tree, "connect")
        if any(k.arg == "phase" for k in call.keywords) and module not in ("hotswap.container", "hotswap.core.signals")
    )
    assert connecting == []


def _signals_modules_named(tree: ast.AST) -> tuple[dict[str, str], dict[str, str]]:
    """In one module: the names imported from a `signals` module (name -> module), and the
    aliases of `signals` modules themselves (alias -> module)."""
    names: dict[str, str] = {}
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if node.module.endswith(".signals"):
                    names[alias.asname or alias.name] = node.module
                elif alias.name == "signals":
                    modules[alias.asname or alias.name] = f"{node.module}.signals"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.endswith(".signals"):
                    modules[alias.asname or alias.name] = alias.name
    return names, modules


def test_a_slice_makes_only_its_own_signals() -> None:
    """Subscribers receive signals, publishers make them: outside the composition root, only the
    slice that declares a signal builds one (and so only it can send it)."""
    foreign = []
    for module, tree in TREES.items():
        if _is_root(module):
            continue
        names, modules = _signals_modules_named(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            source = None
            if isinstance(func, ast.Name):
                source = names.get(func.id)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                source = modules.get(func.value.id)
            if source is not None and _top(source) != _top(module):
                foreign.append(f"{module}:{node.lineno} makes a signal of {source}")
    assert foreign == []


def test_the_signal_checks_see_what_they_look_for() -> None:
    tree = ast.parse("from hotswap.fleet.signals import RegionChanged\nimport hotswap.players.signals as p\n")
    assert _signals_modules_named(tree) == (
        {"RegionChanged": "hotswap.fleet.signals"},
        {"p": "hotswap.players.signals"},
    )
    [frozen, plain] = ast.parse(
        "@dataclass(frozen=True)\nclass A(Signal[None]): ...\n@dataclass\nclass B(core.signals.Signal): ..."
    ).body
    assert isinstance(frozen, ast.ClassDef)
    assert isinstance(plain, ast.ClassDef)
    assert (_is_signal_class(frozen), _is_frozen_dataclass(frozen)) == (True, True)
    assert (_is_signal_class(plain), _is_frozen_dataclass(plain)) == (True, False)


def test_there_are_signals_to_check() -> None:
    assert any(module.endswith(".signals") for module in FILES)


# -- SQL, purity, settings, size ----------------------------------------------------------


def _writes_sql(raw: list[tuple[str, int]]) -> bool:
    """Whether a module's imports build SQL: SQLAlchemy itself or any table (its exceptions, the
    async connection type and its database URL parser are what others may name)."""
    return any(
        (
            (name == "sqlalchemy" or name.startswith("sqlalchemy."))
            and not name.startswith(("sqlalchemy.exc", "sqlalchemy.ext.asyncio", "sqlalchemy.engine.make_url"))
        )
        or name.rpartition(".")[0].endswith(".tables")
        or name.endswith(".tables")
        for name, _ in raw
    )


def test_sql_lives_in_repositories() -> None:
    found = sorted(
        module
        for module, raw in _RAW.items()
        if not (_is_root(module) or _top(module) == "storage" or module.rpartition(".")[2] in PRIVATE_TO_SLICE)
        and _writes_sql(raw)
    )
    assert found == []


def test_the_sql_check_sees_what_it_looks_for() -> None:
    assert _writes_sql([("sqlalchemy.select", 1)])
    assert _writes_sql([("sqlalchemy.dialects.postgresql.JSONB", 1)])
    assert _writes_sql([("hotswap.events.tables.live_events", 1)])
    assert not _writes_sql([("sqlalchemy.exc.IntegrityError", 1), ("sqlalchemy.ext.asyncio.AsyncConnection", 1)])


def test_routes_call_services_not_repositories() -> None:
    direct = sorted(
        str(edge)
        for edge in IMPORTS
        if _is_adapter(edge.importer) and edge.imported.rpartition(".")[2] in PRIVATE_TO_SLICE
    )
    assert direct == []


def test_there_are_pure_modules_to_check() -> None:
    assert {p.parent.name for p in SRC.glob("*/model.py")} >= {"auth", "approvals", "audit", "configs"}
    assert SRC / "rollouts" / "lifecycle.py" in PURE


def _top_level_names(path: Path) -> set[str]:
    return {name.split(".")[0] for name, _ in _RAW[_module_name(path)]}


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_modules_import_no_framework(path: Path) -> None:
    bad = {name for name in _top_level_names(path) if name in FRAMEWORKS}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SRC.rglob("*.py") if p.relative_to(SRC).as_posix() not in COMPOSITION_ROOT),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_only_the_composition_root_reads_settings(path: Path) -> None:
    assert not any(name == "hotswap.settings" for name, _ in _RAW[_module_name(path)])


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_modules_stay_small(path: Path) -> None:
    # A module past ~400 lines is asking to be split (migrations are exempt).
    assert len(path.read_text().splitlines()) <= 450
