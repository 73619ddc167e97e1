"""Live events, the pure part: the lifecycle, the scheduling rules, region-local times. No I/O.

Lifecycle (an illegal step is a 409 at the API):

    Scheduled --activate--> Active --pause--> Paused --resume--> Active
    Active/Paused --expire--> Expired --archive--> Archived
    Scheduled --cancel--> Cancelled --archive--> Archived
    Scheduled --expire--> Expired   (its time passed and it never went live: a dead-lettered start)

Scheduling rules, checked for a candidate against the
events already planned: at most 4 events at once, at most 2 of one type at once, and at least
48 hours between the end of a major event and the start of the next (so two majors never
overlap either). Mini events and daily activities are exempt from the limits on running at
once: they neither count nor are counted. An event is `standard` unless its class says
otherwise: it counts toward the limits, and the major gap does not concern it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hotswap.event_templates.model import EventClass

MAX_CONCURRENT = 4
MAX_CONCURRENT_OF_TYPE = 2
MAJOR_GAP = timedelta(hours=48)

KIND = "event"  # what deployments call a live event they roll out (`events.rollouts`)
EVENT_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$"  # a slug: lower case, digits, . _ -


class EventStatus(enum.StrEnum):
    SCHEDULED = "Scheduled"
    ACTIVE = "Active"
    PAUSED = "Paused"
    EXPIRED = "Expired"
    ARCHIVED = "Archived"
    CANCELLED = "Cancelled"


class EventAction(enum.StrEnum):
    ACTIVATE = "activate"
    PAUSE = "pause"
    RESUME = "resume"
    EXPIRE = "expire"
    ARCHIVE = "archive"
    CANCEL = "cancel"


EXEMPT = frozenset({EventClass.MINI, EventClass.DAILY})


_STEPS: dict[tuple[EventStatus, EventAction], EventStatus] = {
    (EventStatus.SCHEDULED, EventAction.ACTIVATE): EventStatus.ACTIVE,
    (EventStatus.ACTIVE, EventAction.PAUSE): EventStatus.PAUSED,
    (EventStatus.PAUSED, EventAction.RESUME): EventStatus.ACTIVE,
    (EventStatus.ACTIVE, EventAction.EXPIRE): EventStatus.EXPIRED,
    (EventStatus.PAUSED, EventAction.EXPIRE): EventStatus.EXPIRED,
    (EventStatus.SCHEDULED, EventAction.EXPIRE): EventStatus.EXPIRED,
    (EventStatus.EXPIRED, EventAction.ARCHIVE): EventStatus.ARCHIVED,
    (EventStatus.CANCELLED, EventAction.ARCHIVE): EventStatus.ARCHIVED,
    (EventStatus.SCHEDULED, EventAction.CANCEL): EventStatus.CANCELLED,
}


class IllegalTransition(ValueError):
    def __init__(self, status: EventStatus, action: EventAction) -> None:
        allowed = sorted(a.value for (s, a) in _STEPS if s is status)
        super().__init__(
            f"An event that is {status.value} cannot {action.value}"
            + (f" (it can: {', '.join(allowed)})." if allowed else " (it can do nothing more).")
        )
        self.status = status
        self.action = action


def transition(status: EventStatus, action: EventAction) -> EventStatus:
    """The status after `action`; raises IllegalTransition when `status` does not allow it."""
    after = _STEPS.get((status, action))
    if after is None:
        raise IllegalTransition(status, action)
    return after


def allowed_actions(status: EventStatus) -> list[EventAction]:
    return [action for (s, action) in _STEPS if s is status]


# Events the scheduling rules count, and whose windows the scheduler still opens and closes.
PLANNED = frozenset({EventStatus.SCHEDULED, EventStatus.ACTIVE, EventStatus.PAUSED})
# Content that can still change: an ended, cancelled or archived event is a record.
EDITABLE = PLANNED


class TimeMode(enum.StrEnum):
    UTC = "utc"  # startTime and endTime are instants (with an offset, e.g. Z)
    REGION_LOCAL = "regionLocal"  # wall-clock times (no offset), read in each target region's zone


EVERYWHERE = ""  # the region of an event's one window when it targets no region in particular


@dataclass(frozen=True, slots=True)
class Window:
    """When an event runs in one region (EVERYWHERE: in all), as UTC instants."""

    region: str
    start: datetime
    end: datetime


def windows_for(
    mode: TimeMode, start: datetime, end: datetime, regions: Sequence[tuple[str, str]] | None
) -> list[Window]:
    """The windows an event's times give over its target `regions` ((id, time zone) pairs; None
    means everywhere). Raises ValueError when the times do not fit the mode or an end is not
    after its start."""
    if mode is TimeMode.UTC:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("give times with an offset (e.g. 2026-12-01T00:00:00Z), or set timeMode regionLocal")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            raise ValueError("endTime must be after startTime")
        if not regions:
            return [Window(EVERYWHERE, start, end)]
        return [Window(region, start, end) for region, _zone in regions]
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError("regionLocal times are wall-clock times, without an offset (e.g. 2026-12-01T00:00:00)")
    if end <= start:
        raise ValueError("endTime must be after startTime")
    if not regions:
        raise ValueError("regionLocal times need the regions whose clocks they are read on")
    windows = [Window(region, local_to_utc(start, zone), local_to_utc(end, zone)) for region, zone in regions]
    for window in windows:
        if window.end <= window.start:  # a DST change inside a very short window
            raise ValueError(f"in {window.region} the end falls before the start")
    return windows


def span(windows: Iterable[Window]) -> tuple[datetime, datetime]:
    """The UTC span covering every window: what the scheduling rules and the calendar use."""
    listed = list(windows)
    return min(w.start for w in listed), max(w.end for w in listed)


# -- scheduling rules ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """What the rules look at: one event's id, type, class and UTC window."""

    id: str
    event_type: str
    event_class: EventClass
    start: datetime
    end: datetime

    def overlaps(self, other: Planned) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Conflict:
    rule: str  # "concurrent", "concurrent-type", "major-gap"
    message: str
    event_ids: tuple[str, ...]


def conflicts(candidate: Planned, others: Iterable[Planned]) -> list[Conflict]:
    """Every rule `candidate` would break next to `others` (events already planned, live ones
    only; the candidate itself, when edited, is not among them). Empty: it may be scheduled."""
    if candidate.event_class in EXEMPT:
        return []
    others = [e for e in others if e.id != candidate.id]
    counted = [e for e in others if e.event_class not in EXEMPT]
    found: list[Conflict] = []
    alongside = [e for e in counted if e.overlaps(candidate)]
    crowd = _busiest(candidate, alongside)
    if len(crowd) + 1 > MAX_CONCURRENT:
        found.append(
            Conflict(
                "concurrent",
                f"at most {MAX_CONCURRENT} events may run at once; with this one {len(crowd) + 1} would",
                tuple(e.id for e in crowd),
            )
        )
    same = _busiest(candidate, [e for e in alongside if e.event_type == candidate.event_type])
    if len(same) + 1 > MAX_CONCURRENT_OF_TYPE:
        found.append(
            Conflict(
                "concurrent-type",
                f"at most {MAX_CONCURRENT_OF_TYPE} {candidate.event_type} events may run at once; "
                f"with this one {len(same) + 1} would",
                tuple(e.id for e in same),
            )
        )
    near = [
        e
        for e in counted
        if e.event_class is EventClass.MAJOR
        and candidate.start - MAJOR_GAP < e.end
        and e.start < candidate.end + MAJOR_GAP
    ]
    if candidate.event_class is EventClass.MAJOR and near:
        found.append(
            Conflict(
                "major-gap",
                f"major events need {int(MAJOR_GAP.total_seconds() // 3600)} h between the end of one and the "
                "start of the next",
                tuple(e.id for e in sorted(near, key=lambda e: e.start)),
            )
        )
    return found


def _busiest(candidate: Planned, alongside: Sequence[Planned]) -> list[Planned]:
    """The most of `alongside` running at one instant within the candidate's window."""
    instants = sorted({max(e.start, candidate.start) for e in alongside} | {candidate.start})
    best: list[Planned] = []
    for at in instants:
        running = [e for e in alongside if e.start <= at < e.end]
        if len(running) > len(best):
            best = running
    return sorted(best, key=lambda e: (e.start, e.id))


# -- region-local times -------------------------------------------------------------------------


def local_to_utc(wall: datetime, zone: str) -> datetime:
    """The UTC instant a wall-clock time (no tzinfo) names in `zone`, DST-correct.

    A time the clocks skip (02:30 on the night they jump from 02:00 to 03:00) is read on the
    offset before the jump, so it falls as long after the jump as it is after 02:00 (03:30 on
    the new clock); a time they pass twice (falling back) is the first of the two (PEP 495's
    `fold=0`, both)."""
    if wall.tzinfo is not None:
        raise ValueError("a wall-clock time has no time zone")
    return wall.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC)


def utc_to_local(instant: datetime, zone: str) -> datetime:
    """The wall-clock time (no tzinfo) in `zone` at a UTC instant."""
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


# -- the stored event, as the services read it ---------------------------------------------

# A timer's states, and what it does to its window when due.
PENDING, DONE, DEAD, SUPERSEDED = "pending", "done", "dead", "superseded"
OPEN, CLOSE = "open", "close"


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    environment: str
    status: EventStatus
    event_type: str
    event_class: EventClass
    template_id: str | None
    spec: dict[str, Any]
    version: int
    start_at: datetime
    end_at: datetime
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    revision: int


@dataclass(frozen=True, slots=True)
class WindowRow:
    event_id: str
    region: str
    start_at: datetime
    end_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class TimerRow:
    id: int
    event_id: str
    region: str
    action: str
    due_at: datetime
    next_at: datetime
    state: str
    attempts: int
    last_error: str | None
    done_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Totals:
    """What the samples tagged with an event add up to, over its participants."""

    participants: int = 0
    payers: int = 0
    purchases: int = 0
    revenue: float = 0.0
    samples: int = 0
