"""The vocabulary of deployments: enums, grants and exposure, steps and plans, dry-run counts."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hotswap.rollouts
from hotswap.configs.rollouts import ConfigRollouts
from hotswap.events.rollouts import EventRollouts
from hotswap.rollouts.model import (
    Grant,
    Plan,
    RegionInfo,
    Status,
    Step,
    Strategy,
    Unit,
    UnitKind,
    covers_everyone,
    exposed,
    find_region,
    position,
    units_per_step,
)
from hotswap.targeting.bucketing import hash_unit
from tests.rollouts.factories import REGIONS, unit_ids

ROLLOUTS = Path(hotswap.rollouts.__file__).parent
# The modules of the pure domain (the slice's other modules talk to the store and the web).
PURE = (
    "__init__.py",
    "model.py",
    "strategies.py",
    "lifecycle.py",
    "codec.py",
    "_checks.py",
    "_localtime.py",
)
IMPURE = {
    "sqlalchemy",
    "fastapi",
    "starlette",
    "httpx",
    "redis",
    "asyncpg",
    "aiosqlite",
    "pydantic",
    "pydantic_settings",
}


# Parsed while the module is collected, as tests/test_architecture.py does: CPython 3.11's parser
# can fail with "AST constructor recursion depth mismatch" after a test raised a RecursionError.
_TREES = {name: ast.parse((ROLLOUTS / name).read_text()) for name in PURE}


@pytest.mark.parametrize("name", PURE)
def test_the_domain_modules_import_no_framework_or_io(name: str) -> None:
    tree = _TREES[name]
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    roots = {name.split(".")[0] for name in imported}
    assert not roots & IMPURE
    # Within the project, only pure code: the core's errors, the targeting engine, this slice's domain.
    allowed = {"hotswap.core.errors", "hotswap.targeting.bucketing"} | {
        f"hotswap.rollouts.{p.removesuffix('.py')}" for p in PURE
    }
    assert {n for n in imported if n.startswith("hotswap")} <= allowed


def test_the_package_exports_exactly_its_public_api() -> None:
    exported = set(hotswap.rollouts.__all__)
    assert all(hasattr(hotswap.rollouts, name) for name in exported)
    assert {"plan", "validate_spec", "decide", "act", "next_status", "next_local_start", "units_per_step"} <= exported
    assert {"Grant", "Step", "Plan", "DeploymentSpec", "Progress", "Decision", "IllegalTransition", "Pause"} <= exported
    assert not {name for name in exported if name.startswith("_")}


# -- enums ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Canary", Strategy.CANARY),
        ("canary", Strategy.CANARY),
        (" CANARY ", Strategy.CANARY),
        ("BlueGreen", Strategy.BLUE_GREEN),
        ("blue-green", Strategy.BLUE_GREEN),
        ("blue_green", Strategy.BLUE_GREEN),
        ("Blue Green", Strategy.BLUE_GREEN),
        ("rolling", Strategy.ROLLING),
        ("GEOGRAPHIC", Strategy.GEOGRAPHIC),
        ("segmented", Strategy.SEGMENTED),
        ("direct", Strategy.DIRECT),
    ],
)
def test_strategies_parse_whatever_the_case_or_separator(text: str, expected: Strategy) -> None:
    assert Strategy.parse(text) is expected


@pytest.mark.parametrize("text", ["", "canary2", "bluegreenish", "A/B"])
def test_an_unknown_strategy_names_the_choices(text: str) -> None:
    with pytest.raises(ValueError, match="Direct, Canary, BlueGreen, Rolling, Geographic, Segmented"):
        Strategy.parse(text)


def test_enum_values_are_what_the_api_shows() -> None:
    assert [s.value for s in Strategy] == ["Direct", "Canary", "BlueGreen", "Rolling", "Geographic", "Segmented"]
    assert [k.value for k in UnitKind] == ["servers", "players"]
    assert UnitKind.parse("Players") is UnitKind.PLAYERS


def test_the_last_four_statuses_are_terminal() -> None:
    assert [s.value for s in Status if s.terminal] == ["Succeeded", "RolledBack", "Failed", "Cancelled"]
    assert [s.value for s in Status if s.open] == ["PendingApproval", "Running", "Paused"]


def test_units_hash_their_own_id_attribute_and_subjects_default_sensibly() -> None:
    assert UnitKind.SERVERS.hash_attribute == "serverId"
    assert UnitKind.PLAYERS.hash_attribute == "playerId"
    # What the subjects deployments roll out register as: a config goes to game servers unless
    # asked otherwise, a live event only to players.
    assert (ConfigRollouts.kind, ConfigRollouts.unit_kinds) == ("config", (UnitKind.SERVERS, UnitKind.PLAYERS))
    assert (EventRollouts.kind, EventRollouts.unit_kinds) == ("event", (UnitKind.PLAYERS,))


# -- grants ---------------------------------------------------------------------------------


@given(seed=st.text(max_size=10), unit=unit_ids)
def test_position_is_the_engines_hash(seed: str, unit: str) -> None:
    assert position(seed, unit) == hash_unit(seed, unit, 2)
    assert 0 <= position(seed, unit) < 1


@pytest.mark.parametrize("bad", [-0.1, 100.01, float("nan"), float("inf")])
def test_a_grant_percentage_is_from_0_to_100(bad: float) -> None:
    with pytest.raises(ValueError, match="from 0 to 100"):
        Grant(bad)


def test_a_grant_freezes_what_it_is_given() -> None:
    grant = Grant(50, regions=["NA-WEST"], units={"gs-1"})  # type: ignore[arg-type]
    assert grant.regions == frozenset({"NA-WEST"})
    assert grant.units == frozenset({"gs-1"})
    assert grant == Grant(50.0, frozenset({"NA-WEST"}), None, frozenset({"gs-1"}))
    assert isinstance(Grant(50).percentage, float)


def test_a_percentage_is_a_half_open_cut_of_the_hash() -> None:
    unit = Unit("p-1")
    assert Grant(30).admits(unit, 0.2999)
    assert not Grant(30).admits(unit, 0.30)
    assert not Grant(0).admits(unit, 0.0)
    assert Grant(100).admits(unit, 0.9999)


def test_restrictions_all_have_to_hold() -> None:
    grant = Grant(100, regions=frozenset({"NA-WEST"}), segment="vip", units=frozenset({"p1"}))
    assert grant.admits(Unit("p1", "na-west", frozenset({"vip"})), 0.5)  # regions compare without case
    assert not grant.admits(Unit("p1", "NA-EAST", frozenset({"vip"})), 0.5)
    assert not grant.admits(Unit("p1", None, frozenset({"vip"})), 0.5)
    assert not grant.admits(Unit("p1", "NA-WEST"), 0.5)
    assert not grant.admits(Unit("p2", "NA-WEST", frozenset({"vip"})), 0.5)


def test_any_grant_of_an_exposure_admits() -> None:
    exposure = (Grant(100, regions=frozenset({"EU-WEST"})), Grant(100, units=frozenset({"gs-9"})))
    assert exposed(exposure, "s", Unit("gs-1", "EU-WEST"))
    assert exposed(exposure, "s", Unit("gs-9", "APAC"))
    assert not exposed(exposure, "s", Unit("gs-2", "APAC"))
    assert not exposed((), "s", Unit("gs-1", "EU-WEST"))


@given(st.integers(0, 2**32), st.text(max_size=8))
def test_exposure_by_percentage_follows_the_position(batch: int, seed: str) -> None:
    for unit in (f"player-{batch}-{i}" for i in range(200)):
        assert exposed((Grant(25),), seed, Unit(unit)) == (position(seed, unit) < 0.25)


def test_covers_everyone_only_for_an_unrestricted_full_grant() -> None:
    assert covers_everyone((Grant(10), Grant(100)))
    assert not covers_everyone((Grant(99.9),))
    assert not covers_everyone((Grant(100, regions=frozenset(REGION.id for REGION in REGIONS)),))
    assert not covers_everyone((Grant(100, segment="vip"),))
    assert not covers_everyone(())


# -- regions, steps, plans ------------------------------------------------------------------


def test_regions_answer_to_their_id_and_aliases_in_any_case() -> None:
    assert find_region("us-east", REGIONS) == REGIONS[1]
    assert find_region(" na-east ", REGIONS) == REGIONS[1]
    assert find_region("NA-EAST", REGIONS) == REGIONS[1]
    assert find_region("mars", REGIONS) is None
    assert RegionInfo("X", "UTC", 1).answers_to("x")


def test_a_step_refuses_impossible_values() -> None:
    with pytest.raises(ValueError, match="index"):
        Step(-1, "s", ())
    with pytest.raises(ValueError, match="hold"):
        Step(0, "s", (), hold=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="aware"):
        Step(0, "s", (), not_before=datetime(2026, 1, 1))
    assert Step(0, "s", [Grant(1)]).exposure == (Grant(1),)  # type: ignore[arg-type]


def test_a_plan_has_numbered_steps() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Plan(Strategy.DIRECT, UnitKind.SERVERS, "s", ())
    with pytest.raises(ValueError, match="numbered"):
        Plan(Strategy.DIRECT, UnitKind.SERVERS, "s", (Step(1, "a", ()),))
    plan = Plan(Strategy.CANARY, UnitKind.SERVERS, "s", (Step(0, "a", (Grant(10),)), Step(1, "b", (Grant(100),))))
    assert plan.last == 1
    assert plan.reaches_everyone
    assert plan.exposure_at(-1) == ()
    assert plan.exposure_at(0) == (Grant(10),)


def test_units_per_step_counts_known_servers_with_the_same_hash() -> None:
    servers = [(f"gs-{i}", "NA-WEST" if i % 2 else "EU-WEST") for i in range(1000)]
    steps = (
        Step(0, "10%", (Grant(10),)),
        Step(1, "NA 100%", (Grant(100, regions=frozenset({"NA-WEST"})),)),
        Step(2, "named", (Grant(100, units=frozenset({"gs-1", "gs-2", "nope"})),)),
        Step(3, "vip", (Grant(100, segment="vip"),)),
    )
    plan = Plan(Strategy.CANARY, UnitKind.SERVERS, "seed-1", steps)
    counts = units_per_step(plan, servers)
    assert counts[0] == sum(1 for gs, _ in servers if position("seed-1", gs) < 0.1)
    assert 70 <= counts[0] <= 130  # about 10% of 1000
    assert counts[1:] == (500, 2, 0)  # servers belong to no segment
    assert units_per_step(plan, [Unit("gs-1", "NA-WEST", frozenset({"vip"}))])[3] == 1
