"""Experiments: GrowthBook's `runExperiment`, over definitions compiled once.

`compile_experiment(definition)` checks an experiment definition and decides everything that
does not depend on the player (bucket ranges, seed, hash version, per-variation keys, the
condition), so `assign` only hashes and compares. Semantics follow the JavaScript reference
SDK (`packages/sdk-js/src/core.ts`), checked by tests/targeting/test_conformance.py. Left out
because HotSwap doesn't use them: URL targeting and query-string overrides, sticky bucketing
(so `fallbackAttribute` is carried but never hashed, as in the SDK without a sticky-bucket
service), experiment overrides, tracking callbacks. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from hotswap.targeting._definitions import (
    Filter,
    Getter,
    Parent,
    Range,
    RuleError,
    as_object,
    attribute_getter,
    check_weights,
    compile_filters,
    compile_parents,
    compile_rule_condition,
    fail,
    filtered_out,
    hash_string,
    is_int,
    namespace_value,
    opt_int,
    opt_number,
    opt_ranges,
    opt_str,
    variation_meta,
)
from hotswap.targeting.bucketing import bucket_ranges, choose_variation, hash_unit, in_namespace
from hotswap.targeting.conditions import Attributes, Predicate, SavedGroups

__all__ = [
    "DEFAULT_OPTIONS",
    "EvalOptions",
    "Experiment",
    "ExperimentResult",
    "RuleError",
    "assign",
    "compile_experiment",
]


@dataclass(frozen=True, slots=True)
class EvalOptions:
    """Per-request switches: variations forced by experiment key (QA, support tools), QA mode
    (no one is bucketed unless forced) and a global off switch for experiments."""

    forced_variations: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    qa_mode: bool = False
    enabled: bool = True


DEFAULT_OPTIONS = EvalOptions()


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    """Which variation a unit got, GrowthBook's `Result`. `hash_value` is the attribute's own
    value ("" when it can't identify a unit); `bucket` is set only when the unit was hashed."""

    in_experiment: bool
    variation_id: int
    value: Any
    hash_used: bool
    hash_attribute: str
    hash_value: Any
    key: str
    feature_id: str | None = None
    name: str = ""
    bucket: float | None = None
    passthrough: bool = False
    sticky_bucket_used: bool = False

    def to_dict(self) -> dict[str, Any]:
        """GrowthBook's JSON shape (camelCase; `name`, `bucket`, `passthrough` only when set)."""
        out: dict[str, Any] = {
            "featureId": self.feature_id,
            "inExperiment": self.in_experiment,
            "variationId": self.variation_id,
            "value": self.value,
            "hashUsed": self.hash_used,
            "hashAttribute": self.hash_attribute,
            "hashValue": self.hash_value,
            "key": self.key,
            "stickyBucketUsed": self.sticky_bucket_used,
        }
        if self.name:
            out["name"] = self.name
        if self.bucket is not None:
            out["bucket"] = self.bucket
        if self.passthrough:
            out["passthrough"] = True
        return out


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Experiment:
    """A compiled experiment. `to_dict()` gives the definition it was compiled from, in the shape
    GrowthBook reports it (for a feature rule: the rule's experiment fields only)."""

    key: str
    variations: tuple[Any, ...]
    get_hash: Getter
    hash_attribute: str
    seed: str
    hash_version: int
    ranges: tuple[Range, ...]
    filters: tuple[Filter, ...]
    namespace: tuple[str, float, float] | None
    condition: Predicate | None
    parents: tuple[Parent, ...]
    force: int | None
    active: bool
    stopped: bool
    meta: tuple[tuple[str, str, bool], ...]  # per variation: key, name, passthrough
    definition: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.definition)

    def __repr__(self) -> str:
        return f"Experiment({self.key!r}, {len(self.variations)} variations)"


def compile_experiment(
    definition: Any,
    saved_groups: SavedGroups | None = None,
    *,
    path: str = "experiment",
    default_key: str | None = None,
    report: dict[str, Any] | None = None,
) -> Experiment:
    """Compile an experiment definition ({key, variations, weights, coverage, ...}). A feature's
    experiment rule passes the feature key as `default_key` and the fields to `report`."""
    d = as_object(definition, path)
    key = opt_str(d, "key", path) or default_key
    if key is None:
        fail(f"{path}.key", "an experiment needs a key")
    variations = d.get("variations")
    if not isinstance(variations, list) or not variations:
        fail(f"{path}.variations", "must be a non-empty list")
    n = len(variations)
    coverage = opt_number(d, "coverage", path, 0, 1)
    weights = check_weights(d.get("weights"), n, f"{path}.weights")
    ranges = opt_ranges(d, "ranges", path)
    if ranges is not None and len(ranges) != n:
        fail(f"{path}.ranges", f"needs one range per variation ({n})")
    hash_attribute = opt_str(d, "hashAttribute", path) or "id"
    opt_str(d, "fallbackAttribute", path)
    force = d.get("force")
    if force is not None and not is_int(force):
        fail(f"{path}.force", "must be a variation index")
    status = opt_str(d, "status", path)
    active = d.get("active", True)
    if not isinstance(active, bool):
        fail(f"{path}.active", "must be true or false")
    parents = compile_parents(d.get("parentConditions"), f"{path}.parentConditions", saved_groups)
    return Experiment(
        key=key,
        variations=tuple(variations),
        get_hash=attribute_getter(hash_attribute),
        hash_attribute=hash_attribute,
        seed=opt_str(d, "seed", path) or key,
        hash_version=opt_int(d, "hashVersion", path) or 1,
        ranges=ranges if ranges is not None else tuple(bucket_ranges(n, 1 if coverage is None else coverage, weights)),
        filters=compile_filters(d.get("filters"), f"{path}.filters"),
        namespace=namespace_value(d.get("namespace"), f"{path}.namespace"),
        condition=compile_rule_condition(d.get("condition"), f"{path}.condition", saved_groups),
        parents=parents or (),
        force=force,
        active=active and status != "draft",
        stopped=status == "stopped",
        meta=variation_meta(d.get("meta"), n, f"{path}.meta"),
        definition=dict(d) if report is None else report,
    )


def assign(
    experiment: Experiment,
    attributes: Attributes,
    options: EvalOptions = DEFAULT_OPTIONS,
    feature_id: str | None = None,
    prerequisites: Callable[[tuple[Parent, ...]], bool] | None = None,
) -> ExperimentResult:
    """GrowthBook's runExperiment, steps numbered as in the reference SDK. `prerequisites`
    checks the experiment's parent conditions (no features known: every parent is unknown)."""
    exp = experiment
    raw = exp.get_hash(attributes)
    unit = raw if raw.__class__ is str else hash_string(raw)
    if not unit:
        raw = ""
    # 1-2. fewer than two variations, or experiments switched off
    if len(exp.variations) < 2 or not options.enabled:
        return _result(exp, -1, False, feature_id, raw)
    # 4. a variation forced for this request
    forced = options.forced_variations
    if forced and exp.key in forced:
        chosen = forced[exp.key]
        return _result(exp, chosen if is_int(chosen) else -1, False, feature_id, raw)
    # 5-6. inactive, or nothing to hash
    if not exp.active or not unit:
        return _result(exp, -1, False, feature_id, raw)
    # 7. filters (or the older namespaces), 8. condition, 8.05. prerequisites
    if exp.filters:
        if filtered_out(exp.filters, attributes):
            return _result(exp, -1, False, feature_id, raw)
    elif exp.namespace is not None and not in_namespace(unit, exp.namespace):
        return _result(exp, -1, False, feature_id, raw)
    if exp.condition is not None and not exp.condition(attributes):
        return _result(exp, -1, False, feature_id, raw)
    if exp.parents:
        if prerequisites is not None:
            passed = prerequisites(exp.parents)
        else:  # no features to look at: every parent is unknown, its value null
            passed = all(test({"value": None}) for _, test, _ in exp.parents)
        if not passed:
            return _result(exp, -1, False, feature_id, raw)
    # 9-10. hash into the ranges
    n = hash_unit(exp.seed, unit, exp.hash_version)
    if n is None:
        return _result(exp, -1, False, feature_id, raw)
    assigned = choose_variation(n, exp.ranges)
    if assigned < 0:
        return _result(exp, -1, False, feature_id, raw)
    # 11. a variation forced by the definition, 12. QA mode, 12.5. stopped
    if exp.force is not None:
        return _result(exp, exp.force, False, feature_id, raw)
    if options.qa_mode or exp.stopped:
        return _result(exp, -1, False, feature_id, raw)
    return _result(exp, assigned, True, feature_id, raw, n)


def _result(
    exp: Experiment, index: int, hash_used: bool, feature_id: str | None, raw: Any, bucket: float | None = None
) -> ExperimentResult:
    in_experiment = 0 <= index < len(exp.variations)
    if not in_experiment:
        index = 0
    key, name, passthrough = exp.meta[index]
    return ExperimentResult(
        in_experiment,
        index,
        exp.variations[index],
        hash_used,
        exp.hash_attribute,
        raw,
        key,
        feature_id,
        name,
        bucket,
        passthrough,
    )
