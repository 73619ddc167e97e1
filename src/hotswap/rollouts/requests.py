"""A deployment request (the command the API, the simulator and tests give the service), and
from it the model's `DeploymentSpec`, with every failing field named as the request named it
(the other names a request may use, `regions`, `rolloutStrategy`, `targetPlayerPercentage`, are
reported under those names)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any, Literal, TypeVar

from hotswap.core.errors import FieldError, InvalidInput
from hotswap.rollouts.model import DeploymentSpec, RegionInfo, Strategy, UnitKind
from hotswap.rollouts.strategies import validate_spec
from hotswap.rollouts.subjects import SubjectRequest

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class DeploymentRequest:
    """What to roll out, how and to whom. Pairs of names for one thing (`target_regions` and
    `regions`, ...) are both kept, so that an error names the one the request used."""

    subject: SubjectRequest
    strategy: str | None = None
    rollout_strategy: str | None = None
    unit_kind: str | None = None
    target_regions: list[str] | None = None
    regions: list[str] | None = None
    target_instances: list[str] | None = None
    canary_percentage: float | None = None
    target_player_percentage: float | None = None
    steps: list[float] | None = None
    evaluation_period: timedelta | None = None
    health_check_enabled: bool = True
    analysis: dict[str, Any] | None = None
    batch_size: int | None = None
    batch_percentage: float | None = None
    batch_wait: timedelta | None = None
    preview_units: list[str] | None = None
    cohorts: list[str] | None = None
    local_start_time: time | None = None
    manual_gates: list[int] | Literal["all"] | None = None
    hash_seed: str | None = None
    comment: str | None = None


def spec_for(
    body: DeploymentRequest,
    *,
    seed: str,
    regions: Sequence[RegionInfo],
    unit_kinds: Sequence[UnitKind],
    subject_name: str,
) -> DeploymentSpec:
    """The spec a request asks for; InvalidInput (422) listing each failing field otherwise.
    Units default to the subject's first kind (servers for a config, players for a live event)."""
    renames = {
        "targetRegions": "regions" if body.regions is not None else "targetRegions",
        "canaryPercentage": "targetPlayerPercentage" if body.target_player_percentage is not None else None,
        "strategy": "rolloutStrategy" if body.strategy is None else "strategy",
    }
    raw_strategy = body.strategy or body.rollout_strategy
    if raw_strategy is None:
        raise InvalidInput(
            "The deployment needs a strategy.",
            errors=[FieldError("body.strategy", "give strategy (or rolloutStrategy): " + _choices())],
        )
    try:
        strategy = Strategy.parse(raw_strategy)
    except ValueError as exc:
        raise InvalidInput(
            f"Unknown strategy {raw_strategy[:40]!r}.", errors=[FieldError(f"body.{renames['strategy']}", str(exc))]
        ) from exc
    if body.unit_kind is not None:
        kind = UnitKind(body.unit_kind)
        if kind not in unit_kinds:
            allowed = " or ".join(k.value for k in unit_kinds)
            raise InvalidInput(
                f"A {subject_name} rolls out to {allowed}.",
                errors=[FieldError("body.unitKind", f"must be {allowed} for a {subject_name}")],
            )
    elif (body.target_player_percentage is not None or strategy is Strategy.SEGMENTED) and (
        UnitKind.PLAYERS in unit_kinds
    ):
        kind = UnitKind.PLAYERS
    else:
        kind = unit_kinds[0]  # a config deploys to game servers by default
    gates = body.manual_gates
    spec = DeploymentSpec(
        strategy=strategy,
        unit_kind=kind,
        seed=seed,
        target_regions=_tuple(body.target_regions if body.target_regions is not None else body.regions),
        target_units=_tuple(body.target_instances),
        canary_percentage=body.canary_percentage
        if body.canary_percentage is not None
        else body.target_player_percentage,
        steps=_tuple(body.steps),
        evaluation_period=body.evaluation_period,
        batch_size=body.batch_size,
        batch_percentage=body.batch_percentage,
        batch_wait=body.batch_wait,
        preview_units=_tuple(body.preview_units),
        cohorts=_tuple(body.cohorts),
        local_start_time=body.local_start_time,
        manual_gates=frozenset(gates) if isinstance(gates, list) else frozenset(),
        gate_all=gates == "all",
    )
    errors = validate_spec(spec, regions)
    if errors:
        raise InvalidInput(
            "The deployment request is invalid.",
            errors=[FieldError(_renamed(e.field, renames), e.message) for e in errors],
        )
    return spec


def _renamed(field: str, renames: dict[str, str | None]) -> str:
    head, dot, rest = field.partition(".")
    return f"body.{renames.get(head) or head}{dot}{rest}"


def _tuple(values: list[_T] | None) -> tuple[_T, ...] | None:
    return tuple(values) if values is not None else None


def _choices() -> str:
    return ", ".join(s.value for s in Strategy)
