"""configs.schema_regex and the pattern checks of payloads.check_json_schema: JSON Schemas whose
regular expressions run on RE2. Nothing here is timed: a near-miss of 100,000 characters runs to
its answer because RE2 matches in linear time (tests/targeting/test_regex.py)."""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from hotswap.configs import payloads
from hotswap.configs.schema_regex import RE2_VALIDATORS, validator_class
from hotswap.core.errors import InvalidInput
from hotswap.targeting.regex import compile_pattern

FIELD = "body.jsonSchema"
BACKTRACKING = ["^(a|a)*$", "^(a|aa)+$", "^a*a*a*a*a*a*a*a*a*a*a*a*$", "^(a{1,30}){1,30}$", "^(a+)+$"]
NEAR_MISS = "a" * 100_000 + "b"
DRAFT_2019 = "https://json-schema.org/draft/2019-09/schema"


def refused(schema: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        payloads.check_json_schema(schema, FIELD)
    assert caught.value.status == 422
    return [(e.field, e.message) for e in caught.value.errors]


# -- stored schemas: what RE2 cannot run is refused, naming the field -------------------------


@pytest.mark.parametrize(
    ("schema", "field", "words"),
    [
        ({"properties": {"name": {"type": "string", "pattern": "^(a)\\1$"}}}, "properties.name.pattern", "\\1"),
        ({"patternProperties": {"^(?!_)": {}}}, "patternProperties.^(?!_)", "look-arounds"),
        ({"$defs": {"x": {"items": {"pattern": "(?<=a)b"}}}}, "$defs.x.items.pattern", "look-arounds"),
        ({"allOf": [{}, {"pattern": "x(?=y)"}]}, "allOf.1.pattern", "look-arounds"),
        ({"properties": {"default": {"pattern": "(?<!a)"}}}, "properties.default.pattern", "look-arounds"),
        ({"properties": {"s": {"pattern": "(?>a)"}}}, "properties.s.pattern", "(?>"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_naming_its_field(schema: dict[str, Any], field: str, words: str) -> None:
    [(at, message)] = refused(schema)
    assert at == f"{FIELD}.{field}"
    assert words in message
    assert "RE2" in message
    assert "no back-references or look-arounds" in message


def test_every_refused_pattern_is_listed() -> None:
    schema = {"properties": {"a": {"pattern": "(a)\\1"}, "b": {"pattern": "(?=b)"}}, "patternProperties": {"(?!c)": {}}}
    assert [field for field, _ in refused(schema)] == [
        f"{FIELD}.patternProperties.(?!c)",
        f"{FIELD}.properties.a.pattern",
        f"{FIELD}.properties.b.pattern",
    ]


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"pattern": {"type": "string"}}},  # a property named "pattern"
        {"default": {"pattern": "(?=x)"}, "examples": [{"pattern": "\\1"}]},  # data, not a schema
        {"const": {"pattern": "(?=x)"}, "enum": [{"pattern": "(?=x)"}]},
    ],
)
def test_a_pattern_key_in_data_or_a_property_name_is_not_a_regex(schema: dict[str, Any]) -> None:
    payloads.check_json_schema(schema, FIELD)


@pytest.mark.parametrize("pattern", BACKTRACKING)
def test_patterns_that_would_backtrack_are_accepted_and_validate_a_near_miss(pattern: str) -> None:
    schema = {
        "type": "object",
        "properties": {"nick": {"type": "string", "pattern": pattern}},
        "patternProperties": {pattern: {"type": "integer"}},
        "additionalProperties": False,
    }
    payloads.check_json_schema(schema, FIELD)
    assert payloads.schema_errors(schema, {"nick": "a" * 30, "a" * 20: 1}, "d") == []
    errors = payloads.schema_errors(schema, {"nick": NEAR_MISS, NEAR_MISS: 1}, "d")
    assert [e.field for e in errors] == ["d", "d.nick"]
    assert errors[0].message.endswith(f"does not match any of the regexes: {pattern!r}")
    assert errors[1].message.endswith(f"does not match {pattern!r}")


@pytest.mark.parametrize("draft", [None, DRAFT_2019])
@pytest.mark.parametrize("pattern", ["^(a|a)*$", "^a*a*a*a*a*a*a*a*a*a*a*a*$"])
def test_unevaluated_properties_test_pattern_properties_on_re2(draft: str | None, pattern: str) -> None:
    schema: dict[str, Any] = {"allOf": [{"patternProperties": {pattern: {"type": "integer"}}}]}
    schema["unevaluatedProperties"] = False
    if draft is not None:
        schema["$schema"] = draft
    payloads.check_json_schema(schema, FIELD)
    assert payloads.schema_errors(schema, {"a" * 20: 1}, "d") == []
    [error] = payloads.schema_errors(schema, {"a" * 20: 1, NEAR_MISS: 1}, "d")
    assert error.message.startswith("Unevaluated properties are not allowed")


def test_a_stored_pattern_re2_cannot_run_fails_closed() -> None:
    # Stored before patterns were checked against RE2: every value it applies to is refused.
    schema = {"properties": {"pin": {"pattern": "^(\\d)\\1{3}$"}}, "patternProperties": {"^(?!x)": {}}}
    errors = payloads.schema_errors(schema, {"pin": "1111"}, "d")
    assert [e.field for e in errors] == ["d", "d.pin"]
    assert all("cannot be checked" in e.message and "RE2" in e.message for e in errors)
    assert payloads.schema_errors(schema, {"pin": 1111}, "d") == [errors[0]]  # not a string: no pattern applies
    assert payloads.schema_errors({"properties": {"pin": {"pattern": "(?=1)"}}}, {"pin": 1}, "d") == []


# -- the validators: every keyword that matches a regular expression runs on RE2 ----------------


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _uses_re(function: Callable[..., Any], seen: set[Any] | None = None) -> bool:
    """Whether `function`, or a function of the jsonschema library it calls by name, uses `re`."""
    seen = set() if seen is None else seen
    if function in seen or not isinstance(function, types.FunctionType):
        return False
    seen.add(function)
    names = _code_names(function.__code__)
    scope = function.__globals__
    if "re" in names and scope.get("re") is re:
        return True
    called: list[Any] = [scope.get(name) for name in names]
    for module in [obj for obj in called if isinstance(obj, types.ModuleType)]:
        if module.__name__.startswith("jsonschema"):
            called += [getattr(module, name, None) for name in names]
    return any(
        _uses_re(obj, seen)
        for obj in called
        if isinstance(obj, types.FunctionType) and obj.__module__.startswith(("jsonschema", "hotswap"))
    )


def test_the_check_for_re_sees_what_it_looks_for() -> None:
    stock = Draft202012Validator.VALIDATORS
    assert _uses_re(stock["pattern"])
    assert _uses_re(stock["additionalProperties"])  # through `_utils.find_additional_properties`
    assert _uses_re(stock["unevaluatedProperties"])  # through `_utils.find_evaluated_property_keys_by_schema`
    assert not _uses_re(stock["required"])


@pytest.mark.parametrize("draft", list(RE2_VALIDATORS), ids=lambda cls: cls.__name__)
def test_no_keyword_of_the_re2_validators_uses_pythons_re(draft: Any) -> None:
    keywords = RE2_VALIDATORS[draft].VALIDATORS
    assert sorted(name for name, keyword in keywords.items() if _uses_re(keyword)) == []
    assert set(keywords) == set(draft.VALIDATORS)


def test_the_validator_follows_the_schemas_draft() -> None:
    for draft in RE2_VALIDATORS:
        schema = {"$schema": draft.META_SCHEMA["$schema"]}
        assert validator_class(schema) is RE2_VALIDATORS[draft]
    assert validator_class({}) is RE2_VALIDATORS[Draft202012Validator]


# Where Python's re and RE2 read a pattern alike, the RE2 validators give jsonschema's verdicts.
ALIKE = ["^a", "b$", "^[ab]+$", "a.c", "^(ab|c)*$"]
SCHEMAS: list[dict[str, Any]] = [
    {"properties": {"s": {"pattern": "^[ab]+$"}}, "items": {"pattern": "b$"}},
    {"patternProperties": {"^a": {"type": "integer"}, "b$": {"type": "string"}}, "additionalProperties": False},
    {"properties": {"c": {}}, "patternProperties": {"a.c": {}}, "additionalProperties": {"type": "integer"}},
    {"patternProperties": {"^(ab|c)*$": {"type": "integer"}}, "unevaluatedProperties": False},
    {
        "allOf": [{"patternProperties": {"^a": {}}}, {"$ref": "#/$defs/b"}],
        "if": {"required": ["c"]},
        "then": {"properties": {"c": {}}},
        "else": {"dependentSchemas": {"a": {"patternProperties": {"b$": {}}}}},
        "unevaluatedProperties": {"type": "integer"},
        "$defs": {"b": {"anyOf": [{"patternProperties": {"^[ab]+$": {"type": "string"}}}, {"required": ["x"]}]}},
    },
    {
        "$schema": DRAFT_2019,
        "allOf": [{"patternProperties": {"^a": {}}}, {"properties": {"c": True}}],
        "oneOf": [{"patternProperties": {"b$": {}}}, {"additionalProperties": {"type": "string"}}],
        "unevaluatedProperties": False,
    },
    {"$schema": "http://json-schema.org/draft-07/schema#", "patternProperties": {"^a": {"type": "integer"}}},
    {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "patternProperties": {"b$": {}},
        "additionalProperties": False,
    },
    {"$schema": "http://json-schema.org/draft-03/schema#", "properties": {"s": {"pattern": "^a"}}},
]
keys = st.text(alphabet="abcx", max_size=4)
values = st.one_of(st.integers(0, 3), st.text(alphabet="abc", max_size=3), st.lists(st.text(alphabet="ab", max_size=2)))


def _verdict(cls: Any, schema: dict[str, Any], instance: Any) -> list[tuple[list[Any], str]]:
    return sorted((list(e.absolute_path), e.message) for e in cls(schema).iter_errors(instance))


@given(st.sampled_from(SCHEMAS), st.dictionaries(keys, values, max_size=5))
def test_the_re2_validators_give_jsonschemas_verdicts(schema: dict[str, Any], instance: dict[str, Any]) -> None:
    stock = validator_for(schema, default=Draft202012Validator)
    assert _verdict(validator_class(schema), schema, instance) == _verdict(stock, schema, instance)


def test_the_compared_patterns_are_read_alike_by_both_engines() -> None:
    for pattern in ALIKE:
        for text in ["", "a", "ab", "abc", "b", "cab", "xab", "ababc", "c"]:
            assert compile_pattern(pattern).search(text) is (re.search(pattern, text) is not None)
