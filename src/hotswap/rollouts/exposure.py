"""Who a deployment's subject is served to, as the snapshot says it: each open deployment's
current exposure, the last exposure of each that succeeded without reaching everyone (it keeps
serving its targets), and for subjects whose audience is their deployments' say from the start
(a live event) the exposure their latest deployment leaves them (`subject_exposures`).

Pure: the rows come from `DeploymentRepository.exposing` and `.of_subjects`, read inside the
snapshot's own consistent transaction (see `delivery.documents`), so a document labelled
revision N shows exactly the steps the store held at revision N.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

EXPOSING = ("Running", "Paused")  # a paused deployment keeps what it has exposed
OPEN = ("PendingApproval", "Running", "Paused")
WITHDRAWN = ("RolledBack", "Failed", "Cancelled")
NOBODY: list[dict[str, Any]] = []
# In the spec of a deployment made for a subject already on the air (an Active or Paused event):
# until its first step, the subject is served as it was before the deployment.
KEEPS_EXPOSURE = "keepsExposure"


@dataclass(frozen=True, slots=True)
class Exposing:
    """An open deployment at a step, or a limited success still holding its last step."""

    id: str
    subject: str
    seed: str
    unit_kind: str
    version_id: str | None
    exposure: list[dict[str, Any]]
    step: int


@dataclass(frozen=True, slots=True)
class Ended:
    """What `subject_exposures` reads of each deployment of a subject."""

    id: str
    subject: str
    status: str
    step: int
    plan: dict[str, Any]
    spec: dict[str, Any]
    holds_exposure: bool
    created_at: datetime
    finished_at: datetime | None


def subject_exposures(rows: Iterable[Ended]) -> dict[str, list[dict[str, Any]] | None]:
    """Who each subject is served to, as its latest deployment decides; a subject never deployed
    is absent (served to everyone who passes the rest).

    - open, before its first step (waiting for approval or for the subject's start): `[]`, nobody
      yet: the deployment owns the subject's exposure from its creation, so nobody sees it early;
      but one made for a subject already on the air (`KEEPS_EXPOSURE`) leaves it as it was
      (everyone, or what the deployment before it left), so an approval wait does not take it
      off the air;
    - Running or Paused at a step: that step's grants (as a config rollout's `exposure`);
    - Succeeded: None (everyone) once it reached everyone, else its last grants (`holds_exposure`);
    - rolled back, failed or cancelled: as if it had never been; the subject is as the deployment
      before it left it. A deployment that ends so after exposing units takes its subject off the
      air in the subject's own terms (`RolloutSubject.withdrawn`: a live event is paused), and
      putting it back is an operator's decision to serve it as before the deployment.
    """
    out: dict[str, list[dict[str, Any]] | None] = {}
    for r in sorted(rows, key=_age):  # oldest first: the latest of a subject decides
        if r.status in WITHDRAWN or (r.status in OPEN and r.step < 0 and r.spec.get(KEEPS_EXPOSURE)):
            continue
        out[r.subject] = _exposure(r.status, r.step, r.plan, r.holds_exposure)
    return out


def _age(row: Ended) -> tuple[datetime, bool, datetime, str]:
    """Creation order; within one instant, the finished before the open one (a subject has one
    open deployment at most), and those in the order they finished."""
    return (row.created_at, row.status in OPEN, row.finished_at or row.created_at, row.id)


def _exposure(status: str, step: int, plan: dict[str, Any], holds: bool) -> list[dict[str, Any]] | None:
    if status in EXPOSING and step >= 0:
        grants: list[dict[str, Any]] = plan["steps"][step]["exposure"]
        return grants
    if status == "Succeeded":
        return plan["steps"][step]["exposure"] if holds and step >= 0 else None
    return list(NOBODY)  # open before its first step: nobody sees the subject early
