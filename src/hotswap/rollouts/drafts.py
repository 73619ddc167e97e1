"""A deployment as a request describes it, before anything is stored: what it rolls out (its
subject, which the slice that owns it resolves), its plan over the registered regions, and the
row that would hold it. The service stores it, or returns it as a dry run.

A subject may name the seed its units are hashed with (a live event's players are hashed with
the event's id, as the snapshot's event entry hashes `playerId`, so the players a step exposes
are the ones the plan counts, and a later deployment of the event starts from the same players),
and a start: a Scheduled event is rolled out from its start, the first step waiting for it (a
person's promote starts it earlier), so the canary watches players who can see it. When that
start moves before the first step, the deployment follows it (`follow_start`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hotswap.auth.model import Principal
from hotswap.core.errors import Conflict
from hotswap.core.ids import new_id
from hotswap.fleet.service import FleetService
from hotswap.rollouts import codec
from hotswap.rollouts.exposure import KEEPS_EXPOSURE
from hotswap.rollouts.lifecycle import initial_progress
from hotswap.rollouts.model import DeploymentSpec, LogEntry, Plan, RegionInfo, Row, Status, UnitKind
from hotswap.rollouts.repository import DeploymentRepository
from hotswap.rollouts.requests import DeploymentRequest, spec_for
from hotswap.rollouts.strategies import plan as make_plan
from hotswap.rollouts.subjects import RolloutSubject, Subject
from hotswap.rollouts.targets import check_reachable, reach
from hotswap.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Draft:
    row: Row
    plan: Plan
    subject: Subject


async def region_infos(uow: UnitOfWork, fleet: FleetService) -> list[RegionInfo]:
    return [RegionInfo(r.id, r.time_zone, r.rollout_order, frozenset(r.aliases)) for r in await fleet.regions(uow)]


async def draft(
    uow: UnitOfWork, fleet: FleetService, port: RolloutSubject, actor: Principal, request: DeploymentRequest
) -> Draft:
    """The deployment `request` asks for; InvalidInput (422) or Conflict (409) when it cannot be."""
    subject = await port.resolve(uow, request.subject)
    deployment_id = new_id("dep")
    regions = await region_infos(uow, fleet)
    seed = subject.seed or request.hash_seed or deployment_id
    spec = spec_for(request, seed=seed, regions=regions, unit_kinds=port.unit_kinds, subject_name=port.name)
    now = uow.clock.now()
    plan = _from_start(make_plan(spec, regions, now), subject.starts_at, now)
    await _some_target_reachable(uow, fleet, spec, plan)
    spec_json = codec.spec_to_json(spec) | ({KEEPS_EXPOSURE: True} if subject.keeps_exposure else {})
    return Draft(_row(uow, actor, request, deployment_id, subject, plan, spec_json), plan, subject)


async def registered_targets(uow: UnitOfWork, fleet: FleetService, targets: Iterable[str]) -> dict[str, str]:
    """The region of each of these named game servers that is registered (one fleet read for all
    of them, whichever deployments name them); the others are absent."""
    return await fleet.server_regions(uow, sorted(set(targets)))


async def _some_target_reachable(uow: UnitOfWork, fleet: FleetService, spec: DeploymentSpec, plan: Plan) -> None:
    """A deployment to named game servers none of which it can reach (none registered, or all in
    regions it leaves out) would roll out to nobody: 422 (`targets.check_reachable`). When it can
    reach some it goes ahead, and its view warns about the others (`views`)."""
    if spec.unit_kind is not UnitKind.SERVERS or not spec.target_units:
        return
    registered = await registered_targets(uow, fleet, spec.target_units)
    check_reachable(reach(plan, spec.target_units, registered))


def _from_start(plan: Plan, starts_at: datetime | None, now: datetime) -> Plan:
    """A subject that starts later is rolled out from its start, not before."""
    if starts_at is None or starts_at <= now:
        return plan
    first = plan.steps[0]
    start = starts_at if first.not_before is None else max(first.not_before, starts_at)
    return replace(plan, steps=(replace(first, not_before=start), *plan.steps[1:]))


async def follow_start(
    uow: UnitOfWork,
    port: RolloutSubject,
    environment: str,
    subject: str,
    old: datetime,
    new: datetime,
    actor: Principal,
) -> bool:
    """The subject now starts at `new` instead of `old` (an event moved by an edit, or to now by
    an operator's early activation). Its open deployment, if it has not exposed anyone yet, waits
    for the new start instead of the old one (a wait of the strategy's own, later than the old
    start, stays). True when the deployment is due now (the worker should look at once).

    Inside the subject's transaction, so the deployment never waits for a start the subject no
    longer has; a deployment the worker changed meanwhile makes the subject's change a 409."""
    repo = DeploymentRepository(uow.conn)
    row = await repo.open_for(environment, port.kind, subject)
    if row is None or row.step >= 0:
        return False
    plan = codec.plan_from_json(row.plan)
    first = plan.steps[0]
    own = first.not_before is not None and first.not_before > old  # the strategy's wait
    not_before = max(first.not_before, new) if own and first.not_before is not None else new
    if not_before == first.not_before:
        return False
    moved = replace(plan, steps=(replace(first, not_before=not_before), *plan.steps[1:]))
    now = uow.clock.now()
    waiting = Status(row.status) is not Status.PENDING_APPROVAL
    changes: dict[str, Any] = {"plan": codec.plan_to_json(moved), "updated_at": now}
    if waiting:
        changes["due_at"] = now  # the worker decides the new wait
    if not await repo.save(row, changes):
        raise Conflict(f"Deployment {row.id} of {port.describe(subject)} changed meanwhile; try again.")
    reason = f"{port.describe(subject)} now starts at {new.isoformat()}: the first step waits for it"
    entry = LogEntry(now, actor.subject, "reschedule", row.status, row.status, row.step, row.step, reason, None)
    await repo.log(row.id, entry)
    return waiting


def _row(
    uow: UnitOfWork,
    actor: Principal,
    request: DeploymentRequest,
    deployment_id: str,
    subject: Subject,
    plan: Plan,
    spec: dict[str, Any],
) -> Row:
    now = uow.clock.now()
    env = subject.environment
    progress = initial_progress(env.needs_approval)
    return Row(
        id=deployment_id,
        environment=env.value,
        subject_kind=subject.kind,
        subject=subject.id,
        profile_id=subject.profile_id,
        version_id=subject.version_id,
        version=subject.version,
        baseline_version_id=subject.baseline_version_id,
        strategy=plan.strategy.value,
        unit_kind=plan.unit_kind.value,
        seed=plan.seed,
        spec=spec
        | {"healthCheckEnabled": request.health_check_enabled}
        | ({"analysis": request.analysis} if request.analysis is not None else {}),
        plan=codec.plan_to_json(plan),
        status=progress.status.value,
        step=-1,
        step_started_at=None,
        step_times=[None] * len(plan.steps),
        due_at=None if env.needs_approval else now,
        approval_id=None,
        reason=request.comment,
        created_at=now,
        created_by=actor.subject,
        updated_at=now,
        finished_at=None,
        revision=1,
        fence=0,
    )
