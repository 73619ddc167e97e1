"""From a deployment request body to the model's `DeploymentSpec`, with every failing field
named as the request named it (seed 000's `regions`, `rolloutStrategy`, `targetPlayerPercentage`
are reported under those names)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from hotswap.core.errors import FieldError, InvalidInput
from hotswap.rollouts.model import DeploymentSpec, RegionInfo, Strategy, SubjectKind, UnitKind
from hotswap.rollouts.schemas import DeploymentCreate
from hotswap.rollouts.strategies import validate_spec

_T = TypeVar("_T")


def spec_for(
    body: DeploymentCreate,
    *,
    seed: str,
    regions: Sequence[RegionInfo],
    subject: SubjectKind = SubjectKind.CONFIG,
) -> DeploymentSpec:
    """The spec a request asks for; InvalidInput (422) listing each failing field otherwise.
    Units default to the subject's (servers for a config, players for a live event)."""
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
        if subject is SubjectKind.EVENT and kind is not UnitKind.PLAYERS:
            raise InvalidInput(
                "A live event rolls out to players.",
                errors=[FieldError("body.unitKind", "must be players for an event")],
            )
    elif body.target_player_percentage is not None or strategy is Strategy.SEGMENTED:
        kind = UnitKind.PLAYERS
    else:
        kind = subject.default_unit_kind  # a config deploys to game servers (seeds 001 and 004)
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
