"""What the events slice tells the others."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hotswap.auth.model import Principal
from hotswap.core.environments import Environment
from hotswap.core.signals import Signal


@dataclass(frozen=True, slots=True)
class EventStartMoved(Signal[None]):
    """A live event's start moved (an edit, an early activation, its region's new clock), in the
    change's transaction: a deployment waiting for the old start waits for the new one."""

    actor: Principal
    event_id: str
    environment: Environment
    old_start: datetime
    new_start: datetime


@dataclass(frozen=True, slots=True)
class EventTimersSet(Signal[None]):
    """An event write added or moved timers: once it has committed, a scheduler should look again
    at once (in this process, and in a worker process apart) rather than at its next poll."""
