"""Targeting rules of a config: who gets something other than the live value. Pure; no I/O.

A config's rules are an ordered list; the first rule that applies to a context decides its
value. A rule applies when all of these hold:

- it is enabled, and `at` lies in its optional `activeFrom` / `activeUntil` window;
- the context is in its `segment` (a named condition, see the segments slice), if it names one;
- the context matches its `condition` (GrowthBook's condition language), if it has one;
- the unit is inside its `rollout` (a percentage of units by deterministic hash), if it has one.

It then serves `value` (the whole document replaced) or `override` (deep-merged over the
config's value, so a rule names only what it changes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotswap.targeting.errors import FieldError, InvalidInput

RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SEGMENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
MAX_RULES = 100
_KEYS = frozenset(
    {
        "id",
        "description",
        "enabled",
        "segment",
        "condition",
        "value",
        "override",
        "rollout",
        "activeFrom",
        "activeUntil",
    }
)
_ROLLOUT_KEYS = frozenset({"percentage", "hashAttribute", "seed"})


@dataclass(frozen=True, slots=True)
class Rollout:
    percentage: float  # 0..100
    hash_attribute: str
    seed: str | None  # None: `<config>:<rule id>`, so each rule buckets independently

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"percentage": self.percentage, "hashAttribute": self.hash_attribute}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str | None
    enabled: bool
    segment: str | None
    condition: dict[str, Any] | None
    value: Any  # the whole replacement, when `replaces`
    replaces: bool  # True: `value` replaces the document; False: `value` is an override merged into it
    rollout: Rollout | None
    active_from: datetime | None
    active_until: datetime | None

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "enabled": self.enabled}
        if self.description is not None:
            out["description"] = self.description
        if self.segment is not None:
            out["segment"] = self.segment
        if self.condition is not None:
            out["condition"] = self.condition
        out["value" if self.replaces else "override"] = self.value
        if self.rollout is not None:
            out["rollout"] = self.rollout.document()
        if self.active_from is not None:
            out["activeFrom"] = _iso(self.active_from)
        if self.active_until is not None:
            out["activeUntil"] = _iso(self.active_until)
        return out


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def parse_rules(raw: Any, field: str = "body.rules") -> list[Rule]:
    """Validate a list of rule documents; every failing field is reported, none is half-taken."""
    errors: list[FieldError] = []
    if not isinstance(raw, list):
        raise InvalidInput("Rules must be a list.", errors=[FieldError(field, "must be a list of rules")])
    if len(raw) > MAX_RULES:
        raise InvalidInput("Too many rules.", errors=[FieldError(field, f"at most {MAX_RULES} rules")])
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        rule = _parse_rule(item, f"{field}[{index}]", errors)
        if rule is None:
            continue
        if rule.id in seen:
            errors.append(FieldError(f"{field}[{index}].id", f"duplicate rule id {rule.id!r}"))
        seen.add(rule.id)
        rules.append(rule)
    if errors:
        raise InvalidInput("The targeting rules are invalid.", errors=errors)
    return rules


def _parse_rule(item: Any, at: str, errors: list[FieldError]) -> Rule | None:
    if not isinstance(item, Mapping):
        errors.append(FieldError(at, "must be an object"))
        return None
    before = len(errors)
    for key in sorted(set(item) - _KEYS):
        errors.append(FieldError(f"{at}.{key}", "unknown field"))
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        errors.append(FieldError(f"{at}.id", "required: letters, digits, '.', '_' or '-', at most 100"))
    description = item.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 2000):
        errors.append(FieldError(f"{at}.description", "must be a string of at most 2000 characters"))
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(FieldError(f"{at}.enabled", "must be true or false"))
    segment = item.get("segment")
    if segment is not None and (not isinstance(segment, str) or not SEGMENT_ID.match(segment)):
        errors.append(FieldError(f"{at}.segment", "must be a segment id"))
    condition = item.get("condition")
    if condition is not None:
        _check_condition(condition, f"{at}.condition", errors)
    if ("value" in item) == ("override" in item):
        errors.append(FieldError(at, "needs exactly one of `value` (replaces) or `override` (merged)"))
    replaces = "value" in item
    value = item.get("value") if replaces else item.get("override")
    if replaces and not isinstance(value, dict):
        errors.append(FieldError(f"{at}.value", "must be an object (the whole config document)"))
    if not replaces and not isinstance(value, dict):
        errors.append(FieldError(f"{at}.override", "must be an object (the keys to change)"))
    rollout = _parse_rollout(item.get("rollout"), f"{at}.rollout", errors)
    active_from = _parse_instant(item.get("activeFrom"), f"{at}.activeFrom", errors)
    active_until = _parse_instant(item.get("activeUntil"), f"{at}.activeUntil", errors)
    if active_from and active_until and active_until <= active_from:
        errors.append(FieldError(f"{at}.activeUntil", "must be after activeFrom"))
    if len(errors) > before or not isinstance(rule_id, str):
        return None
    return Rule(
        id=rule_id,
        description=description,
        enabled=enabled,
        segment=segment,
        condition=condition,
        value=value,
        replaces=replaces,
        rollout=rollout,
        active_from=active_from,
        active_until=active_until,
    )


def _check_condition(condition: Any, at: str, errors: list[FieldError]) -> None:
    from hotswap.targeting.validation import check_condition

    try:
        check_condition(condition, at)
    except InvalidInput as exc:
        errors.extend(exc.errors or [FieldError(at, exc.detail)])


def _parse_rollout(raw: Any, at: str, errors: list[FieldError]) -> Rollout | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        errors.append(FieldError(at, "must be an object"))
        return None
    for key in sorted(set(raw) - _ROLLOUT_KEYS):
        errors.append(FieldError(f"{at}.{key}", "unknown field"))
    percentage = raw.get("percentage")
    if isinstance(percentage, bool) or not isinstance(percentage, int | float) or not 0 <= percentage <= 100:
        errors.append(FieldError(f"{at}.percentage", "required: a number from 0 to 100"))
        return None
    hash_attribute = raw.get("hashAttribute", "playerId")
    if not isinstance(hash_attribute, str) or not ATTRIBUTE.match(hash_attribute):
        errors.append(FieldError(f"{at}.hashAttribute", "must be an attribute name"))
        return None
    seed = raw.get("seed")
    if seed is not None and (not isinstance(seed, str) or not 0 < len(seed) <= 200):
        errors.append(FieldError(f"{at}.seed", "must be a string of 1 to 200 characters"))
        return None
    return Rollout(percentage=float(percentage), hash_attribute=hash_attribute, seed=seed)


def _parse_instant(raw: Any, at: str, errors: list[FieldError]) -> datetime | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            instant = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            instant = None
        if instant is not None and instant.tzinfo is not None:
            return instant
    errors.append(FieldError(at, "must be an ISO 8601 timestamp with a time zone"))
    return None
