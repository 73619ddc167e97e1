"""Segments: named conditions over player attributes. The pure part: no I/O, no framework.

A segment is a condition in GrowthBook's language (see `targeting.conditions`) with a slug id
that targeting rules refer to (`{"segment": "vip", ...}`). Conditions see a player's stored
attributes plus the properties the players slice maintains (`players.model.targeting_attributes`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotswap.core.errors import PreconditionFailed

SEGMENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")

# The segments every installation starts with (migration 0004 inserts them). Editable like any
# other; their conditions are over the properties the players slice maintains.
BUILTIN_SEGMENTS: tuple[dict[str, Any], ...] = (
    {
        "id": "vip",
        "name": "VIP players",
        "description": "Players who have spent at least 100 in total.",
        "condition": {"totalSpend": {"$gte": 100}},
    },
    {
        "id": "new-players",
        "name": "New players",
        "description": "Players who installed less than 7 days ago.",
        "condition": {"daysSinceInstall": {"$lt": 7}},
    },
    {
        "id": "inactive-players",
        "name": "Inactive players",
        "description": "Players who have not logged in for 14 days or more.",
        "condition": {"daysSinceLastLogin": {"$gte": 14}},
    },
)


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    name: str
    description: str | None
    condition: dict[str, Any]
    builtin: bool  # inserted by the migration; editable and deletable all the same
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    revision: int


def check_revision(segment: Segment, expected: int | None) -> None:
    """Optimistic concurrency: an edit made against an older revision is refused, not merged."""
    if expected is not None and expected != segment.revision:
        raise PreconditionFailed(
            f"Segment {segment.id!r} is at revision {segment.revision}, not {expected}; re-read it and retry.",
            extra={"currentRevision": segment.revision},
        )


def match_contexts(predicate: Callable[[Mapping[str, Any]], bool], contexts: Iterable[Any]) -> list[bool]:
    """One verdict per context, in order. A context that is not an attribute map matches nothing."""
    return [isinstance(context, dict) and predicate(context) for context in contexts]


MAX_CONTEXT_DEPTH = 32
_INT64 = 2**63


def context_problem(context: Any) -> str | None:
    """Why a preview context cannot be evaluated, or None. Evaluation recurses into nested values
    and turns numbers into floats as JavaScript does, which an integer past 1e308 cannot become."""
    deepest, stack = 0, [(context, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_CONTEXT_DEPTH:
            return f"nested more than {MAX_CONTEXT_DEPTH} levels"
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, int) and not isinstance(item, bool) and not -_INT64 <= item < _INT64:
            return "integers must fit in 64 bits"
    return None
