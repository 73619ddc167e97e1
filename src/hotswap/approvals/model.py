"""Approval requests: a second person signs off a change before it takes effect. Pure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hotswap.auth.model import same_subject
from hotswap.core.errors import Conflict, Forbidden


class ApprovalStatus(StrEnum):
    PENDING = "Pending"
    APPROVED = "Approved"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Approval:
    id: str
    subject_type: str
    subject_id: str
    environment: str
    summary: str
    status: ApprovalStatus
    requested_by: str
    requested_at: datetime
    # Who wrote what is being approved (besides the requester); none of them may decide it.
    authors: tuple[str, ...] = ()
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None

    def decide(self, decision: Decision, *, by: str, at: datetime, comment: str | None) -> Approval:
        if self.status is not ApprovalStatus.PENDING:
            raise Conflict(f"Approval {self.id} is already {self.status.value}.", extra={"status": self.status.value})
        # One person under two spellings ("Alice", "alice") is one person: compared canonical, so
        # rows written before subjects were stored canonical are judged alike.
        if same_subject(by, self.requested_by):
            raise Forbidden("A change cannot be approved or rejected by the person who requested it.")
        if any(same_subject(by, author) for author in self.authors):
            raise Forbidden("A change cannot be approved or rejected by someone who wrote it.")
        status = ApprovalStatus.APPROVED if decision is Decision.APPROVE else ApprovalStatus.REJECTED
        return dataclasses.replace(self, status=status, decided_by=by, decided_at=at, comment=comment)

    def cancel(self, *, by: str, at: datetime, comment: str | None) -> Approval:
        if self.status is not ApprovalStatus.PENDING:
            raise Conflict(f"Approval {self.id} is already {self.status.value}.", extra={"status": self.status.value})
        return dataclasses.replace(self, status=ApprovalStatus.CANCELLED, decided_by=by, decided_at=at, comment=comment)
