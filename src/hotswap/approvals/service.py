"""Approval use cases. The slice that owns a subject registers a handler that applies or drops
the change when its approval is decided, inside the same transaction as the decision."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from hotswap.approvals.model import Approval, ApprovalStatus, Decision
from hotswap.approvals.repository import ApprovalRepository
from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal, canonical_subject
from hotswap.core.errors import Conflict, NotFound
from hotswap.core.ids import new_id
from hotswap.core.pagination import Page, check_limit, cursor_instant, cursor_str, encode_cursor
from hotswap.observability.prometheus import Metrics
from hotswap.storage.uow import UnitOfWork


class ApprovalHandler(Protocol):
    """What an approval decides (a config release, a deployment): told of the decision in its
    transaction. Each kind of subject registers one (the composition root wires them)."""

    async def on_approval_decided(self, uow: UnitOfWork, approval: Approval, actor: Principal) -> None: ...


def _other_authors(authors: Iterable[str], requester: str) -> tuple[str, ...]:
    """The authors besides the requester (whom `requested_by` names), one spelling per person."""
    seen = {canonical_subject(requester)}
    kept = []
    for author in sorted(set(authors)):
        canonical = canonical_subject(author)
        if canonical not in seen:
            seen.add(canonical)
            kept.append(author)
    return tuple(kept)


class ApprovalService:
    def __init__(self, audit: AuditLog, metrics: Metrics) -> None:
        self.audit = audit
        self.metrics = metrics
        self._handlers: dict[str, ApprovalHandler] = {}

    def register(self, subject_type: str, handler: ApprovalHandler) -> None:
        """Who is told of decisions on approvals of `subject_type`."""
        self._handlers[subject_type] = handler

    async def request(
        self,
        uow: UnitOfWork,
        actor: Principal,
        *,
        subject_type: str,
        subject_id: str,
        environment: str,
        summary: str,
        authors: Iterable[str] = (),
    ) -> Approval:
        approval = Approval(
            id=new_id("apr"),
            subject_type=subject_type,
            subject_id=subject_id,
            environment=environment,
            summary=summary,
            status=ApprovalStatus.PENDING,
            requested_by=actor.subject,
            requested_at=uow.clock.now(),
            authors=_other_authors(authors, actor.subject),
        )
        await ApprovalRepository(uow.conn).add(approval)
        await self.audit.record(
            uow, actor, "approval.request", target_type="approval", target_id=approval.id, summary=summary
        )
        return approval

    async def get(self, uow: UnitOfWork, approval_id: str) -> Approval:
        approval = await ApprovalRepository(uow.conn).get(approval_id)
        if approval is None:
            raise NotFound(f"No approval with id {approval_id!r}.")
        return approval

    async def decide(
        self, uow: UnitOfWork, actor: Principal, approval_id: str, decision: Decision, comment: str | None
    ) -> Approval:
        repo = ApprovalRepository(uow.conn)
        current = await repo.get(approval_id, for_update=True)
        if current is None:
            raise NotFound(f"No approval with id {approval_id!r}.")
        decided = current.decide(decision, by=actor.subject, at=uow.clock.now(), comment=comment)
        if not await repo.settle(decided):
            raise Conflict(f"Approval {approval_id} was decided by someone else meanwhile.")
        handler = self._handlers.get(decided.subject_type)
        if handler is not None:
            await handler.on_approval_decided(uow, decided, actor)
        await self.audit.record(
            uow,
            actor,
            f"approval.{decided.status.value.lower()}",
            target_type="approval",
            target_id=approval_id,
            summary=f"{decided.status.value.lower()} {decided.summary}" + (f": {comment}" if comment else ""),
            after_ref=f"{decided.subject_type}:{decided.subject_id}",
        )
        uow.after_commit(lambda: self.metrics.approvals_decided.labels(decision.value).inc())
        return decided

    async def cancel_for_subject(
        self, uow: UnitOfWork, actor: Principal, subject_type: str, subject_id: str, comment: str | None
    ) -> None:
        repo = ApprovalRepository(uow.conn)
        current = await repo.get_for_subject(subject_type, subject_id)
        if current is None or current.status is not ApprovalStatus.PENDING:
            return
        cancelled = current.cancel(by=actor.subject, at=uow.clock.now(), comment=comment)
        if not await repo.settle(cancelled):
            raise Conflict(f"Approval {current.id} was decided meanwhile.")
        await self.audit.record(
            uow,
            actor,
            "approval.cancel",
            target_type="approval",
            target_id=current.id,
            summary=f"cancelled {current.summary}" + (f": {comment}" if comment else ""),
            after_ref=f"{subject_type}:{subject_id}",
        )

    async def list(
        self,
        uow: UnitOfWork,
        *,
        status: ApprovalStatus | None,
        subject_type: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Approval]:
        check_limit(limit)
        after = None if cursor is None else (cursor_instant(cursor, "at"), cursor_str(cursor, "id"))
        rows = await ApprovalRepository(uow.conn).list(
            status=status, subject_type=subject_type, after=after, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = encode_cursor({"at": rows[-1].requested_at.isoformat(), "id": rows[-1].id}) if more and rows else None
        return Page(rows, nxt)
