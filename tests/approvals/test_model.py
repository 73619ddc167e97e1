"""Approval requests: who may decide, and which transitions are allowed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hotswap.approvals.model import Approval, ApprovalStatus, Decision
from hotswap.core.errors import Conflict, Forbidden

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=30)


def pending(**changes: Any) -> Approval:
    base = Approval(
        id="apr_1",
        subject_type="config.release",
        subject_id="rel_1",
        environment="Production",
        summary="release payment-service.production 1.2.0",
        status=ApprovalStatus.PENDING,
        requested_by="olivia",
        requested_at=T0,
    )
    return dataclasses.replace(base, **changes)


def test_a_new_approval_is_undecided() -> None:
    approval = pending()
    assert approval.decided_by is None
    assert approval.decided_at is None
    assert approval.comment is None


@pytest.mark.parametrize(
    ("decision", "status"), [(Decision.APPROVE, ApprovalStatus.APPROVED), (Decision.REJECT, ApprovalStatus.REJECTED)]
)
def test_another_person_decides_a_pending_approval(decision: Decision, status: ApprovalStatus) -> None:
    approval = pending()
    decided = approval.decide(decision, by="alice", at=LATER, comment="looks fine")
    assert decided.status is status
    assert decided.decided_by == "alice"
    assert decided.decided_at == LATER
    assert decided.comment == "looks fine"
    # Everything that describes the request is kept as it was.
    assert dataclasses.replace(decided, status=approval.status, decided_by=None, decided_at=None, comment=None) == (
        approval
    )


def test_deciding_returns_a_new_approval_and_leaves_the_original_pending() -> None:
    approval = pending()
    approval.decide(Decision.APPROVE, by="alice", at=LATER, comment=None)
    assert approval.status is ApprovalStatus.PENDING
    assert approval.decided_by is None


def test_a_decision_may_come_without_a_comment() -> None:
    decided = pending().decide(Decision.REJECT, by="alice", at=LATER, comment=None)
    assert decided.status is ApprovalStatus.REJECTED
    assert decided.comment is None


@pytest.mark.parametrize("decision", list(Decision))
def test_the_requester_cannot_decide_their_own_change(decision: Decision) -> None:
    with pytest.raises(Forbidden) as caught:
        pending().decide(decision, by="olivia", at=LATER, comment="self-approve")
    assert caught.value.status == 403
    assert "person who requested it" in caught.value.detail


@pytest.mark.parametrize("decision", list(Decision))
def test_an_author_of_the_change_cannot_decide_it_either(decision: Decision) -> None:
    approval = pending(requested_by="oscar", authors=("olivia",))
    with pytest.raises(Forbidden) as caught:
        approval.decide(decision, by="olivia", at=LATER, comment=None)
    assert "someone who wrote it" in caught.value.detail
    assert approval.decide(decision, by="alice", at=LATER, comment=None).decided_by == "alice"


@pytest.mark.parametrize("decision", list(Decision))
@pytest.mark.parametrize("spelling", ["Olivia", "OLIVIA", " olivia ", "\uff4flivia"])
def test_the_requester_under_another_spelling_cannot_decide(decision: Decision, spelling: str) -> None:
    with pytest.raises(Forbidden, match="person who requested it"):
        pending(requested_by="olivia").decide(decision, by=spelling, at=LATER, comment=None)
    # Rows written before subjects were stored canonical keep their spelling; compared alike.
    with pytest.raises(Forbidden, match="person who requested it"):
        pending(requested_by=spelling).decide(decision, by="olivia", at=LATER, comment=None)


@pytest.mark.parametrize("decision", list(Decision))
def test_an_author_under_another_spelling_cannot_decide(decision: Decision) -> None:
    approval = pending(requested_by="oscar", authors=("Ada",))
    with pytest.raises(Forbidden, match="someone who wrote it"):
        approval.decide(decision, by="ada", at=LATER, comment=None)
    assert approval.decide(decision, by="alice", at=LATER, comment=None).decided_by == "alice"


def test_self_approval_check_is_exact_on_the_subject() -> None:
    # A different subject that merely resembles the requester is another person.
    decided = pending(requested_by="olivia").decide(Decision.APPROVE, by="olivia2", at=LATER, comment=None)
    assert decided.status is ApprovalStatus.APPROVED


@pytest.mark.parametrize("status", [ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.CANCELLED])
@pytest.mark.parametrize("decision", list(Decision))
def test_deciding_an_already_decided_approval_is_a_conflict(status: ApprovalStatus, decision: Decision) -> None:
    decided = pending(status=status, decided_by="alice", decided_at=T0)
    with pytest.raises(Conflict) as caught:
        decided.decide(decision, by="bob", at=LATER, comment=None)
    assert caught.value.status == 409
    assert caught.value.extra == {"status": status.value}
    assert f"already {status.value}" in caught.value.detail


def test_an_already_decided_approval_is_a_conflict_even_for_the_requester() -> None:
    # The state conflict is reported before the self-approval rule.
    with pytest.raises(Conflict):
        pending(status=ApprovalStatus.APPROVED).decide(Decision.APPROVE, by="olivia", at=LATER, comment=None)


def test_a_second_decision_on_the_result_of_the_first_is_a_conflict() -> None:
    approved = pending().decide(Decision.APPROVE, by="alice", at=LATER, comment=None)
    with pytest.raises(Conflict):
        approved.decide(Decision.REJECT, by="bob", at=LATER, comment=None)
    with pytest.raises(Conflict):
        approved.cancel(by="olivia", at=LATER, comment=None)


def test_the_requester_can_cancel_a_pending_approval() -> None:
    cancelled = pending().cancel(by="olivia", at=LATER, comment="wrong version")
    assert cancelled.status is ApprovalStatus.CANCELLED
    assert cancelled.decided_by == "olivia"
    assert cancelled.decided_at == LATER
    assert cancelled.comment == "wrong version"


def test_someone_else_can_cancel_a_pending_approval() -> None:
    assert pending().cancel(by="admin", at=LATER, comment=None).status is ApprovalStatus.CANCELLED


@pytest.mark.parametrize("status", [ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.CANCELLED])
def test_only_a_pending_approval_can_be_cancelled(status: ApprovalStatus) -> None:
    with pytest.raises(Conflict) as caught:
        pending(status=status).cancel(by="olivia", at=LATER, comment=None)
    assert caught.value.extra == {"status": status.value}


def test_status_and_decision_values_are_the_wire_values() -> None:
    assert [s.value for s in ApprovalStatus] == ["Pending", "Approved", "Rejected", "Cancelled"]
    assert Decision("approve") is Decision.APPROVE
    assert Decision("reject") is Decision.REJECT
