"""GrowthBook's public conformance cases, vendored in data/growthbook-cases.json (MIT; see data/README.md).

The file is read as it is, never copied into the code. Cases we skip are listed in SKIPPED with the
reason; pytest's summary line counts them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hotswap.targeting.bucketing import bucket_ranges, choose_variation, equal_weights, hash_unit, in_namespace
from hotswap.targeting.conditions import compile_condition
from hotswap.targeting.experiments import EvalOptions, compile_experiment
from hotswap.targeting.features import compile_features, evaluate_feature, run

CASES_FILE = Path(__file__).resolve().parent / "data" / "growthbook-cases.json"
CASES: dict[str, Any] = json.loads(CASES_FILE.read_text())

# (section, case name) -> why we don't run it.
_BANDIT = "contextual bandits (contextualVariations/contextualBanditRef): not a HotSwap rule type"
_QUERY_STRING = "query-string overrides from the page URL: browser-only, HotSwap has no URL context"
SKIPPED: dict[tuple[str, str], str] = {
    ("feature", "CB rule with empty contexts (explore) buckets on marginal weights with fallback leaf -1"): _BANDIT,
    ("feature", "CB rule with no contexts key falls back to marginal weights (fallback leaf -1)"): _BANDIT,
    ("feature", "CB rule with empty contexts uses marginal weights (fallback leaf -1)"): _BANDIT,
    ("feature", "CB rule with empty contexts is overridden by forced variation like a normal experiment"): _BANDIT,
    ("run", "querystring force"): _QUERY_STRING,
    ("run", "querystring force with inactive"): _QUERY_STRING,
}


def _cases(section: str, name_index: int | None = 0) -> list[Any]:
    params = []
    for i, case in enumerate(CASES[section]):
        name = case[name_index] if name_index is not None else f"{section}[{i}]"
        marks = [pytest.mark.skip(reason=SKIPPED[(section, name)])] if (section, name) in SKIPPED else []
        params.append(pytest.param(case, id=f"{i}:{name}"[:80], marks=marks))
    return params


def test_the_cases_file_is_the_one_documented() -> None:
    assert CASES["specVersion"] == "0.8.0"
    assert len(CASES["evalCondition"]) == 248
    assert (len(CASES["feature"]), len(CASES["run"])) == (55, 73)


@pytest.mark.parametrize("case", _cases("evalCondition"))
def test_eval_condition(case: list[Any]) -> None:
    _name, condition, attributes, expected, *rest = case
    saved_groups = rest[0] if rest else None
    assert compile_condition(condition, saved_groups)(attributes) is expected


@pytest.mark.parametrize("case", _cases("hash", None))
def test_hash(case: list[Any]) -> None:
    seed, value, version, expected = case
    result = hash_unit(seed, value, version)
    assert result == expected if expected is None else result == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("case", _cases("getBucketRange"))
def test_get_bucket_range(case: list[Any]) -> None:
    _name, (n, coverage, weights), expected = case
    ranges = bucket_ranges(n, coverage, weights)
    assert len(ranges) == len(expected)
    for got, want in zip(ranges, expected, strict=True):
        assert got == pytest.approx(tuple(want), abs=1e-8)


@pytest.mark.parametrize("case", _cases("chooseVariation"))
def test_choose_variation(case: list[Any]) -> None:
    _name, n, ranges, expected = case
    assert choose_variation(n, ranges) == expected


@pytest.mark.parametrize("case", _cases("inNamespace"))
def test_in_namespace(case: list[Any]) -> None:
    _name, unit_id, (namespace, start, end), expected = case
    assert in_namespace(unit_id, (namespace, start, end)) is expected


@pytest.mark.parametrize("case", _cases("getEqualWeights", None))
def test_get_equal_weights(case: list[Any]) -> None:
    n, expected = case
    assert equal_weights(n) == pytest.approx(expected, abs=1e-8)


def _options(context: dict[str, Any]) -> EvalOptions:
    return EvalOptions(
        forced_variations=context.get("forcedVariations", {}),
        qa_mode=context.get("qaMode", False),
        enabled=context.get("enabled", True),
    )


@pytest.mark.parametrize("case", _cases("feature"))
def test_feature(case: list[Any]) -> None:
    _name, context, key, expected = case
    features = compile_features(context.get("features", {}), context.get("savedGroups"))
    result = evaluate_feature(features, key, context.get("attributes", {}), _options(context))
    assert result.to_dict() == expected


@pytest.mark.parametrize("case", _cases("run"))
def test_run(case: list[Any]) -> None:
    _name, context, definition, value, in_experiment, hash_used = case
    saved_groups = context.get("savedGroups")
    features = compile_features(context.get("features", {}), saved_groups)
    result = run(
        compile_experiment(definition, saved_groups), context.get("attributes", {}), _options(context), features
    )
    assert (result.value, result.in_experiment, result.hash_used) == (value, in_experiment, hash_used)
