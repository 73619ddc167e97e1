"""Segments: named conditions over player attributes. Each use case runs in the caller's unit of
work and never commits. Segments are part of every environment's compiled snapshot, so each
write marks all snapshots changed in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, FieldError, InvalidInput, NotFound
from hotswap.core.pagination import Page, check_limit, cursor_str, encode_cursor
from hotswap.core.signals import Signals
from hotswap.players.model import targeting_attributes
from hotswap.players.service import PlayerService
from hotswap.segments import model as m
from hotswap.segments.repository import SegmentRepository
from hotswap.segments.signals import SegmentDeleting
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork
from hotswap.targeting.conditions import Predicate, compile_condition
from hotswap.targeting.validation import check_condition

SAMPLE_IDS = 100  # matching player ids a preview lists


@dataclass(frozen=True, slots=True)
class SegmentDraft:
    name: str
    description: str | None
    condition: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ContextPreview:
    total: int
    matched: int
    results: list[bool]


@dataclass(frozen=True, slots=True)
class PlayerPreview:
    total: int
    matched: int
    player_ids: list[str]  # the first SAMPLE_IDS matching, in id order
    at: datetime


class SegmentService:
    def __init__(
        self, audit: AuditLog, snapshots: SnapshotChanges, signals: Signals[UnitOfWork], players: PlayerService
    ) -> None:
        self.audit = audit
        self.snapshots = snapshots
        self.signals = signals
        self.players = players

    async def create(self, uow: UnitOfWork, actor: Principal, segment_id: str, draft: SegmentDraft) -> m.Segment:
        check_condition(draft.condition, "body.condition")
        repo = SegmentRepository(uow.conn)
        exists = Conflict(f"A segment {segment_id!r} already exists.")
        if await repo.get(segment_id) is not None:
            raise exists
        now = uow.clock.now()
        try:
            await repo.add(
                {
                    "id": segment_id,
                    "name": draft.name,
                    "description": draft.description,
                    "condition": draft.condition,
                    "builtin": False,
                    "created_at": now,
                    "created_by": actor.subject,
                    "updated_at": now,
                    "updated_by": actor.subject,
                    "revision": 1,
                }
            )
        except IntegrityError as exc:  # a concurrent create of the same id won the race
            raise exists from exc
        await self.audit.record(
            uow,
            actor,
            "segment.create",
            target_type="segment",
            target_id=segment_id,
            summary=f"created segment {segment_id!r}",
            after_ref="revision:1",
        )
        await self.snapshots.mark_changed(uow)
        return await self.get(uow, segment_id)

    async def get(self, uow: UnitOfWork, segment_id: str) -> m.Segment:
        segment = await SegmentRepository(uow.conn).get(segment_id)
        if segment is None:
            raise NotFound(f"No segment {segment_id!r}.")
        return segment

    async def list_segments(self, uow: UnitOfWork, *, cursor: str | None = None, limit: int = 100) -> Page[m.Segment]:
        check_limit(limit)
        after = None if cursor is None else cursor_str(cursor, "id")
        rows = await SegmentRepository(uow.conn).rows(after_id=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor({"id": rows[-1].id}) if more and rows else None)

    async def snapshot_segments(self, conn: AsyncConnection, environment: Environment) -> dict[str, Any]:
        """The snapshot's `segments` part (every environment's: segments are global), read in the
        snapshot's own transaction."""
        found = await SegmentRepository(conn).rows(after_id=None, limit=None)
        return {s.id: {"condition": s.condition, "name": s.name} for s in found}

    async def lock_existing(self, uow: UnitOfWork, segment_ids: Iterable[str]) -> set[str]:
        """Which of these segments exist; they cannot be deleted until this transaction ends.
        For writers of targeting rules: check the segments a rule names with this."""
        return await SegmentRepository(uow.conn).lock_existing(segment_ids)

    async def replace(
        self,
        uow: UnitOfWork,
        actor: Principal,
        segment_id: str,
        draft: SegmentDraft,
        *,
        expected_revision: int | None = None,
    ) -> m.Segment:
        check_condition(draft.condition, "body.condition")
        repo = SegmentRepository(uow.conn)
        segment = await self._require(repo, segment_id, for_update=True)
        m.check_revision(segment, expected_revision)
        changed = sorted(
            key
            for key, old, new in (
                ("name", segment.name, draft.name),
                ("description", segment.description, draft.description),
                ("condition", segment.condition, draft.condition),
            )
            if old != new
        )
        if not changed:
            return segment  # a PUT of what is stored changes nothing: no new revision, no snapshot
        await repo.update(
            segment_id,
            {
                "name": draft.name,
                "description": draft.description,
                "condition": draft.condition,
                "updated_at": uow.clock.now(),
                "updated_by": actor.subject,
            },
        )
        await self.audit.record(
            uow,
            actor,
            "segment.update",
            target_type="segment",
            target_id=segment_id,
            summary=f"updated {', '.join(changed)} of segment {segment_id!r}",
            before_ref=f"revision:{segment.revision}",
            after_ref=f"revision:{segment.revision + 1}",
        )
        await self.snapshots.mark_changed(uow)
        return await self.get(uow, segment_id)

    async def delete(
        self, uow: UnitOfWork, actor: Principal, segment_id: str, *, expected_revision: int | None = None
    ) -> None:
        repo = SegmentRepository(uow.conn)
        # The row lock first: a rule naming the segment either committed before (and is seen
        # below) or waits on the lock and then finds the segment gone (see lock_existing).
        segment = await self._require(repo, segment_id, for_update=True)
        m.check_revision(segment, expected_revision)
        await self.signals.send(uow, SegmentDeleting(segment_id))  # a slice still targeting it refuses
        await repo.delete(segment_id)
        await self.audit.record(
            uow,
            actor,
            "segment.delete",
            target_type="segment",
            target_id=segment_id,
            summary=f"deleted segment {segment_id!r}",
            before_ref=f"revision:{segment.revision}",
        )
        await self.snapshots.mark_changed(uow)

    # -- previews ---------------------------------------------------------------------------

    async def predicate(self, uow: UnitOfWork, segment_id: str) -> Predicate:
        return compile_condition((await self.get(uow, segment_id)).condition)

    @staticmethod
    def draft_predicate(condition: Any, field: str = "body.condition") -> Predicate:
        check_condition(condition, field)
        return compile_condition(condition)

    @staticmethod
    def preview_contexts(predicate: Predicate, contexts: Sequence[Any], field: str = "body.contexts") -> ContextPreview:
        errors = [
            FieldError(f"{field}.{i}", problem)
            for i, context in enumerate(contexts)
            if (problem := m.context_problem(context)) is not None
        ]
        if errors:
            raise InvalidInput("Some contexts cannot be evaluated.", errors=errors)
        results = m.match_contexts(predicate, contexts)
        return ContextPreview(total=len(results), matched=sum(results), results=results)

    async def preview_players(
        self, uow: UnitOfWork, predicate: Predicate, *, limit: int, at: datetime | None = None
    ) -> PlayerPreview:
        """Evaluate the stored players (the first `limit` in id order) as they are at `at`."""
        instant = at or uow.clock.now()
        total = matched = 0
        sample: list[str] = []
        async for batch in self.players.scan(uow, limit=limit):
            for profile in batch:
                total += 1
                if predicate(targeting_attributes(profile, instant)):
                    matched += 1
                    if len(sample) < SAMPLE_IDS:
                        sample.append(profile.id)
        return PlayerPreview(total=total, matched=matched, player_ids=sample, at=instant)

    @staticmethod
    async def _require(repo: SegmentRepository, segment_id: str, *, for_update: bool = False) -> m.Segment:
        segment = await repo.get(segment_id, for_update=for_update)
        if segment is None:
            raise NotFound(f"No segment {segment_id!r}.")
        return segment
