"""Deployment use cases: create (or plan, for a dry run), act on one (pause, resume, promote,
roll back, cancel), and advance it (the worker). One transaction each.

Every change of a deployment goes through `_store`: a write conditional on the row's revision
(and on the lease's fence, when the lease has one), a decision-log entry, an audit record, and,
when what units are served changes, a new snapshot revision in the same transaction. A rollback
removes the deployment's exposure, so every unit is back on the baseline in one revision. A
success that reaches everyone makes the version live (a release of kind Deployment) in the same
revision that drops the exposure; one limited to some regions, servers or segments keeps its
last exposure (`holds_exposure`) until a later deployment of the config reaches everyone.
A live event's deployment goes the same way; who sees the event is its latest deployment's say
(`exposure.load_event_exposures`), and its rollback pauses the event (`event_rollouts`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from hotswap.approvals.model import Approval, ApprovalStatus
from hotswap.approvals.service import ApprovalService
from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal, Role
from hotswap.configs.releases import ReleaseService
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, NotFound
from hotswap.events.model import EventRow
from hotswap.events.service import EventService
from hotswap.fleet.service import FleetService
from hotswap.observability.metrics import Metrics
from hotswap.rollouts import codec
from hotswap.rollouts.drafts import draft, region_infos
from hotswap.rollouts.event_rollouts import follow_start, is_event, pause_event, subject_fields, subject_text
from hotswap.rollouts.judge import CONTINUE, Judge
from hotswap.rollouts.leases import Held, StaleLease
from hotswap.rollouts.lifecycle import (
    CHECK_EVERY,
    Advance,
    Complete,
    Pause,
    Progress,
    RollBack,
    Wait,
    act,
    action_name,
    apply,
    decide,
    exposing,
    needs_verdict,
)
from hotswap.rollouts.model import Action, Plan, RegionInfo, Status, Verdict
from hotswap.rollouts.repository import DeploymentRepository, LogEntry, Row
from hotswap.rollouts.schemas import DeploymentCreate
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork

SUBJECT = "deployment"  # approvals' subject type
WORKER = Principal(subject="worker", role=Role.ADMIN, token_id="-")
# Failed advances in a row (the worker retries every `worker.RETRY_AFTER`) before it is Failed.
MAX_FAILURES = 10

# Called inside the transaction of every stored change (webhooks queue their deliveries here).
Listener = Callable[[UnitOfWork, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Created:
    row: Row
    plan: Plan
    dry_run: bool


class DeploymentService:
    def __init__(
        self,
        audit: AuditLog,
        approvals: ApprovalService,
        releases: ReleaseService,
        snapshots: SnapshotChanges,
        fleet: FleetService,
        metrics: Metrics,
        judge: Judge,
    ) -> None:
        self.audit = audit
        self.approvals = approvals
        self.releases = releases
        self.snapshots = snapshots
        self.fleet = fleet
        self.metrics = metrics
        self.judge = judge
        self._listeners: list[Listener] = []
        self._wakers: list[Callable[[], None]] = []
        # Checks of a request's parts other slices own (the analysis policy): raise InvalidInput.
        self.request_checks: list[Callable[[DeploymentCreate], None]] = []
        # The events slice, once the composition root hands it over: live events can then be
        # rolled out (`eventId`), and a rollback pauses the event it withdraws.
        self.events: EventService | None = None
        approvals.register(SUBJECT, self)

    def serve_events(self, events: EventService) -> None:
        self.events = events

        async def start_moved(uow: UnitOfWork, event: EventRow, start: datetime, actor: Principal) -> None:
            if await follow_start(uow, event, start, actor):
                for wake in self._wakers:
                    uow.after_commit(wake)

        events.on_start_moved(start_moved)

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_due(self, waker: Callable[[], None]) -> None:
        """Called after a commit that made a deployment due now (the worker wakes up)."""
        self._wakers.append(waker)

    async def guard_config(self, uow: UnitOfWork, profile: Any, change: str) -> None:
        """A config being rolled out is changed only through its deployment: archiving it, or a
        release or revert by hand, would be undone (or stranded) when the deployment ends."""
        open_one = await DeploymentRepository(uow.conn).open_for(profile.environment.value, "config", profile.name)
        if open_one is not None:
            raise Conflict(
                f"{profile.name!r} is being rolled out by deployment {open_one.id} ({open_one.status}); "
                f"finish, roll back or cancel it before a {change}.",
                extra={"deploymentId": open_one.id},
            )

    # -- reading ----------------------------------------------------------------------------

    async def get(self, uow: UnitOfWork, deployment_id: str) -> Row:
        row = await DeploymentRepository(uow.conn).get(deployment_id)
        if row is None:
            raise NotFound(f"No deployment with id {deployment_id!r}.")
        return row

    async def page(
        self, uow: UnitOfWork, *, status: str | None, config: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[Row]:
        return await DeploymentRepository(uow.conn).page(status=status, subject=config, after=after, limit=limit)

    async def regions(self, uow: UnitOfWork) -> list[RegionInfo]:
        return await region_infos(uow, self.fleet)

    # -- creating ---------------------------------------------------------------------------

    async def create(self, uow: UnitOfWork, actor: Principal, body: DeploymentCreate, *, dry_run: bool) -> Created:
        for check in self.request_checks:
            check(body)
        drafted = await draft(uow, self.fleet, self.events, actor, body)
        row, plan, env = drafted.row, drafted.plan, drafted.environment
        now, deployment_id = row.created_at, row.id
        if dry_run:
            return Created(row, plan, dry_run=True)
        deployments = DeploymentRepository(uow.conn)
        existing = await deployments.open_for(env.value, row.subject_kind, row.subject)
        if existing is not None:
            raise Conflict(
                f"Deployment {existing.id} of {subject_text(row)} is still {existing.status}; "
                "finish, roll back or cancel it first.",
                extra={"deploymentId": existing.id},
            )
        try:
            async with uow.conn.begin_nested():
                await deployments.add(row)
        except IntegrityError as exc:  # another request opened one between our check and insert
            raise Conflict(f"There is an open deployment of {subject_text(row)} already.") from exc
        if is_event(row):  # the event is now its deployment's to expose: nobody sees it before step 0
            await self.snapshots.mark_changed(uow, [env])
        summary = f"{plan.strategy.value} deployment of {drafted.what} in {env.value}"
        if env.needs_approval:
            approval = await self.approvals.request(
                uow,
                actor,
                subject_type=SUBJECT,
                subject_id=deployment_id,
                environment=env.value,
                summary=summary,
                authors=drafted.authors,
            )
            await deployments.save(row, {"approval_id": approval.id})
            row = replace(row, approval_id=approval.id, revision=row.revision + 1)
        await deployments.log(
            deployment_id, LogEntry(now, actor.subject, "create", None, row.status, None, None, body.comment, None)
        )
        await self.audit.record(
            uow, actor, "deployment.create", target_type="deployment", target_id=deployment_id, summary=summary
        )
        await self._announce(uow, row, row.revision, "create", Status(row.status), row.step, body.comment, actor, None)
        if not env.needs_approval:
            row = await self._advance(uow, row, now, WORKER, Held(0))
        strategy = plan.strategy.value
        uow.after_commit(lambda: self.metrics.deployments_started.labels(strategy).inc())
        return Created(row, plan, dry_run=False)

    # -- a person's actions -----------------------------------------------------------------

    async def act(
        self,
        uow: UnitOfWork,
        actor: Principal,
        deployment_id: str,
        action: Action,
        *,
        reason: str | None = None,
        to_step: int | None = None,
    ) -> Row:
        repo = DeploymentRepository(uow.conn)
        if action is Action.CANCEL:
            # The approval first, then the deployment: the order `approvals.decide` locks them in
            # (the other order deadlocks a cancel against an approval on PostgreSQL).
            await self.approvals.cancel_for_subject(uow, actor, SUBJECT, deployment_id, reason)
        row = await repo.get(deployment_id, for_update=True)
        if row is None:
            raise NotFound(f"No deployment with id {deployment_id!r}.")
        plan = codec.plan_from_json(row.plan)
        now = uow.clock.now()
        after = act(plan, _progress(row), action, now, to_step=to_step)
        return await self._store(uow, row, plan, after, action.value, actor, reason, due_at=now)

    async def on_approval_decided(self, uow: UnitOfWork, approval: Approval, actor: Principal) -> None:
        repo = DeploymentRepository(uow.conn)
        row = await repo.get(approval.subject_id, for_update=True)
        if row is None:
            raise NotFound(f"The deployment behind approval {approval.id} no longer exists.")
        plan = codec.plan_from_json(row.plan)
        now = uow.clock.now()
        action = Action.APPROVE if approval.status is ApprovalStatus.APPROVED else Action.REJECT
        after = act(plan, _progress(row), action, now)
        row = await self._store(uow, row, plan, after, action.value, actor, approval.comment, due_at=now)
        if after.status is Status.RUNNING:
            await self._advance(uow, row, now, WORKER, Held(0))

    # -- the worker ---------------------------------------------------------------------------

    async def due(self, uow: UnitOfWork, limit: int = 100) -> list[str]:
        return await DeploymentRepository(uow.conn).due(uow.clock.now(), limit)

    async def next_due(self, uow: UnitOfWork) -> datetime | None:
        return await DeploymentRepository(uow.conn).next_due()

    async def advance(self, uow: UnitOfWork, deployment_id: str, held: Held) -> bool:
        """Do what is due for one deployment (the caller holds its lease). False: nothing was."""
        row = await DeploymentRepository(uow.conn).get(deployment_id, for_update=True)
        now = uow.clock.now()
        if row is None or row.due_at is None or row.due_at > now or Status(row.status).terminal:
            return False
        if held.fence and held.fence < row.fence:
            raise StaleLease(deployment_id, row.fence)
        await self._advance(uow, row, now, WORKER, held)
        return True

    async def record_failure(self, uow: UnitOfWork, deployment_id: str, error: str, retry_at: datetime) -> None:
        """After a failed advance: look again at `retry_at`, or, at the `MAX_FAILURES`th failure in
        a row, finish it as Failed (its exposure withdrawn, as a rollback does), with the error."""
        row = await DeploymentRepository(uow.conn).get(deployment_id, for_update=True)
        if row is None or not Status(row.status).open or row.due_at is None or row.due_at >= retry_at:
            return
        failures = row.failures + 1
        if failures < MAX_FAILURES:
            if not await DeploymentRepository(uow.conn).save(row, {"due_at": retry_at, "failures": failures}):
                raise Conflict(f"Deployment {row.id} changed meanwhile.")
            return
        plan = codec.plan_from_json(row.plan)
        after = act(plan, _progress(row), Action.FAIL, uow.clock.now())
        reason = f"the worker failed to advance it {failures} times in a row; the last error: {error}"
        await self._store(uow, row, plan, after, Action.FAIL.value, WORKER, reason, due_at=None)

    async def _advance(self, uow: UnitOfWork, row: Row, now: datetime, actor: Principal, held: Held) -> Row:
        plan = codec.plan_from_json(row.plan)
        progress = _progress(row)
        checks = bool(row.spec.get("healthCheckEnabled", True))
        judgement = CONTINUE
        if checks and needs_verdict(progress):
            judgement = await self.judge.judge(uow, row, progress.step)
        decision = decide(
            plan,
            progress,
            judgement.verdict,
            now,
            check_every=CHECK_EVERY if checks else None,
            why=judgement.reason,
        )
        action = decision.action
        if isinstance(action, Wait) and judgement.verdict is Verdict.HOLD and action.until is None:
            await self._log_hold(uow, row, now, judgement.reason)
        if not isinstance(action, Advance | Complete | RollBack | Pause):
            if decision.due_at != row.due_at or row.failures:
                waiting: dict[str, Any] = {"due_at": decision.due_at, "failures": 0}
                if not await DeploymentRepository(uow.conn).save(row, waiting, fence=held.fence):
                    raise Conflict(f"Deployment {row.id} changed meanwhile.")
                row = replace(row, due_at=decision.due_at, failures=0, revision=row.revision + 1)
            return row
        after = apply(progress, action, now)
        reason = action.reason if isinstance(action, RollBack | Pause) else None
        return await self._store(
            uow, row, plan, after, action_name(action), actor, reason, due_at=decision.due_at, held=held
        )

    async def _log_hold(self, uow: UnitOfWork, row: Row, now: datetime, reason: str | None) -> None:
        """The judge holds a step past its time: say so in the decision log, once per step."""
        repo = DeploymentRepository(uow.conn)
        last = await repo.last_entry(row.id)
        if last is not None and last.action == "hold" and last.to_step == row.step:
            return
        entry = LogEntry(now, WORKER.subject, "hold", row.status, row.status, row.step, row.step, reason, None)
        await repo.log(row.id, entry)

    # -- storing a change ---------------------------------------------------------------------

    async def _store(
        self,
        uow: UnitOfWork,
        row: Row,
        plan: Plan,
        after: Progress,
        action: str,
        actor: Principal,
        reason: str | None,
        *,
        due_at: datetime | None,
        held: Held | None = None,
    ) -> Row:
        now = uow.clock.now()
        before = _progress(row)
        step_times = list(row.step_times)
        if after.step != before.step and after.step >= 0:
            step_times[after.step] = now.isoformat()
        finished = after.status.terminal
        changes: dict[str, Any] = {
            "status": after.status.value,
            "step": after.step,
            "step_started_at": after.step_started_at,
            "step_times": step_times,
            "due_at": None if finished else due_at,
            "updated_at": now,
            "failures": 0,
        }
        if finished:
            changes["finished_at"] = now
            if reason is not None or after.status is not Status.SUCCEEDED:
                changes["reason"] = reason
        repo = DeploymentRepository(uow.conn)
        everyone = plan.reaches_everyone
        if after.status is Status.SUCCEEDED and not everyone:
            changes["holds_exposure"] = True  # its targets keep the version; the others never had it
        if not await repo.save(row, changes, fence=held.fence if held else 0):
            raise Conflict(f"Deployment {row.id} changed meanwhile; read it again.")
        stored = replace(row, **changes, revision=row.revision + 1)
        if after.status in (Status.ROLLED_BACK, Status.FAILED, Status.CANCELLED) and row.step >= 0:
            await pause_event(uow, self.events, row, actor)  # it had exposed players: off the air
        if after.status is Status.SUCCEEDED and everyone:
            await repo.release_held(row.environment, row.subject_kind, row.subject)
            if row.subject_kind == "config" and row.version_id is not None:
                await self.releases.apply_deployed(
                    uow, actor, row.subject, version_id=row.version_id, deployment_id=row.id
                )
        snapshot_revision = None
        if exposing(before) != exposing(after) or after.status is Status.SUCCEEDED:
            env = Environment(row.environment)
            await self.snapshots.mark_changed(uow, [env])
            snapshot_revision = await self.snapshots.revision(uow, env)
        await repo.log(
            row.id,
            LogEntry(
                now,
                actor.subject,
                action,
                before.status.value,
                after.status.value,
                before.step,
                after.step,
                reason,
                snapshot_revision,
            ),
        )
        step_text = f" at step {after.step} ({plan.steps[after.step].name})" if after.step >= 0 else ""
        await self.audit.record(
            uow,
            actor,
            f"deployment.{action}",
            target_type="deployment",
            target_id=row.id,
            summary=f"{action} {row.subject!r}: {before.status.value} -> {after.status.value}{step_text}"
            + (f": {reason}" if reason else ""),
        )
        await self._announce(
            uow, row, stored.revision, action, after.status, after.step, reason, actor, snapshot_revision
        )
        self._count(uow, row, after, actor)
        if stored.due_at is not None and stored.due_at <= now:
            for wake in self._wakers:
                uow.after_commit(wake)
        return stored

    async def _announce(
        self,
        uow: UnitOfWork,
        row: Row,
        sequence: int,
        action: str,
        status: Status,
        step: int,
        reason: str | None,
        actor: Principal,
        snapshot_revision: int | None,
    ) -> None:
        """Tell the listeners (webhooks' outbox), inside this transaction. `sequence` is the
        deployment's revision after the change: it grows with each change of one deployment."""
        event = {
            "event": f"deployment.{action}",
            "deploymentId": row.id,
            "sequence": sequence,
            **subject_fields(row),
            "version": row.version,
            "environment": row.environment,
            "strategy": row.strategy,
            "status": status.value,
            "step": step,
            "reason": reason,
            "actor": actor.subject,
            "at": uow.clock.now().isoformat(),
            "snapshotRevision": snapshot_revision,
        }
        for listener in self._listeners:
            await listener(uow, event)

    def _count(self, uow: UnitOfWork, row: Row, after: Progress, actor: Principal) -> None:
        if not after.status.terminal:
            return
        strategy, outcome = row.strategy, after.status.value
        trigger = "judge" if actor is WORKER else "manual"

        def count() -> None:
            self.metrics.deployments_finished.labels(strategy, outcome).inc()
            if after.status is Status.ROLLED_BACK:
                self.metrics.rollbacks.labels(strategy, trigger).inc()

        uow.after_commit(count)


def _progress(row: Row) -> Progress:
    return Progress(Status(row.status), row.step, row.step_started_at)
