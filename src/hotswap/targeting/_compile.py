"""How a snapshot is compiled: each config's choices over a numbered table of distinct tests
(segments and conditions, rollout cuts, time windows) and each possible answer encoded once.
`snapshot.CompiledSnapshot` evaluates what this builds."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from hotswap.targeting import jsvalues as js
from hotswap.targeting.bucketing import position_v2, seed_state
from hotswap.targeting.conditions import compile_condition, referenced_attributes
from hotswap.targeting.rules import Rule, parse_rules

Attributes = Mapping[str, Any]
_SORTED = orjson.OPT_SORT_KEYS


def deep_merge(base: Any, override: Mapping[str, Any]) -> dict[str, Any]:
    """Objects merge key by key; any other value in `override` replaces the one in `base`."""
    merged = dict(base) if isinstance(base, Mapping) else {}
    for key, value in override.items():
        current = merged.get(key)
        merged[key] = deep_merge(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return merged


@dataclass(frozen=True, slots=True)
class Outcome:
    """One possible answer for one config, encoded once: `fragment` is `"name":{...}`."""

    result: dict[str, Any] | None
    fragment: bytes


def encode_outcome(name: str, result: dict[str, Any]) -> Outcome:
    return Outcome(result, orjson.dumps(name) + b":" + orjson.dumps(result, option=_SORTED))


def unit_id(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, bool | dict | list):
        return None
    return value if isinstance(value, str) else js.to_string(value)


# A test named by its table and its index there: ("p", i) predicate, ("c", i) rollout cut,
# ("w", i) time window. `CompiledSnapshot` turns these into indexes of the decision vector.
Test = tuple[str, int]


class CutGroup:
    """The rollout cuts that hash one attribute (`tests`: their indexes in the decision vector).
    A unit's results for all of them are computed together and remembered: hashing is pure
    Python, and the same players come back again and again."""

    MEMO_SIZE = 65536

    __slots__ = ("_cuts", "_memo", "_states", "attribute", "tests")

    def __init__(
        self, attribute: str, tests: tuple[int, ...], seeds: tuple[str, ...], coverages: tuple[float, ...]
    ) -> None:
        self.attribute = attribute
        self.tests = tests
        distinct = list(dict.fromkeys(seeds))  # the cuts of one rollout share a seed: hash it once
        self._states = tuple(seed_state(seed) for seed in distinct)
        self._cuts = tuple((distinct.index(seed), coverage) for seed, coverage in zip(seeds, coverages, strict=True))
        self._memo: dict[str, tuple[bool, ...]] = {}

    def bits(self, unit: str) -> tuple[bool, ...]:
        found = self._memo.get(unit)
        if found is None:
            positions = [position_v2(state, unit) for state in self._states]
            # Half-open, so 0% includes nobody (GrowthBook's `coverage` includes n == coverage,
            # which lets one unit in ten thousand into a 0% rollout). Stickiness is the same.
            found = tuple(positions[seed] < coverage for seed, coverage in self._cuts)
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            self._memo[unit] = found
        return found


class Tests:
    """The distinct tests of a snapshot, numbered. Each is computed once per request, however
    many rules share it (the same segment in twenty configs costs one evaluation)."""

    def __init__(self, segments: Mapping[str, Any], region_aliases: Mapping[str, str] | None = None) -> None:
        self.segment_conditions = segments
        self.region_aliases = {k.lower(): v.upper() for k, v in (region_aliases or {}).items()}
        self.predicates: list[Callable[[Attributes], bool]] = []
        self.attributes: set[str] = set()  # every attribute the predicates read
        self.positions: list[tuple[str, str]] = []  # (seed, hash attribute)
        self.cuts: list[tuple[int, float]] = []  # (position index, coverage): unit position < coverage
        self.windows: list[tuple[float, float]] = []
        self._keys: dict[Any, int] = {}

    def _index(self, key: Any, table: list[Any], value: Callable[[], Any]) -> int:
        found = self._keys.get(key)
        if found is None:
            table.append(value())
            found = self._keys[key] = len(table) - 1
        return found

    def segment(self, segment_id: str) -> int:
        condition = self.segment_conditions.get(segment_id)
        # A rule naming a segment the snapshot lacks never applies (the segments slice refuses to
        # delete a segment in use, so this is only a race with a concurrent delete).
        make = (lambda: never) if condition is None else (lambda: self._compile(condition["condition"]))
        return self._index(("segment", segment_id), self.predicates, make)

    def condition(self, condition: dict[str, Any]) -> int:
        key = ("condition", orjson.dumps(condition, option=_SORTED))
        return self._index(key, self.predicates, lambda: self._compile(condition))

    def regions(self, regions: Sequence[str]) -> int:
        """A context's `region` is one of these (canonical ids; the snapshot's `regions` map turns
        any alias or case into its canonical id)."""
        wanted = frozenset(r.upper() for r in regions)
        aliases = self.region_aliases

        def inside(attrs: Attributes) -> bool:
            region = attrs.get("region")
            if not isinstance(region, str):
                return False
            return aliases.get(region.lower(), region.upper()) in wanted

        self.attributes.add("region")
        return self._index(("regions", wanted), self.predicates, lambda: inside)

    def units(self, attribute: str, units: Sequence[str]) -> int:
        """The unit id (`attribute`'s value) is one of these: named servers or test players."""
        wanted = frozenset(units)

        def inside(attrs: Attributes) -> bool:
            return unit_id(attrs.get(attribute)) in wanted

        self.attributes.add(attribute)
        return self._index(("units", attribute, wanted), self.predicates, lambda: inside)

    def _compile(self, condition: Any) -> Callable[[Attributes], bool]:
        self.attributes |= referenced_attributes(condition)
        return compile_condition(condition)

    def cut(self, seed: str, hash_attribute: str, coverage: float) -> int:
        position = self._index(("position", seed, hash_attribute), self.positions, lambda: (seed, hash_attribute))
        return self._index(("cut", position, coverage), self.cuts, lambda: (position, coverage))

    def window(self, start: float, end: float) -> int:
        return self._index(("window", start, end), self.windows, lambda: (start, end))


def never(_: Attributes) -> bool:
    return False


def never_at(_: Attributes, _at: float) -> bool:
    return False


def predicate_test(predicate: Callable[[Attributes], bool]) -> Callable[[Attributes, float], bool]:
    return lambda attrs, _at: predicate(attrs)


def window_test(start: float, end: float) -> Callable[[Attributes, float], bool]:
    return lambda _attrs, at: start <= at < end


ABSENT = Outcome(None, b"")  # the config is not served to this context (it has no live version)


def compile_config(
    name: str, entry: Mapping[str, Any] | None, tests: Tests, rollout: Mapping[str, Any] | None
) -> list[tuple[tuple[Test, ...], Outcome]]:
    """A config's choices in order, with symbolic tests; the last choice (the live value, or the
    baseline of a rollout) has none. `entry` is None for a config without a live version that
    a rollout introduces: its baseline is `ABSENT`."""
    rules_source = entry.get("rules", []) if entry is not None else (rollout or {}).get("rules", [])
    rules = [r for r in parse_rules(rules_source, f"configs.{name}.rules") if r.enabled]
    choices: list[tuple[tuple[Test, ...], Outcome]] = []
    if rollout is not None:
        info = {"id": rollout["id"], "step": rollout.get("step")}
        # Canary units: the rules over the rollout's version, then the rollout's version itself.
        # A unit is exposed when any grant admits it: each grant gets its own run of choices.
        canary_info = {**info, "arm": "canary"}
        canary = {"reason": "rollout", "rollout": canary_info, "value": rollout["value"], "version": rollout["version"]}
        canary_outcome = encode_outcome(name, canary)
        rule_outcomes = [
            _rule_outcome(name, rule, rollout["value"], rollout["version"], {"rollout": canary_info}) for rule in rules
        ]
        for admitted in exposure_tests(rollout, tests):
            for rule, outcome in zip(rules, rule_outcomes, strict=True):
                choices.append((admitted + _rule_tests(name, rule, tests), outcome))
            choices.append((admitted, canary_outcome))
    if entry is None:
        choices.append(((), ABSENT))
        return choices
    version = entry["version"]
    value = entry["value"]
    for rule in rules:
        choices.append((_rule_tests(name, rule, tests), _rule_outcome(name, rule, value, version, {})))
    live: dict[str, Any] = {"reason": "default", "value": value, "version": version}
    if rollout is not None:
        live["rollout"] = {"id": rollout["id"], "step": rollout.get("step"), "arm": "baseline"}
    choices.append(((), encode_outcome(name, live)))
    return choices


def exposure_tests(rollout: Mapping[str, Any], tests: Tests) -> list[tuple[Test, ...]]:
    """The tests of each grant of a rollout's exposure (a unit is exposed when all the tests of
    one grant hold). A grant admits `percentage` of the units by hash, within its `regions`,
    `segment` and `units` when given; a grant of 0% admits nobody and has no entry. A rollout
    without `exposure` is one grant of its `percentage`."""
    attribute = rollout.get("hashAttribute", "playerId")
    grants = rollout.get("exposure")
    if grants is None:
        grants = [{"percentage": rollout["percentage"]}]
    found: list[tuple[Test, ...]] = []
    for grant in grants:
        percentage = float(grant["percentage"])
        if percentage <= 0:
            continue
        admitted: list[Test] = []
        if grant.get("regions") is not None:
            admitted.append(("p", tests.regions(grant["regions"])))
        if grant.get("segment") is not None:
            admitted.append(("p", tests.segment(grant["segment"])))
        if grant.get("units") is not None:
            admitted.append(("p", tests.units(attribute, grant["units"])))
        if percentage < 100:
            admitted.append(("c", tests.cut(rollout["seed"], attribute, percentage / 100)))
        found.append(tuple(admitted))
    return found


def _rule_outcome(name: str, rule: Rule, base: Any, version: str, extra: dict[str, Any]) -> Outcome:
    value = rule.value if rule.replaces else deep_merge(base, rule.value)
    result: dict[str, Any] = {"reason": "segment" if rule.segment else "rule", "ruleId": rule.id}
    if rule.segment:
        result["segment"] = rule.segment
    return encode_outcome(name, {**result, **extra, "value": value, "version": version})


def _rule_tests(name: str, rule: Rule, tests: Tests) -> tuple[Test, ...]:
    found: list[Test] = []
    if rule.segment is not None:
        found.append(("p", tests.segment(rule.segment)))
    if rule.condition is not None:
        found.append(("p", tests.condition(rule.condition)))
    if rule.rollout is not None:
        seed = rule.rollout.seed or f"{name}:{rule.id}"
        found.append(("c", tests.cut(seed, rule.rollout.hash_attribute, rule.rollout.percentage / 100)))
    if rule.active_from is not None or rule.active_until is not None:
        start = rule.active_from.timestamp() if rule.active_from else float("-inf")
        end = rule.active_until.timestamp() if rule.active_until else float("inf")
        found.append(("w", tests.window(start, end)))
    return tuple(found)
