"""Regions, specs and units for the rollouts tests, and hypothesis strategies that build them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

from hypothesis import strategies as st

from hotswap.rollouts.model import DeploymentSpec, RegionInfo, Strategy, Unit, UnitKind
from hotswap.rollouts.strategies import plan

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# Five regions, in this order, with the time zones a game team would give them.
REGIONS = (
    RegionInfo("NA-WEST", "America/Los_Angeles", 1, frozenset({"us-west"})),
    RegionInfo("NA-EAST", "America/New_York", 2, frozenset({"us-east"})),
    RegionInfo("EU-WEST", "Europe/London", 3, frozenset({"eu-west"})),
    RegionInfo("EU-EAST", "Europe/Bucharest", 4),
    RegionInfo("APAC", "Asia/Tokyo", 5, frozenset({"ap-northeast"})),
)
REGION_IDS = tuple(r.id for r in REGIONS)
COHORTS = ("testers", "vip", "new-players", "whales")


def spec(
    strategy: Strategy = Strategy.CANARY, unit_kind: UnitKind = UnitKind.SERVERS, **fields: object
) -> DeploymentSpec:
    return dataclasses.replace(DeploymentSpec(strategy, unit_kind, "dep-1"), **fields)  # type: ignore[arg-type]


unit_ids = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
percentages = st.one_of(
    st.integers(1, 100).map(float), st.floats(min_value=0.5, max_value=100, allow_nan=False, allow_infinity=False)
)
periods = st.integers(1, 3 * 3600).map(lambda s: timedelta(seconds=s))


@st.composite
def units(draw: st.DrawFn, ids: list[str] | None = None) -> list[Unit]:
    """Units with unique ids, in a registered region, an unknown one or none, in some cohorts."""
    chosen = ids if ids is not None else draw(st.lists(unit_ids, min_size=1, max_size=40, unique=True))
    regions = st.sampled_from([*REGION_IDS, "us-east", "mars-1", None])
    return [Unit(i, draw(regions), frozenset(draw(st.lists(st.sampled_from(COHORTS), max_size=2)))) for i in chosen]


@st.composite
def specs(draw: st.DrawFn, strategy: Strategy | None = None, *, gates: bool = True) -> DeploymentSpec:
    """Valid deployment specs of every strategy (or of `strategy`), with optional manual gates."""
    strategy = strategy or draw(st.sampled_from(Strategy))
    kind = UnitKind.PLAYERS if strategy is Strategy.SEGMENTED else draw(st.sampled_from(UnitKind))
    fields: dict[str, object] = {
        "seed": draw(st.text(min_size=1, max_size=10)),
        "target_regions": draw(
            st.none() | st.lists(st.sampled_from(REGION_IDS), min_size=1, max_size=5, unique=True).map(tuple)
        ),
        "evaluation_period": draw(st.none() | periods),
    }
    named = st.lists(unit_ids, min_size=1, max_size=15, unique=True).map(tuple)
    if strategy is not Strategy.SEGMENTED:
        fields["target_units"] = draw(st.none() | named)
    if strategy is Strategy.CANARY:
        choice = draw(st.sampled_from(["default", "first", "steps"]))
        if choice == "first":
            fields["canary_percentage"] = draw(percentages)
        elif choice == "steps":
            fields["steps"] = tuple(sorted(draw(st.sets(percentages, min_size=1, max_size=6))))
    elif strategy is Strategy.GEOGRAPHIC:
        fields["canary_percentage"] = draw(st.none() | percentages)
        fields["local_start_time"] = draw(st.none() | st.times().map(lambda t: t.replace(microsecond=0)))
    elif strategy is Strategy.BLUE_GREEN:
        fields["preview_units"] = draw(st.none() | named)
    elif strategy is Strategy.ROLLING:
        if fields["target_units"] is not None and draw(st.booleans()):
            fields["batch_size"] = draw(st.integers(1, 20))
        else:
            fields["batch_percentage"] = draw(st.none() | st.floats(min_value=1, max_value=100))
        fields["batch_wait"] = draw(st.none() | st.integers(0, 3600).map(lambda s: timedelta(seconds=s)))
    elif strategy is Strategy.SEGMENTED:
        cohorts = draw(st.lists(st.sampled_from(COHORTS), min_size=1, max_size=4, unique=True))
        fields["cohorts"] = (*cohorts, "everyone") if draw(st.booleans()) else tuple(cohorts)
    made = spec(strategy, kind, **fields)
    if gates:
        count = len(plan(made, REGIONS, T0).steps)
        made = dataclasses.replace(made, manual_gates=draw(st.frozensets(st.integers(0, count - 1), max_size=3)))
    return made


def local(text: str) -> time:
    return time.fromisoformat(text)
