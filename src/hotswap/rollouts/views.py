"""What `GET /api/v1/deployments/{id}` shows (the HTTP adapter's view of a deployment): the plan
with planned and actual times, the current exposure, per-region progress, how many target
servers run the revision that exposes them (from heartbeats), the decision log, and warnings
about named target servers it cannot reach. The list shows each deployment without the parts
that read the fleet or the log per deployment; its warnings come from one fleet read for the
whole page (`page_targets`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from hotswap.core.environments import Environment
from hotswap.fleet.service import FleetService
from hotswap.rollouts import codec
from hotswap.rollouts.drafts import registered_targets
from hotswap.rollouts.lifecycle import Progress, projected_starts
from hotswap.rollouts.model import LogEntry, Plan, Row, Status, Unit, UnitKind, exposed, units_per_step
from hotswap.rollouts.schemas import DeploymentRead, GrantRead, LogEntryRead, StepRead, WarningRead
from hotswap.rollouts.service import DeploymentService
from hotswap.rollouts.targets import FIELD, reach, warnings
from hotswap.storage.uow import UnitOfWork


def _grants(exposure: list[dict[str, object]]) -> list[GrantRead]:
    return [GrantRead.model_validate(g) for g in exposure]


async def deployment_view(
    uow: UnitOfWork,
    deployments: DeploymentService,
    fleet: FleetService,
    row: Row,
    plan: Plan,
    *,
    detail: bool = True,
    dry_run: bool = False,
    registered: Mapping[str, str] | None = None,
) -> DeploymentRead:
    """`registered`: the region of each registered server the deployment names (`page_targets`
    reads it for a page of deployments at once); read here when not given."""
    now = uow.clock.now()
    progress = Progress(Status(row.status), row.step, row.step_started_at)
    planned = projected_starts(plan, progress, now) if not dry_run else _dry_run_starts(plan, now)
    steps_json = row.plan["steps"]
    counts: tuple[int, ...] | None = None
    applied: dict[str, int] | None = None
    entries: list[LogEntry] = []
    servers_kind = plan.unit_kind is UnitKind.SERVERS
    if detail and servers_kind:
        servers = await fleet.servers(uow, healthy=True)
        counts = units_per_step(plan, [(s.id, s.region) for s in servers])
        if row.step >= 0 and progress.status in (Status.RUNNING, Status.PAUSED):
            entries = await deployments.decisions(uow, row.id)
            revision = next((e.snapshot_revision for e in reversed(entries) if e.snapshot_revision), None)
            targets = [s.id for s in servers if exposed(plan.exposure_at(row.step), plan.seed, Unit(s.id, s.region))]
            count = await fleet.applied_count(uow, targets, Environment(row.environment), revision) if revision else 0
            applied = {"targets": len(targets), "applied": count, "revision": revision or 0}
    if detail and not dry_run and not entries:
        entries = await deployments.decisions(uow, row.id)
    notes = await _warnings(uow, fleet, row, plan, registered) if servers_kind else []
    steps = [
        StepRead(
            index=step.index,
            name=step.name,
            exposure=_grants(steps_json[step.index]["exposure"]),
            hold_seconds=step.hold.total_seconds() if step.hold is not None else None,
            gate=step.gate,
            region=step.region,
            planned_at=planned[step.index],
            started_at=datetime.fromisoformat(t) if (t := row.step_times[step.index]) else None,
            servers=counts[step.index] if counts is not None else None,
        )
        for step in plan.steps
    ]
    exposing = (progress.status in (Status.RUNNING, Status.PAUSED) and row.step >= 0) or row.holds_exposure
    return DeploymentRead(
        id=row.id,
        environment=row.environment,
        subject_kind=row.subject_kind,
        config_name=row.subject if row.subject_kind == "config" else None,
        config_version=row.version if row.subject_kind == "config" else None,
        event_id=row.subject if row.subject_kind == "event" else None,
        event_version=int(row.version) if row.subject_kind == "event" and row.version else None,
        strategy=row.strategy,
        unit_kind=row.unit_kind,
        hash_seed=row.seed,
        status=row.status,
        step=row.step,
        steps=steps,
        exposure=_grants(steps_json[row.step]["exposure"]) if exposing else [],
        due_at=row.due_at,
        approval_id=row.approval_id,
        reason=row.reason,
        regions=_regions(plan, row),
        applied=applied,
        log=[LogEntryRead.model_validate(e, from_attributes=True) for e in entries],
        warnings=notes,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        revision=row.revision,
        dry_run=dry_run,
    )


async def page_targets(uow: UnitOfWork, fleet: FleetService, rows: Sequence[Row]) -> dict[str, str]:
    """The region of each registered server that these deployments name: one fleet read for a
    whole page of the list, not one per deployment."""
    named = (unit for row in rows if row.unit_kind == UnitKind.SERVERS.value for unit in _targets(row))
    return await registered_targets(uow, fleet, named)


def _targets(row: Row) -> list[str]:
    return list(row.spec.get("targetInstances") or [])


async def _warnings(
    uow: UnitOfWork, fleet: FleetService, row: Row, plan: Plan, registered: Mapping[str, str] | None
) -> list[WarningRead]:
    """Named target servers the deployment cannot reach, judged now: unregistered ones (no step
    counts them, their metric samples are refused, and whoever runs them unregistered is served
    the version while exposed), and registered ones outside its target regions (never exposed)."""
    targets = _targets(row)
    if not targets:
        return []
    if registered is None:
        registered = await registered_targets(uow, fleet, targets)
    return [
        WarningRead(code=w.code, field=FIELD, message=w.message, instances=list(w.instances))
        for w in warnings(reach(plan, targets, registered))
    ]


def _dry_run_starts(plan: Plan, now: datetime) -> tuple[datetime | None, ...]:
    return projected_starts(plan, Progress(Status.RUNNING), now)


def _regions(plan: Plan, row: Row) -> list[dict[str, object]]:
    """Per-region progress (steps that belong to a region): done, current or pending."""
    out: dict[str, dict[str, object]] = {}
    for step in plan.steps:
        if step.region is None:
            continue
        if row.step > step.index or (row.status == Status.SUCCEEDED.value and row.step >= step.index):
            state = "done"
        elif row.step == step.index:
            state = "current"
        else:
            state = "pending"
        entry = out.setdefault(step.region, {"region": step.region, "firstStep": step.index})
        entry["state"] = state if entry.get("state") in (None, "done") else entry["state"]
        entry["lastStep"] = step.index
        started = row.step_times[step.index]
        if started and "startedAt" not in entry:
            entry["startedAt"] = started
    return list(out.values())


def plan_of(row: Row) -> Plan:
    return codec.plan_from_json(row.plan)
