"""Checking GrowthBook-style definitions and reading hash inputs, shared by `features` and
`experiments` (which re-export `RuleError`). Pure; no I/O."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeAlias

from hotswap.targeting import jsvalues as js
from hotswap.targeting.bucketing import hash_unit
from hotswap.targeting.conditions import Attributes, ConditionError, Predicate, SavedGroups, compile_condition

Getter: TypeAlias = Callable[[Attributes], Any]
Range: TypeAlias = tuple[float, float]
# One prerequisite: the parent feature's key, a test of {"value": <parent's value>}, and
# whether failing it blocks the whole feature (a gate) or only skips the rule.
Parent: TypeAlias = tuple[str, Predicate, bool]
# A filter: who is hashed, with which seed and hash version, and the ranges that let them in.
Filter: TypeAlias = tuple[Getter, str, int, tuple[Range, ...]]


class RuleError(ConditionError):
    """A feature, rule or experiment definition that cannot be compiled. The message starts
    with the path of the offending field: `features['shop'].rules[2].coverage: ...`."""


# --- hashing inputs -------------------------------------------------------------------------


def attribute_getter(name: str) -> Getter:
    """The attribute by its literal name, or else by dotted path (`user.id`), as the SDK does."""
    if "." not in name:
        return lambda a: a.get(name)
    parts = name.split(".")

    def get(attributes: Attributes) -> Any:
        if name in attributes:
            return attributes[name]
        current: Any = attributes
        for part in parts:
            if not isinstance(current, dict):
                return None
            current = current.get(part)
        return current

    return get


def hash_string(value: Any) -> str:
    """The text a hash attribute's value is hashed as, "" when it can't identify a unit: only
    non-empty strings and finite non-zero numbers can (never booleans, lists or objects)."""
    if value.__class__ is str:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    try:
        if value == 0 or not math.isfinite(value):
            return ""
        return js.number_to_string(float(value))
    except OverflowError:  # an int too large for a double is Infinity in JavaScript
        return ""


def filtered_out(filters: tuple[Filter, ...], attributes: Attributes) -> bool:
    for get, seed, version, ranges in filters:
        raw = get(attributes)
        unit = raw if raw.__class__ is str else hash_string(raw)
        if not unit:
            return True
        n = hash_unit(seed, unit, version)
        if n is None or not any(start <= n < end for start, end in ranges):
            return True
    return False


# --- checking definitions -------------------------------------------------------------------


def fail(path: str, message: str) -> NoReturn:
    raise RuleError(f"{path}: {message}")


def as_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail(path, "must be an object")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def opt_str(d: Mapping[str, Any], key: str, path: str) -> str | None:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        fail(f"{path}.{key}", "must be a string")
    return value


def opt_int(d: Mapping[str, Any], key: str, path: str) -> int | None:
    value = d.get(key)
    if value is not None and not is_int(value):
        fail(f"{path}.{key}", "must be an integer")
    return value


def opt_number(d: Mapping[str, Any], key: str, path: str, low: float, high: float) -> float | None:
    value = d.get(key)
    if value is not None and not (is_number(value) and low <= value <= high):
        fail(f"{path}.{key}", f"must be a number from {low} to {high}")
    return value


def range_value(value: Any, path: str) -> Range:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(is_number(v) for v in value)
        or not 0 <= value[0] <= value[1] <= 1
    ):
        fail(path, "must be [start, end] with 0 <= start <= end <= 1")
    return (value[0], value[1])


def opt_ranges(d: Mapping[str, Any], key: str, path: str) -> tuple[Range, ...] | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        fail(f"{path}.{key}", "must be a list of [start, end] ranges")
    return tuple(range_value(r, f"{path}.{key}[{i}]") for i, r in enumerate(value))


def compile_rule_condition(value: Any, path: str, saved_groups: SavedGroups | None) -> Predicate | None:
    if value is None or value == {}:
        return None
    try:
        return compile_condition(value, saved_groups)
    except RuleError:
        raise
    except ConditionError as error:
        raise RuleError(f"{path}: {error}") from error


def compile_parents(value: Any, path: str, saved_groups: SavedGroups | None) -> tuple[Parent, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        fail(path, "must be a list of {id, condition, gate}")
    parents: list[Parent] = []
    for i, item in enumerate(value):
        d = as_object(item, f"{path}[{i}]")
        parent_id = d.get("id")
        if not isinstance(parent_id, str) or not parent_id:
            fail(f"{path}[{i}].id", "must be the parent feature's key")
        gate = d.get("gate", False)
        if not isinstance(gate, bool):
            fail(f"{path}[{i}].gate", "must be true or false")
        test = compile_rule_condition(d.get("condition"), f"{path}[{i}].condition", saved_groups)
        parents.append((parent_id, test or _always, gate))
    return tuple(parents) or None


def compile_filters(value: Any, path: str) -> tuple[Filter, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        fail(path, "must be a list of {attribute, seed, hashVersion, ranges}")
    filters: list[Filter] = []
    for i, item in enumerate(value):
        here = f"{path}[{i}]"
        d = as_object(item, here)
        ranges = opt_ranges(d, "ranges", here)
        if ranges is None:
            fail(f"{here}.ranges", "a filter needs ranges")
        attribute = opt_str(d, "attribute", here) or "id"
        filters.append(
            (attribute_getter(attribute), opt_str(d, "seed", here) or "", opt_int(d, "hashVersion", here) or 2, ranges)
        )
    return tuple(filters)


def namespace_value(value: Any, path: str) -> tuple[str, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 3 or not isinstance(value[0], str):
        fail(path, "must be [name, start, end]")
    start, end = range_value(list(value[1:]), path)
    return (value[0], start, end)


def check_weights(value: Any, n: int, path: str) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != n or not all(is_number(w) and w >= 0 for w in value):
        fail(path, f"must be {n} non-negative numbers, one per variation")
    if not 0.99 <= sum(value) <= 1.01:
        fail(path, "must add up to 1")
    return value


def variation_meta(value: Any, n: int, path: str) -> tuple[tuple[str, str, bool], ...]:
    items: Sequence[Any] = [] if value is None else value
    if not isinstance(items, list):
        fail(path, "must be a list of {key, name, passthrough}, one per variation")
    out = []
    for i in range(n):
        d = as_object(items[i], f"{path}[{i}]") if i < len(items) else {}
        key = opt_str(d, "key", f"{path}[{i}]")
        name = opt_str(d, "name", f"{path}[{i}]")
        out.append((key or str(i), name or "", bool(d.get("passthrough"))))
    return tuple(out)


def _always(_: Any) -> bool:
    return True
