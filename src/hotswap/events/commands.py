"""What the live-event use cases are asked to do: plain commands, so that the API, the CLI and
tests give the service the same thing, free of any HTTP framework."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotswap.core.environments import Environment
from hotswap.event_templates.model import EventClass
from hotswap.events.model import TimeMode


@dataclass(frozen=True, slots=True)
class EventContent:
    """An event's content as a create or an edit gives it. A create reads every field (None: the
    template's, or the default); an edit changes only the fields named in `sent` (where None
    clears segment, regions, description or theme)."""

    display_name: str | None = None
    description: str | None = None
    event_type: str | None = None
    event_class: EventClass | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    time_mode: TimeMode | None = None
    configuration: dict[str, Any] | None = None
    objectives: list[dict[str, Any]] | None = None  # as served: camelCase objects
    milestones: list[dict[str, Any]] | None = None
    theme: dict[str, Any] | None = None
    segment: str | None = None
    regions: list[str] | None = None
    variants: list[dict[str, Any]] | None = None
    sent: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CreateEvent:
    id: str
    content: EventContent
    environment: Environment = Environment.PRODUCTION
    template_id: str | None = None
    override: str | None = None  # why the scheduling rules are overridden (admins only)
    record_past: bool = False  # a window that has ended is stored as a record, never served


@dataclass(frozen=True, slots=True)
class EditEvent:
    content: EventContent
    override: str | None = None
    record_past: bool = False  # new times that have ended make the event a record of the past
