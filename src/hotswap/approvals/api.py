from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import Field, StringConstraints

from hotswap.approvals.model import Approval, ApprovalStatus, Decision
from hotswap.approvals.service import ApprovalService
from hotswap.auth.model import Permission, Principal
from hotswap.storage.uow import UnitOfWork
from hotswap.web.deps import UowDep, require, service
from hotswap.web.schemas import CamelModel, InputModel, PageRead

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])

Approvals = Annotated[ApprovalService, Depends(service(ApprovalService))]

Reader = Annotated[Principal, Depends(require(Permission.APPROVAL_READ))]
Decider = Annotated[Principal, Depends(require(Permission.APPROVAL_DECIDE))]


class ApprovalRead(CamelModel):
    id: str
    subject_type: str
    subject_id: str
    environment: str
    summary: str
    status: ApprovalStatus
    requested_by: str
    requested_at: datetime
    authors: list[str] = Field(description="Who wrote the change; like the requester, they may not decide it.")
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None


class DecisionBody(InputModel):
    comment: Annotated[str, StringConstraints(max_length=4000)] | None = None


def _read(a: Approval) -> ApprovalRead:
    return ApprovalRead(
        id=a.id,
        subject_type=a.subject_type,
        subject_id=a.subject_id,
        environment=a.environment,
        summary=a.summary,
        status=a.status,
        requested_by=a.requested_by,
        requested_at=a.requested_at,
        authors=list(a.authors),
        decided_by=a.decided_by,
        decided_at=a.decided_at,
        comment=a.comment,
    )


@router.get("", response_model=PageRead[ApprovalRead])
async def list_approvals(
    _: Reader,
    uow: UowDep,
    approvals: Approvals,
    status: ApprovalStatus | None = None,
    subject_type: Annotated[str | None, Query(alias="subjectType", max_length=50)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PageRead[ApprovalRead]:
    page = await approvals.list(uow, status=status, subject_type=subject_type, cursor=cursor, limit=limit)
    return PageRead(items=[_read(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/{approval_id}", response_model=ApprovalRead)
async def get_approval(approval_id: str, _: Reader, uow: UowDep, approvals: Approvals) -> ApprovalRead:
    return _read(await approvals.get(uow, approval_id))


async def _decide(
    approval_id: str,
    decision: Decision,
    body: DecisionBody | None,
    actor: Principal,
    uow: UnitOfWork,
    approvals: ApprovalService,
) -> ApprovalRead:
    approval = await approvals.decide(uow, actor, approval_id, decision, body.comment if body else None)
    await uow.commit()
    return _read(approval)


@router.post("/{approval_id}/approve", response_model=ApprovalRead)
async def approve(
    approval_id: str, actor: Decider, uow: UowDep, approvals: Approvals, body: DecisionBody | None = None
) -> ApprovalRead:
    return await _decide(approval_id, Decision.APPROVE, body, actor, uow, approvals)


@router.post("/{approval_id}/reject", response_model=ApprovalRead)
async def reject(
    approval_id: str, actor: Decider, uow: UowDep, approvals: Approvals, body: DecisionBody | None = None
) -> ApprovalRead:
    return await _decide(approval_id, Decision.REJECT, body, actor, uow, approvals)
