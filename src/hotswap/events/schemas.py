"""Request and response bodies of the events API.

Creating an event takes `name` (or `eventId`, the same thing), `displayName`, `eventType`,
`startTime`, `endTime` and `configuration`, or `templateId` plus what to change of the
template. `PUT /events/{id}` takes any subset of the same fields (moving an event is just
`startTime`). Times that have already ended need `recordPast` (see
`planning.over`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from hotswap.core.environments import parse_environment
from hotswap.event_templates.model import EventClass
from hotswap.event_templates.schemas import Milestone, Objective, TemplateId
from hotswap.events import model as m
from hotswap.events.commands import CreateEvent, EditEvent, EventContent
from hotswap.events.model import EVENT_ID_PATTERN, EventRow, TimeMode, WindowRow
from hotswap.web.schemas import CamelModel, InputModel

EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]
EventType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9]{0,49}$")]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=4000)]
RegionName = Annotated[str, StringConstraints(min_length=1, max_length=40)]
SegmentId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MIN_YEAR, MAX_YEAR = 2000, 2999
VariantName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")]


def _dumped(item: BaseModel) -> dict[str, Any]:
    return item.model_dump(mode="json", by_alias=True)


class Variant(InputModel):
    name: VariantName
    weight: float = Field(gt=0, le=1_000_000, description="Relative share of the event's players.")
    configuration: dict[str, Any] = Field(
        default_factory=dict, description="Merged over the event's configuration for this variant's players."
    )


class Override(InputModel):
    reason: Annotated[str, StringConstraints(min_length=3, max_length=1000)] = Field(
        description="Why the scheduling rules are overridden; kept in the event's history and the audit log."
    )


class _Content(InputModel):
    display_name: Text200 | None = None
    description: Description | None = None
    event_type: EventType | None = Field(
        default=None,
        description="Seasonal, Competitive, Cooperative, Crossover, Gacha, SeasonalPromotion, ...: "
        "at most 2 events of one type run at once.",
    )
    event_class: EventClass | None = Field(
        default=None, description="major (48 h apart), standard, mini or daily (exempt from the limits)."
    )
    start_time: datetime | None = None
    end_time: datetime | None = None
    time_mode: TimeMode | None = Field(
        default=None,
        description="utc (default): startTime and endTime are instants. regionLocal: wall-clock times "
        "(no offset) that each target region reads on its own clock, e.g. local midnight.",
    )
    configuration: dict[str, Any] | None = None
    objectives: list[Objective] | None = Field(default=None, max_length=100, description="Replace the template's.")
    milestones: list[Milestone] | None = Field(default=None, max_length=100, description="Replace the template's.")
    theme: dict[str, Any] | None = None
    segment: SegmentId | None = Field(default=None, description="Only players in this segment see the event.")
    regions: list[RegionName] | None = Field(
        default=None, max_length=50, description="Target regions (ids or aliases); none: everywhere."
    )
    variants: list[Variant] | None = Field(default=None, max_length=20)
    override: Override | None = Field(
        default=None, description="Admins only: schedule despite the scheduling rules, saying why."
    )
    record_past: bool = Field(
        default=False,
        description="Store an event whose window has already ended as a record of the past: Expired at once, "
        "never served. Without it, times that have ended are a 422 on endTime; with it, times that have not "
        "ended are a 422 on recordPast. On an edit, the event ends in the edit, by its author: an Active one "
        "is served until then, and its windows close at that moment.",
    )

    @field_validator("start_time", "end_time", mode="after")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        # Far enough from datetime's limits that any zone's offset or a template's length fits.
        if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ValueError(f"must fall in the years {MIN_YEAR} to {MAX_YEAR}")
        return value

    def content(self) -> EventContent:
        """The command's content: objectives and milestones as served (camelCase objects)."""
        sent = frozenset(
            self.model_fields_set - {"override", "record_past", "event_id", "name", "template_id", "environment"}
        )
        return EventContent(
            display_name=self.display_name,
            description=self.description,
            event_type=self.event_type,
            event_class=self.event_class,
            start_time=self.start_time,
            end_time=self.end_time,
            time_mode=self.time_mode,
            configuration=self.configuration,
            objectives=None if self.objectives is None else [_dumped(o) for o in self.objectives],
            milestones=None if self.milestones is None else [_dumped(m) for m in self.milestones],
            theme=self.theme,
            segment=self.segment,
            regions=self.regions,
            variants=None if self.variants is None else [v.model_dump() for v in self.variants],
            sent=sent,
        )

    @model_validator(mode="after")
    def _distinct(self) -> _Content:
        if self.variants is not None:
            names = [v.name for v in self.variants]
            if len(set(names)) != len(names):
                raise ValueError("variant names must be distinct")
        if self.regions is not None and len({r.lower() for r in self.regions}) != len(self.regions):
            raise ValueError("regions must be distinct")
        return self


class EventCreate(_Content):
    event_id: EventId | None = Field(default=None, description="The event's id.")
    name: EventId | None = Field(default=None, description="The event's id, under another name (`eventId`).")
    template_id: TemplateId | None = Field(default=None, description="Start from this template.")
    environment: str | None = Field(default=None, description="Development, Staging or Production (default).")

    @model_validator(mode="after")
    def _one_id(self) -> EventCreate:
        if self.event_id is not None and self.name is not None and self.event_id != self.name:
            raise ValueError("eventId and name name the same thing; give one, or the same value")
        if self.event_id is None and self.name is None:
            raise ValueError("give the event's id as eventId (or name)")
        if self.start_time is None:
            raise ValueError("startTime is required")
        return self

    @property
    def id(self) -> str:
        value = self.event_id or self.name
        assert value is not None
        return value

    def command(self) -> CreateEvent:
        return CreateEvent(
            id=self.id,
            content=self.content(),
            environment=parse_environment(self.environment, "body.environment"),
            template_id=self.template_id,
            override=self.override.reason if self.override else None,
            record_past=self.record_past,
        )


class EventUpdate(_Content):
    """Only the fields sent change. `null` clears segment, regions, description or theme."""

    def command(self) -> EditEvent:
        return EditEvent(
            content=self.content(),
            override=self.override.reason if self.override else None,
            record_past=self.record_past,
        )


class WindowRead(CamelModel):
    region: str | None
    time_zone: str | None
    start_time: datetime
    end_time: datetime
    local_start_time: str | None = Field(description="The start on the region's wall clock.")
    local_end_time: str | None
    opened_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, window: WindowRow, zone: str | None) -> WindowRead:
        """A stored window, with its local times on `zone`'s clock."""
        return cls(
            region=window.region or None,
            time_zone=zone,
            start_time=window.start_at,
            end_time=window.end_at,
            local_start_time=m.utc_to_local(window.start_at, zone).isoformat() if zone else None,
            local_end_time=m.utc_to_local(window.end_at, zone).isoformat() if zone else None,
            opened_at=window.opened_at,
            closed_at=window.closed_at,
        )


class EventRead(CamelModel):
    event_id: str
    name: str
    environment: str
    status: str
    allowed_actions: list[str]
    version: int
    display_name: str
    description: str | None
    event_type: str
    event_class: str
    template_id: str | None
    time_mode: str
    start_time: datetime
    end_time: datetime
    windows: list[WindowRead]
    regions: list[str] | None
    segment: str | None
    configuration: dict[str, Any]
    objectives: list[Any]
    milestones: list[Any]
    theme: dict[str, Any] | None
    variants: list[dict[str, Any]]
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    revision: int

    @classmethod
    def of(cls, row: EventRow, windows: Sequence[WindowRow], zones: dict[str, str]) -> EventRead:
        """A stored event with its windows, each on its region's clock (`zones`: region -> zone)."""
        spec = row.spec
        return cls(
            event_id=row.id,
            name=row.id,
            environment=row.environment,
            status=row.status.value,
            allowed_actions=[a.value for a in m.allowed_actions(row.status) if a is not m.EventAction.EXPIRE],
            version=row.version,
            display_name=spec["displayName"],
            description=spec.get("description"),
            event_type=row.event_type,
            event_class=row.event_class.value,
            template_id=row.template_id,
            time_mode=spec["timeMode"],
            start_time=row.start_at,
            end_time=row.end_at,
            windows=[WindowRead.of(w, zones.get(w.region)) for w in windows],
            regions=spec.get("regions"),
            segment=spec.get("segment"),
            configuration=spec["configuration"],
            objectives=spec.get("objectives") or [],
            milestones=spec.get("milestones") or [],
            theme=spec.get("theme"),
            variants=spec.get("variants") or [],
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
            revision=row.revision,
        )


class ConflictRead(CamelModel):
    rule: str
    message: str
    event_ids: list[str]


class ValidationRead(CamelModel):
    valid: bool = Field(description="True when the draft could be saved as it is.")
    conflicts: list[ConflictRead]
    start_time: datetime
    end_time: datetime
    windows: list[WindowRead]


class HistoryEntry(CamelModel):
    at: datetime
    actor: str
    kind: str
    action: str | None
    from_status: str | None
    to_status: str | None
    version: int | None
    region: str | None
    detail: dict[str, Any] | None


class CalendarEntry(CamelModel):
    event_id: str
    display_name: str
    event_type: str
    event_class: str
    status: str
    environment: str
    windows: list[WindowRead]


class CalendarRead(CamelModel):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    region: str | None
    time_zone: str = Field(description="Local times are on this zone's clock (UTC without a region).")
    events: list[CalendarEntry]
    next_cursor: str | None = Field(
        default=None, description="Set when more events may follow: pass it as `cursor` for the next page."
    )


class DeadLetterRead(CamelModel):
    id: int
    event_id: str
    region: str | None
    action: str
    due_at: datetime
    attempts: int
    last_error: str | None
    failed_at: datetime | None
    state: str
