"""Event templates: reusable event designs, with their objectives, milestones and rewards, that
live events are made from. A template keeps how often it was used and when last; an event made
from one starts from its configuration, content and default length. Pure: no I/O.

Objectives and milestones are stored as they are on the wire (camelCase JSON objects, milestones
in index order): an event copies them, and players are served them, unchanged. The rules that
span several items (unique ids, thresholds rising with the milestone index) are `check_content`,
which an event's customized objectives and milestones can go through as well.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from itertools import pairwise
from typing import Any

from hotswap.core.errors import FieldError, InvalidInput, PreconditionFailed


class EventClass(enum.StrEnum):
    """How much of the calendar an event takes: a major event keeps 48 h from the next; mini
    and daily events are exempt from the scheduling limits."""

    MAJOR = "major"
    STANDARD = "standard"
    MINI = "mini"
    DAILY = "daily"


TEMPLATE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")  # the slug rule of segment ids
# Any word-like type is accepted, so a game team can add its own; these are the ones game teams
# name most.
EVENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,49}$")
KNOWN_EVENT_TYPES = (
    # event themes
    "Seasonal",
    "Competitive",
    "Cooperative",
    "Crossover",
    "Gacha",
    # live-ops campaign kinds
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


# -- input rules ---------------------------------------------------------------------------


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
    return TemplateDraft(**{**values_of(draft), "milestones": milestones})


def check_revision(template: Template, expected: int | None) -> None:
    """Optimistic concurrency: an edit made against an older revision is refused, not merged."""
    if expected is not None and expected != template.revision:
        raise PreconditionFailed(
            f"Event template {template.id!r} is at revision {template.revision}, not {expected}; re-read it and retry.",
            extra={"currentRevision": template.revision},
        )


def values_of(draft: TemplateDraft) -> dict[str, Any]:
    return {name: getattr(draft, name) for name in EDITABLE}
