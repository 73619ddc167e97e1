"""Targeting conditions: GrowthBook's MongoDB-style condition language, compiled once.

`compile_condition(condition, saved_groups)` turns a condition document into a plain Python
callable over a context's attributes. Everything that can be decided once is decided at
compile time (paths split, regular expressions compiled, version strings padded, `$in` lists
turned into sets, saved groups resolved), so evaluating a context parses nothing.
Semantics follow the JavaScript reference SDK (see `jsvalues`), checked against its public
conformance cases in tests/targeting/test_conformance.py. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeAlias

from hotswap.targeting import jsvalues as js

Attributes: TypeAlias = Mapping[str, Any]
Predicate: TypeAlias = Callable[[Attributes], bool]
ValueTest: TypeAlias = Callable[[Any], bool]
SavedGroups: TypeAlias = Mapping[str, Iterable[Any]]


class ConditionError(ValueError):
    """A condition document that cannot be compiled (not an object, `$or` not a list, ...)."""


def compile_condition(condition: Any, saved_groups: SavedGroups | None = None) -> Predicate:
    return _Compiler(saved_groups or {}).condition(condition)


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


def is_operator_object(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(str(k).startswith("$") for k in value)


def _getter(path: str) -> Callable[[Any], Any]:
    parts = path.split(".")

    def get(attributes: Any) -> Any:
        current = attributes
        for part in parts:
            if isinstance(current, dict):
                if part not in current:
                    return None
                current = current[part]
            elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
                current = current[int(part)]
            else:
                return None
        return current

    if len(parts) == 1:
        key = parts[0]
        return lambda attributes: attributes.get(key) if isinstance(attributes, dict) else None
    return get


def _member_key(value: Any, fold: bool = False) -> Hashable | None:
    """A hashable identity under `===` (SameValueZero); None for arrays and objects, which are
    never `===` to anything but themselves."""
    if isinstance(value, list | dict):
        return None
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, str):
        return ("string", value.lower() if fold else value)
    return ("null", None)


def _membership(expected: list[Any], fold: bool) -> Callable[[Any], bool]:
    members = {key for key in (_member_key(v, fold) for v in expected) if key is not None}

    def is_in(actual: Any) -> bool:
        if isinstance(actual, list):
            return any(_member_key(item, fold) in members for item in actual)
        return _member_key(actual, fold) in members

    return is_in


_VERSION_PREFIX = re.compile(r"(^v|\+.*$)")
_VERSION_SPLIT = re.compile(r"[-.]")


def padded_version(value: Any) -> str:
    """A version string that orders correctly as text: numeric parts padded, `~` after a
    release (so 1.0.0 sorts after 1.0.0-beta)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = js.to_string(value)
    if not value or not isinstance(value, str):
        value = "0"
    parts = _VERSION_SPLIT.split(_VERSION_PREFIX.sub("", value))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(part.rjust(5) if part.isdigit() and part.isascii() else part for part in parts)


def _js_regex(source: str, ignore_case: bool) -> re.Pattern[str] | None:
    try:
        return re.compile(source, re.IGNORECASE if ignore_case else 0)
    except (re.error, TypeError, OverflowError, RecursionError):
        return None  # an invalid pattern matches nothing, as in the reference SDK


class _Compiler:
    def __init__(self, saved_groups: SavedGroups) -> None:
        self.saved_groups = saved_groups

    def condition(self, condition: Any) -> Predicate:
        if not isinstance(condition, dict):
            raise ConditionError("a condition must be an object")
        parts: list[Predicate] = []
        for key, value in condition.items():
            if key == "$or":
                parts.append(self._any(value, negate=False))
            elif key == "$nor":
                parts.append(self._any(value, negate=True))
            elif key == "$and":
                subs = [self.condition(c) for c in self._list(value, key)]
                parts.append(lambda a, subs=subs: all(s(a) for s in subs))  # type: ignore[misc]
            elif key == "$not":
                sub = self.condition(value)
                parts.append(lambda a, sub=sub: not sub(a))  # type: ignore[misc]
            else:
                get, test = _getter(key), self.value(value)
                parts.append(lambda a, get=get, test=test: test(get(a)))  # type: ignore[misc]
        if not parts:
            return _always
        if len(parts) == 1:
            return parts[0]
        return lambda a: all(p(a) for p in parts)

    def _any(self, value: Any, *, negate: bool) -> Predicate:
        subs = [self.condition(c) for c in self._list(value, "$nor" if negate else "$or")]
        if not subs:  # an empty $or is true, so an empty $nor is false
            return _never if negate else _always
        if negate:
            return lambda a: not any(s(a) for s in subs)
        return lambda a: any(s(a) for s in subs)

    @staticmethod
    def _list(value: Any, key: str) -> list[Any]:
        if not isinstance(value, list):
            raise ConditionError(f"{key} takes a list of conditions")
        return value

    def value(self, expected: Any) -> ValueTest:
        """A test of one attribute value against a condition value."""
        if isinstance(expected, str):
            return lambda v: js.to_string(v) == expected
        if isinstance(expected, bool):
            return lambda v: v is not None and js.truthy(v) == expected
        if isinstance(expected, int | float):
            number = float(expected)
            return lambda v: js.to_number(v) == number
        if expected is None:
            return lambda v: v is None
        if isinstance(expected, list) or not is_operator_object(expected):
            target = js.stringify(expected)
            return lambda v: js.stringify(v) == target
        tests = [self.operator(op, arg) for op, arg in expected.items()]
        if len(tests) == 1:
            return tests[0]
        return lambda v: all(t(v) for t in tests)

    def operator(self, op: str, expected: Any) -> ValueTest:
        if op in _VERSION_OPS:
            target, accept = padded_version(expected), _VERSION_OPS[op]
            return lambda v: accept(_order(padded_version(v), target))
        if op in _ORDER_OPS:
            accept = _ORDER_OPS[op]
            return lambda v: (c := js.compare(v, expected)) is not None and accept(c)
        if op == "$eq":
            return lambda v: js.strict_equal(v, expected)
        if op == "$ne":
            return lambda v: not js.strict_equal(v, expected)
        if op in ("$regex", "$regexi"):
            pattern = _js_regex(expected, op == "$regexi") if isinstance(expected, str) else None
            if pattern is None:
                return _never
            return lambda v: pattern.search(js.to_string(v)) is not None
        if op in ("$in", "$ini", "$nin", "$nini"):
            if not isinstance(expected, list):
                return _never
            is_in = _membership(expected, fold=op.endswith("i"))
            return is_in if op in ("$in", "$ini") else (lambda v: not is_in(v))
        if op in ("$inGroup", "$notInGroup"):
            members = list(self.saved_groups.get(expected, ())) if isinstance(expected, str) else []
            in_group = _membership(members, fold=False)
            return in_group if op == "$inGroup" else (lambda v: not in_group(v))
        if op in ("$all", "$alli"):
            if not isinstance(expected, list):
                return _never
            fold = op == "$alli"
            wanted = [self._element_test(item, fold) for item in expected]
            return lambda v: isinstance(v, list) and all(any(w(item) for item in v) for w in wanted)
        if op == "$elemMatch":
            if is_operator_object(expected):
                element = self.value(expected)
            else:
                element = self.condition(expected) if isinstance(expected, dict) else _never
            return lambda v: isinstance(v, list) and any(element(item) for item in v)
        if op == "$size":
            size = self.value(expected)
            return lambda v: isinstance(v, list) and size(len(v))
        if op == "$exists":
            if js.truthy(expected):
                return lambda v: v is not None
            return lambda v: v is None
        if op == "$type":
            return lambda v: js.typeof(v) == expected
        if op == "$not":
            sub = self.value(expected)
            return lambda v: not sub(v)
        return _never  # an unknown operator matches nothing, as in the reference SDK

    def _element_test(self, expected: Any, fold: bool) -> ValueTest:
        if fold and isinstance(expected, str):
            lowered = expected.lower()
            return lambda v: isinstance(v, str) and v.lower() == lowered
        return self.value(expected)


def _order(a: str, b: str) -> int:
    return (a > b) - (a < b)


_VERSION_OPS: dict[str, Callable[[int], bool]] = {
    "$veq": lambda c: c == 0,
    "$vne": lambda c: c != 0,
    "$vgt": lambda c: c > 0,
    "$vgte": lambda c: c >= 0,
    "$vlt": lambda c: c < 0,
    "$vlte": lambda c: c <= 0,
}
_ORDER_OPS: dict[str, Callable[[int], bool]] = {
    "$lt": lambda c: c < 0,
    "$lte": lambda c: c <= 0,
    "$gt": lambda c: c > 0,
    "$gte": lambda c: c >= 0,
}
