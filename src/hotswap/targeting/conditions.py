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
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeAlias

from hotswap.targeting import jsvalues as js
from hotswap.targeting.regex import Pattern, PatternError, compile_pattern

Attributes: TypeAlias = Mapping[str, Any]
Predicate: TypeAlias = Callable[[Attributes], bool]
ValueTest: TypeAlias = Callable[[Any], bool]
SavedGroups: TypeAlias = Mapping[str, Iterable[Any]]


class ConditionError(ValueError):
    """A condition document that cannot be compiled (not an object, `$or` not a list, ...)."""


def compile_condition(condition: Any, saved_groups: SavedGroups | None = None) -> Predicate:
    return _Compiler(saved_groups or {}).condition(condition)


def referenced_attributes(condition: Any) -> set[str]:
    """The top-level attribute names a condition reads (`a` for the path `a.b`): its result is
    a function of these alone, which lets callers remember results by their values."""
    names: set[str] = set()
    if not isinstance(condition, dict):
        return names
    for key, value in condition.items():
        if key in ("$or", "$nor", "$and"):
            for sub in value if isinstance(value, list) else []:
                names |= referenced_attributes(sub)
        elif key == "$not":
            names |= referenced_attributes(value)
        else:
            names.add(str(key).split(".", 1)[0])
    return names


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


def _member_key(value: Any, fold: bool = False) -> tuple[str, Any] | None:
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
    strings = {key[1] for key in members if key[0] == "string"}

    def one(item: Any) -> bool:
        if item.__class__ is str:  # the common case, without building a key
            return (item.lower() if fold else item) in strings
        return _member_key(item, fold) in members

    def is_in(actual: Any) -> bool:
        if actual.__class__ is list:
            return any(one(item) for item in actual)
        return one(actual)

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
    return _pad_version(value)


@lru_cache(maxsize=8192)
def _pad_version(value: str) -> str:
    # Cached: a live game has a handful of client versions, seen millions of times.
    parts = _VERSION_SPLIT.split(_VERSION_PREFIX.sub("", value))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(part.rjust(5) if part.isdigit() and part.isascii() else part for part in parts)


def _js_regex(source: str, ignore_case: bool) -> Pattern | None:
    """On RE2 (`targeting.regex`): linear time in the attribute, whatever the pattern."""
    try:
        return compile_pattern(source, ignore_case=ignore_case)
    except PatternError:
        # An invalid pattern matches nothing, as in the reference SDK; so does one that needs
        # backtracking (a back-reference, a look-around), which is refused when stored but may
        # reach an SDK in a snapshot written before.
        return None


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
                parts.append(_all_of([self.condition(c) for c in self._list(value, key)]))
            elif key == "$not":
                sub = self.condition(value)
                parts.append(lambda a, sub=sub: not sub(a))  # type: ignore[misc]
            else:
                parts.append(_field(key, self.value(value)))
        return _all_of(parts)

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
            return lambda v: v == expected if v.__class__ is str else js.to_string(v) == expected
        if isinstance(expected, bool):
            return lambda v: v is expected if v.__class__ is bool else v is not None and js.truthy(v) == expected
        if isinstance(expected, int | float):
            number = float(expected)
            return lambda v: js.to_number(v) == number
        if expected is None:
            return lambda v: v is None
        if isinstance(expected, list) or not is_operator_object(expected):
            target = js.stringify(expected)
            return lambda v: js.stringify(v) == target
        return _all_of([self.operator(op, arg) for op, arg in expected.items()])

    def operator(self, op: str, expected: Any) -> ValueTest:
        if op in _VERSION_OPS:
            target, accept = padded_version(expected), _VERSION_OPS[op]
            return lambda v: accept(_order(padded_version(v), target))
        if op in _ORDER_OPS:
            return _ordering(op, expected)
        if op == "$eq":
            if isinstance(expected, str):
                return lambda v: v.__class__ is str and v == expected
            return lambda v: js.strict_equal(v, expected)
        if op == "$ne":
            return lambda v: not js.strict_equal(v, expected)
        if op in ("$regex", "$regexi"):
            pattern = _js_regex(expected, op == "$regexi") if isinstance(expected, str) else None
            if pattern is None:
                return _never
            search = pattern.search
            return lambda v: search(v if v.__class__ is str else js.to_string(v))
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


def _all_of(tests: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    if not tests:
        return _always
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda x: first(x) and second(x)

    def all_of(x: Any) -> bool:
        # An explicit loop: measurably faster than all() over a generator on this hot path.
        for test in tests:  # noqa: SIM110
            if not test(x):
                return False
        return True

    return all_of


def _field(path: str, test: ValueTest) -> Predicate:
    if "." not in path:
        return lambda a: test(a.get(path) if a.__class__ is dict else None)
    get = _getter(path)
    return lambda a: test(get(a))


def _ordering(op: str, expected: Any) -> ValueTest:
    """`$lt`-style tests. Numbers against a number compare directly; everything else goes
    through JavaScript's relational comparison."""
    accept = _ORDER_OPS[op]
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        number = expected
        fast: Callable[[Any], bool] = {
            "$lt": lambda v: v < number,
            "$lte": lambda v: v <= number,
            "$gt": lambda v: v > number,
            "$gte": lambda v: v >= number,
        }[op]

        def numeric(v: Any) -> bool:
            if v.__class__ is int or v.__class__ is float:
                return fast(v)
            c = js.compare(v, expected)
            return c is not None and accept(c)

        return numeric
    return lambda v: (c := js.compare(v, expected)) is not None and accept(c)


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
