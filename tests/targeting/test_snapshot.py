"""The pure snapshot evaluator: precedence, rollouts, time windows, and JSON equal to the dict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.core.errors import InvalidInput
from hotswap.targeting.snapshot import Context, compile_snapshot, deep_merge

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def document(configs: dict[str, Any], *, rollouts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "environment": "Production",
        "revision": 7,
        "configs": configs,
        "segments": {
            "vip": {"name": "VIP", "condition": {"totalSpend": {"$gte": 100}}},
            "new-players": {"name": "New", "condition": {"daysSinceInstall": {"$lt": 7}}},
        },
        "rollouts": rollouts or [],
        "events": [],
    }


def config(value: dict[str, Any], rules: list[dict[str, Any]] | None = None, version: str = "1.0.0") -> dict[str, Any]:
    return {"version": version, "versionId": "ver_1", "type": "GameBalance", "value": value, "rules": rules or []}


def served(doc: dict[str, Any], context: Context, at: datetime = NOW) -> dict[str, Any]:
    result: dict[str, Any] = compile_snapshot(doc).evaluate(context, at)["configs"]
    return result


def test_without_rules_everyone_gets_the_live_value() -> None:
    out = served(document({"balance": config({"hp": 100})}), Context(player_id="p1"))
    assert out == {"balance": {"value": {"hp": 100}, "version": "1.0.0", "reason": "default"}}


def test_the_first_applying_rule_wins() -> None:
    rules = [
        {"id": "vip", "segment": "vip", "override": {"hp": 150}},
        {"id": "eu", "condition": {"region": "eu"}, "override": {"hp": 120}},
    ]
    doc = document({"balance": config({"hp": 100, "mp": 5}, rules)})
    vip_in_eu = served(doc, Context(player_id="p", region="eu", attributes={"totalSpend": 500}))["balance"]
    assert vip_in_eu == {
        "value": {"hp": 150, "mp": 5},
        "version": "1.0.0",
        "reason": "segment",
        "ruleId": "vip",
        "segment": "vip",
    }
    eu = served(doc, Context(player_id="p", region="eu", attributes={"totalSpend": 5}))["balance"]
    assert eu["ruleId"] == "eu"
    assert eu["reason"] == "rule"
    assert eu["value"] == {"hp": 120, "mp": 5}


def test_a_value_rule_replaces_the_whole_document() -> None:
    doc = document({"balance": config({"hp": 100, "mp": 5}, [{"id": "all", "value": {"hp": 1}}])})
    assert served(doc, Context(player_id="p"))["balance"]["value"] == {"hp": 1}


def test_context_fields_override_attributes_of_the_same_name() -> None:
    doc = document({"b": config({"x": 0}, [{"id": "eu", "condition": {"region": "eu"}, "override": {"x": 1}}])})
    context = Context(player_id="p", region="eu", attributes={"region": "na"})
    assert served(doc, context)["b"]["ruleId"] == "eu"


def test_disabled_rules_and_missing_segments_never_apply() -> None:
    rules: list[dict[str, Any]] = [
        {"id": "off", "override": {"x": 1}, "enabled": False},
        {"id": "ghost", "segment": "deleted-segment", "override": {"x": 2}},
    ]
    doc = document({"b": config({"x": 0}, rules)})
    assert served(doc, Context(player_id="p"))["b"]["reason"] == "default"


def test_time_windows_use_the_instant_asked_about() -> None:
    start = NOW + timedelta(days=1)
    rule: dict[str, Any] = {
        "id": "weekend",
        "override": {"x": 1},
        "activeFrom": start.isoformat(),
        "activeUntil": (start + timedelta(days=2)).isoformat(),
    }
    doc = document({"b": config({"x": 0}, [rule])})
    context = Context(player_id="p")
    assert served(doc, context, NOW)["b"]["reason"] == "default"
    assert served(doc, context, start)["b"]["ruleId"] == "weekend"
    assert served(doc, context, start + timedelta(days=2))["b"]["reason"] == "default"


def test_a_rollout_rule_without_a_unit_id_never_applies() -> None:
    doc = document({"b": config({"x": 0}, [{"id": "r", "rollout": {"percentage": 100}, "override": {"x": 1}}])})
    assert served(doc, Context(server_id="s1"))["b"]["reason"] == "default"
    assert served(doc, Context(player_id="p"))["b"]["ruleId"] == "r"


def test_a_rollout_can_hash_another_attribute() -> None:
    rule = {"id": "r", "rollout": {"percentage": 100, "hashAttribute": "serverId"}, "override": {"x": 1}}
    doc = document({"b": config({"x": 0}, [rule])})
    assert served(doc, Context(server_id="s1"))["b"]["ruleId"] == "r"


ROLLOUT = {
    "id": "dep_1",
    "config": "balance",
    "version": "2.0.0",
    "versionId": "ver_2",
    "value": {"hp": 200, "mp": 9},
    "percentage": 30,
    "hashAttribute": "playerId",
    "seed": "dep_1",
    "step": 1,
}


def test_the_rollout_hook_splits_units_into_canary_and_baseline() -> None:
    doc = document({"balance": config({"hp": 100, "mp": 5})}, rollouts=[ROLLOUT])
    compiled = compile_snapshot(doc)
    arms = {"canary": 0, "baseline": 0}
    for i in range(2000):
        result = compiled.evaluate(Context(player_id=f"p{i}"), NOW)["configs"]["balance"]
        arm = result["rollout"]["arm"]
        arms[arm] += 1
        if arm == "canary":
            assert result["reason"] == "rollout"
            assert result["version"] == "2.0.0"
            assert result["value"] == {"hp": 200, "mp": 9}
        else:
            assert result["reason"] == "default"
            assert result["version"] == "1.0.0"
    assert 500 <= arms["canary"] <= 700  # 30% of 2000, with room for chance


def test_rules_apply_over_the_rollout_version_for_canary_units() -> None:
    rules = [{"id": "all", "override": {"hp": 1}}]
    doc = document({"balance": config({"hp": 100, "mp": 5}, rules)}, rollouts=[{**ROLLOUT, "percentage": 100}])
    result = served(doc, Context(player_id="p1"))["balance"]
    assert result["value"] == {"hp": 1, "mp": 9}
    assert result["version"] == "2.0.0"
    assert result["reason"] == "rule"
    assert result["rollout"]["arm"] == "canary"


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30, unique=True))
def test_raising_a_deployment_rollout_keeps_every_unit_in(ids: list[str]) -> None:
    def canaries(percentage: int) -> set[str]:
        doc = document({"balance": config({"hp": 100})}, rollouts=[{**ROLLOUT, "percentage": percentage}])
        compiled = compile_snapshot(doc)
        return {
            i
            for i in ids
            if compiled.evaluate(Context(player_id=i), NOW)["configs"]["balance"]["rollout"]["arm"] == "canary"
        }

    assert canaries(10) <= canaries(30) <= canaries(50) <= canaries(100)
    assert canaries(100) == set(ids)
    assert canaries(0) == set()


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "region": st.sampled_from(["eu", "na"]),
            "platform": st.sampled_from(["ios", "pc"]),
            "level": st.integers(0, 100),
            "totalSpend": st.floats(0, 1000, allow_nan=False),
        },
    ),
    st.text(min_size=1, max_size=20),
)
def test_the_json_answer_equals_the_dict_answer(attributes: dict[str, Any], player: str) -> None:
    rules = [
        {"id": "vip", "segment": "vip", "override": {"loot": {"gold": 2}}},
        {"id": "hi", "condition": {"level": {"$gte": 50}}, "rollout": {"percentage": 40}, "value": {"hp": 7}},
    ]
    doc = document(
        {"a": config({"hp": 1, "loot": {"gold": 1, "gems": 0}}, rules), "b": config({"on": True})}, rollouts=[ROLLOUT]
    )
    compiled = compile_snapshot(doc)
    context = Context(player_id=player, attributes=attributes)
    answer = compiled.evaluate(context, NOW)
    assert orjson.loads(compiled.evaluate_json(context, NOW)) == answer
    # One config at a time (the SDK's reads) gives each config's part of the whole answer.
    for name in ("a", "b", "balance", "missing"):
        assert compile_snapshot(doc).evaluate_config(name, context, NOW) == answer["configs"].get(name)


@given(st.lists(st.tuples(st.text(min_size=1, max_size=6), st.none() | st.text(min_size=1, max_size=6)), max_size=20))
def test_cuts_over_different_attributes_are_remembered_apart(units: list[tuple[str, str | None]]) -> None:
    """Rollout cuts hash their own attribute: a server id equal to some player id must not take
    that player's remembered cuts, and one compiled snapshot answers every context as a fresh one."""
    rules = [{"id": "srv", "rollout": {"percentage": 50, "hashAttribute": "serverId"}, "value": {"hp": 5}}]
    doc = document({"balance": config({"hp": 100}, rules), "other": config({"x": 1})}, rollouts=[ROLLOUT])
    shared = compile_snapshot(doc)
    for player, server in units:
        for context in (Context(player_id=player, server_id=server), Context(player_id=server or player)):
            fresh = compile_snapshot(doc)
            assert orjson.loads(shared.evaluate_json(context, NOW)) == fresh.evaluate(context, NOW)
            assert shared.evaluate(context, NOW) == orjson.loads(compile_snapshot(doc).evaluate_json(context, NOW))


def test_the_document_and_etag_are_fixed_by_the_revision() -> None:
    doc = document({"b": config({"x": 0})})
    one, two = compile_snapshot(doc), compile_snapshot(dict(reversed(list(doc.items()))))
    assert one.etag == two.etag == '"Production-7"'
    assert one.body == two.body  # sorted keys: every replica sends the same bytes for a revision


def test_a_document_with_an_invalid_rule_does_not_compile() -> None:
    doc = document({"b": config({"x": 0}, [{"id": "r", "override": {}, "condition": {"$or": 1}}])})
    with pytest.raises(InvalidInput):
        compile_snapshot(doc)


def test_deep_merge_merges_objects_and_replaces_everything_else() -> None:
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "e": None}) == {
        "a": {"b": 1, "c": [2]},
        "d": 1,
        "e": None,
    }


@pytest.mark.parametrize(
    "order",
    [[1, True, 1.0, None, "missing", "1"], ["missing", None, "1", 1.0, True, 1]],
)
def test_remembered_answers_tell_equal_values_of_other_types_apart(order: list[Any]) -> None:
    rules = [
        {"id": "number", "condition": {"x": {"$type": "number"}}, "override": {"kind": "number"}},
        {"id": "boolean", "condition": {"x": {"$type": "boolean"}}, "override": {"kind": "boolean"}},
        {"id": "null", "condition": {"x": {"$type": "null"}}, "override": {"kind": "null"}},
        {"id": "string", "condition": {"x": {"$type": "string"}}, "override": {"kind": "string"}},
    ]
    doc = document({"c": config({"kind": "missing"}, rules)})
    compiled = compile_snapshot(doc)
    seen = set()
    for value in order:  # the same snapshot, so later answers may come from memory
        context = Context(player_id="p", attributes={} if value == "missing" else {"x": value})
        answer = orjson.loads(compiled.evaluate_json(context, NOW))["configs"]["c"]["value"]["kind"]
        fresh = orjson.loads(compile_snapshot(doc).evaluate_json(context, NOW))["configs"]["c"]["value"]["kind"]
        assert answer == fresh, value
        seen.add(answer)
    assert {"number", "boolean", "string"} <= seen


def test_object_attributes_are_evaluated_without_being_remembered() -> None:
    rules = [{"id": "deep", "condition": {"profile.tier": "gold"}, "override": {"x": 1}}]
    compiled = compile_snapshot(document({"c": config({"x": 0}, rules)}))
    for tier, x in (("gold", 1), ("silver", 0), ("gold", 1)):
        context = Context(player_id="p", attributes={"profile": {"tier": tier}})
        assert orjson.loads(compiled.evaluate_json(context, NOW))["configs"]["c"]["value"] == {"x": x}
