"""From a deployment request to its steps: validation and the six strategies.

Pure and deterministic: the same spec, regions and `now` always give the same plan. Exposure is
cumulative and sticky by construction (each step's grants admit everyone the step before
admitted), so a unit exposed at one step is exposed at every later one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hotswap.core.errors import FieldError, InvalidInput
from hotswap.rollouts._checks import MAX_HOLD as MAX_HOLD
from hotswap.rollouts._checks import field_errors
from hotswap.rollouts._localtime import next_local_start as next_local_start
from hotswap.rollouts._localtime import zone as zone
from hotswap.rollouts.model import (
    EVERYONE_COHORTS,
    DeploymentSpec,
    Grant,
    LocalStart,
    Plan,
    RegionInfo,
    Step,
    Strategy,
    find_region,
    position,
)

DEFAULT_CANARY_STEPS = (10.0, 30.0, 50.0, 100.0)  # percent of units at each step
DEFAULT_EVALUATION_PERIOD = timedelta(minutes=30)  # each canary step is watched this long
DEFAULT_REGION_WINDOW = timedelta(hours=1)  # each region is watched this long
DEFAULT_BATCH_PERCENTAGE = 20.0  # five batches; one server at a time on a fleet of five or fewer
DEFAULT_BATCH_WAIT = timedelta(minutes=5)
MAX_STEPS = 100


# -- validation -----------------------------------------------------------------------------


def validate_spec(spec: DeploymentSpec, regions: Sequence[RegionInfo] = ()) -> list[FieldError]:
    """Everything wrong with a request, one `FieldError` per failing field; empty when `plan`
    will accept it. Never raises on bad input.

    Paths are the API's camelCase names relative to the body (`canaryPercentage`, `steps.2`,
    `targetRegions.0`); the service prefixes `body.` and renames the request's aliases if it wants.
    Target regions are checked against `regions` (ids or aliases, any case) when any are known.
    """
    selected = _selected(spec, regions)
    errors = field_errors(spec, regions, selected)
    if errors:
        return errors
    if spec.strategy is Strategy.ROLLING:
        # Counted before the steps are built: a tiny batch would make millions of them.
        if spec.target_units is None and _batch_percentage(spec) < 100 / MAX_STEPS:
            return [
                FieldError("batchPercentage", f"must be at least {100 / MAX_STEPS:g} (at most {MAX_STEPS} batches)")
            ]
        batches = len(_batch_counts(spec)) if spec.target_units else 0
        if batches > MAX_STEPS:
            field = "batchSize" if spec.batch_size is not None else "batchPercentage"
            return [FieldError(field, f"makes {batches} batches; at most {MAX_STEPS}")]
    count = len(_steps(spec, selected, None))
    if count > MAX_STEPS:
        return [FieldError("steps", f"the plan would have {count} steps; at most {MAX_STEPS}")]
    return [
        FieldError("manualGates", f"there is no step {gate}: the plan has steps 0 to {count - 1}")
        for gate in sorted(spec.manual_gates)
        if gate >= count
    ]


# -- plans ----------------------------------------------------------------------------------


def plan(spec: DeploymentSpec, regions: Sequence[RegionInfo], now: datetime) -> Plan:
    """The steps of a deployment. Raises InvalidInput (with every failing field) when
    `validate_spec` finds anything wrong.

    - Direct: one step, everyone (within the targets); held for the evaluation period if given.
    - Canary: 10 → 30 → 50 → 100% (or `canaryPercentage` then the defaults above it, or custom
      `steps`), each held for the evaluation period, 100% completing at once. With named units:
      ceil(p% of n) of them (at least one), ranked by hash so the sets grow; equal sets merge.
    - BlueGreen: "preview" (the preview units), then "switch" (everyone at once), both held for
      the evaluation period. The switch is always a gate: the deployment stays Running with the
      old version as its baseline, ready for an instant switch back, until a person promotes
      (finalizes) it.
    - Rolling: cumulative batches of `batchSize` named units or `batchPercentage` (default 20%),
      `batchWait` (default 5 minutes) after each batch but the last.
    - Geographic: one step per region in region order, exposing every region so far; each held
      for the window (default 1 hour), the last too. Over all regions (no `targetRegions`), the
      last step exposes everyone, whatever their region. With `canaryPercentage`, each region first
      gets a "canary p% in R" step. With `localStartTime`, a region's first step starts at that
      local time: the first region's `not_before` is set from `now`; the others carry
      `local_start`, which `lifecycle.decide` resolves once the previous step's end is known.
    - Segmented: one step per cohort, adding it (cumulative); "everyone" lifts the segment limit.
    """
    errors = validate_spec(spec, regions)
    if errors:
        raise InvalidInput("The deployment request is invalid.", errors=errors)
    return Plan(spec.strategy, spec.unit_kind, spec.seed, tuple(_steps(spec, _selected(spec, regions), now)))


def rank_units(seed: str, units: Sequence[str]) -> list[str]:
    """Named units in the order a canary or rolling deployment exposes them: by hash position
    under the seed (ties by id), so each step's set contains the one before."""
    return sorted(units, key=lambda unit: (position(seed, unit), unit))


def canary_percentages(spec: DeploymentSpec) -> tuple[float, ...]:
    """A Canary's step percentages, always ending at 100."""
    if spec.steps:
        return spec.steps if spec.steps[-1] >= 100 else (*spec.steps, 100.0)
    if spec.canary_percentage is not None:
        first = spec.canary_percentage
        return (first, *(p for p in DEFAULT_CANARY_STEPS if p > first))
    return DEFAULT_CANARY_STEPS


def _region_order(region: RegionInfo) -> tuple[int, str]:
    return (region.order, region.id)


def _selected(spec: DeploymentSpec, regions: Sequence[RegionInfo]) -> list[RegionInfo] | None:
    """The target regions, in region order; None for no region restriction. When no region is
    registered, the names stand for themselves, upper-cased, as the snapshot reads them."""
    if spec.target_regions is None:
        return sorted(regions, key=_region_order) if spec.strategy is Strategy.GEOGRAPHIC else None
    if not regions:
        return [RegionInfo(name.strip().upper(), "UTC", i) for i, name in enumerate(spec.target_regions)]
    found = {r.id: r for r in (find_region(name, regions) for name in spec.target_regions) if r is not None}
    return sorted(found.values(), key=_region_order)


@dataclass(frozen=True, slots=True)
class _Draft:
    """A step before numbering and gates."""

    name: str
    exposure: tuple[Grant, ...]
    hold: timedelta | None
    region: str | None = None
    local: LocalStart | None = None
    gate: bool = False


def _steps(spec: DeploymentSpec, selected: list[RegionInfo] | None, now: datetime | None) -> list[Step]:
    """The steps of a valid spec. `now` None: only their number matters (validation)."""
    ids = None if selected is None else frozenset(r.id for r in selected)
    units = None if spec.target_units is None else frozenset(spec.target_units)
    everyone = Grant(100, ids, None, units)  # within the targets
    period = spec.evaluation_period or DEFAULT_EVALUATION_PERIOD
    drafts: list[_Draft] = []
    if spec.strategy is Strategy.DIRECT:
        drafts.append(_Draft("everyone", (everyone,), spec.evaluation_period))
    elif spec.strategy is Strategy.CANARY:
        drafts += [_Draft(name, grants, period) for name, grants in _canary(spec, ids)]
    elif spec.strategy is Strategy.BLUE_GREEN:
        if spec.preview_units is None:
            drafts.append(_Draft("switch", (everyone,), period, gate=True))
        else:
            preview = Grant(100, units=frozenset(spec.preview_units))
            drafts.append(_Draft("preview", (preview,), period))
            # The preview units keep it when the switch is limited to targets they are not in.
            switch = (everyone,) if everyone.unrestricted else (everyone, preview)
            drafts.append(_Draft("switch", switch, period, gate=True))
    elif spec.strategy is Strategy.ROLLING:
        wait = DEFAULT_BATCH_WAIT if spec.batch_wait is None else spec.batch_wait
        drafts += [_Draft(name, grants, wait) for name, grants in _rolling(spec, ids)]
    elif spec.strategy is Strategy.GEOGRAPHIC:
        drafts += _geographic(spec, selected or [], units)
    else:
        cohorts: list[Grant] = []
        for cohort in spec.cohorts or ():
            everyone_else = cohort.lower() in EVERYONE_COHORTS
            cohorts = [everyone] if everyone_else else [*cohorts, Grant(100, ids, cohort, units)]
            drafts.append(_Draft(f"cohort {cohort}", tuple(cohorts), period))
    steps: list[Step] = []
    for index, draft in enumerate(drafts):
        hold = draft.hold
        if index == len(drafts) - 1 and spec.strategy in (Strategy.CANARY, Strategy.ROLLING, Strategy.SEGMENTED):
            hold = None  # reaching 100 % is success: the deployment completes
        not_before = None
        if draft.local is not None and index == 0 and now is not None:
            not_before = next_local_start(draft.local.at, draft.local.time_zone, now)
        gate = draft.gate or spec.gate_all or index in spec.manual_gates
        steps.append(Step(index, draft.name, draft.exposure, hold, gate, not_before, draft.region, draft.local))
    return steps


def _pct(value: float) -> str:
    return f"{value:g}%"


def _canary(spec: DeploymentSpec, ids: frozenset[str] | None) -> list[tuple[str, tuple[Grant, ...]]]:
    percentages = canary_percentages(spec)
    if spec.target_units is None:
        return [(f"canary {_pct(p)}", (Grant(p, ids),)) for p in percentages]
    ranked = rank_units(spec.seed, spec.target_units)
    n = len(ranked)
    counts = [max(1, math.ceil(round(p * n / 100, 9))) for p in percentages]
    # Percentages that name the same servers (10% and 30% of 3 are both 1) make one step.
    return [(f"canary {c}/{n}", (Grant(100, ids, None, frozenset(ranked[:c])),)) for c in dict.fromkeys(counts)]


def _batch_percentage(spec: DeploymentSpec) -> float:
    return spec.batch_percentage if spec.batch_percentage is not None else DEFAULT_BATCH_PERCENTAGE


def _batch_total(percentage: float) -> int:
    return max(1, math.ceil(round(100 / percentage, 9)))


def _batch_counts(spec: DeploymentSpec) -> list[int]:
    """Cumulative named-unit counts per batch."""
    n = len(spec.target_units or ())
    size = spec.batch_size or max(1, math.ceil(round(_batch_percentage(spec) * n / 100, 9)))
    return [min(n, k * size) for k in range(1, math.ceil(n / size) + 1)]


def _rolling(spec: DeploymentSpec, ids: frozenset[str] | None) -> list[tuple[str, tuple[Grant, ...]]]:
    if spec.target_units is None:
        p = _batch_percentage(spec)
        n = _batch_total(p)
        return [(f"batch {k}/{n}", (Grant(min(100.0, k * p) if k < n else 100.0, ids),)) for k in range(1, n + 1)]
    ranked = rank_units(spec.seed, spec.target_units)
    counts = _batch_counts(spec)
    n = len(counts)
    return [(f"batch {k}/{n}", (Grant(100, ids, None, frozenset(ranked[:c])),)) for k, c in enumerate(counts, 1)]


def _geographic(spec: DeploymentSpec, selected: list[RegionInfo], units: frozenset[str] | None) -> list[_Draft]:
    window = spec.evaluation_period or DEFAULT_REGION_WINDOW
    drafts: list[_Draft] = []
    done: list[str] = []
    for region in selected:
        local = None if spec.local_start_time is None else LocalStart(spec.local_start_time, region.time_zone)
        if spec.canary_percentage is not None and spec.canary_percentage < 100:
            before = (Grant(100, frozenset(done), None, units),) if done else ()
            canary = Grant(spec.canary_percentage, frozenset({region.id}), None, units)
            name = f"canary {_pct(spec.canary_percentage)} in {region.id}"
            drafts.append(_Draft(name, (*before, canary), window, region.id, local))
            local = None  # the region's first step waits for the local time, not the second
        done.append(region.id)
        drafts.append(
            _Draft(f"region {region.id}", (Grant(100, frozenset(done), None, units),), window, region.id, local)
        )
    if drafts and spec.target_regions is None:
        # Every region is done: the last step lifts the region limit, so units whose region is
        # unknown or unregistered get the version too, and success can make it the live one.
        last = drafts[-1]
        drafts[-1] = _Draft(last.name, (Grant(100, None, None, units),), last.hold, last.region, last.local)
    return drafts
