"""Field-by-field checks of a deployment request (`strategies.validate_spec` runs them)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from hotswap.core.errors import FieldError
from hotswap.rollouts._localtime import zone
from hotswap.rollouts.model import EVERYONE_COHORTS, DeploymentSpec, RegionInfo, Strategy, UnitKind, find_region

MAX_HOLD = timedelta(days=30)

# The request fields that only some strategies use; giving one to another strategy is an error
# rather than silently ignored, so a mistyped strategy does not roll out differently than asked.
_APPLIES_TO: dict[str, frozenset[Strategy]] = {
    "canaryPercentage": frozenset({Strategy.CANARY, Strategy.GEOGRAPHIC}),
    "steps": frozenset({Strategy.CANARY}),
    "batchSize": frozenset({Strategy.ROLLING}),
    "batchPercentage": frozenset({Strategy.ROLLING}),
    "batchWait": frozenset({Strategy.ROLLING}),
    "previewUnits": frozenset({Strategy.BLUE_GREEN}),
    "cohorts": frozenset({Strategy.SEGMENTED}),
    "localStartTime": frozenset({Strategy.GEOGRAPHIC}),
}


def field_errors(
    spec: DeploymentSpec, regions: Sequence[RegionInfo], selected: Sequence[RegionInfo] | None
) -> list[FieldError]:
    """The errors of each field on its own; `selected` are the target regions found."""
    errors: list[FieldError] = []
    add = errors.append
    if not spec.seed:
        add(FieldError("seed", "must not be empty"))
    for name in _APPLIES_TO:
        if _given(spec, name) and spec.strategy not in _APPLIES_TO[name]:
            allowed = " and ".join(sorted(s.value for s in _APPLIES_TO[name]))
            add(FieldError(name, f"applies to {allowed} deployments only, not {spec.strategy.value}"))
    errors += _check_regions(spec, regions)
    errors += _check_ids("targetInstances", spec.target_units)
    errors += _check_ids("previewUnits", spec.preview_units)
    if spec.canary_percentage is not None and not is_percentage(spec.canary_percentage):
        add(FieldError("canaryPercentage", "must be between 0 and 100 (exclusive of 0)"))
    if spec.steps is not None:
        errors += _check_steps(spec)
    errors += _check_period("evaluationPeriod", spec.evaluation_period, zero_ok=False)
    errors += _check_period("batchWait", spec.batch_wait, zero_ok=True)
    if spec.strategy is Strategy.ROLLING:
        errors += _check_batches(spec)
    if spec.strategy is Strategy.SEGMENTED:
        errors += _check_cohorts(spec)
    if spec.local_start_time is not None:
        errors += _check_local_start(spec, selected)
    if any(gate < 0 for gate in spec.manual_gates):
        add(FieldError("manualGates", "step indexes are 0 or more"))
    return errors


def _given(spec: DeploymentSpec, name: str) -> bool:
    value = {
        "canaryPercentage": spec.canary_percentage,
        "steps": spec.steps,
        "batchSize": spec.batch_size,
        "batchPercentage": spec.batch_percentage,
        "batchWait": spec.batch_wait,
        "previewUnits": spec.preview_units,
        "cohorts": spec.cohorts,
        "localStartTime": spec.local_start_time,
    }[name]
    return value is not None


def is_percentage(value: float) -> bool:
    return math.isfinite(value) and 0 < value <= 100


def _check_regions(spec: DeploymentSpec, regions: Sequence[RegionInfo]) -> list[FieldError]:
    errors: list[FieldError] = []
    if spec.strategy is Strategy.GEOGRAPHIC and not regions:
        errors.append(FieldError("targetRegions", "a Geographic deployment needs registered regions; none are"))
    if spec.target_regions is None:
        return errors
    if not spec.target_regions:
        return [*errors, FieldError("targetRegions", "must name at least one region, or be left out for all")]
    seen: set[str] = set()
    for i, name in enumerate(spec.target_regions):
        found = find_region(name, regions) if regions else None
        if regions and found is None:
            known = ", ".join(r.id for r in sorted(regions, key=lambda r: (r.order, r.id)))
            errors.append(FieldError(f"targetRegions.{i}", f"unknown region {name!r}; known: {known}"))
            continue
        key = found.id if found is not None else name.strip().upper()
        if not key:
            errors.append(FieldError(f"targetRegions.{i}", "must not be empty"))
        elif key in seen:
            errors.append(FieldError(f"targetRegions.{i}", f"{name!r} is listed twice"))
        seen.add(key)
    return errors


def _check_ids(field: str, ids: tuple[str, ...] | None) -> list[FieldError]:
    if ids is None:
        return []
    if not ids:
        return [FieldError(field, "must name at least one unit, or be left out")]
    errors, seen = [], set()
    for i, unit in enumerate(ids):
        if not unit:
            errors.append(FieldError(f"{field}.{i}", "must not be empty"))
        elif unit in seen:
            errors.append(FieldError(f"{field}.{i}", f"{unit!r} is listed twice"))
        seen.add(unit)
    return errors


def _check_steps(spec: DeploymentSpec) -> list[FieldError]:
    assert spec.steps is not None
    if spec.canary_percentage is not None:
        return [FieldError("steps", "give canaryPercentage or steps, not both")]
    if not spec.steps:
        return [FieldError("steps", "must list at least one percentage")]
    errors = []
    for i, value in enumerate(spec.steps):
        if not is_percentage(value):
            errors.append(FieldError(f"steps.{i}", "must be between 0 and 100 (exclusive of 0)"))
        elif i > 0 and not value > spec.steps[i - 1]:
            errors.append(FieldError(f"steps.{i}", "must be greater than the step before"))
    return errors


def _check_period(field: str, period: timedelta | None, *, zero_ok: bool) -> list[FieldError]:
    if period is None:
        return []
    if period < timedelta(0) or (period == timedelta(0) and not zero_ok):
        return [FieldError(field, "must not be negative" if zero_ok else "must be positive")]
    if period > MAX_HOLD:
        return [FieldError(field, f"must be at most {MAX_HOLD.days} days")]
    return []


def _check_batches(spec: DeploymentSpec) -> list[FieldError]:
    if spec.batch_size is not None and spec.batch_percentage is not None:
        return [FieldError("batchSize", "give batchSize or batchPercentage, not both")]
    if spec.batch_size is not None:
        if spec.batch_size < 1:
            return [FieldError("batchSize", "must be at least 1")]
        if spec.target_units is None:
            return [FieldError("batchSize", "counts named units: give targetInstances, or use batchPercentage")]
    if spec.batch_percentage is not None and not is_percentage(spec.batch_percentage):
        return [FieldError("batchPercentage", "must be between 0 and 100 (exclusive of 0)")]
    return []


def _check_cohorts(spec: DeploymentSpec) -> list[FieldError]:
    errors = []
    if spec.unit_kind is not UnitKind.PLAYERS:
        errors.append(
            FieldError("unitKind", "a Segmented deployment exposes players: segments are over their attributes")
        )
    if not spec.cohorts:
        return [*errors, FieldError("cohorts", "a Segmented deployment needs at least one cohort")]
    seen: set[str] = set()
    for i, cohort in enumerate(spec.cohorts):
        key = "*" if cohort.lower() in EVERYONE_COHORTS else cohort
        if not cohort:
            errors.append(FieldError(f"cohorts.{i}", "must not be empty"))
        elif key in seen:
            errors.append(FieldError(f"cohorts.{i}", f"{cohort!r} is listed twice"))
        elif key == "*" and i != len(spec.cohorts) - 1:
            errors.append(FieldError(f"cohorts.{i}", f"{cohort!r} takes everyone else, so it must come last"))
        seen.add(key)
    return errors


def _check_local_start(spec: DeploymentSpec, selected: Sequence[RegionInfo] | None) -> list[FieldError]:
    assert spec.local_start_time is not None
    if spec.local_start_time.tzinfo is not None:
        return [FieldError("localStartTime", "a wall-clock time in each region, without an offset (e.g. 02:00)")]
    return [
        FieldError("localStartTime", f"region {region.id} has an unknown time zone {region.time_zone!r}")
        for region in selected or ()
        if zone(region.time_zone) is None
    ]
