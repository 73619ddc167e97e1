"""Plans and specs as JSON documents, for the store (`deployments.plan`, `deployments.spec`) and
the snapshot (a grant's document is exactly what `snapshot.py` reads in a rollout's `exposure`).

Durations are seconds, instants ISO 8601 in UTC, local times `HH:MM[:SS]`. Decoding checks the
shape and raises ValueError on anything else: a stored document is trusted, not user input.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from hotswap.rollouts.model import DeploymentSpec, Grant, LocalStart, Plan, Step, Strategy, UnitKind

PLAN_FORMAT = 1


def grant_to_json(grant: Grant) -> dict[str, Any]:
    """`{"percentage", "regions"?, "segment"?, "units"?}`, lists sorted so equal grants encode equally."""
    out: dict[str, Any] = {"percentage": grant.percentage}
    if grant.regions is not None:
        out["regions"] = sorted(grant.regions)
    if grant.segment is not None:
        out["segment"] = grant.segment
    if grant.units is not None:
        out["units"] = sorted(grant.units)
    return out


def grant_from_json(doc: Mapping[str, Any]) -> Grant:
    regions, units = doc.get("regions"), doc.get("units")
    return Grant(
        float(doc["percentage"]),
        None if regions is None else frozenset(_strings(regions)),
        None if doc.get("segment") is None else str(doc["segment"]),
        None if units is None else frozenset(_strings(units)),
    )


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "format": PLAN_FORMAT,
        "strategy": plan.strategy.value,
        "unitKind": plan.unit_kind.value,
        "seed": plan.seed,
        "steps": [_step_to_json(step) for step in plan.steps],
    }


def plan_from_json(doc: Mapping[str, Any]) -> Plan:
    """The plan `plan_to_json` stored; ValueError if `doc` is not one."""
    try:
        if doc.get("format") != PLAN_FORMAT:
            raise ValueError(f"unknown plan format {doc.get('format')!r}")
        return Plan(
            Strategy(doc["strategy"]),
            UnitKind(doc["unitKind"]),
            str(doc["seed"]),
            tuple(_step_from_json(step) for step in doc["steps"]),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a stored plan: {exc!r}") from exc


def _step_to_json(step: Step) -> dict[str, Any]:
    return {
        "index": step.index,
        "name": step.name,
        "exposure": [grant_to_json(g) for g in step.exposure],
        "holdSeconds": _seconds(step.hold),
        "gate": step.gate,
        "notBefore": None if step.not_before is None else step.not_before.astimezone(UTC).isoformat(),
        "region": step.region,
        "localStart": None
        if step.local_start is None
        else {"at": step.local_start.at.isoformat(), "timeZone": step.local_start.time_zone},
    }


def _step_from_json(doc: Mapping[str, Any]) -> Step:
    local = doc.get("localStart")
    return Step(
        int(doc["index"]),
        str(doc["name"]),
        tuple(grant_from_json(g) for g in doc["exposure"]),
        _period(doc.get("holdSeconds")),
        bool(doc.get("gate", False)),
        _instant(doc.get("notBefore")),
        None if doc.get("region") is None else str(doc["region"]),
        None if local is None else LocalStart(time.fromisoformat(local["at"]), str(local["timeZone"])),
    )


def spec_to_json(spec: DeploymentSpec) -> dict[str, Any]:
    """The request, normalised, with the API's names; fields not given are left out."""
    out: dict[str, Any] = {"strategy": spec.strategy.value, "unitKind": spec.unit_kind.value, "seed": spec.seed}
    optional: dict[str, Any] = {
        "targetRegions": None if spec.target_regions is None else list(spec.target_regions),
        "targetInstances": None if spec.target_units is None else list(spec.target_units),
        "canaryPercentage": spec.canary_percentage,
        "steps": None if spec.steps is None else list(spec.steps),
        "evaluationPeriodSeconds": _seconds(spec.evaluation_period),
        "batchSize": spec.batch_size,
        "batchPercentage": spec.batch_percentage,
        "batchWaitSeconds": _seconds(spec.batch_wait),
        "previewUnits": None if spec.preview_units is None else list(spec.preview_units),
        "cohorts": None if spec.cohorts is None else list(spec.cohorts),
        "localStartTime": None if spec.local_start_time is None else spec.local_start_time.isoformat(),
        "manualGates": sorted(spec.manual_gates) or None,
        "gateAll": spec.gate_all or None,
    }
    out.update({key: value for key, value in optional.items() if value is not None})
    return out


def spec_from_json(doc: Mapping[str, Any]) -> DeploymentSpec:
    """The spec `spec_to_json` stored; ValueError if `doc` is not one."""
    try:
        return DeploymentSpec(
            strategy=Strategy(doc["strategy"]),
            unit_kind=UnitKind(doc["unitKind"]),
            seed=str(doc["seed"]),
            target_regions=_tuple(doc.get("targetRegions")),
            target_units=_tuple(doc.get("targetInstances")),
            canary_percentage=_float(doc.get("canaryPercentage")),
            steps=None if doc.get("steps") is None else tuple(float(p) for p in doc["steps"]),
            evaluation_period=_period(doc.get("evaluationPeriodSeconds")),
            batch_size=None if doc.get("batchSize") is None else int(doc["batchSize"]),
            batch_percentage=_float(doc.get("batchPercentage")),
            batch_wait=_period(doc.get("batchWaitSeconds")),
            preview_units=_tuple(doc.get("previewUnits")),
            cohorts=_tuple(doc.get("cohorts")),
            local_start_time=None if doc.get("localStartTime") is None else time.fromisoformat(doc["localStartTime"]),
            manual_gates=frozenset(int(i) for i in doc.get("manualGates") or ()),
            gate_all=bool(doc.get("gateAll", False)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a stored deployment spec: {exc!r}") from exc


def _strings(values: Any) -> list[str]:
    if not isinstance(values, list):
        raise ValueError(f"expected a list of strings, not {type(values).__name__}")
    return [str(v) for v in values]


def _tuple(values: Any) -> tuple[str, ...] | None:
    return None if values is None else tuple(_strings(values))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _seconds(period: timedelta | None) -> float | None:
    return None if period is None else period.total_seconds()


def _period(seconds: Any) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=float(seconds))


def _instant(text: Any) -> datetime | None:
    if text is None:
        return None
    instant = datetime.fromisoformat(str(text))
    if instant.tzinfo is None:
        raise ValueError(f"instant {text!r} has no offset")
    return instant.astimezone(UTC)
