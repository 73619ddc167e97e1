"""Feature evaluation beyond the conformance cases: definition errors, rollouts, prerequisites,
and the promise that evaluating a context parses nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotswap.targeting import _definitions
from hotswap.targeting.bucketing import hash_unit
from hotswap.targeting.conditions import ConditionError, compile_condition
from hotswap.targeting.experiments import EvalOptions, compile_experiment
from hotswap.targeting.features import (
    CompiledFeatures,
    FeatureResult,
    RuleError,
    compile_features,
    evaluate_all,
    evaluate_feature,
    run,
)

PLAYERS = [f"player-{i}" for i in range(4000)]


def rollout(coverage: float, **rule: Any) -> CompiledFeatures:
    return compile_features(
        {"shop-v2": {"defaultValue": False, "rules": [{"force": True, "coverage": coverage, **rule}]}}
    )


def served(features: CompiledFeatures, key: str = "shop-v2", **attributes: Any) -> Any:
    return evaluate_feature(features, key, attributes).value


def included(features: CompiledFeatures) -> set[str]:
    return {p for p in PLAYERS if served(features, id=p) is True}


# --- definitions that can't be compiled ----------------------------------------------------


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"a": []}, "features['a']: a feature definition must be an object"),
        ({"a": {"rules": {}}}, "features['a'].rules: must be a list of rules"),
        ({"a": {"rules": [{}, "x"]}}, "features['a'].rules[1]: a rule must be an object"),
    ],
)
def test_a_feature_that_cannot_be_used_is_refused_with_its_path(features: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError) as raised:
        compile_features(features)
    assert str(raised.value) == message


FORCE: dict[str, Any] = {"force": 1}
EXPERIMENT: dict[str, Any] = {"variations": [1, 2]}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({**FORCE, "coverage": 1.5}, "coverage: must be a number from 0 to 1"),
        ({**FORCE, "coverage": True}, "coverage: must be a number from 0 to 1"),
        ({**FORCE, "range": [0.5, 0.2]}, "range: must be [start, end] with 0 <= start <= end <= 1"),
        ({**FORCE, "condition": []}, "condition: a condition must be an object"),
        ({**FORCE, "condition": {"$or": {}}}, "condition: $or takes a list of conditions"),
        ({**FORCE, "hashAttribute": 3}, "hashAttribute: must be a string"),
        ({**FORCE, "hashVersion": "2"}, "hashVersion: must be an integer"),
        ({**FORCE, "filters": [{"seed": "s"}]}, "filters[0].ranges: a filter needs ranges"),
        (
            {**FORCE, "parentConditions": [{"condition": {}}]},
            "parentConditions[0].id: must be the parent feature's key",
        ),
        ({**FORCE, "parentConditions": [{"id": "b", "gate": 1}]}, "parentConditions[0].gate: must be true or false"),
        ({"variations": "ab"}, "variations: must be a non-empty list"),
        ({**EXPERIMENT, "weights": [1]}, "weights: must be 2 non-negative numbers, one per variation"),
        ({**EXPERIMENT, "weights": [0.5, 0.6]}, "weights: must add up to 1"),
        ({**EXPERIMENT, "ranges": [[0, 1]]}, "ranges: needs one range per variation (2)"),
        ({**EXPERIMENT, "ranges": [[0, 0.5], [0.5]]}, "ranges[1]: must be [start, end] with 0 <= start <= end <= 1"),
        ({**EXPERIMENT, "namespace": ["ns", 0]}, "namespace: must be [name, start, end]"),
        ({**EXPERIMENT, "meta": [{"key": 1}]}, "meta[0].key: must be a string"),
    ],
)
def test_a_rule_that_cannot_be_used_is_refused_with_the_path_of_the_field(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError) as raised:
        compile_features({"a": {"rules": [rule]}})
    assert str(raised.value) == f"features['a'].rules[0].{message}"


def test_rule_errors_are_condition_errors_and_value_errors() -> None:
    with pytest.raises(RuleError) as raised:
        compile_features({"a": {"rules": [{"force": 1, "condition": {"$and": 1}}]}})
    assert isinstance(raised.value, ConditionError)
    assert isinstance(raised.value, ValueError)


def test_an_experiment_needs_a_key_outside_a_feature() -> None:
    with pytest.raises(RuleError, match=r"^experiment\.key: an experiment needs a key$"):
        compile_experiment({"variations": [0, 1]})


def test_unknown_fields_and_rule_kinds_we_do_not_run_are_accepted_and_ignored() -> None:
    features = compile_features(
        {
            "a": {
                "defaultValue": 1,
                "futureField": 2,
                "rules": [{"contextualVariations": [0, 1]}, {"force": 3, "foo": 4}],
            }
        }
    )
    assert evaluate_feature(features, "a", {"id": "p"}).value == 3


def test_an_unknown_hash_version_compiles_but_includes_no_one() -> None:
    features = rollout(1.0, hashVersion=3)
    assert included(features) == set()


# --- evaluating parses nothing ---------------------------------------------------------------


def test_conditions_are_compiled_once_not_per_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = compile_condition

    def counting(condition: Any, saved_groups: Any = None) -> Any:
        calls.append(condition)
        return real(condition, saved_groups)

    monkeypatch.setattr(_definitions, "compile_condition", counting)
    features = compile_features(
        {
            "a": {"rules": [{"condition": {"level": {"$gte": 3}}, "force": 1}]},
            "b": {"rules": [{"condition": {"country": "DE"}, "variations": [0, 1]}]},
        }
    )
    assert len(calls) == 2
    for i in range(200):
        evaluate_all(features, {"id": f"p{i}", "level": i % 6, "country": "DE"})
    assert len(calls) == 2


def test_a_force_rule_returns_its_prebuilt_immutable_result() -> None:
    features = compile_features({"a": {"defaultValue": 0, "rules": [{"id": "r1", "force": {"hp": 10}}]}})
    first = evaluate_feature(features, "a", {"id": "p1"})
    assert first is evaluate_feature(features, "a", {"id": "p2"})
    assert (first.value, first.source, first.rule_id, first.on) == ({"hp": 10}, "force", "r1", True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.value = 1  # type: ignore[misc]


# --- rollouts: force rules with coverage -----------------------------------------------------


def test_a_rollout_serves_about_its_coverage_and_nobody_without_an_id() -> None:
    share = len(included(rollout(0.3))) / len(PLAYERS)
    assert 0.27 <= share <= 0.33
    assert served(rollout(1.0)) is False  # no id: nothing to hash, the default is served
    assert served(rollout(1.0), id="") is False
    assert served(rollout(1.0), id=True) is False  # booleans never identify a unit


def test_raising_a_rollout_keeps_everyone_who_was_already_in() -> None:
    at_10, at_30, at_60 = (included(rollout(c)) for c in (0.1, 0.3, 0.6))
    assert at_10 < at_30 < at_60


def test_a_rollout_is_sticky_per_player_and_independent_of_other_attributes() -> None:
    features = rollout(0.5)
    for player in PLAYERS[:300]:
        first = served(features, id=player, level=1, country="DE")
        assert served(rollout(0.5), id=player, level=99, country="BR") is first


def test_the_rollout_seed_defaults_to_the_feature_key_and_changing_it_reshuffles() -> None:
    assert included(rollout(0.5)) == included(rollout(0.5, seed="shop-v2"))
    overlap = len(included(rollout(0.5)) & included(rollout(0.5, seed="other"))) / len(PLAYERS)
    assert 0.2 <= overlap <= 0.3  # independent halves overlap on about a quarter


def test_a_rollout_hashes_its_hash_attribute_including_a_dotted_path() -> None:
    by_device = rollout(0.5, hashAttribute="deviceId")
    nested = rollout(0.5, hashAttribute="device.id")
    for player in PLAYERS[:200]:
        expected = served(by_device, id="same", deviceId=player)
        assert served(nested, id="same", device={"id": player}) is expected


def test_coverage_includes_a_unit_hashing_exactly_onto_it_as_the_reference_sdk_does() -> None:
    unit = next(p for p in PLAYERS if hash_unit("shop-v2", p, 1) == 0.3)
    assert served(rollout(0.3), id=unit) is True  # n <= coverage
    assert served(rollout(0.3, range=[0, 0.3]), id=unit) is False  # a range is half-open


def test_a_rollout_ignores_the_fallback_attribute_without_sticky_bucketing() -> None:
    assert served(rollout(1.0, fallbackAttribute="deviceId"), deviceId="d1") is False


@settings(max_examples=20)
@given(seed=st.text(max_size=8), low=st.floats(0, 1), high=st.floats(0, 1))
def test_a_smaller_rollout_is_always_inside_a_larger_one(seed: str, low: float, high: float) -> None:
    low, high = sorted((low, high))
    small = {p for p in PLAYERS[:500] if served(rollout(low, seed=seed), id=p) is True}
    large = {p for p in PLAYERS[:500] if served(rollout(high, seed=seed), id=p) is True}
    assert small <= large


# --- prerequisites ---------------------------------------------------------------------------


def gated(parent: str, condition: dict[str, Any], gate: bool = True) -> dict[str, Any]:
    return {"parentConditions": [{"id": parent, "condition": condition, "gate": gate}]}


def test_a_cycle_of_three_prerequisites_is_reported_from_every_member() -> None:
    features = compile_features(
        {
            "a": {"defaultValue": 1, "rules": [gated("b", {"value": 1})]},
            "b": {"defaultValue": 1, "rules": [gated("c", {"value": 1})]},
            "c": {"defaultValue": 1, "rules": [gated("a", {"value": 1})]},
        }
    )
    for key in "abc":
        result = evaluate_feature(features, key, {"id": "p"})
        assert (result.value, result.source) == (None, "cyclicPrerequisite")


def test_a_feature_that_is_its_own_prerequisite_is_a_cycle() -> None:
    features = compile_features({"a": {"defaultValue": 1, "rules": [gated("a", {"value": 1}, gate=False)]}})
    assert evaluate_feature(features, "a", {}).source == "cyclicPrerequisite"


def test_a_cycle_behind_a_rule_that_already_decided_is_never_reached() -> None:
    features = compile_features(
        {
            "a": {"rules": [{"condition": {"vip": True}, "force": "vip"}, {**gated("b", {"value": 1}), "force": "x"}]},
            "b": {"defaultValue": 1, "rules": [gated("a", {"value": "vip"})]},
        }
    )
    assert evaluate_feature(features, "a", {"vip": True}).value == "vip"
    assert evaluate_feature(features, "a", {"vip": False}).source == "cyclicPrerequisite"


def test_a_failing_prerequisite_skips_its_rule_unless_it_is_a_gate() -> None:
    features = compile_features(
        {
            "parent": {"defaultValue": "off", "rules": [{"condition": {"beta": True}, "force": "on"}]},
            "soft": {"defaultValue": "d", "rules": [{**gated("parent", {"value": "on"}, gate=False), "force": "new"}]},
            "hard": {"defaultValue": "d", "rules": [gated("parent", {"value": "on"}), {"force": "new"}]},
        }
    )
    assert served(features, "soft", beta=True) == "new"
    assert served(features, "soft", beta=False) == "d"
    assert served(features, "hard", beta=True) == "new"
    blocked = evaluate_feature(features, "hard", {"beta": False})
    assert (blocked.value, blocked.source) == (None, "prerequisite")


def test_an_unknown_prerequisite_has_the_value_null() -> None:
    features = compile_features({"a": {"defaultValue": 0, "rules": [{**gated("ghost", {"value": None}), "force": 1}]}})
    assert served(features, "a") == 1


# --- experiment rules and run ----------------------------------------------------------------


def test_a_forced_variation_overrides_an_experiment_rules_targeting_as_in_the_reference_sdk() -> None:
    features = compile_features(
        {"a": {"defaultValue": "d", "rules": [{"key": "exp", "variations": ["x", "y"], "condition": {"vip": True}}]}}
    )
    assert served(features, "a", id="p", vip=False) == "d"
    qa = EvalOptions(forced_variations={"exp": 1})
    result = evaluate_feature(features, "a", {"id": "p", "vip": False}, qa)
    assert (result.value, result.source) == ("y", "experiment")
    assert result.experiment_result is not None
    assert result.experiment_result.hash_used is False


def test_qa_mode_and_disabled_experiments_serve_the_default() -> None:
    features = compile_features({"a": {"defaultValue": "d", "rules": [{"variations": ["x", "y"]}]}})
    assert served(features, "a", id="p") in ("x", "y")
    assert evaluate_feature(features, "a", {"id": "p"}, EvalOptions(qa_mode=True)).value == "d"
    assert evaluate_feature(features, "a", {"id": "p"}, EvalOptions(enabled=False)).value == "d"


def test_experiment_results_report_in_growthbooks_shape() -> None:
    features = compile_features(
        {"a": {"rules": [{"id": "r", "key": "exp", "variations": [1, 2], "meta": [{"key": "ctl", "name": "Control"}]}]}}
    )
    unit = next(p for p in PLAYERS if hash_unit("exp", p, 1) < 0.5)  # type: ignore[operator]
    result = evaluate_feature(features, "a", {"id": unit}).to_dict()
    assert result["experiment"] == {"key": "exp", "variations": [1, 2], "meta": [{"key": "ctl", "name": "Control"}]}
    assert result["experimentResult"] == {
        "featureId": "a",
        "inExperiment": True,
        "variationId": 0,
        "value": 1,
        "hashUsed": True,
        "hashAttribute": "id",
        "hashValue": unit,
        "key": "ctl",
        "name": "Control",
        "bucket": hash_unit("exp", unit, 1),
        "stickyBucketUsed": False,
    }
    assert (result["value"], result["on"], result["source"], result["ruleId"]) == (1, True, "experiment", "r")


def test_run_compiles_a_definition_and_checks_its_prerequisites_against_features() -> None:
    features = compile_features({"gate": {"defaultValue": True}})
    definition = {
        "key": "exp",
        "variations": [0, 1],
        "parentConditions": [{"id": "gate", "condition": {"value": True}}],
    }
    assert run(definition, {"id": "p1"}, features=features).in_experiment is True
    assert run(definition, {"id": "p1"}).in_experiment is False  # no features: the parent is unknown


def test_evaluate_all_gives_every_feature_and_unknown_keys_say_so() -> None:
    features = compile_features({"a": {"defaultValue": 1}, "b": {"rules": [{"force": 2}]}})
    assert {k: r.value for k, r in evaluate_all(features, {}).items()} == {"a": 1, "b": 2}
    assert list(features) == ["a", "b"]
    assert "a" in features
    assert len(features) == 2
    assert evaluate_feature(features, "c", {}) == FeatureResult(None, "unknownFeature")
