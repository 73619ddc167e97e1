"""Deployment use cases: create (or plan, for a dry run), act on one (pause, resume, promote,
roll back, cancel), advance it (the worker), and what the slices whose subjects it rolls out ask
of it. One transaction each; every change is stored by `changes.DeploymentChanges._store`.

Who sees a live event is its latest deployment's say (`exposure.subject_exposures`), read by the
events slice for its snapshot part; the config rollouts part is the configs slice's, from
`exposing`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.auth.model import Principal
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, FieldError, InvalidInput, NotFound
from hotswap.rollouts import codec
from hotswap.rollouts.changes import SUBJECT, WORKER, DeploymentChanges, progress_of
from hotswap.rollouts.drafts import draft, follow_start, region_infos
from hotswap.rollouts.exposure import Exposing, subject_exposures
from hotswap.rollouts.leases import Held, StaleLease
from hotswap.rollouts.lifecycle import act
from hotswap.rollouts.model import Action, LogEntry, Plan, RegionInfo, Row, Status
from hotswap.rollouts.repository import DeploymentRepository
from hotswap.rollouts.requests import DeploymentRequest
from hotswap.rollouts.signals import DeploymentsDue
from hotswap.storage.uow import UnitOfWork

# Failed advances in a row (the worker retries every `worker.RETRY_AFTER`) before it is Failed.
MAX_FAILURES = 10

# Samples arriving for a deployment due within this long do not make it due sooner.
DUE_SLACK = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Created:
    row: Row
    plan: Plan
    dry_run: bool


class DeploymentService(DeploymentChanges):
    # -- asked by the slices whose subjects it rolls out ---------------------------------------

    async def ensure_idle(
        self, uow: UnitOfWork, environment: Environment, kind: str, subject: str, change: str
    ) -> None:
        """A subject being rolled out is changed only through its deployment: archiving a config,
        or releasing or reverting it by hand, would be undone (or stranded) when it ends. 409."""
        open_one = await DeploymentRepository(uow.conn).open_for(environment.value, kind, subject)
        if open_one is not None:
            raise Conflict(
                f"{self._subject(kind).describe(subject)} is being rolled out by deployment {open_one.id} "
                f"({open_one.status}); finish, roll back or cancel it before a {change}.",
                extra={"deploymentId": open_one.id},
            )

    async def follow_start(
        self,
        uow: UnitOfWork,
        kind: str,
        environment: Environment,
        subject: str,
        old: datetime,
        new: datetime,
        actor: Principal,
    ) -> None:
        """The subject now starts at `new`: an open deployment waiting for its start follows it."""
        if await follow_start(uow, self._subject(kind), environment.value, subject, old, new, actor):
            await self.signals.send(uow, DeploymentsDue())

    async def make_due(self, uow: UnitOfWork, deployment_ids: list[str]) -> None:
        """New evidence came for these deployments (metric samples): judge those exposing units
        now, rather than at their next scheduled look (in any process: the due time is stored)."""
        if deployment_ids and await DeploymentRepository(uow.conn).make_due(deployment_ids, uow.clock.now(), DUE_SLACK):
            await self.signals.send(uow, DeploymentsDue())

    async def started_at(self, uow: UnitOfWork, deployment_ids: list[str]) -> dict[str, datetime]:
        """When each of these deployments was created; unknown ids are absent."""
        return await DeploymentRepository(uow.conn).created_at(deployment_ids)

    async def decisions(self, uow: UnitOfWork, deployment_id: str) -> list[LogEntry]:
        """A deployment's decision log, oldest first."""
        return await DeploymentRepository(uow.conn).entries(deployment_id)

    async def exposing(self, conn: AsyncConnection, environment: Environment, kind: str) -> list[Exposing]:
        """What deployments of `kind` expose now, oldest first (for a snapshot part, in its transaction)."""
        return await DeploymentRepository(conn).exposing(environment, kind)

    async def subject_exposures(
        self, conn: AsyncConnection, environment: Environment, kind: str, subjects: list[str] | None = None
    ) -> dict[str, list[dict[str, Any]] | None]:
        """Who each subject of `kind` is served to, as its deployments leave it (for a snapshot
        part, in its transaction); see `exposure.subject_exposures`."""
        if subjects is not None and not subjects:
            return {}
        return subject_exposures(await DeploymentRepository(conn).of_subjects(environment, kind, subjects))

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

    async def create(self, uow: UnitOfWork, actor: Principal, request: DeploymentRequest, *, dry_run: bool) -> Created:
        port = self._subjects.get(request.subject.kind)
        if port is None:
            raise InvalidInput(
                f"Nothing of kind {request.subject.kind!r} can be rolled out here.",
                errors=[FieldError("body", f"roll out one of: {', '.join(sorted(self._subjects))}")],
            )
        self.judge.check(request.analysis)
        drafted = await draft(uow, self.fleet, port, actor, request)
        row, plan, env = drafted.row, drafted.plan, drafted.subject.environment
        now, deployment_id = row.created_at, row.id
        if dry_run:
            return Created(row, plan, dry_run=True)
        deployments = DeploymentRepository(uow.conn)
        existing = await deployments.open_for(env.value, row.subject_kind, row.subject)
        if existing is not None:
            raise Conflict(
                f"Deployment {existing.id} of {self._describe(row)} is still {existing.status}; "
                "finish, roll back or cancel it first.",
                extra={"deploymentId": existing.id},
            )
        try:
            async with uow.conn.begin_nested():
                await deployments.add(row)
        except IntegrityError as exc:  # another request opened one between our check and insert
            raise Conflict(f"There is an open deployment of {self._describe(row)} already.") from exc
        if drafted.subject.exposed_from_creation:  # its deployment says who sees it from now on
            await self.snapshots.mark_changed(uow, [env])
        summary = f"{plan.strategy.value} deployment of {drafted.subject.what} in {env.value}"
        if env.needs_approval:
            approval = await self.approvals.request(
                uow,
                actor,
                subject_type=SUBJECT,
                subject_id=deployment_id,
                environment=env.value,
                summary=summary,
                authors=drafted.subject.authors,
            )
            await deployments.save(row, {"approval_id": approval.id})
            row = replace(row, approval_id=approval.id, revision=row.revision + 1)
        await deployments.log(
            deployment_id, LogEntry(now, actor.subject, "create", None, row.status, None, None, request.comment, None)
        )
        await self.audit.record(
            uow, actor, "deployment.create", target_type="deployment", target_id=deployment_id, summary=summary
        )
        await self._announce(
            uow, row, row.revision, "create", Status(row.status), row.step, request.comment, actor, None
        )
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
        after = act(plan, progress_of(row), action, now, to_step=to_step)
        return await self._store(uow, row, plan, after, action.value, actor, reason, due_at=now)

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
        after = act(plan, progress_of(row), Action.FAIL, uow.clock.now())
        reason = f"the worker failed to advance it {failures} times in a row; the last error: {error}"
        await self._store(uow, row, plan, after, Action.FAIL.value, WORKER, reason, due_at=None)
