"""The audit trail: every mutation records who did what to which target, in the same transaction."""

from __future__ import annotations

from typing import Any

from hotswap.audit.model import AuditFilter, AuditRecord
from hotswap.audit.repository import AuditRepository
from hotswap.auth.model import Principal
from hotswap.core.pagination import Page, check_limit, cursor_int, encode_cursor
from hotswap.storage.uow import UnitOfWork


class AuditLog:
    async def record(
        self,
        uow: UnitOfWork,
        actor: Principal,
        action: str,
        *,
        target_type: str,
        target_id: str,
        summary: str,
        before_ref: str | None = None,
        after_ref: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await AuditRepository(uow.conn).add(
            {
                "at": uow.clock.now(),
                "actor": actor.subject,
                "actor_role": actor.role.value,
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "summary": summary,
                "before_ref": before_ref,
                "after_ref": after_ref,
                "details": details,
                "request_id": uow.request_id,
            }
        )

    async def search(self, uow: UnitOfWork, flt: AuditFilter, *, cursor: str | None, limit: int) -> Page[AuditRecord]:
        check_limit(limit)
        before_id = None
        if cursor is not None:
            before_id = cursor_int(cursor, "id")
        rows = await AuditRepository(uow.conn).list(flt, before_id=before_id, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor({"id": rows[-1].id}) if more and rows else None)
