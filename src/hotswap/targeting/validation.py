"""Checks on targeting conditions before they are stored. Pure: no I/O, no framework.

A stored condition is compiled on every replica and inside every SDK, and evaluated on the hot
path. So at write time it is refused, with the path of the failing part, when it does not
compile; when it names an operator the engine does not know (the reference SDKs would silently
match nothing, which for a typo like `$gtee` is never what the team meant); when an operator
gets an argument of the wrong kind; when a regular expression is not one RE2 runs (it has no
back-references or look-arounds: see `targeting.regex`, which also explains why matching needs
no guard against backtracking); or when it is too big or too deep to evaluate cheaply.
Evaluation itself stays lenient.
"""

from __future__ import annotations

import math
from typing import Any

from hotswap.targeting.conditions import ConditionError, compile_condition, is_operator_object
from hotswap.targeting.errors import FieldError, InvalidInput
from hotswap.targeting.regex import pattern_problem

MAX_CONDITION_DEPTH = 16  # nesting of objects and lists
MAX_CONDITION_NODES = 10_000  # objects, lists and scalars (a `$in` of a few thousand ids fits)
MAX_PATTERN_LENGTH = 1000

LOGICAL_OPERATORS = frozenset({"$or", "$nor", "$and", "$not"})
# Every operator `targeting.conditions` implements; an operator added there is added here.
VALUE_OPERATORS = frozenset(
    {
        *("$eq", "$ne", "$lt", "$lte", "$gt", "$gte"),
        *("$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte"),
        *("$regex", "$regexi"),
        *("$in", "$ini", "$nin", "$nini", "$all", "$alli"),
        *("$inGroup", "$notInGroup"),
        *("$elemMatch", "$size", "$exists", "$type", "$not"),
    }
)
TYPE_NAMES = frozenset({"null", "boolean", "number", "string", "array", "object"})
_LIST_OPERATORS = frozenset({"$in", "$ini", "$nin", "$nini", "$all", "$alli"})
_INT64 = 2**63


def check_condition(condition: Any, field: str) -> None:
    """Refuse a condition that cannot be stored, naming `field` plus the path inside it
    (`body.condition.$or.1.country.$in`). Every problem found is listed."""
    _check_shape(condition, field)
    errors: list[FieldError] = []
    _Checker(errors).condition(condition, field)
    if errors:
        raise InvalidInput(
            f"The condition is not valid ({len(errors)} problem{'s' if len(errors) > 1 else ''}).", errors=errors
        )
    try:
        compile_condition(condition)
    except (ConditionError, RecursionError, TypeError, ValueError) as exc:  # the engine's own word, last
        raise InvalidInput(f"The condition is not valid: {exc}.", errors=[FieldError(field, str(exc))]) from exc


def _invalid(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"The condition is not valid: {path}: {message}.", errors=[FieldError(path, message)])


def _check_shape(condition: Any, field: str) -> None:
    """Bounded size and depth, and only values JSON can store, before anything recursive runs."""
    nodes = 0
    stack: list[tuple[Any, str, int]] = [(condition, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_CONDITION_NODES:
            raise _invalid(field, f"has more than {MAX_CONDITION_NODES} values; split it or use a saved group")
        if depth > MAX_CONDITION_DEPTH:
            raise _invalid(path, f"nested more than {MAX_CONDITION_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or "\x00" in key or not _encodable(key):
                    raise _invalid(path, "keys must be valid Unicode strings without NUL characters")
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}.{i}", depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str):
            if "\x00" in item:
                raise _invalid(path, "must not contain NUL characters")
            if not _encodable(item):
                raise _invalid(path, "must be valid Unicode (no lone surrogates)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _invalid(path, "numbers must be finite")
        elif isinstance(item, int) and not isinstance(item, bool):
            if not -_INT64 <= item < _INT64:
                raise _invalid(path, "integers must fit in 64 bits")
        elif item is not None and not isinstance(item, bool):
            raise _invalid(path, "must be a JSON value")


def _encodable(text: str) -> bool:
    """JSON parsers let `"\\ud800"` (a lone surrogate) through; no store or encoder takes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Checker:
    """Walks a condition the way `targeting.conditions` compiles it, collecting what is wrong."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def condition(self, condition: Any, path: str) -> None:
        if not isinstance(condition, dict):
            self.fail(path, "must be an object (a condition)")
            return
        for key, value in condition.items():
            at = f"{path}.{key}"
            if key in ("$or", "$nor", "$and"):
                if not isinstance(value, list):
                    self.fail(at, f"{key} takes a list of conditions")
                    continue
                for i, sub in enumerate(value):
                    self.condition(sub, f"{at}.{i}")
            elif key == "$not":
                self.condition(value, at)
            elif key.startswith("$"):
                self.fail(
                    at, f"unknown operator {key!r}; conditions combine with {', '.join(sorted(LOGICAL_OPERATORS))}"
                )
            elif not key:
                self.fail(at, "an attribute name must not be empty")
            else:
                self.value(value, at)

    def value(self, expected: Any, path: str) -> None:
        # A plain value (or an object with some non-$ keys) is compared as a whole: always valid.
        if is_operator_object(expected):
            for op, arg in expected.items():
                self.operator(op, arg, f"{path}.{op}")

    def operator(self, op: str, arg: Any, path: str) -> None:
        if op not in VALUE_OPERATORS:
            self.fail(path, f"unknown operator {op!r}")
        elif op in ("$regex", "$regexi"):
            self.pattern(arg, path, ignore_case=op == "$regexi")
        elif op in _LIST_OPERATORS:
            if not isinstance(arg, list):
                self.fail(path, f"{op} takes a list")
            elif op in ("$all", "$alli"):
                for i, item in enumerate(arg):
                    self.value(item, f"{path}.{i}")
        elif op in ("$inGroup", "$notInGroup"):
            if not isinstance(arg, str):
                self.fail(path, f"{op} takes the name of a saved group")
        elif op == "$elemMatch":
            if is_operator_object(arg):
                self.value(arg, path)
            elif isinstance(arg, dict):
                self.condition(arg, path)
            else:
                self.fail(path, "$elemMatch takes a condition or operators")
        elif op in ("$not", "$size"):
            self.value(arg, path)
        elif op == "$type" and arg not in TYPE_NAMES:
            self.fail(path, f"$type takes one of {', '.join(sorted(TYPE_NAMES))}")

    def pattern(self, arg: Any, path: str, ignore_case: bool) -> None:
        if not isinstance(arg, str):
            self.fail(path, "takes a regular expression (a string)")
        elif len(arg) > MAX_PATTERN_LENGTH:
            self.fail(path, f"patterns are limited to {MAX_PATTERN_LENGTH} characters")
        elif (problem := pattern_problem(arg, ignore_case=ignore_case)) is not None:
            self.fail(path, problem)
