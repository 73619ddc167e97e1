"""What the rollouts slice tells the others."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hotswap.core.signals import Signal


@dataclass(frozen=True, slots=True)
class DeploymentChanged(Signal[None]):
    """A deployment was created or changed (a step, a pause, an approval, a rollback...): sent in
    its transaction, so an outbox written by a subscriber commits with the change or not at all."""

    action: str  # create, advance, pause, resume, promote, rollback, cancel, approve, complete...
    deployment_id: str
    sequence: int  # the deployment's revision after the change: it grows with each change
    subject_kind: str  # "config", "event"
    subject: str  # a config's name, an event's id
    version: str | None
    environment: str
    strategy: str
    status: str
    step: int
    reason: str | None
    actor: str
    at: datetime
    snapshot_revision: int | None  # the revision that serves the change, when it changed exposure


@dataclass(frozen=True, slots=True)
class DeploymentsDue(Signal[None]):
    """A change made deployments due now: a worker should look at them without waiting for its
    next poll (in this process; another process finds them at its own)."""
