"""Feature evaluation with GrowthBook's semantics, over features compiled once per snapshot.

    compiled = compile_features({"shop-v2": {"defaultValue": False, "rules": [
        {"condition": {"country": {"$in": ["DE", "FR"]}}, "force": True, "coverage": 0.3}]}})
    evaluate_feature(compiled, "shop-v2", {"id": "p42", "country": "DE"}).value

`compile_features` checks every definition (a bad one is a `RuleError` naming the field) and
turns each rule into plain callables and prebuilt results: conditions compiled, bucket ranges,
seeds and hash versions fixed, force results built. Evaluating a context then parses nothing
and, for force rules and defaults, allocates nothing: a rule is a tuple, a hit returns its
prebuilt (immutable) `FeatureResult`. Results share the definition's values, so don't mutate
them.

Rules run in order (the JavaScript reference SDK's `evalFeature`): prerequisites
(`parentConditions`, other features' values, with cycle detection), `filters`, then a force
rule's condition and rollout (`coverage` or `range`, hashing `hashAttribute` with `seed` or the
feature key), or an experiment rule's assignment (see `experiments`). Pure; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from hotswap.targeting import jsvalues as js
from hotswap.targeting._definitions import (
    Filter,
    Parent,
    RuleError,
    attribute_getter,
    compile_filters,
    compile_parents,
    compile_rule_condition,
    fail,
    filtered_out,
    hash_string,
    opt_int,
    opt_number,
    opt_str,
    range_value,
)
from hotswap.targeting.bucketing import hash_unit
from hotswap.targeting.conditions import Attributes, Predicate, SavedGroups
from hotswap.targeting.experiments import (
    DEFAULT_OPTIONS,
    EvalOptions,
    Experiment,
    ExperimentResult,
    assign,
    compile_experiment,
)

__all__ = [
    "CompiledFeatures",
    "EvalOptions",
    "Experiment",
    "ExperimentResult",
    "FeatureResult",
    "RuleError",
    "compile_experiment",
    "compile_features",
    "evaluate_all",
    "evaluate_feature",
    "run",
]

Source: TypeAlias = Literal[
    "unknownFeature", "defaultValue", "force", "experiment", "prerequisite", "cyclicPrerequisite"
]


@dataclass(frozen=True, slots=True)
class FeatureResult:
    """GrowthBook's FeatureResult: the value, where it came from, and for an experiment rule
    the experiment and the unit's assignment."""

    value: Any
    source: Source
    rule_id: str = ""
    experiment: Experiment | None = None
    experiment_result: ExperimentResult | None = None

    @property
    def on(self) -> bool:
        return js.truthy(self.value)

    @property
    def off(self) -> bool:
        return not js.truthy(self.value)

    def to_dict(self) -> dict[str, Any]:
        """GrowthBook's JSON shape (camelCase)."""
        out: dict[str, Any] = {
            "value": self.value,
            "on": self.on,
            "off": self.off,
            "source": self.source,
            "ruleId": self.rule_id,
        }
        if self.experiment is not None:
            out["experiment"] = self.experiment.to_dict()
        if self.experiment_result is not None:
            out["experimentResult"] = self.experiment_result.to_dict()
        return out


# A compiled rule, a tuple because the evaluation loop unpacks it: prerequisites, filters,
# a force rule's condition, rollout and prebuilt result, or an experiment; and the rule's id.
_Rule: TypeAlias = tuple[
    tuple[Parent, ...] | None,
    tuple[Filter, ...] | None,
    Predicate | None,
    Predicate | None,
    FeatureResult | None,
    Experiment | None,
    str,
]


@dataclass(frozen=True, slots=True)
class _Feature:
    default: FeatureResult
    rules: tuple[_Rule, ...]


class CompiledFeatures:
    """Features compiled by `compile_features`, evaluated with `evaluate_feature` and
    `evaluate_all`. Iterating gives the feature keys."""

    __slots__ = ("_features", "saved_groups")

    def __init__(self, features: dict[str, _Feature], saved_groups: SavedGroups | None = None) -> None:
        self._features = features
        self.saved_groups = saved_groups

    def __contains__(self, key: object) -> bool:
        return key in self._features

    def __iter__(self) -> Iterator[str]:
        return iter(self._features)

    def __len__(self) -> int:
        return len(self._features)


_UNKNOWN = FeatureResult(None, "unknownFeature")
_BLOCKED = FeatureResult(None, "prerequisite")
_CYCLIC = FeatureResult(None, "cyclicPrerequisite")
_PASS = FeatureResult(None, "prerequisite")  # sentinels for _check_parents, never returned
_FAIL = FeatureResult(None, "prerequisite")
_NO_PATH: frozenset[str] = frozenset()
_NO_FEATURES = CompiledFeatures({})


def compile_features(features: Mapping[str, Any], saved_groups: SavedGroups | None = None) -> CompiledFeatures:
    """Compile feature definitions `{key: {defaultValue, rules: [...]}}` once; `saved_groups`
    resolves `$inGroup` conditions. Raises `RuleError` for a definition that can't be used."""
    if not isinstance(features, Mapping):
        raise RuleError("features: must be an object of feature definitions")
    compiled = {}
    for key, definition in features.items():
        path = f"features[{key!r}]"
        if not isinstance(key, str) or not key:
            fail(path, "a feature key must be a non-empty string")
        compiled[key] = _compile_feature(key, definition, path, saved_groups)
    return CompiledFeatures(compiled, saved_groups)


def evaluate_feature(
    features: CompiledFeatures, key: str, attributes: Attributes, options: EvalOptions = DEFAULT_OPTIONS
) -> FeatureResult:
    """Evaluate one feature for a context's attributes (a dict). Unknown keys give a result
    with source `unknownFeature` and value None."""
    return _evaluate(features, key, attributes, options, _NO_PATH)


def evaluate_all(
    features: CompiledFeatures, attributes: Attributes, options: EvalOptions = DEFAULT_OPTIONS
) -> dict[str, FeatureResult]:
    """Every feature for one context, e.g. to serve a player's whole snapshot."""
    return {key: _evaluate(features, key, attributes, options, _NO_PATH) for key in features._features}


def run(
    experiment: Experiment | Mapping[str, Any],
    attributes: Attributes,
    options: EvalOptions = DEFAULT_OPTIONS,
    features: CompiledFeatures | None = None,
) -> ExperimentResult:
    """Assign a unit to an experiment outside any feature. `features` are the ones its
    `parentConditions` refer to. A definition (not yet compiled) is compiled here, with the
    features' saved groups: compile it once with `compile_experiment` on hot paths."""
    known = features if features is not None else _NO_FEATURES
    if not isinstance(experiment, Experiment):
        experiment = compile_experiment(experiment, known.saved_groups)

    def prerequisites(parents: tuple[Parent, ...]) -> bool:
        return _check_parents(known, parents, attributes, options, _NO_PATH) is _PASS

    return assign(experiment, attributes, options, None, prerequisites)


def _evaluate(
    features: CompiledFeatures, key: str, attributes: Attributes, options: EvalOptions, path: frozenset[str]
) -> FeatureResult:
    feature = features._features.get(key)
    if feature is None:
        return _UNKNOWN
    inner = None
    for parents, filters, condition, rollout, forced, experiment, rule_id in feature.rules:
        if parents is not None:
            if inner is None:
                inner = path | {key}
            verdict = _check_parents(features, parents, attributes, options, inner)
            if verdict is _FAIL:
                continue
            if verdict is not _PASS:
                return verdict
        if filters is not None and filtered_out(filters, attributes):
            continue
        if forced is not None:
            if condition is not None and not condition(attributes):
                continue
            if rollout is not None and not rollout(attributes):
                continue
            return forced
        if experiment is None:
            continue
        result = assign(experiment, attributes, options, key)
        if result.in_experiment and not result.passthrough:
            return FeatureResult(result.value, "experiment", rule_id, experiment, result)
    return feature.default


def _check_parents(
    features: CompiledFeatures,
    parents: tuple[Parent, ...],
    attributes: Attributes,
    options: EvalOptions,
    path: frozenset[str],
) -> FeatureResult:
    """_PASS, _FAIL (skip the rule), or the result the feature ends with (blocked by a gate,
    or a cycle). `path` holds the features being evaluated above this one."""
    for parent_id, test, gate in parents:
        if parent_id in path:
            return _CYCLIC
        parent = _evaluate(features, parent_id, attributes, options, path)
        if parent.source == "cyclicPrerequisite":
            return _CYCLIC
        if not test({"value": parent.value}):
            return _BLOCKED if gate else _FAIL
    return _PASS


# --- compiling ------------------------------------------------------------------------------


def _compile_feature(key: str, definition: Any, path: str, saved_groups: SavedGroups | None) -> _Feature:
    if not isinstance(definition, dict):
        fail(path, "a feature definition must be an object")
    rules = definition.get("rules")
    if rules is None:
        rules = []
    if not isinstance(rules, list):
        fail(f"{path}.rules", "must be a list of rules")
    compiled = []
    for i, rule in enumerate(rules):
        one = _compile_rule(key, rule, f"{path}.rules[{i}]", saved_groups)
        if one is not None:
            compiled.append(one)
    return _Feature(FeatureResult(definition.get("defaultValue"), "defaultValue"), tuple(compiled))


def _compile_rule(key: str, rule: Any, path: str, saved_groups: SavedGroups | None) -> _Rule | None:
    if not isinstance(rule, dict):
        fail(path, "a rule must be an object")
    rule_id = opt_str(rule, "id", path) or ""
    parents = compile_parents(rule.get("parentConditions"), f"{path}.parentConditions", saved_groups)
    filters = compile_filters(rule.get("filters"), f"{path}.filters") or None
    if "force" in rule:
        if rule.get("tracks") is not None and not isinstance(rule["tracks"], list):
            fail(f"{path}.tracks", "must be a list")  # carried for GrowthBook payloads; we fire no callbacks
        condition = compile_rule_condition(rule.get("condition"), f"{path}.condition", saved_groups)
        forced = FeatureResult(rule["force"], "force", rule_id)
        return (parents, filters, condition, _rollout(key, rule, path), forced, None, rule_id)
    if rule.get("variations") is None:
        # Neither a force nor an experiment rule (empty, or a kind we don't run, such as a
        # contextual bandit): skipped, as the reference SDK does, once its prerequisites pass.
        return None if parents is None else (parents, None, None, None, None, None, rule_id)
    experiment = compile_experiment(
        {k: rule[k] for k in _EXPERIMENT_FIELDS if k in rule},
        saved_groups,
        path=path,
        default_key=key,
        report=_reported_experiment(key, rule),
    )
    return (parents, filters, None, None, None, experiment, rule_id)


_EXPERIMENT_FIELDS = (
    "key", "variations", "weights", "coverage", "ranges", "hashAttribute", "fallbackAttribute", "hashVersion",
    "seed", "namespace", "filters", "condition", "meta", "name", "phase",
)  # fmt: skip


_REPORTED_IF_TRUTHY = (
    "weights", "hashAttribute", "fallbackAttribute", "disableStickyBucketing", "namespace", "meta", "ranges",
    "name", "phase", "seed", "hashVersion", "filters", "condition",
)  # fmt: skip


def _reported_experiment(key: str, rule: dict[str, Any]) -> dict[str, Any]:
    """The experiment a rule stands for, with the fields the reference SDK copies from it."""
    out: dict[str, Any] = {"variations": rule["variations"], "key": rule.get("key") or key}
    if "coverage" in rule:
        out["coverage"] = rule["coverage"]
    for field in ("bucketVersion", "minBucketVersion"):
        if rule.get(field) is not None:
            out[field] = rule[field]
    for field in _REPORTED_IF_TRUTHY:
        if js.truthy(rule.get(field)):
            out[field] = rule[field]
    return out


def _rollout(key: str, rule: dict[str, Any], path: str) -> Predicate | None:
    """Whether a unit is inside a force rule's rollout: `range` (half-open) if given, else
    `coverage` (which, as in the reference SDK, includes a unit hashing exactly onto it)."""
    coverage = opt_number(rule, "coverage", path, 0, 1)
    in_range = range_value(rule["range"], f"{path}.range") if rule.get("range") is not None else None
    version = opt_int(rule, "hashVersion", path) or 1
    seed = opt_str(rule, "seed", path) or key
    attribute = opt_str(rule, "hashAttribute", path) or "id"
    opt_str(rule, "fallbackAttribute", path)  # used by GrowthBook only with sticky bucketing
    if in_range is None:
        if coverage is None:
            return None
        if coverage == 0:
            return _never
        # n <= coverage, as a half-open range: the next float above coverage is its end.
        in_range = (0.0, math.nextafter(coverage, math.inf))
    if hash_unit("", "x", version) is None:
        return _never  # a hash version this engine doesn't know includes no one (as in the SDK)
    start, end = in_range
    # A plain name (the usual case) is read directly: this runs for every unit a rollout sees.
    get = attribute_getter(attribute) if "." in attribute else None

    def included(attributes: Attributes) -> bool:
        raw = attributes.get(attribute) if get is None else get(attributes)
        unit = raw if raw.__class__ is str else hash_string(raw)
        if not unit:
            return False
        n = hash_unit(seed, unit, version)
        return n is not None and start <= n < end

    return included


def _never(_: Any) -> bool:
    return False
