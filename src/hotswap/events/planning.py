"""The parts of an event write that are shared by create, edit and validate: the spec a body
makes (over a template or the stored version), its windows over the target regions, the
scheduling rules against the other planned events, and the windows and timers stored for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hotswap.core.errors import FieldError, InvalidInput
from hotswap.event_templates.model import EventClass, Template, check_content, check_json
from hotswap.events import model as m
from hotswap.events.commands import EventContent
from hotswap.events.model import CLOSE, OPEN, PENDING, WindowRow
from hotswap.events.repository import EventRepository
from hotswap.fleet.service import FleetService
from hotswap.storage.uow import UnitOfWork
from hotswap.targeting._compile import deep_merge

DEFAULT_TYPE = "General"
# What an edit can change, as the spec names it; which of them move the event in time.
TIMING = ("type", "class", "timeMode", "startTime", "endTime", "regions")


@dataclass(frozen=True, slots=True)
class Planning:
    spec: dict[str, Any]
    windows: list[m.Window]
    zones: dict[str, str]  # region id -> time zone

    @property
    def start(self) -> datetime:
        return m.span(self.windows)[0]

    @property
    def end(self) -> datetime:
        return m.span(self.windows)[1]

    def planned(self, event_id: str) -> m.Planned:
        return m.Planned(event_id, self.spec["type"], EventClass(self.spec["class"]), self.start, self.end)


def iso(value: datetime) -> str:
    text = value.isoformat()
    return text.replace("+00:00", "Z")


def spec_from_template(body: EventContent, template: Template | None, event_id: str) -> dict[str, Any]:
    """A new event's spec: the body's fields over the template's (configuration merged deep)."""
    start = body.start_time
    assert start is not None
    end = body.end_time
    if end is None and template is not None and template.duration_seconds:
        end = start + timedelta(seconds=template.duration_seconds)
    if end is None:
        raise InvalidInput("An event needs an end.", errors=[FieldError("body.endTime", "required")])
    base = template.configuration if template is not None else {}
    return {
        "displayName": body.display_name or (template.name if template else event_id),
        "description": body.description if body.description is not None else (template and template.description),
        "type": body.event_type or (template.event_type if template else DEFAULT_TYPE),
        "class": (body.event_class or (template.event_class if template else EventClass.STANDARD)).value,
        "configuration": deep_merge(base, body.configuration or {}),
        "objectives": body.objectives if body.objectives is not None else (template.objectives if template else []),
        "milestones": body.milestones if body.milestones is not None else (template.milestones if template else []),
        "theme": body.theme if body.theme is not None else (template.theme if template else None),
        "segment": body.segment,
        "regions": body.regions,
        "variants": list(body.variants or []),
        "timeMode": (body.time_mode or m.TimeMode.UTC).value,
        "startTime": _time_text(start),
        "endTime": _time_text(end),
    }


def spec_edited(spec: dict[str, Any], body: EventContent) -> dict[str, Any]:
    """The stored spec with the fields the edit sent (only those: an edit may send one)."""
    sent = body.sent
    out = dict(spec)
    simple = {
        "display_name": "displayName",
        "description": "description",
        "event_type": "type",
        "configuration": "configuration",
        "objectives": "objectives",
        "milestones": "milestones",
        "theme": "theme",
        "segment": "segment",
        "regions": "regions",
    }
    for attr, key in simple.items():
        if attr in sent:
            value = getattr(body, attr)
            if value is None and key in ("displayName", "type", "configuration", "objectives", "milestones"):
                raise InvalidInput(f"{key} cannot be cleared.", errors=[FieldError(f"body.{key}", "must not be null")])
            out[key] = value
    if "event_class" in sent:
        if body.event_class is None:
            raise InvalidInput("eventClass cannot be cleared.", errors=[FieldError("body.eventClass", "not null")])
        out["class"] = body.event_class.value
    if "time_mode" in sent:
        out["timeMode"] = (body.time_mode or m.TimeMode.UTC).value
    for attr, key in (("start_time", "startTime"), ("end_time", "endTime")):
        if attr in sent:
            value = getattr(body, attr)
            if value is None:
                raise InvalidInput(f"{key} cannot be cleared.", errors=[FieldError(f"body.{key}", "not null")])
            out[key] = _time_text(value)
    if "variants" in sent:
        out["variants"] = list(body.variants or [])
    return out


def check_spec(spec: dict[str, Any]) -> None:
    """What the schema cannot see: the free-form values store and encode everywhere, and the
    objectives and milestones agree with each other."""
    check_json(spec["configuration"], "body.configuration")
    if spec.get("theme") is not None:
        check_json(spec["theme"], "body.theme")
    for i, variant in enumerate(spec.get("variants") or []):
        check_json(variant["configuration"], f"body.variants.{i}.configuration")
    check_content(spec.get("objectives") or [], spec.get("milestones") or [])


def _time_text(value: datetime) -> str:
    return iso(value) if value.tzinfo is not None else value.isoformat()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def plan(uow: UnitOfWork, fleet: FleetService, spec: dict[str, Any]) -> Planning:
    """Resolve the spec's regions (aliases to ids) and read its times into windows."""
    check_spec(spec)
    zones: dict[str, str] = {}
    resolved: list[str] | None = None
    if spec.get("regions") is not None:
        resolved = []
        errors = []
        for i, name in enumerate(spec["regions"]):
            region = await fleet.region(uow, name)
            if region is None:
                errors.append(FieldError(f"body.regions.{i}", f"no region {name!r}"))
                continue
            if region.id in zones:
                errors.append(FieldError(f"body.regions.{i}", f"{name!r} is {region.id}, named twice"))
                continue
            zones[region.id] = region.time_zone
            resolved.append(region.id)
        if errors:
            raise InvalidInput("Some regions are unknown.", errors=errors)
    if resolved is not None:
        resolved.sort()  # a set of regions: one order, so the same regions are the same spec
    spec = {**spec, "regions": resolved}
    try:
        windows = m.windows_for(
            m.TimeMode(spec["timeMode"]),
            parse_time(spec["startTime"]),
            parse_time(spec["endTime"]),
            [(r, zones[r]) for r in resolved] if resolved else None,
        )
    except ValueError as exc:
        field = "body.timeMode" if "regions" in str(exc) else "body.endTime" if "end" in str(exc) else "body.startTime"
        raise InvalidInput(f"The event's times do not work: {exc}.", errors=[FieldError(field, str(exc))]) from exc
    return Planning(spec, windows, zones)


async def conflicts(repo: EventRepository, environment: str, planning: Planning, event_id: str) -> list[m.Conflict]:
    """The scheduling rules against the environment's other planned events that can reach the
    same players (events in disjoint regions never meet)."""
    gap = m.MAJOR_GAP
    others = await repo.planned(environment, planning.start - gap, planning.end + gap)
    mine = set(planning.spec["regions"] or [])
    planned = [
        m.Planned(e.id, e.event_type, e.event_class, e.start_at, e.end_at)
        for e in others
        if e.id != event_id and (not mine or not e.spec.get("regions") or mine & set(e.spec["regions"]))
    ]
    return m.conflicts(planning.planned(event_id), planned)


def over(end: datetime, now: datetime, *, record_past: bool, derived_end: bool = False) -> bool:
    """Whether an event that ends at `end` has ended everywhere by `now`: it then never runs, so
    it is stored only when the request says it records a past event (`recordPast`), and
    `recordPast` on an event that has not ended is refused too (it would be served, not
    recorded). A 422 that says what to do, otherwise."""
    ended = end <= now
    now = now.replace(microsecond=0)  # as the message shows it
    if ended and not record_past:
        source = " (startTime plus the template's length)" if derived_end else ""
        message = (
            f"the window ended at {iso(end)}{source}, before now ({iso(now)}); move endTime into the "
            'future, or send "recordPast": true to record a past event'
        )
        raise InvalidInput(
            f"The event is over before it starts: {message}.", errors=[FieldError("body.endTime", message)]
        )
    if record_past and not ended:
        message = (
            f"the window ends at {iso(end)}, after now ({iso(now)}): the event is not past; leave out "
            "recordPast to schedule it"
        )
        raise InvalidInput(f"Not a past event: {message}.", errors=[FieldError("body.recordPast", message)])
    return ended


def effective(windows: Sequence[m.Window], held: Sequence[WindowRow]) -> list[m.Window]:
    """The windows an edit plans, as they apply to what has happened: a window already open
    keeps its start when that was earlier (an operator's early activation is not undone)."""
    before = {w.region: w for w in held}
    out = []
    for window in windows:
        old = before.get(window.region)
        start = min(old.start_at, window.start) if old is not None and old.opened_at is not None else window.start
        out.append(m.Window(window.region, start, window.end))
    return out


async def store_past_windows(
    repo: EventRepository,
    uow: UnitOfWork,
    event_id: str,
    windows: Sequence[m.Window],
    held: Sequence[WindowRow] = (),
) -> None:
    """A past event's windows (an edit's: see `effective`), every one closed and no timer left
    to touch them. What has happened stays: a window that opened keeps when it opened, and one
    that closed keeps when it closed; any other closes now. A window that is open closes now and
    not at its edited end, because its players had the event until this moment."""
    now = uow.clock.now()
    before = {w.region: w for w in held}
    wanted = {w.region: w for w in windows}
    for region in before.keys() - wanted.keys():
        await repo.delete_window(event_id, region)
    for region, window in sorted(wanted.items()):
        old = before.get(region)
        if old is None:
            values = {"event_id": event_id, "region": region, "start_at": window.start, "end_at": window.end}
            await repo.put_window(values | {"closed_at": now})
            continue
        changes: dict[str, Any] = {}
        if (old.start_at, old.end_at) != (window.start, window.end):
            changes.update(start_at=window.start, end_at=window.end)
        if old.closed_at is None:
            changes["closed_at"] = now
        if changes:
            await repo.update_window(event_id, region, changes)
    await repo.supersede_timers(event_id)


async def store_windows(
    repo: EventRepository, uow: UnitOfWork, event_id: str, windows: Sequence[m.Window], held: Sequence[WindowRow]
) -> bool:
    """Make the stored windows these (see `effective`), keeping what has happened, and replace
    the pending timers: open each window not opened yet, close each not closed yet. A closed
    window whose end moves into the future opens again (an event extended). Returns whether any
    window is left to run: False when every window has closed."""
    now = uow.clock.now()
    before = {w.region: w for w in held}
    wanted = {w.region: w for w in windows}
    for region in before.keys() - wanted.keys():
        await repo.delete_window(event_id, region)
    timers: list[dict[str, Any]] = []
    running = False
    for region, window in sorted(wanted.items()):
        old = before.get(region)
        if old is None:
            await repo.put_window(
                {"event_id": event_id, "region": region, "start_at": window.start, "end_at": window.end}
            )
        changes: dict[str, Any] = {}
        if old is not None and (old.start_at, old.end_at) != (window.start, window.end):
            changes.update(start_at=window.start, end_at=window.end)
        closed = old is not None and old.closed_at is not None
        if closed and window.end > now:
            changes["closed_at"] = None
            closed = False
        if changes:
            await repo.update_window(event_id, region, changes)
        if closed:
            continue
        running = True
        if old is None or old.opened_at is None:
            timers.append(_timer(event_id, region, OPEN, window.start, now))
        timers.append(_timer(event_id, region, CLOSE, window.end, now))
    await repo.supersede_timers(event_id)
    await repo.add_timers(timers)
    return running


def _timer(event_id: str, region: str, action: str, at: datetime, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "region": region,
        "action": action,
        "due_at": at,
        "next_at": at,
        "state": PENDING,
        "attempts": 0,
        "created_at": now,
    }
