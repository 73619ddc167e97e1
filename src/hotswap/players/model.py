"""Player profiles: the pure part. No I/O, no framework.

A profile holds what the game reports about a player (`attributes`: country, platform, level...)
and what the service maintains from the player's activity: when it was first and last seen, how
many sessions it played, how much it spent. Targeting conditions see both, flattened by
`targeting_attributes`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from hotswap.core.errors import FieldError, InvalidInput
from hotswap.core.jsonutil import json_depth

PLAYER_ID = re.compile(r"^[^\s\x00-\x1f\x7f]{1,200}$")
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$")
# Names the service fills in itself (or the evaluation context does): an attribute of the same
# name would be shadowed, or would let a game server fake a player's spend or age.
RESERVED_ATTRIBUTES = frozenset(
    {
        "playerId",
        "serverId",
        "firstSeen",
        "lastSeen",
        "daysSinceInstall",
        "daysSinceLastLogin",
        "sessions",
        "totalSpend",
    }
)
MAX_ATTRIBUTES = 200
MAX_ATTRIBUTE_DEPTH = 8
MAX_ATTRIBUTES_BYTES = 32 * 1024  # per player, encoded: profiles are cached by the thousand
MAX_PURCHASE = 1_000_000
_INT64 = 2**63
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PlayerProfile:
    id: str
    attributes: dict[str, Any]  # shared with the cache: never mutated
    first_seen: datetime
    last_seen: datetime
    sessions: int
    total_spend: float
    created_at: datetime
    updated_at: datetime
    revision: int


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def days_since(then: datetime, now: datetime) -> int:
    """Whole days elapsed (floor), never negative (a clock a little behind the store's is not news)."""
    return max(0, (now - then) // _DAY)


def properties(profile: PlayerProfile, now: datetime) -> dict[str, Any]:
    """What the service maintains, as conditions and exports see it at `now`."""
    return {
        "firstSeen": iso(profile.first_seen),
        "lastSeen": iso(profile.last_seen),
        "daysSinceInstall": days_since(profile.first_seen, now),
        "daysSinceLastLogin": days_since(profile.last_seen, now),
        "sessions": profile.sessions,
        "totalSpend": profile.total_spend,
    }


def targeting_attributes(profile: PlayerProfile, now: datetime) -> dict[str, Any]:
    """What a condition sees for this player at `now`: the attributes, then the maintained
    properties and the id on top (attributes cannot carry those names anyway)."""
    return {**profile.attributes, "playerId": profile.id, **properties(profile, now)}


# -- input rules --------------------------------------------------------------------------


def _value_problem(value: Any) -> str | None:
    """What makes a value unstorable (JSON has no NaN; PostgreSQL's jsonb no NUL), or None."""
    if json_depth(value) > MAX_ATTRIBUTE_DEPTH:
        return f"nested more than {MAX_ATTRIBUTE_DEPTH} levels"
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "must not contain NUL characters"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: JSON parsers let it through, stores do not
                return "must be valid Unicode (no lone surrogates)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "numbers must be finite"
        elif isinstance(item, int) and not isinstance(item, bool) and not -_INT64 <= item < _INT64:
            return "integers must fit in 64 bits"
    return None


def check_attributes(attributes: Mapping[str, Any], field: str) -> None:
    """Refuse reserved or malformed names and unstorable values, naming each failing key.
    A null value is allowed here: it means 'no value' (PUT) or 'remove the key' (PATCH)."""
    errors: list[FieldError] = []
    for key, value in attributes.items():
        # The name goes into the problem as given, except what no encoder takes (lone surrogates).
        at = f"{field}.{key.encode('utf-8', 'backslashreplace').decode()}"
        if key in RESERVED_ATTRIBUTES:
            errors.append(FieldError(at, f"{key!r} is maintained by the service and cannot be set"))
        elif not ATTRIBUTE_NAME.match(key):
            errors.append(FieldError(at, "names are letters, digits, '_' or '-', start with a letter or '_', 1-100"))
        elif (problem := _value_problem(value)) is not None:
            errors.append(FieldError(at, problem))
    if errors:
        raise InvalidInput(f"The player attributes are not valid ({len(errors)} problems).", errors=errors)


def check_attribute_set(attributes: Mapping[str, Any], field: str) -> None:
    """Bounds on what is stored for one player, checked on the result of a replace or a merge."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidInput(
            f"A player has at most {MAX_ATTRIBUTES} attributes.",
            errors=[FieldError(field, f"at most {MAX_ATTRIBUTES} attributes")],
        )
    if len(orjson.dumps(dict(attributes))) > MAX_ATTRIBUTES_BYTES:
        raise InvalidInput(
            f"A player's attributes are limited to {MAX_ATTRIBUTES_BYTES} bytes of JSON.",
            errors=[FieldError(field, f"at most {MAX_ATTRIBUTES_BYTES} bytes encoded")],
        )


def replaced_attributes(new: Mapping[str, Any]) -> dict[str, Any]:
    """PUT: the new attributes, without the keys whose value is null."""
    return {key: value for key, value in new.items() if value is not None}


def merged_attributes(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH: key by key (RFC 7396 at the top level); a null removes the key."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def check_purchase(amount: float, field: str) -> None:
    if not (math.isfinite(amount) and 0 <= amount <= MAX_PURCHASE):
        raise InvalidInput(
            "A purchase amount is a finite number from 0 to 1000000.",
            errors=[FieldError(field, f"must be a number from 0 to {MAX_PURCHASE}")],
        )
