"""targeting.validation: which conditions may be stored, and how a refusal names the failing part.
(Here rather than in tests/targeting/ because the segments slice is its first user.)"""

from __future__ import annotations

from typing import Any

import pytest

from hotswap.core.errors import InvalidInput
from hotswap.segments.model import BUILTIN_SEGMENTS
from hotswap.targeting.conditions import compile_condition
from hotswap.targeting.validation import (
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_NODES,
    VALUE_OPERATORS,
    check_condition,
)

FIELD = "body.condition"


def refused(condition: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        check_condition(condition, FIELD)
    assert caught.value.status == 422
    return [(e.field, e.message) for e in caught.value.errors]


@pytest.mark.parametrize(
    "condition",
    [
        {},
        {"country": "DE"},
        {"country": {"$in": ["DE", "FR"]}, "level": {"$gte": 10}},
        {"$or": [{"platform": "ios"}, {"platform": {"$regex": "^android-[0-9]+$"}}]},
        {"$and": [{"a": 1}], "$nor": [{"b": 2}], "$not": {"c": 3}},
        {"tags": {"$elemMatch": {"$eq": "beta"}}},
        {"items": {"$elemMatch": {"kind": "sword", "level": {"$gt": 3}}}},
        {"tags": {"$all": ["a", {"$regex": "^b"}]}, "n": {"$size": {"$gt": 1}}},
        {"version": {"$vgte": "1.2.0"}, "x": {"$exists": False}, "y": {"$type": "string"}},
        {"id": {"$inGroup": "beta-testers"}, "z": {"$not": {"$lt": 3}}},
        {"profile": {"nested": {"literal": "object"}}},  # compared as a whole
        {"address.city": "Berlin"},
    ],
)
def test_valid_conditions_pass(condition: Any) -> None:
    check_condition(condition, FIELD)


def test_the_builtin_segments_are_valid() -> None:
    for segment in BUILTIN_SEGMENTS:
        check_condition(segment["condition"], FIELD)


@pytest.mark.parametrize(
    ("condition", "field", "words"),
    [
        ([{"a": 1}], FIELD, "must be an object"),
        ({"$or": {"a": 1}}, f"{FIELD}.$or", "list of conditions"),
        ({"$and": [{"a": 1}, "nope"]}, f"{FIELD}.$and.1", "must be an object"),
        ({"$not": 3}, f"{FIELD}.$not", "must be an object"),
        ({"$where": "x"}, f"{FIELD}.$where", "unknown operator"),
        ({"level": {"$gtee": 3}}, f"{FIELD}.level.$gtee", "unknown operator"),
        ({"$or": [{"country": {"$in": "DE"}}]}, f"{FIELD}.$or.0.country.$in", "takes a list"),
        ({"name": {"$regex": 5}}, f"{FIELD}.name.$regex", "regular expression"),
        ({"name": {"$regex": "(unclosed"}}, f"{FIELD}.name.$regex", "not a valid regular expression"),
        ({"name": {"$regexi": "^(?!admin)"}}, f"{FIELD}.name.$regexi", "look-arounds such as (?!...)"),
        ({"name": {"$regex": "^(a)\\1$"}}, f"{FIELD}.name.$regex", "back-references such as \\1"),
        ({"name": {"$regex": "x" * 1001}}, f"{FIELD}.name.$regex", "1000 characters"),
        ({"id": {"$inGroup": ["a"]}}, f"{FIELD}.id.$inGroup", "saved group"),
        ({"tags": {"$elemMatch": 3}}, f"{FIELD}.tags.$elemMatch", "$elemMatch"),
        ({"tags": {"$elemMatch": {"$bogus": 1}}}, f"{FIELD}.tags.$elemMatch.$bogus", "unknown operator"),
        ({"tags": {"$all": [{"$nope": 1}]}}, f"{FIELD}.tags.$all.0.$nope", "unknown operator"),
        ({"x": {"$type": "integer"}}, f"{FIELD}.x.$type", "$type takes one of"),
        ({"": 1}, f"{FIELD}.", "must not be empty"),
        ({"x": float("nan")}, f"{FIELD}.x", "finite"),
        ({"x": {"$in": [1, float("inf")]}}, f"{FIELD}.x.$in.1", "finite"),
        ({"x": 2**64}, f"{FIELD}.x", "64 bits"),
        ({"x": "a\x00b"}, f"{FIELD}.x", "NUL"),
        ({"x": {"$in": ["\ud800"]}}, f"{FIELD}.x.$in.0", "lone surrogates"),
        ({"\udc00": 1}, FIELD, "valid Unicode"),
    ],
)
def test_invalid_conditions_name_the_failing_path(condition: Any, field: str, words: str) -> None:
    errors = refused(condition)
    assert any(f == field and words in message for f, message in errors), errors


def test_every_problem_is_listed_at_once() -> None:
    errors = refused({"a": {"$bad": 1}, "b": {"$in": 3}, "$or": [{"c": {"$regex": "(?<=x)y"}}]})
    assert sorted(f for f, _ in errors) == [f"{FIELD}.$or.0.c.$regex", f"{FIELD}.a.$bad", f"{FIELD}.b.$in"]


def test_depth_is_bounded() -> None:
    condition: Any = {"leaf": 1}
    for _ in range(MAX_CONDITION_DEPTH):
        condition = {"$and": [condition]}
    errors = refused(condition)
    assert "nested more than" in errors[0][1]
    check_condition({"$and": [{"$and": [{"a": 1}]}]}, FIELD)


def test_size_is_bounded() -> None:
    check_condition({"playerId": {"$in": [f"p{i}" for i in range(5000)]}}, FIELD)
    errors = refused({"playerId": {"$in": list(range(MAX_CONDITION_NODES))}})
    assert errors[0][0] == FIELD
    assert "more than" in errors[0][1]


def test_every_known_operator_compiles() -> None:
    arguments: dict[str, Any] = {
        "$elemMatch": {"$eq": 1},
        "$regex": "^a",
        "$regexi": "^a",
        "$inGroup": "g",
        "$notInGroup": "g",
        "$type": "string",
    }
    for op in sorted(VALUE_OPERATORS):
        argument = arguments.get(op, [1] if op in ("$in", "$ini", "$nin", "$nini", "$all", "$alli") else 1)
        check_condition({"x": {op: argument}}, FIELD)


def test_a_refused_pattern_says_what_re2_lacks() -> None:
    [(field, message)] = refused({"name": {"$regex": "(?=x)"}})
    assert field == f"{FIELD}.name.$regex"
    assert "RE2" in message
    assert "no back-references or look-arounds" in message


# Each backtracks catastrophically on Python's `re` against a near-miss; RE2 cannot backtrack.
@pytest.mark.parametrize(
    "pattern", ["^(a|a)*$", "^(a|aa)+$", "^a*a*a*a*a*a*a*a*a*a*a*a*$", "^(a{1,30}){1,30}$", "^(a+)+$"]
)
@pytest.mark.parametrize("op", ["$regex", "$regexi"])
def test_patterns_that_would_backtrack_are_accepted_and_answer_a_near_miss(pattern: str, op: str) -> None:
    condition = {"nick": {op: pattern}}
    check_condition(condition, FIELD)
    matches = compile_condition(condition)
    assert not matches({"nick": "a" * 100_000 + "b"})  # linear on RE2; exponential on a backtracking engine
    assert matches({"nick": "a" * 30})
