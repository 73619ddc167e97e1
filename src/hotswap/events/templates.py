"""Event templates (seed 002, "Event Template"): reusable event designs, with their objectives,
milestones and rewards, that events are made from. A template keeps how often it was used and
when last; an event made from one starts from its configuration, content and default length.

Objectives and milestones are stored as they are on the wire (camelCase JSON objects, milestones
in index order): an event copies them, and players are served them, unchanged. The rules that
span several items (unique ids, thresholds rising with the milestone index) are `check_content`,
which an event's customized objectives and milestones can go through as well.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.core.errors import Conflict, FieldError, InvalidInput, NotFound, PreconditionFailed
from hotswap.core.pagination import Page, check_limit, cursor_str, encode_cursor
from hotswap.events.model import EventClass
from hotswap.events.tables import event_templates
from hotswap.storage.uow import UnitOfWork

TEMPLATE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")  # the slug rule of segment ids
# Any word-like type is accepted, so a game team can add its own; these are the seeds' own.
EVENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,49}$")
KNOWN_EVENT_TYPES = (
    # seed 002, "Event Template"
    "Seasonal",
    "Competitive",
    "Cooperative",
    "Crossover",
    "Gacha",
    # seed 000, the quick start and "Target Use Cases"
    "SeasonalPromotion",
    "LimitedTimeOffer",
    "Tournament",
    "ContentRelease",
    "ReEngagement",
)
KNOWN_RARITIES = ("Common", "Uncommon", "Rare", "Epic", "Legendary", "Mythic")
MAX_JSON_DEPTH = 32
_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    event_type: str
    name: str
    description: str | None
    event_class: EventClass
    objectives: list[dict[str, Any]]
    milestones: list[dict[str, Any]]
    progression: str | None
    theme: dict[str, Any] | None
    layout: dict[str, Any] | None
    requires_leaderboard: bool
    requires_clan: bool
    minimum_player_level: int
    configuration: dict[str, Any]  # the configuration an event made from the template starts from
    duration_seconds: int | None  # the default length of such an event
    usage_count: int
    last_used_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    revision: int


@dataclass(frozen=True, slots=True)
class TemplateDraft:
    """What a create or a replace sets: every field a template's editors own."""

    event_type: str
    name: str
    description: str | None
    event_class: EventClass
    objectives: list[dict[str, Any]]
    milestones: list[dict[str, Any]]
    progression: str | None
    theme: dict[str, Any] | None
    layout: dict[str, Any] | None
    requires_leaderboard: bool
    requires_clan: bool
    minimum_player_level: int
    configuration: dict[str, Any]
    duration_seconds: int | None


EDITABLE = tuple(f.name for f in fields(TemplateDraft))


# -- input rules (pure) ---------------------------------------------------------------------------


def check_content(objectives: Sequence[Any], milestones: Sequence[Any], field: str = "body") -> None:
    """The rules across objectives and milestones (each one's own shape is the schema's):
    objective ids are unique, milestone indexes are unique, progress thresholds rise with the
    index, and reward ids are unique within a milestone. Every problem is listed."""
    errors: list[FieldError] = []
    seen: dict[Any, int] = {}
    for i, objective in enumerate(objectives):
        key = objective.get("objectiveId")
        if key in seen:
            errors.append(FieldError(f"{field}.objectives.{i}.objectiveId", f"repeats objectives.{seen[key]}"))
        seen.setdefault(key, i)
    indexes: dict[Any, int] = {}
    for i, milestone in enumerate(milestones):
        index = milestone.get("index")
        if index in indexes:
            errors.append(FieldError(f"{field}.milestones.{i}.index", f"repeats milestones.{indexes[index]}"))
        indexes.setdefault(index, i)
        rewards: dict[Any, int] = {}
        for k, reward in enumerate(milestone.get("rewards") or ()):
            rid = reward.get("rewardId")
            if rid in rewards:
                errors.append(
                    FieldError(f"{field}.milestones.{i}.rewards.{k}.rewardId", f"repeats rewards.{rewards[rid]}")
                )
            rewards.setdefault(rid, k)
    # (index, position of its first milestone); a missing index is the schema's to report
    ordered = sorted((index, at) for index, at in indexes.items() if isinstance(index, int))
    for (low, at_low), (high, at_high) in pairwise(ordered):
        below, above = milestones[at_low].get("progressThreshold"), milestones[at_high].get("progressThreshold")
        if isinstance(below, int | float) and isinstance(above, int | float) and above <= below:
            errors.append(
                FieldError(
                    f"{field}.milestones.{at_high}.progressThreshold",
                    f"must be above {below}, the threshold of milestone {low}, as index {high} comes after it",
                )
            )
    if errors:
        raise InvalidInput(
            f"The objectives and milestones are not consistent ({len(errors)} problem"
            f"{'s' if len(errors) > 1 else ''}).",
            errors=errors,
        )


def check_json(value: Any, field: str) -> None:
    """A free-form JSON value (theme, layout, configuration) that every store and encoder takes:
    bounded nesting, no NUL or lone surrogate in a key or string, finite numbers, 64-bit integers.
    The error names the path of the first bad value (`body.configuration.rewards.0`)."""
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _invalid_json(path, f"nested more than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or _bad_text(key):
                    raise _invalid_json(path, "keys must be valid Unicode strings without NUL characters")
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}.{i}", depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str):
            if _bad_text(item):
                raise _invalid_json(path, "must be valid Unicode without NUL characters")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _invalid_json(path, "numbers must be finite")
        elif isinstance(item, int) and not isinstance(item, bool):
            if not -_INT64 <= item < _INT64:
                raise _invalid_json(path, "integers must fit in 64 bits")
        elif item is not None and not isinstance(item, bool):
            raise _invalid_json(path, "must be a JSON value")


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: JSON parsers let it through, stores do not
        return True
    return False


def _invalid_json(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}.", errors=[FieldError(path, message)])


def check_draft(draft: TemplateDraft, field: str = "body") -> TemplateDraft:
    """The draft as it is stored (milestones in index order), or InvalidInput naming the field."""
    check_content(draft.objectives, draft.milestones, field)
    for name, wire in (("theme", "theme"), ("layout", "uiLayout"), ("configuration", "configuration")):
        check_json(getattr(draft, name), f"{field}.{wire}")
    milestones = sorted(draft.milestones, key=lambda m: int(m["index"]))
    return TemplateDraft(**{**_values(draft), "milestones": milestones})


def check_revision(template: Template, expected: int | None) -> None:
    """Optimistic concurrency: an edit made against an older revision is refused, not merged."""
    if expected is not None and expected != template.revision:
        raise PreconditionFailed(
            f"Event template {template.id!r} is at revision {template.revision}, not {expected}; re-read it and retry.",
            extra={"currentRevision": template.revision},
        )


def _values(draft: TemplateDraft) -> dict[str, Any]:
    return {name: getattr(draft, name) for name in EDITABLE}


# -- queries ----------------------------------------------------------------------------------------


def _template(row: Any) -> Template:
    values = dict(row._mapping)
    return Template(**{**values, "event_class": EventClass(values["event_class"])})


class TemplateRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, values: dict[str, Any]) -> None:
        await self.conn.execute(event_templates.insert().values(**values))

    async def get(self, template_id: str, *, for_update: bool = False) -> Template | None:
        query = sa.select(event_templates).where(event_templates.c.id == template_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else _template(row)

    async def update(self, template_id: str, values: dict[str, Any]) -> None:
        t = event_templates
        await self.conn.execute(t.update().where(t.c.id == template_id).values(**values, revision=t.c.revision + 1))

    async def count_use(self, template_id: str, at: datetime) -> bool:
        """One more use, in one statement: the row lock it takes (PostgreSQL; SQLite serializes
        writers) makes concurrent uses queue, and each adds to what the one before committed."""
        t = event_templates
        result = await self.conn.execute(
            t.update().where(t.c.id == template_id).values(usage_count=t.c.usage_count + 1, last_used_at=at)
        )
        return bool(result.rowcount)

    async def rows(self, *, event_type: str | None, after_id: str | None, limit: int) -> list[Template]:
        t = event_templates
        query = sa.select(t).order_by(t.c.id).limit(limit)
        if event_type is not None:
            query = query.where(t.c.event_type == event_type)
        if after_id is not None:
            query = query.where(t.c.id > after_id)
        return [_template(r) for r in (await self.conn.execute(query)).all()]


# -- use cases ------------------------------------------------------------------------------------


class TemplateService:
    """Each use case runs in the caller's unit of work and never commits. Templates are not
    served to players (events made from them are), so no write here changes a snapshot."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    async def create(self, uow: UnitOfWork, actor: Principal, template_id: str, draft: TemplateDraft) -> Template:
        draft = check_draft(draft)
        repo = TemplateRepository(uow.conn)
        exists = Conflict(f"An event template {template_id!r} already exists.")
        if await repo.get(template_id) is not None:
            raise exists
        now = uow.clock.now()
        values = {
            **_values(draft),
            "event_class": draft.event_class.value,
            "id": template_id,
            "usage_count": 0,
            "last_used_at": None,
            "created_at": now,
            "created_by": actor.subject,
            "updated_at": now,
            "updated_by": actor.subject,
            "revision": 1,
        }
        try:
            await repo.add(values)
        except IntegrityError as exc:  # a concurrent create of the same id won the race
            raise exists from exc
        await self.audit.record(
            uow,
            actor,
            "event_template.create",
            target_type="event_template",
            target_id=template_id,
            summary=f"created event template {template_id!r} ({draft.event_type})",
            after_ref="revision:1",
        )
        return await self.get(uow, template_id)

    async def get(self, uow: UnitOfWork, template_id: str) -> Template:
        return await _require(TemplateRepository(uow.conn), template_id)

    async def list_templates(
        self, uow: UnitOfWork, *, event_type: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> Page[Template]:
        """Templates in id order, of one type if `event_type` is given."""
        check_limit(limit)
        after = None if cursor is None else cursor_str(cursor, "id")
        rows = await TemplateRepository(uow.conn).rows(event_type=event_type, after_id=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor({"id": rows[-1].id}) if more and rows else None)

    async def replace(
        self,
        uow: UnitOfWork,
        actor: Principal,
        template_id: str,
        draft: TemplateDraft,
        *,
        expected_revision: int | None = None,
    ) -> Template:
        """Sets every editable field; the id and the usage figures stay."""
        draft = check_draft(draft)
        repo = TemplateRepository(uow.conn)
        template = await _require(repo, template_id, for_update=True)
        check_revision(template, expected_revision)
        stored = {name: getattr(template, name) for name in EDITABLE}
        changed = sorted(name for name, value in _values(draft).items() if stored[name] != value)
        if not changed:
            return template  # a PUT of what is stored changes nothing: no new revision
        await repo.update(
            template_id,
            {
                **_values(draft),
                "event_class": draft.event_class.value,
                "updated_at": uow.clock.now(),
                "updated_by": actor.subject,
            },
        )
        await self.audit.record(
            uow,
            actor,
            "event_template.update",
            target_type="event_template",
            target_id=template_id,
            summary=f"updated {', '.join(changed)} of event template {template_id!r}",
            before_ref=f"revision:{template.revision}",
            after_ref=f"revision:{template.revision + 1}",
        )
        return await self.get(uow, template_id)

    async def use(self, uow: UnitOfWork, template_id: str) -> Template:
        """Count one use (an event made from the template) at the clock's now, and return the
        template as counted. Not a revision of it: usage is not something its editors change.
        The caller's own audit record (the event it creates) says who used it."""
        repo = TemplateRepository(uow.conn)
        if not await repo.count_use(template_id, uow.clock.now()):
            raise NotFound(f"No event template {template_id!r}.")
        return await _require(repo, template_id)


async def _require(repo: TemplateRepository, template_id: str, *, for_update: bool = False) -> Template:
    template = await repo.get(template_id, for_update=for_update)
    if template is None:
        raise NotFound(f"No event template {template_id!r}.")
    return template
