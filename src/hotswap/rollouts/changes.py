"""Storing a change of a deployment, the one way every change goes (the service's use cases and
the worker alike): `_store` writes it conditionally on the row's revision (and on the lease's
fence, when the lease has one), with a decision-log entry, an audit record, a `DeploymentChanged`
signal (the webhooks' outbox writes in this transaction), and, when what units are served
changes, a new snapshot revision in the same transaction. A rollback removes the deployment's
exposure, so every unit is back on the baseline in one revision. A success that reaches
everyone makes its subject what everyone is served (a config's version goes live, as a release
of kind Deployment) in the same revision that drops the exposure; one limited to some regions,
servers or segments keeps its last exposure (`holds_exposure`) until a later deployment of the
subject reaches everyone. What a deployment rolls out is a subject (`subjects.RolloutSubject`),
resolved, made live or withdrawn by the slice that owns it: rollouts knows them only through
that port. The base class also holds the ports the composition root wires (subjects, the judge)
and applies an approval's decision, a change like any other.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from hotswap.approvals.model import Approval, ApprovalStatus
from hotswap.approvals.service import ApprovalService
from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal, Role
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, NotFound
from hotswap.core.signals import Signals
from hotswap.fleet.service import FleetService
from hotswap.observability.prometheus import Metrics
from hotswap.rollouts import codec
from hotswap.rollouts.judge import CONTINUE, AlwaysContinue, Judge
from hotswap.rollouts.leases import Held
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
from hotswap.rollouts.model import Action, LogEntry, Plan, Row, Status, Verdict
from hotswap.rollouts.repository import DeploymentRepository
from hotswap.rollouts.signals import DeploymentChanged, DeploymentsDue
from hotswap.rollouts.subjects import RolloutSubject
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork

SUBJECT = "deployment"  # approvals' subject type
WORKER = Principal(subject="worker", role=Role.ADMIN, token_id="-")


class DeploymentChanges:
    def __init__(
        self,
        audit: AuditLog,
        approvals: ApprovalService,
        snapshots: SnapshotChanges,
        signals: Signals[UnitOfWork],
        fleet: FleetService,
        metrics: Metrics,
    ) -> None:
        self.audit = audit
        self.approvals = approvals
        self.snapshots = snapshots
        self.signals = signals
        self.fleet = fleet
        self.metrics = metrics
        self.judge: Judge = AlwaysContinue()
        self._subjects: dict[str, RolloutSubject] = {}

    def use_judge(self, judge: Judge) -> None:
        """Who judges each step (the analysis slice's canary judge, wired by the composition root;
        it reads deployments itself, so it comes after them). Until then every step continues."""
        self.judge = judge

    def register_subject(self, subject: RolloutSubject) -> None:
        """What deployments of `subject.kind` roll out (the composition root wires each kind)."""
        self._subjects[subject.kind] = subject

    def _subject(self, kind: str) -> RolloutSubject:
        found = self._subjects.get(kind)
        if found is None:  # a wiring mistake: every kind stored was registered when it was created
            raise LookupError(f"no RolloutSubject is registered for deployments of kind {kind!r}")
        return found

    def _describe(self, row: Row) -> str:
        return self._subject(row.subject_kind).describe(row.subject)

    async def on_approval_decided(self, uow: UnitOfWork, approval: Approval, actor: Principal) -> None:
        repo = DeploymentRepository(uow.conn)
        row = await repo.get(approval.subject_id, for_update=True)
        if row is None:
            raise NotFound(f"The deployment behind approval {approval.id} no longer exists.")
        plan = codec.plan_from_json(row.plan)
        now = uow.clock.now()
        action = Action.APPROVE if approval.status is ApprovalStatus.APPROVED else Action.REJECT
        after = act(plan, progress_of(row), action, now)
        row = await self._store(uow, row, plan, after, action.value, actor, approval.comment, due_at=now)
        if after.status is Status.RUNNING:
            await self._advance(uow, row, now, WORKER, Held(0))

    async def _advance(self, uow: UnitOfWork, row: Row, now: datetime, actor: Principal, held: Held) -> Row:
        plan = codec.plan_from_json(row.plan)
        progress = progress_of(row)
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
        before = progress_of(row)
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
        port = self._subject(row.subject_kind)
        if after.status in (Status.ROLLED_BACK, Status.FAILED, Status.CANCELLED) and row.step >= 0:
            await port.withdrawn(uow, actor, stored)  # it had exposed units: off the air
        if after.status is Status.SUCCEEDED and everyone:
            await repo.release_held(row.environment, row.subject_kind, row.subject)
            await port.succeeded(uow, actor, stored)
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
            await self.signals.send(uow, DeploymentsDue())
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
        """Tell the subscribers (webhooks' outbox), inside this transaction. `sequence` is the
        deployment's revision after the change: it grows with each change of one deployment."""
        changed = DeploymentChanged(
            action=action,
            deployment_id=row.id,
            sequence=sequence,
            subject_kind=row.subject_kind,
            subject=row.subject,
            version=row.version,
            environment=row.environment,
            strategy=row.strategy,
            status=status.value,
            step=step,
            reason=reason,
            actor=actor.subject,
            at=uow.clock.now(),
            snapshot_revision=snapshot_revision,
        )
        await self.signals.send(uow, changed)

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


def progress_of(row: Row) -> Progress:
    return Progress(Status(row.status), row.step, row.step_started_at)
