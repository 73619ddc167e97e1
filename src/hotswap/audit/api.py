from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from hotswap.audit.model import AuditFilter
from hotswap.audit.service import AuditLog
from hotswap.auth.model import Permission, Principal
from hotswap.web.deps import UowDep, require, service
from hotswap.web.schemas import CamelModel, PageRead

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

Audit = Annotated[AuditLog, Depends(service(AuditLog))]


class AuditRecordRead(CamelModel):
    id: int
    at: datetime
    actor: str
    actor_role: str
    action: str
    target_type: str
    target_id: str
    summary: str
    before_ref: str | None
    after_ref: str | None
    details: dict[str, Any] | None
    request_id: str | None


@router.get("", response_model=PageRead[AuditRecordRead])
async def list_audit_records(
    _: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
    uow: UowDep,
    audit: Audit,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    target_type: Annotated[str | None, Query(alias="targetType", max_length=50)] = None,
    target_id: Annotated[str | None, Query(alias="targetId", max_length=200)] = None,
    since: Annotated[AwareDatetime | None, Query(description="Inclusive lower bound (ISO 8601 with offset).")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Exclusive upper bound (ISO 8601 with offset).")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PageRead[AuditRecordRead]:
    """Newest first. Follow `nextCursor` for older records."""
    flt = AuditFilter(
        actor=actor, action=action, target_type=target_type, target_id=target_id, since=since, until=until
    )
    page = await audit.search(uow, flt, cursor=cursor, limit=limit)
    return PageRead(
        items=[AuditRecordRead.model_validate(r, from_attributes=True) for r in page.items],
        next_cursor=page.next_cursor,
    )
