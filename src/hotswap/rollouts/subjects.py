"""What a deployment rolls out: a port the slices that own such things implement (a config
version, a live event; experiments next), so that rollouts imports none of them. The composition
root registers one implementation per kind (`DeploymentService.register_subject`).

A deployment asks its subject three things:
- `resolve`, while it is drafted: what the request names, checked and locked for the rest of the
  transaction (422 naming the request's field, or 409), and how it is rolled out;
- `succeeded`, when it reached everyone: the subject becomes what everyone is served (a config's
  version is made live, in the same revision that drops the deployment's exposure);
- `withdrawn`, when it was rolled back, failed or was cancelled after exposing units: the subject
  leaves the air in its own terms (an Active live event is paused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from hotswap.auth.model import Principal
from hotswap.core.environments import Environment
from hotswap.rollouts.model import UnitKind

if TYPE_CHECKING:
    from hotswap.rollouts.model import Row
    from hotswap.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class SubjectRequest:
    """What a deployment request names: a subject of a kind, by id, perhaps a version of it, and
    the environment it says, as it says it (a config is in its own environment and ignores it;
    an event checks it against its own, after it has found the event)."""

    kind: str
    id: str
    version: str | None = None
    environment: str | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """A subject as its deployment stores and rolls it out."""

    kind: str
    id: str
    environment: Environment
    what: str  # how summaries name it: "'balance' 2.0.0", "live event 'summer-fest' v3"
    authors: tuple[str, ...]  # who wrote what it rolls out: an approver must be someone else
    version: str  # the label of what is rolled out
    version_id: str | None = None
    profile_id: str | None = None
    baseline_version_id: str | None = None
    # The units are hashed with this seed (an event's players with the event's id, so the snapshot
    # hashes them alike); None: the request's `hashSeed`, else the deployment's own id.
    seed: str | None = None
    starts_at: datetime | None = None  # the first step waits for it (a Scheduled event's start)
    # Who is served the subject is its deployments' say from the moment one is created (an event
    # nobody sees before its first step), not only from the first step on (a config's version).
    exposed_from_creation: bool = False
    # Served as before until the first step (an event already on the air keeps its audience
    # while its deployment waits for an approval), rather than to nobody.
    keeps_exposure: bool = False


class RolloutSubject(Protocol):
    """One kind of thing deployments roll out."""

    kind: str
    name: str  # in messages: "config", "live event"
    unit_kinds: tuple[UnitKind, ...]  # what its steps may expose; the first is the default

    def describe(self, subject_id: str) -> str:
        """How a message names one: "'balance'", "live event 'summer-fest'"."""
        ...

    async def resolve(self, uow: UnitOfWork, request: SubjectRequest) -> Subject:
        """The subject `request` names, checked and locked until the transaction ends."""
        ...

    async def succeeded(self, uow: UnitOfWork, actor: Principal, deployment: Row) -> None:
        """`deployment` reached everyone, in its transaction."""
        ...

    async def withdrawn(self, uow: UnitOfWork, actor: Principal, deployment: Row) -> None:
        """`deployment` ended without success after exposing units, in its transaction."""
        ...
