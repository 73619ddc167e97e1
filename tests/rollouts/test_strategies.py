"""From a request to steps: each strategy's plan, validation field by field, sticky exposure."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.core.errors import InvalidInput
from hotswap.rollouts.model import (
    DeploymentSpec,
    Grant,
    Plan,
    RegionInfo,
    Strategy,
    Unit,
    UnitKind,
    exposed,
    position,
)
from hotswap.rollouts.strategies import (
    MAX_STEPS,
    canary_percentages,
    next_local_start,
    plan,
    rank_units,
    validate_spec,
)
from tests.rollouts.factories import REGION_IDS, REGIONS, T0, spec, specs, units

NA = frozenset({"NA-WEST", "NA-EAST"})


def grants(p: Plan) -> list[tuple[Grant, ...]]:
    return [step.exposure for step in p.steps]


# -- Direct and Canary ----------------------------------------------------------------------


def test_direct_is_one_step_to_everyone() -> None:
    p = plan(spec(Strategy.DIRECT), REGIONS, T0)
    assert [(s.name, s.exposure, s.hold, s.gate) for s in p.steps] == [("everyone", (Grant(100),), None, False)]
    assert p.reaches_everyone
    watched = plan(spec(Strategy.DIRECT, evaluation_period=timedelta(minutes=10)), REGIONS, T0)
    assert watched.steps[0].hold == timedelta(minutes=10)  # the final monitoring window


def test_a_canary_goes_10_30_50_100_within_its_regions_watching_30_minutes() -> None:
    request = spec(target_regions=("NA-WEST", "NA-EAST"), canary_percentage=10, evaluation_period=timedelta(minutes=30))
    p = plan(request, REGIONS, T0)
    assert [s.name for s in p.steps] == ["canary 10%", "canary 30%", "canary 50%", "canary 100%"]
    assert grants(p) == [(Grant(10, NA),), (Grant(30, NA),), (Grant(50, NA),), (Grant(100, NA),)]
    assert [s.hold for s in p.steps] == [timedelta(minutes=30)] * 3 + [None]  # "100% → Complete"
    assert not p.reaches_everyone  # only North America gets it
    assert (p.strategy, p.unit_kind, p.seed) == (Strategy.CANARY, UnitKind.SERVERS, "dep-1")


@pytest.mark.parametrize(
    ("first", "expected"),
    [(None, (10, 30, 50, 100)), (10, (10, 30, 50, 100)), (25, (25, 30, 50, 100)), (60, (60, 100)), (100, (100,))],
)
def test_a_first_canary_percentage_goes_on_with_the_default_steps_above_it(
    first: float | None, expected: tuple[float, ...]
) -> None:
    assert canary_percentages(spec(canary_percentage=first)) == expected
    assert [s.exposure[0].percentage for s in plan(spec(canary_percentage=first), REGIONS, T0).steps] == list(expected)


@pytest.mark.parametrize(
    ("steps", "expected"), [((5, 20, 60), (5, 20, 60, 100)), ((1, 100), (1, 100)), ((50,), (50, 100))]
)
def test_custom_canary_steps_end_at_100(steps: tuple[float, ...], expected: tuple[float, ...]) -> None:
    p = plan(spec(steps=steps), REGIONS, T0)
    assert [s.exposure[0].percentage for s in p.steps] == list(expected)
    assert p.steps[0].hold == timedelta(minutes=30)  # the default evaluation period


def test_a_canary_over_named_instances_grows_one_server_at_a_time() -> None:
    instances = ("payment-svc-1", "payment-svc-2", "payment-svc-3")
    p = plan(spec(target_units=instances, canary_percentage=10), REGIONS, T0)
    ranked = rank_units("dep-1", instances)
    # 10% and 30% of three servers are both one server: one step, not two that look the same.
    assert [s.name for s in p.steps] == ["canary 1/3", "canary 2/3", "canary 3/3"]
    assert grants(p) == [(Grant(100, units=frozenset(ranked[:k])),) for k in (1, 2, 3)]
    assert ranked == sorted(instances, key=lambda u: position("dep-1", u))


def test_named_canary_steps_take_the_ceiling_of_the_share_exactly() -> None:
    ten = tuple(f"gs-{i}" for i in range(10))
    p = plan(spec(target_units=ten), REGIONS, T0)  # 30% of 10 is 3, however floats round
    assert [len(s.exposure[0].units or ()) for s in p.steps] == [1, 3, 5, 10]
    assert [s.name for s in p.steps] == ["canary 1/10", "canary 3/10", "canary 5/10", "canary 10/10"]


def test_ranking_is_by_hash_position_and_depends_on_the_seed() -> None:
    ids = [f"gs-{i}" for i in range(50)]
    ranked = rank_units("a", ids)
    assert sorted(ranked) == sorted(ids)
    positions = [position("a", u) for u in ranked]
    assert positions == sorted(positions)
    assert rank_units("b", ids) != ranked


def test_an_event_canary_to_a_region_by_alias_exposes_players_there() -> None:
    p = plan(spec(unit_kind=UnitKind.PLAYERS, target_regions=("us-east",), canary_percentage=10), REGIONS, T0)
    assert grants(p)[0] == (Grant(10, frozenset({"NA-EAST"})),)
    assert not exposed(p.steps[-1].exposure, "dep-1", Unit("p1", "EU-WEST"))
    assert exposed(p.steps[-1].exposure, "dep-1", Unit("p1", "na-east"))


# -- BlueGreen, Rolling ---------------------------------------------------------------------


def test_blue_green_previews_then_switches_everyone_and_waits_to_be_finalized() -> None:
    p = plan(spec(Strategy.BLUE_GREEN, preview_units=("gs-qa-1", "gs-qa-2")), REGIONS, T0)
    assert [(s.name, s.gate) for s in p.steps] == [("preview", False), ("switch", True)]
    assert grants(p) == [(Grant(100, units=frozenset({"gs-qa-1", "gs-qa-2"})),), (Grant(100),)]
    assert [s.hold for s in p.steps] == [timedelta(minutes=30)] * 2
    assert p.reaches_everyone


def test_a_limited_blue_green_switch_keeps_the_preview_units() -> None:
    p = plan(spec(Strategy.BLUE_GREEN, target_regions=("EU-WEST",), preview_units=("gs-qa",)), REGIONS, T0)
    assert grants(p)[1] == (Grant(100, frozenset({"EU-WEST"})), Grant(100, units=frozenset({"gs-qa"})))
    assert exposed(p.steps[1].exposure, "dep-1", Unit("gs-qa", "APAC"))


def test_blue_green_without_a_preview_is_a_gated_switch() -> None:
    p = plan(spec(Strategy.BLUE_GREEN), REGIONS, T0)
    assert [(s.name, s.gate, s.exposure) for s in p.steps] == [("switch", True, (Grant(100),))]


def test_rolling_by_default_goes_in_five_batches_of_20_percent_waiting_5_minutes() -> None:
    p = plan(spec(Strategy.ROLLING), REGIONS, T0)
    assert [s.name for s in p.steps] == [f"batch {k}/5" for k in range(1, 6)]
    assert [s.exposure[0].percentage for s in p.steps] == [20, 40, 60, 80, 100]
    assert [s.hold for s in p.steps] == [timedelta(minutes=5)] * 4 + [None]


def test_rolling_batches_of_named_servers_are_cumulative() -> None:
    servers = tuple(f"gs-{i}" for i in range(7))
    p = plan(spec(Strategy.ROLLING, target_units=servers, batch_size=2, batch_wait=timedelta(0)), REGIONS, T0)
    ranked = rank_units("dep-1", servers)
    assert [s.name for s in p.steps] == ["batch 1/4", "batch 2/4", "batch 3/4", "batch 4/4"]
    assert grants(p) == [(Grant(100, units=frozenset(ranked[:k])),) for k in (2, 4, 6, 7)]
    assert [s.hold for s in p.steps] == [timedelta(0)] * 3 + [None]


def test_rolling_by_percentage_of_named_servers_and_an_uneven_last_batch() -> None:
    servers = tuple(f"gs-{i}" for i in range(10))
    p = plan(spec(Strategy.ROLLING, target_units=servers, batch_percentage=25), REGIONS, T0)
    assert [len(s.exposure[0].units or ()) for s in p.steps] == [3, 6, 9, 10]
    by_percent = plan(spec(Strategy.ROLLING, batch_percentage=30), REGIONS, T0)
    assert [s.exposure[0].percentage for s in by_percent.steps] == [30, 60, 90, 100]


# -- Geographic -----------------------------------------------------------------------------


def test_a_geographic_rollout_goes_region_by_region_in_region_order_an_hour_each() -> None:
    p = plan(spec(Strategy.GEOGRAPHIC), REGIONS, T0)
    assert [(s.name, s.region) for s in p.steps] == [(f"region {r}", r) for r in REGION_IDS]
    for k, step in enumerate(p.steps[:-1]):
        assert step.exposure == (Grant(100, frozenset(REGION_IDS[: k + 1])),)
    assert p.steps[-1].exposure == (Grant(100),)  # all regions done: whatever region a unit is in
    assert [s.hold for s in p.steps] == [timedelta(hours=1)] * 5
    assert p.reaches_everyone


def test_geographic_target_regions_follow_region_order_not_request_order() -> None:
    p = plan(spec(Strategy.GEOGRAPHIC, target_regions=("apac", "us-west")), REGIONS, T0)
    assert [s.region for s in p.steps] == ["NA-WEST", "APAC"]
    assert p.steps[-1].exposure == (Grant(100, frozenset({"NA-WEST", "APAC"})),)
    assert not p.reaches_everyone


def test_geographic_with_a_canary_first_within_each_region() -> None:
    request = spec(Strategy.GEOGRAPHIC, target_regions=("NA-WEST", "NA-EAST"), canary_percentage=10)
    p = plan(request, REGIONS, T0)
    west, both = frozenset({"NA-WEST"}), NA
    assert [(s.name, s.region) for s in p.steps] == [
        ("canary 10% in NA-WEST", "NA-WEST"),
        ("region NA-WEST", "NA-WEST"),
        ("canary 10% in NA-EAST", "NA-EAST"),
        ("region NA-EAST", "NA-EAST"),
    ]
    assert grants(p) == [
        (Grant(10, west),),
        (Grant(100, west),),
        (Grant(100, west), Grant(10, frozenset({"NA-EAST"}))),
        (Grant(100, both),),
    ]


def test_geographic_local_start_sets_the_first_regions_instant_and_each_regions_time() -> None:
    now = datetime.fromisoformat("2026-06-01T12:00:00+00:00")
    request = spec(Strategy.GEOGRAPHIC, local_start_time=time(2, 0), canary_percentage=20)
    p = plan(request, REGIONS, now)
    # 02:00 in Los Angeles (PDT, UTC-7) after noon UTC on 1 June is 09:00 UTC on 2 June.
    assert p.steps[0].not_before == datetime.fromisoformat("2026-06-02T09:00:00+00:00")
    assert p.steps[0].not_before == next_local_start(time(2, 0), "America/Los_Angeles", now)
    assert all(s.not_before is None for s in p.steps[1:])  # the worker works them out as it goes
    region_firsts = [s for s in p.steps if s.name.startswith("canary")]
    assert [(s.local_start.at, s.local_start.time_zone) for s in region_firsts if s.local_start] == [
        (time(2, 0), r.time_zone) for r in REGIONS
    ]
    assert all(s.local_start is None for s in p.steps if s.name.startswith("region"))


# -- Segmented, gates -----------------------------------------------------------------------


def test_segmented_adds_one_cohort_per_step_and_everyone_lifts_the_limit() -> None:
    p = plan(spec(Strategy.SEGMENTED, UnitKind.PLAYERS, cohorts=("testers", "vip", "everyone")), REGIONS, T0)
    assert [s.name for s in p.steps] == ["cohort testers", "cohort vip", "cohort everyone"]
    assert grants(p) == [
        (Grant(100, segment="testers"),),
        (Grant(100, segment="testers"), Grant(100, segment="vip")),
        (Grant(100),),
    ]
    assert [s.hold for s in p.steps] == [timedelta(minutes=30)] * 2 + [None]


def test_segmented_within_regions_and_without_everyone_stays_limited() -> None:
    request = spec(Strategy.SEGMENTED, UnitKind.PLAYERS, cohorts=("vip",), target_regions=("EU-WEST",))
    p = plan(request, REGIONS, T0)
    assert grants(p) == [(Grant(100, frozenset({"EU-WEST"}), "vip"),)]
    assert not p.reaches_everyone


def test_manual_gates_mark_the_steps_asked_for_or_all() -> None:
    p = plan(spec(manual_gates=frozenset({0, 2})), REGIONS, T0)
    assert [s.gate for s in p.steps] == [True, False, True, False]
    assert all(s.gate for s in plan(spec(Strategy.ROLLING, gate_all=True), REGIONS, T0).steps)


def test_planning_is_deterministic_and_regions_need_not_be_registered() -> None:
    request = spec(target_regions=("mars-1",))
    assert plan(request, (), T0) == plan(request, (), T0)
    assert plan(request, (), T0).steps[0].exposure == (Grant(10, frozenset({"MARS-1"})),)


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "field", "message"),
    [
        (spec(canary_percentage=0), "canaryPercentage", "must be between 0 and 100 (exclusive of 0)"),
        (spec(canary_percentage=100.5), "canaryPercentage", "must be between 0 and 100"),
        (spec(canary_percentage=float("nan")), "canaryPercentage", "must be between 0 and 100"),
        (spec(steps=(10, 10)), "steps.1", "greater than the step before"),
        (spec(steps=(10, 0)), "steps.1", "must be between 0 and 100"),
        (spec(steps=()), "steps", "at least one"),
        (spec(steps=(10,), canary_percentage=10), "steps", "not both"),
        (spec(evaluation_period=timedelta(0)), "evaluationPeriod", "must be positive"),
        (spec(evaluation_period=timedelta(days=31)), "evaluationPeriod", "at most 30 days"),
        (spec(target_regions=()), "targetRegions", "at least one region"),
        (spec(target_regions=("NA-WEST", "mars")), "targetRegions.1", "unknown region 'mars'; known: NA-WEST, NA-EAST"),
        (spec(target_regions=("NA-EAST", "us-east")), "targetRegions.1", "listed twice"),
        (spec(target_units=()), "targetInstances", "at least one unit"),
        (spec(target_units=("a", "")), "targetInstances.1", "must not be empty"),
        (spec(target_units=("a", "a")), "targetInstances.1", "listed twice"),
        (spec(batch_size=2), "batchSize", "applies to Rolling deployments only, not Canary"),
        (spec(Strategy.DIRECT, canary_percentage=10), "canaryPercentage", "applies to Canary and Geographic"),
        (spec(preview_units=("x",)), "previewUnits", "applies to BlueGreen"),
        (spec(cohorts=("vip",)), "cohorts", "applies to Segmented"),
        (spec(local_start_time=time(2)), "localStartTime", "applies to Geographic"),
        (spec(Strategy.ROLLING, batch_size=2), "batchSize", "give targetInstances"),
        (spec(Strategy.ROLLING, batch_size=0, target_units=("a",)), "batchSize", "at least 1"),
        (spec(Strategy.ROLLING, batch_size=1, batch_percentage=5.0), "batchSize", "not both"),
        (spec(Strategy.ROLLING, batch_percentage=0.99), "batchPercentage", "at least 1 (at most 100 batches)"),
        (spec(Strategy.ROLLING, batch_percentage=5e-324), "batchPercentage", "at least 1 (at most 100 batches)"),
        (spec(Strategy.ROLLING, batch_percentage=-1.0), "batchPercentage", "must be between 0 and 100"),
        (spec(Strategy.ROLLING, batch_wait=timedelta(seconds=-1)), "batchWait", "must not be negative"),
        (spec(Strategy.SEGMENTED, UnitKind.PLAYERS), "cohorts", "at least one cohort"),
        (spec(Strategy.SEGMENTED, cohorts=("vip",)), "unitKind", "exposes players"),
        (spec(Strategy.SEGMENTED, UnitKind.PLAYERS, cohorts=("*", "vip")), "cohorts.0", "must come last"),
        (spec(Strategy.SEGMENTED, UnitKind.PLAYERS, cohorts=("vip", "vip")), "cohorts.1", "listed twice"),
        (spec(Strategy.GEOGRAPHIC, local_start_time=time(2, tzinfo=T0.tzinfo)), "localStartTime", "without an offset"),
        (spec(manual_gates=frozenset({4})), "manualGates", "there is no step 4: the plan has steps 0 to 3"),
        (spec(manual_gates=frozenset({-1})), "manualGates", "0 or more"),
        (spec(seed=""), "seed", "must not be empty"),
    ],
)
def test_each_bad_field_gets_its_own_error(request_: DeploymentSpec, field: str, message: str) -> None:
    errors = validate_spec(request_, REGIONS)
    assert [e.field for e in errors] == [field]
    assert message in errors[0].message
    with pytest.raises(InvalidInput) as raised:
        plan(request_, REGIONS, T0)
    assert raised.value.errors == errors


def test_all_the_failing_fields_are_listed_at_once() -> None:
    bad = spec(canary_percentage=0, target_regions=("mars",), batch_size=3, evaluation_period=timedelta(-1))
    fields = [e.field for e in validate_spec(bad, REGIONS)]
    assert fields == ["batchSize", "targetRegions.0", "canaryPercentage", "evaluationPeriod"]


def test_geographic_needs_registered_regions_with_real_time_zones() -> None:
    errors = validate_spec(spec(Strategy.GEOGRAPHIC), ())
    assert [(e.field, e.message) for e in errors] == [
        ("targetRegions", "a Geographic deployment needs registered regions; none are")
    ]
    odd = (*REGIONS, RegionInfo("MOON", "Moon/Base", 9))
    errors = validate_spec(spec(Strategy.GEOGRAPHIC, local_start_time=time(2)), odd)
    assert [(e.field, e.message) for e in errors] == [
        ("localStartTime", "region MOON has an unknown time zone 'Moon/Base'")
    ]
    assert validate_spec(spec(Strategy.GEOGRAPHIC), odd) == []  # no local times: zones do not matter


def test_a_plan_has_at_most_max_steps() -> None:
    servers = tuple(f"gs-{i}" for i in range(MAX_STEPS + 1))
    errors = validate_spec(spec(Strategy.ROLLING, target_units=servers, batch_size=1), REGIONS)
    assert [(e.field, e.message) for e in errors] == [("batchSize", f"makes {MAX_STEPS + 1} batches; at most 100")]
    assert validate_spec(spec(Strategy.ROLLING, target_units=servers[:-1], batch_size=1), REGIONS) == []
    # A tiny share of a few named servers is still one server per batch.
    few = plan(spec(Strategy.ROLLING, target_units=("a", "b", "c"), batch_percentage=0.5), REGIONS, T0)
    assert [len(s.exposure[0].units or ()) for s in few.steps] == [1, 2, 3]


# -- properties -----------------------------------------------------------------------------


@given(specs())
def test_valid_specs_plan_the_same_steps_every_time(request_: DeploymentSpec) -> None:
    assert validate_spec(request_, REGIONS) == []
    first = plan(request_, REGIONS, T0)
    assert first == plan(request_, REGIONS, T0)
    assert 1 <= len(first.steps) <= MAX_STEPS
    assert [s.gate for s in first.steps] == [
        s.index in request_.manual_gates or (request_.strategy is Strategy.BLUE_GREEN and s.name == "switch")
        for s in first.steps
    ]


@given(specs(), st.data())
def test_exposure_is_sticky_from_step_to_step_for_every_strategy(request_: DeploymentSpec, data: st.DataObject) -> None:
    p = plan(request_, REGIONS, T0)
    named = list(request_.target_units or ()) + list(request_.preview_units or ())
    population = data.draw(units()) + data.draw(units(named))
    exposure = [{u for u in population if exposed(step.exposure, p.seed, u)} for step in p.steps]
    for before, after in itertools.pairwise(exposure):
        assert before <= after
    if p.reaches_everyone:
        assert exposure[-1] == set(population)


@given(specs(Strategy.CANARY), st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=30, unique=True))
def test_a_canary_over_everyone_ends_with_everyone(request_: DeploymentSpec, ids: list[str]) -> None:
    request_ = spec(Strategy.CANARY, canary_percentage=request_.canary_percentage, steps=request_.steps)
    p = plan(request_, REGIONS, T0)
    assert p.reaches_everyone
    assert all(exposed(p.steps[-1].exposure, p.seed, Unit(i)) for i in ids)
    assert [s.exposure[0].percentage for s in p.steps] == sorted(s.exposure[0].percentage for s in p.steps)


wild_floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([5e-324, 1e-300, 0.0, 100.0])
wild_periods = st.timedeltas(min_value=timedelta(days=-5), max_value=timedelta(days=40))
wild_ids = st.lists(st.text(max_size=3), max_size=4).map(tuple)
wild_specs = st.builds(
    DeploymentSpec,
    strategy=st.sampled_from(Strategy),
    unit_kind=st.sampled_from(UnitKind),
    seed=st.text(max_size=3),
    target_regions=st.none() | st.lists(st.sampled_from([*REGION_IDS, "us-east", "mars", ""]), max_size=4).map(tuple),
    target_units=st.none() | wild_ids,
    canary_percentage=st.none() | wild_floats,
    steps=st.none() | st.lists(wild_floats, max_size=4).map(tuple),
    evaluation_period=st.none() | wild_periods,
    batch_size=st.none() | st.integers(-2, 10**6),
    batch_percentage=st.none() | wild_floats,
    batch_wait=st.none() | wild_periods,
    preview_units=st.none() | wild_ids,
    cohorts=st.none() | st.lists(st.sampled_from(["vip", "everyone", "*", "", "testers"]), max_size=4).map(tuple),
    local_start_time=st.none() | st.times(timezones=st.none() | st.just(T0.tzinfo)),
    manual_gates=st.frozensets(st.integers(-2, 120), max_size=3),
    gate_all=st.booleans(),
)


@given(wild_specs, st.sampled_from([REGIONS, ()]))
def test_validation_never_raises_and_what_it_accepts_plans(
    request_: DeploymentSpec, regions: tuple[RegionInfo, ...]
) -> None:
    errors = validate_spec(request_, regions)
    assert all(e.field and e.message for e in errors)
    if errors:
        with pytest.raises(InvalidInput):
            plan(request_, regions, T0)
    else:
        assert 1 <= len(plan(request_, regions, T0).steps) <= MAX_STEPS
