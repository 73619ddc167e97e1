"""The pure rules of versioned configs: input parsing, schemas, inheritance, diffs, releases."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonpatch
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.configs import model as m
from hotswap.configs import payloads
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, FieldError, InvalidInput
from hotswap.core.jsonutil import canonical_bytes, checksum, json_depth

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    # Any text a store can hold: NUL is refused on input (PostgreSQL cannot keep it).
    | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
)
# Keys include "/" and "~", which JSON Pointer must escape.
json_keys = st.text(alphabet="ab/~0 é", max_size=4)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=4),
    max_leaves=25,
)
json_objects = st.dictionaries(json_keys, json_values, max_size=5)


def make_profile(**changes: Any) -> m.Profile:
    base = m.Profile(
        id="cfg_1",
        name="payment-service.production",
        environment=Environment.PRODUCTION,
        service_type="Microservice",
        schema_version="1.0",
        json_schema=None,
        game_id=None,
        config_type=None,
        parent_id=None,
        description=None,
        live_version_id=None,
        created_at=T0,
        created_by="olivia",
        updated_at=T0,
        updated_by="olivia",
        archived_at=None,
        revision=1,
    )
    return dataclasses.replace(base, **changes)


def make_version(seq: int, version: str | None = None, **changes: Any) -> m.Version:
    base = m.Version(
        id=f"ver_{seq}",
        profile_id="cfg_1",
        version=version or f"1.{seq}.0",
        seq=seq,
        data={"seq": seq},
        effective={"seq": seq},
        parent_version_id=None,
        checksum=checksum({"seq": seq}),
        description=None,
        author="olivia",
        created_at=T0,
    )
    return dataclasses.replace(base, **changes)


def make_release(status: m.ReleaseStatus = m.ReleaseStatus.PENDING_APPROVAL, **changes: Any) -> m.Release:
    base = m.Release(
        id="rel_1",
        profile_id="cfg_1",
        version_id="ver_2",
        previous_version_id="ver_1",
        kind=m.ReleaseKind.RELEASE,
        status=status,
        comment="ship it",
        requested_by="olivia",
        requested_at=T0,
        decided_at=None,
        approval_id="apr_1",
    )
    return dataclasses.replace(base, **changes)


# -- semantic versions ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0.0.0", "1.2.3", "10.20.30", "1.0.0-rc.1", "1.0.0+build.5", "2.0.0-alpha+001"])
def test_parse_semver_accepts_semantic_versions(value: str) -> None:
    assert str(payloads.parse_semver(value, "body.version")) == value


@pytest.mark.parametrize("value", ["", "1", "1.2", "v1.2.3", "1.2.3.4", "01.2.3", "1.2.x", " 1.2.3", "latest"])
def test_parse_semver_rejects_other_strings_and_names_the_field(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        payloads.parse_semver(value, "body.version")
    assert caught.value.status == 422
    assert caught.value.errors == [FieldError("body.version", "must be a semantic version such as 1.2.0")]
    assert repr(value) in caught.value.detail


def test_semver_orders_numerically_not_lexically() -> None:
    def v(s: str) -> Any:
        return payloads.parse_semver(s, "v")

    assert v("1.10.0") > v("1.9.0")
    assert v("2.0.0") > v("1.99.99")
    assert v("1.0.0-rc.1") < v("1.0.0")
    assert v("1.0.0-alpha") < v("1.0.0-alpha.1") < v("1.0.0-beta")
    assert v("1.0.0+build.1") == v("1.0.0+build.2")  # build metadata has no precedence
    ordered = sorted(["1.10.0", "1.2.0", "1.0.0-rc.2", "1.0.0", "0.9.9", "1.0.0-rc.10"], key=v)
    assert ordered == ["0.9.9", "1.0.0-rc.2", "1.0.0-rc.10", "1.0.0", "1.2.0", "1.10.0"]


# -- config data ----------------------------------------------------------------------------


def test_parse_config_data_passes_an_object_through() -> None:
    data = {"weapons": {"sword": {"damage": 10}}}
    assert payloads.parse_config_data(data, "body.configData") == data


def test_parse_config_data_parses_a_json_string_holding_an_object() -> None:
    parsed = payloads.parse_config_data(
        '{"maxPlayers": 64, "modes": ["ffa", "tdm"], "ranked": true}', "body.configData"
    )
    assert parsed == {"maxPlayers": 64, "modes": ["ffa", "tdm"], "ranked": True}


@pytest.mark.parametrize("text", ['{"a": 1', "not json", "", "{'a': 1}", '{"a": 1,}'])
def test_invalid_json_string_is_reported_on_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        payloads.parse_config_data(text, "body.configData")
    assert [e.field for e in caught.value.errors] == ["body.configData"]
    assert caught.value.errors[0].message.startswith("not valid JSON")
    assert "body.configData is not valid JSON" in caught.value.detail


@pytest.mark.parametrize("value", ["[1, 2]", '"text"', "42", "null", "true"])
def test_json_string_holding_a_non_object_is_rejected(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        payloads.parse_config_data(value, "seed.data")
    assert caught.value.errors == [FieldError("seed.data", "must be a JSON object")]


@pytest.mark.parametrize("value", [[1, 2], 42, None, True])
def test_non_object_values_are_rejected(value: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        payloads.parse_config_data(value, "body.configData")
    assert caught.value.errors == [FieldError("body.configData", "must be a JSON object")]


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"a": float("nan")}, "body.configData.a"),
        ({"a": [1, float("inf")]}, "body.configData.a.1"),
        ({"a": {"b": -float("inf")}}, "body.configData.a.b"),
        ({"a": 2**64}, "body.configData.a"),
    ],
)
def test_objects_holding_values_json_cannot_store_are_rejected(value: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        payloads.parse_config_data(value, "body.configData")
    assert [e.field for e in caught.value.errors] == [field]


def test_64_bit_integers_are_accepted() -> None:
    value = {"max": 2**63 - 1, "min": -(2**63)}
    assert payloads.parse_config_data(value, "body.configData") == value


@given(json_objects)
def test_config_data_as_string_or_object_parses_to_the_same_value(data: dict[str, Any]) -> None:
    text = canonical_bytes(data).decode()
    assert payloads.parse_config_data(text, "f") == data
    assert payloads.parse_config_data(data, "f") == data


def test_only_production_needs_approval() -> None:
    assert {e for e in Environment if e.needs_approval} == {Environment.PRODUCTION}


# -- JSON Schema ----------------------------------------------------------------------------

WEAPON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["maxPlayers", "weapons"],
    "properties": {
        "maxPlayers": {"type": "integer", "minimum": 2, "maximum": 128},
        "weapons": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["damage"],
                "properties": {"damage": {"type": "number", "exclusiveMinimum": 0}},
            },
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "contact": {"type": "string", "format": "email"},
    },
}


def test_valid_data_has_no_schema_errors() -> None:
    data = {"maxPlayers": 64, "weapons": {"sword": {"damage": 10}}, "tags": ["a"], "contact": "ops@example.com"}
    assert payloads.schema_errors(WEAPON_SCHEMA, data, "body.configData") == []
    payloads.validate_against_schema(WEAPON_SCHEMA, data, "body.configData")


def test_schema_errors_report_every_failing_path() -> None:
    data = {
        "maxPlayers": 500,
        "weapons": {"sword": {"damage": 0}, "bow": {}},
        "tags": ["ok", 7],
    }
    errors = payloads.schema_errors(WEAPON_SCHEMA, data, "body.configData")
    by_field = {e.field: e for e in errors}
    assert set(by_field) == {
        "body.configData.maxPlayers",
        "body.configData.weapons.sword.damage",
        "body.configData.weapons.bow",
        "body.configData.tags.1",
    }
    assert by_field["body.configData.maxPlayers"].pointer == "/maxPlayers"
    assert "500" in by_field["body.configData.maxPlayers"].message
    assert by_field["body.configData.weapons.sword.damage"].pointer == "/weapons/sword/damage"
    assert "'damage' is a required property" in by_field["body.configData.weapons.bow"].message
    assert by_field["body.configData.tags.1"].pointer == "/tags/1"


def test_schema_error_at_the_root_points_at_the_whole_document() -> None:
    errors = payloads.schema_errors(WEAPON_SCHEMA, {"weapons": {}}, "body.configData")
    assert errors == [FieldError("body.configData", "'maxPlayers' is a required property", pointer="")]


def test_schema_errors_escape_json_pointer_tokens() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    errors = payloads.schema_errors(schema, {"a/b": "x", "c~d": "y"}, "data")
    assert sorted((e.field, e.pointer) for e in errors) == [("data.a/b", "/a~1b"), ("data.c~d", "/c~0d")]
    for error in errors:
        assert error.pointer is not None
        assert jsonpatch.JsonPointer(error.pointer).resolve({"a/b": "x", "c~d": "y"}) in ("x", "y")


def test_schema_errors_come_in_a_stable_order() -> None:
    data = {"weapons": {"z": {}, "a": {}}, "maxPlayers": "many"}
    first = payloads.schema_errors(WEAPON_SCHEMA, data, "d")
    second = payloads.schema_errors(WEAPON_SCHEMA, dict(reversed(list(data.items()))), "d")
    assert first == second
    assert [e.field for e in first] == ["d.maxPlayers", "d.weapons.a", "d.weapons.z"]


def test_schema_formats_are_checked() -> None:
    errors = payloads.schema_errors(WEAPON_SCHEMA, {"maxPlayers": 4, "weapons": {}, "contact": "not-an-email"}, "d")
    assert [e.field for e in errors] == ["d.contact"]


def test_validate_against_schema_raises_with_all_errors_and_counts_them() -> None:
    with pytest.raises(InvalidInput) as caught:
        payloads.validate_against_schema(WEAPON_SCHEMA, {"maxPlayers": 1}, "body.configData")
    assert len(caught.value.errors) == 2
    assert "(2 problems)" in caught.value.detail

    with pytest.raises(InvalidInput) as single:
        payloads.validate_against_schema(WEAPON_SCHEMA, {"maxPlayers": 4}, "body.configData")
    assert "(1 problem)" in single.value.detail


def test_no_schema_means_any_object_is_valid() -> None:
    payloads.validate_against_schema(None, {"anything": [1, "two", None]}, "body.configData")


def test_schema_draft_is_taken_from_dollar_schema() -> None:
    # Draft 4 spells exclusiveMinimum as a boolean; under 2020-12 it would be a schema error.
    draft4 = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {"n": {"type": "number", "minimum": 0, "exclusiveMinimum": True}},
    }
    payloads.check_json_schema(draft4, "body.jsonSchema")
    assert [e.field for e in payloads.schema_errors(draft4, {"n": 0}, "d")] == ["d.n"]


def test_check_json_schema_accepts_a_valid_schema() -> None:
    payloads.check_json_schema(WEAPON_SCHEMA, "body.jsonSchema")


def test_check_json_schema_rejects_an_invalid_schema_at_its_path() -> None:
    with pytest.raises(InvalidInput) as caught:
        payloads.check_json_schema({"type": "object", "properties": {"n": {"type": "integr"}}}, "body.jsonSchema")
    assert caught.value.detail.startswith("The JSON Schema is not valid")
    [error] = caught.value.errors
    assert error.field.startswith("body.jsonSchema.properties.n.type")


def test_check_json_schema_rejects_an_invalid_root_keyword() -> None:
    with pytest.raises(InvalidInput) as caught:
        payloads.check_json_schema({"type": 12}, "body.jsonSchema")
    assert caught.value.errors[0].field.startswith("body.jsonSchema.type")


# -- inheritance ----------------------------------------------------------------------------


def _nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"n": value}
    return value


UNUSABLE_SCHEMAS = {
    "non-string $schema": ({"$schema": 5}, "cannot be read"),
    "too deep": ({"properties": _nested(payloads.MAX_SCHEMA_DEPTH)}, "nested more than"),
    "dangling $ref": ({"$ref": "#/$defs/missing"}, "points nowhere"),
    "remote $ref": ({"$ref": "https://schemas.example/x.json"}, "only references inside"),
    "self loop": ({"$ref": "#"}, "cannot be evaluated"),
    "self loop in allOf": ({"allOf": [{"$ref": "#"}]}, "cannot be evaluated"),
    "dangling $dynamicRef": ({"$dynamicRef": "#nowhere"}, "points nowhere"),
}


@pytest.mark.parametrize("name", list(UNUSABLE_SCHEMAS))
def test_check_json_schema_refuses_schemas_that_could_not_be_evaluated_later(name: str) -> None:
    schema, message = UNUSABLE_SCHEMAS[name]
    with pytest.raises(InvalidInput) as info:
        payloads.check_json_schema(schema, "body.jsonSchema")
    assert info.value.errors[0].field == "body.jsonSchema"
    assert message in info.value.errors[0].message


def test_check_json_schema_accepts_local_and_recursive_references() -> None:
    tree = {"type": "object", "properties": {"child": {"$ref": "#"}, "hp": {"$ref": "#/$defs/hp"}}}
    tree["$defs"] = {"hp": {"type": "integer", "minimum": 0}}
    payloads.check_json_schema(tree, "body.jsonSchema")
    errors = payloads.schema_errors(tree, {"child": {"child": {"hp": -1}}}, "body.configData")
    assert [e.field for e in errors] == ["body.configData.child.child.hp"]


@pytest.mark.parametrize(
    "pattern",
    ["^[a-z0-9_-]{3,32}$", "^(foo|bar)*$", "^\\d{4}-\\d{2}-\\d{2}$", "^(ab)*$", "^[A-Z]{2}(-[A-Z]{2})?$"],
)
def test_everyday_patterns_are_accepted(pattern: str) -> None:
    schema = {"properties": {"p": {"type": "string", "pattern": pattern}}, "patternProperties": {pattern: {}}}
    payloads.check_json_schema(schema, "body.jsonSchema")


def test_a_property_named_pattern_is_not_mistaken_for_a_regex() -> None:
    payloads.check_json_schema({"properties": {"pattern": {"type": "string"}}}, "body.jsonSchema")


def test_config_data_nesting_is_bounded() -> None:
    assert payloads.parse_config_data(_nested(payloads.MAX_DATA_DEPTH), "body.configData")
    with pytest.raises(InvalidInput) as info:
        payloads.parse_config_data(_nested(payloads.MAX_DATA_DEPTH + 1), "body.configData")
    assert info.value.errors[0].field == "body.configData"


def test_json_depth_counts_levels_without_recursing() -> None:
    assert json_depth(1) == 0
    assert json_depth({"a": [1, {"b": 2}]}) == 3
    assert json_depth(_nested(5000)) == 5000  # far past Python's recursion limit


def test_deep_merge_merges_nested_objects_key_by_key() -> None:
    base = {"weapons": {"sword": {"damage": 10, "speed": 1.0}, "bow": {"damage": 5}}, "maxPlayers": 32}
    override = {"weapons": {"sword": {"damage": 12}}, "mode": "ranked"}
    assert m.deep_merge(base, override) == {
        "weapons": {"sword": {"damage": 12, "speed": 1.0}, "bow": {"damage": 5}},
        "maxPlayers": 32,
        "mode": "ranked",
    }


def test_deep_merge_replaces_lists_instead_of_merging_them() -> None:
    assert m.deep_merge({"modes": ["ffa", "tdm", "ctf"]}, {"modes": ["ffa"]}) == {"modes": ["ffa"]}


def test_deep_merge_lets_a_non_object_replace_an_object_and_back() -> None:
    assert m.deep_merge({"a": {"b": 1}}, {"a": 3}) == {"a": 3}
    assert m.deep_merge({"a": 3}, {"a": {"b": 1}}) == {"a": {"b": 1}}
    # An explicit null in the child overrides the parent's value rather than removing the key.
    assert m.deep_merge({"a": {"b": 1}}, {"a": None}) == {"a": None}


def test_deep_merge_does_not_modify_its_inputs() -> None:
    base = {"a": {"b": 1, "c": [1]}}
    override = {"a": {"b": 2}}
    base_before, override_before = copy.deepcopy(base), copy.deepcopy(override)
    m.deep_merge(base, override)
    assert base == base_before
    assert override == override_before


@given(json_objects)
def test_merging_nothing_changes_nothing(a: dict[str, Any]) -> None:
    assert m.deep_merge(a, {}) == a
    assert m.deep_merge({}, a) == a


@given(json_objects, json_objects)
def test_override_wins_on_every_leaf_it_sets(a: dict[str, Any], b: dict[str, Any]) -> None:
    merged = m.deep_merge(a, b)
    assert set(merged) == set(a) | set(b)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(a.get(key), dict):
            assert m.deep_merge(a[key], value) == merged[key]
        else:
            assert merged[key] == value
    for key in set(a) - set(b):
        assert merged[key] == a[key]


@given(json_objects, json_objects)
def test_applying_the_same_override_twice_changes_nothing_more(a: dict[str, Any], b: dict[str, Any]) -> None:
    once = m.deep_merge(a, b)
    assert m.deep_merge(once, b) == once


def test_merge_order_matters_when_a_child_replaces_an_object() -> None:
    # The chain is folded root first: a middle profile's scalar wipes the root's object, and a
    # grandchild's object then starts afresh rather than merging with what the root had.
    root, middle, own = {"k": {"x": 1}}, {"k": None}, {"k": {"y": 2}}
    assert m.effective_data([root, middle, own]) == {"k": {"y": 2}}
    assert m.deep_merge(root, m.deep_merge(middle, own)) == {"k": {"x": 1, "y": 2}}


def test_effective_data_merges_root_first_and_the_profile_last() -> None:
    root = {"limits": {"rate": 10, "burst": 20}, "region": "eu", "features": ["a", "b"]}
    middle = {"limits": {"rate": 50}, "features": ["c"]}
    own = {"limits": {"burst": 100}, "region": "us"}
    assert m.effective_data([root, middle, own]) == {
        "limits": {"rate": 50, "burst": 100},
        "region": "us",
        "features": ["c"],
    }


def test_effective_data_of_an_empty_chain_is_empty() -> None:
    assert m.effective_data([]) == {}
    assert m.effective_data([{"a": 1}]) == {"a": 1}


def test_effective_schema_is_the_nearest_one_along_the_chain() -> None:
    root, child = {"type": "object"}, {"type": "object", "required": ["a"]}
    assert m.effective_schema([root, None, child]) is child
    assert m.effective_schema([root, None, None]) is root
    assert m.effective_schema([None, None]) is None
    assert m.effective_schema([]) is None


def test_parent_chain_refuses_a_profile_that_inherits_from_itself() -> None:
    with pytest.raises(Conflict, match="cannot inherit from itself"):
        m.check_parent_chain("cfg_a", ["cfg_a"])


def test_parent_chain_refuses_a_cycle_through_a_descendant() -> None:
    # a's new parent c descends from a: c -> b -> a.
    with pytest.raises(Conflict, match="descendants"):
        m.check_parent_chain("cfg_a", ["cfg_c", "cfg_b", "cfg_a"])


def test_parent_chain_allows_an_acyclic_parent() -> None:
    m.check_parent_chain("cfg_a", ["cfg_b", "cfg_c"])
    m.check_parent_chain(None, [])
    # A new profile has no id yet, so it cannot be in any chain.
    m.check_parent_chain(None, ["cfg_b"])


def test_parent_chain_depth_is_limited() -> None:
    assert m.MAX_INHERITANCE_DEPTH == 8
    m.check_parent_chain("cfg_x", [f"cfg_{i}" for i in range(m.MAX_INHERITANCE_DEPTH - 1)])
    with pytest.raises(Conflict, match="limited to 8 levels"):
        m.check_parent_chain("cfg_x", [f"cfg_{i}" for i in range(m.MAX_INHERITANCE_DEPTH)])


def test_parent_chain_accepts_any_iterable_of_ids() -> None:
    with pytest.raises(Conflict):
        m.check_parent_chain("cfg_a", iter(["cfg_b", "cfg_a"]))
    with pytest.raises(Conflict, match="limited"):
        m.check_parent_chain(None, (f"cfg_{i}" for i in range(20)))


# -- diff -----------------------------------------------------------------------------------


def _applied(old: dict[str, Any], new: dict[str, Any]) -> Any:
    return jsonpatch.apply_patch(old, m.diff(old, new).patch)


def test_diff_of_identical_documents_is_empty() -> None:
    result = m.diff({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2]}})
    assert result == m.Diff(patch=[], summary=[], added=0, removed=0, changed=0)


def test_diff_reports_added_removed_and_changed_keys() -> None:
    old = {"maxPlayers": 32, "mode": "casual", "weapons": {"sword": {"damage": 10}}}
    new = {"maxPlayers": 64, "weapons": {"sword": {"damage": 10, "speed": 1.5}}, "region": "eu"}
    result = m.diff(old, new)
    assert jsonpatch.apply_patch(old, result.patch) == new
    assert (result.added, result.removed, result.changed) == (2, 1, 1)
    assert sorted(result.summary) == sorted(
        [
            "changed maxPlayers: 32 -> 64",
            'removed mode (was "casual")',
            "added weapons.sword.speed = 1.5",
            'added region = "eu"',
        ]
    )
    for op in result.patch:
        assert op["op"] in {"add", "remove", "replace", "move", "copy", "test"}
        assert op["path"].startswith("/")


def test_diff_does_not_modify_its_inputs() -> None:
    old = {"a": [1, 2, 3, 4], "b": {"c": 1}}
    new = {"a": [2, 3, 5], "d": {"c": 1}}
    old_before, new_before = copy.deepcopy(old), copy.deepcopy(new)
    result = m.diff(old, new)
    assert (old, new) == (old_before, new_before)
    assert jsonpatch.apply_patch(old, result.patch) == new


def test_diff_summary_shows_the_value_actually_replaced_after_earlier_list_operations() -> None:
    # The patch removes a[0] first, so its "/a/2" then names the old a[3] (4), not old a[2] (3).
    old, new = {"a": [1, 2, 3, 4]}, {"a": [2, 3, 5]}
    result = m.diff(old, new)
    assert jsonpatch.apply_patch(old, result.patch) == new
    assert result.patch == [{"op": "remove", "path": "/a/0"}, {"op": "replace", "path": "/a/2", "value": 5}]
    assert result.summary == ["removed a.0 (was 1)", "changed a.2: 4 -> 5"]


def test_diff_sees_json_type_changes_python_equality_hides() -> None:
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"a": True}, {"a": 1}),
        ({"a": 1}, {"a": 1.0}),
        ({"a": 0}, {"a": False}),
    ]
    for old, new in pairs:
        result = m.diff(old, new)
        assert result.changed == 1
        assert canonical_bytes(jsonpatch.apply_patch(old, result.patch)) == canonical_bytes(new)
    assert m.diff({"a": True}, {"a": 1}).summary == ["changed a: true -> 1"]


def test_diff_summarises_a_moved_value() -> None:
    old = {"legacy": {"rate": 10, "burst": 20}, "x": 1}
    new = {"limits": {"rate": 10, "burst": 20}, "x": 1}
    result = m.diff(old, new)
    assert jsonpatch.apply_patch(old, result.patch) == new
    assert result.summary == ["moved legacy to limits"]
    assert (result.added, result.removed, result.changed) == (0, 0, 1)


def test_diff_summary_paths_use_dots_and_unescape_pointer_tokens() -> None:
    result = m.diff({"a/b": {"c~d": 1}}, {"a/b": {"c~d": 2}})
    assert result.patch == [{"op": "replace", "path": "/a~1b/c~0d", "value": 2}]
    assert result.summary == ["changed a/b.c~d: 1 -> 2"]


def test_diff_summary_truncates_long_values() -> None:
    result = m.diff({}, {"blob": "x" * 500})
    [line] = result.summary
    assert line.startswith('added blob = "xxx')
    assert line.endswith("...")
    assert len(line) == len("added blob = ") + 80


@given(json_objects, json_objects)
def test_applying_the_diff_turns_old_into_new(old: dict[str, Any], new: dict[str, Any]) -> None:
    old_before = copy.deepcopy(old)
    result = m.diff(old, new)
    patched = jsonpatch.apply_patch(old, result.patch)
    # Byte-equal, not just ==: True vs 1 and 1 vs 1.0 are different JSON.
    assert canonical_bytes(patched) == canonical_bytes(new)
    assert old == old_before
    assert len(result.summary) == len(result.patch)
    assert result.added + result.removed + result.changed == len(result.patch)


@given(json_objects)
def test_diff_against_itself_is_empty(doc: dict[str, Any]) -> None:
    assert m.diff(doc, copy.deepcopy(doc)).patch == []


@given(json_objects, json_objects)
def test_diff_summary_old_values_match_the_document_at_each_step(old: dict[str, Any], new: dict[str, Any]) -> None:
    result = m.diff(old, new)
    current = copy.deepcopy(old)
    for op, line in zip(result.patch, result.summary, strict=True):
        if op["op"] in ("remove", "replace"):
            was = jsonpatch.JsonPointer(op["path"]).resolve(current)
            expected = m._show(was)
            assert (f"(was {expected})" in line) if op["op"] == "remove" else (f": {expected} -> " in line)
        current = jsonpatch.apply_patch(current, [op])


# -- releases -------------------------------------------------------------------------------


def test_a_version_that_is_not_live_can_be_released() -> None:
    m.check_releasable(make_profile(live_version_id="ver_1"), make_version(2), pending=None)
    m.check_releasable(make_profile(), make_version(1), pending=None)


def test_releasing_the_live_version_again_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="already live"):
        m.check_releasable(make_profile(live_version_id="ver_2"), make_version(2), pending=None)


def test_a_pending_release_blocks_another_and_names_itself() -> None:
    pending = make_release(id="rel_9", approval_id="apr_9")
    with pytest.raises(Conflict) as caught:
        m.check_releasable(make_profile(live_version_id="ver_1"), make_version(3), pending=pending)
    assert caught.value.status == 409
    assert caught.value.extra == {"pendingReleaseId": "rel_9", "approvalId": "apr_9"}
    assert "rel_9" in caught.value.detail


def test_an_archived_profile_cannot_be_released() -> None:
    profile = make_profile(archived_at=T0 + timedelta(days=1))
    assert profile.archived
    with pytest.raises(Conflict, match="archived"):
        m.check_releasable(profile, make_version(2), pending=None)
    with pytest.raises(Conflict, match="archived"):
        profile.ensure_active()


def test_an_active_profile_passes_ensure_active() -> None:
    profile = make_profile()
    assert not profile.archived
    profile.ensure_active()


def test_revert_needs_a_live_version() -> None:
    with pytest.raises(Conflict, match="no live version"):
        m.check_revert_target(make_profile(), make_version(1), live=None)


def test_revert_goes_only_to_an_earlier_version() -> None:
    profile = make_profile(live_version_id="ver_3")
    m.check_revert_target(profile, make_version(1), live=make_version(3))
    m.check_revert_target(profile, make_version(2), live=make_version(3))
    with pytest.raises(Conflict, match="not older"):
        m.check_revert_target(profile, make_version(3), live=make_version(3))
    with pytest.raises(Conflict, match="not older"):
        m.check_revert_target(profile, make_version(4), live=make_version(3))


def test_revert_order_follows_creation_sequence_not_version_label() -> None:
    # A hotfix 1.0.1 created after 2.0.0 is newer, even though its label sorts lower.
    hotfix = make_version(5, version="1.0.1")
    major = make_version(4, version="2.0.0")
    with pytest.raises(Conflict):
        m.check_revert_target(make_profile(), major, live=make_version(3))
    m.check_revert_target(make_profile(), major, live=hotfix)


@pytest.mark.parametrize(("approved", "status"), [(True, m.ReleaseStatus.APPLIED), (False, m.ReleaseStatus.REJECTED)])
def test_settling_a_pending_release(approved: bool, status: m.ReleaseStatus) -> None:
    release = make_release()
    at = T0 + timedelta(hours=1)
    settled = m.settle_release(release, approved=approved, at=at)
    assert settled.status is status
    assert settled.decided_at == at
    assert dataclasses.replace(settled, status=release.status, decided_at=None) == release
    assert release.status is m.ReleaseStatus.PENDING_APPROVAL  # the original is untouched


@pytest.mark.parametrize("status", [m.ReleaseStatus.APPLIED, m.ReleaseStatus.REJECTED, m.ReleaseStatus.CANCELLED])
def test_a_settled_release_cannot_be_settled_or_cancelled_again(status: m.ReleaseStatus) -> None:
    release = make_release(status, decided_at=T0)
    with pytest.raises(Conflict, match=f"already {status.value}"):
        m.settle_release(release, approved=True, at=T0)
    with pytest.raises(Conflict, match=f"already {status.value}"):
        m.settle_release(release, approved=False, at=T0)
    with pytest.raises(Conflict, match="only a pending one can be cancelled"):
        m.cancel_release(release, at=T0)


def test_cancelling_a_pending_release() -> None:
    at = T0 + timedelta(minutes=5)
    cancelled = m.cancel_release(make_release(), at=at)
    assert cancelled.status is m.ReleaseStatus.CANCELLED
    assert cancelled.decided_at == at


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["payment-service.production", "a", "A1_b-c.d", "x" * 200])
def test_name_pattern_accepts_reasonable_names(name: str) -> None:
    assert m.NAME_PATTERN.match(name)


@pytest.mark.parametrize("name", ["", "-leading", ".hidden", "has space", "slash/name", "x" * 201, "ünïcode"])
def test_name_pattern_rejects_other_names(name: str) -> None:
    assert not m.NAME_PATTERN.match(name)


@pytest.mark.parametrize(("value", "ok"), [("GameBalance", True), ("a", True), ("9lives", False), ("", False)])
def test_type_pattern(value: str, ok: bool) -> None:
    assert bool(m.TYPE_PATTERN.match(value)) is ok


@pytest.mark.parametrize(
    ("targeting", "named"),
    [
        (None, False),
        ([], False),
        ({"segment": "vip"}, False),  # not a list of rules
        ([{"id": "r1", "segment": "vip"}], True),
        ([{"id": "r1", "segment": "vip-2"}, {"id": "r2"}], False),
        ([{"id": "r1"}, {"id": "r2", "segment": "vip", "enabled": False}], True),  # disabled still refers
        ([{"id": "r1", "condition": {"segment": "vip"}}], False),  # an attribute called segment
        (["vip", 3, None], False),
    ],
)
def test_rules_name_segment(targeting: Any, named: bool) -> None:
    assert m.rules_name_segment(targeting, "vip") is named


def test_a_json_string_holding_nan_names_the_value() -> None:
    with pytest.raises(InvalidInput) as caught:
        payloads.parse_config_data('{"a": NaN}', "body.configData")
    assert [e.field for e in caught.value.errors] == ["body.configData"]
    assert "not finite" in caught.value.errors[0].message
