"""The compiled snapshot and `evaluate`: what a context is served. Pure; no I/O.

A snapshot document (JSON: what `GET /api/v1/snapshot` returns and what the SDK caches) holds an
environment's live configs with their targeting rules, the segments those rules name, the
rollouts in progress (the rollouts slice fills `rollouts`) and the live events (the events slice
fills `events`). `compile_snapshot` turns it, once, into plain callables and pre-encoded JSON
fragments: evaluating a context then parses nothing and encodes no config value.

Precedence for one config: the first applying rule (over the rollout's version when the unit is
in a rollout, else over the live version), then the rollout's version, then the live version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from hotswap.targeting import jsvalues as js
from hotswap.targeting.bucketing import position_v2, seed_state
from hotswap.targeting.conditions import compile_condition, referenced_attributes
from hotswap.targeting.rules import Rule, parse_rules

Attributes = Mapping[str, Any]
_SORTED = orjson.OPT_SORT_KEYS


@dataclass(frozen=True, slots=True)
class Context:
    """Who is asking: a player and/or a game server, where, on what, with which attributes."""

    player_id: str | None = None
    server_id: str | None = None
    region: str | None = None
    platform: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def targeting_attributes(self) -> dict[str, Any]:
        """What conditions see: the attributes, with the named context fields on top."""
        attrs = dict(self.attributes)
        if self.player_id is not None:
            attrs["playerId"] = self.player_id
        if self.server_id is not None:
            attrs["serverId"] = self.server_id
        if self.region is not None:
            attrs["region"] = self.region
        if self.platform is not None:
            attrs["platform"] = self.platform
        return attrs


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

    result: dict[str, Any]
    fragment: bytes


def _outcome(name: str, result: dict[str, Any]) -> Outcome:
    return Outcome(result, orjson.dumps(name) + b":" + orjson.dumps(result, option=_SORTED))


def _unit_id(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, bool | dict | list):
        return None
    return value if isinstance(value, str) else js.to_string(value)


# A test named by its table and its index there: ("p", i) predicate, ("c", i) rollout cut,
# ("w", i) time window. `CompiledSnapshot` turns these into indexes of the decision vector.
_Test = tuple[str, int]


@dataclass(frozen=True, slots=True)
class _Choice:
    """One way a config can be decided: when every listed test holds, serve `outcome`. Tests are
    indexes into the snapshot's table of distinct tests (see `CompiledSnapshot._outcomes`)."""

    tests: tuple[int, ...]
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class _CompiledConfig:
    name: str
    choices: tuple[_Choice, ...]  # in order; the last one has no tests (the fallback)


class _Tests:
    """The distinct tests of a snapshot, numbered. Each is computed once per request, however
    many rules share it (the same segment in twenty configs costs one evaluation)."""

    def __init__(self, segments: Mapping[str, Any]) -> None:
        self.segment_conditions = segments
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
        make = (lambda: _never) if condition is None else (lambda: self._compile(condition["condition"]))
        return self._index(("segment", segment_id), self.predicates, make)

    def condition(self, condition: dict[str, Any]) -> int:
        key = ("condition", orjson.dumps(condition, option=_SORTED))
        return self._index(key, self.predicates, lambda: self._compile(condition))

    def _compile(self, condition: Any) -> Callable[[Attributes], bool]:
        self.attributes |= referenced_attributes(condition)
        return compile_condition(condition)

    def cut(self, seed: str, hash_attribute: str, coverage: float) -> int:
        position = self._index(("position", seed, hash_attribute), self.positions, lambda: (seed, hash_attribute))
        return self._index(("cut", position, coverage), self.cuts, lambda: (position, coverage))

    def window(self, start: float, end: float) -> int:
        return self._index(("window", start, end), self.windows, lambda: (start, end))


class CompiledSnapshot:
    """An environment's snapshot, ready to evaluate. Immutable once built (but for its memo).

    Evaluating a context walks each config's choices in order. Each distinct test (a segment, a
    condition, a rollout cut, a time window) is computed at most once per request, and only when
    a choice needs it: a segment shared by twenty configs costs one evaluation, and a rollout's
    hash is never computed for a player whose condition already failed.
    """

    POSITION_MEMO_SIZE = 65536

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.environment: str = document["environment"]
        self.revision: int = document["revision"]
        self.etag = f'"{self.environment}-{self.revision}"'
        self.body = orjson.dumps(document, option=_SORTED)
        tests = _Tests(document.get("segments", {}))
        rollouts = {r["config"]: r for r in document.get("rollouts", [])}
        symbolic = [
            (name, _compile_config(name, entry, tests, rollouts.get(name)))
            for name, entry in sorted(document.get("configs", {}).items())
        ]
        self._positions = tuple((seed_state(seed), attribute) for seed, attribute in tests.positions)
        self._position_memo: dict[str, list[float | None]] = {}
        computers: dict[str, list[Callable[[Attributes, float], bool]]] = {
            "p": [_predicate_test(p) for p in tests.predicates],
            "c": [self._cut_test(position, coverage) for position, coverage in tests.cuts],
            "w": [_window_test(start, end) for start, end in tests.windows],
        }
        base = {"p": 0, "c": len(computers["p"]), "w": len(computers["p"]) + len(computers["c"])}
        self._compute = tuple(computers["p"] + computers["c"] + computers["w"])
        self._blank: list[bool | None] = [None] * len(self._compute)
        self._configs = tuple(
            _CompiledConfig(
                name, tuple(_Choice(tuple(base[kind] + i for kind, i in tests_), out) for tests_, out in choices)
            )
            for name, choices in symbolic
        )
        # Plain tuples for the hot loop: no attribute lookups per choice.
        self._plans = tuple(tuple((c.tests, c.outcome) for c in config.choices) for config in self._configs)
        self._predicates = tuple(tests.predicates)
        self._read = tuple(sorted(tests.attributes))
        self._by_values: dict[Any, tuple[bytes | tuple[tuple[tuple[int, ...], bytes], ...], ...]] = {}
        self._reduced: dict[tuple[bool, ...], tuple[bytes | tuple[tuple[tuple[int, ...], bytes], ...], ...]] = {}
        self._head = b'{"configs":{'
        self._tail = (
            b'},"environment":'
            + orjson.dumps(self.environment)
            + b',"events":[],"revision":'
            + str(self.revision).encode()
            + b"}"
        )

    @property
    def config_names(self) -> list[str]:
        return [c.name for c in self._configs]

    def _position(self, index: int, attrs: Attributes) -> float | None:
        state, attribute = self._positions[index]
        unit = _unit_id(attrs.get(attribute))
        if unit is None:
            return None
        # Hashing is pure Python and the same players come back again and again: remember each
        # unit's positions (one list per unit, filled as seeds need them).
        memo = self._position_memo
        known = memo.get(unit)
        if known is None:
            if len(memo) >= self.POSITION_MEMO_SIZE:
                memo.clear()
            known = memo[unit] = [None] * len(self._positions)
        found = known[index]
        if found is None:
            found = known[index] = position_v2(state, unit)
        return found

    def _cut_test(self, position: int, coverage: float) -> Callable[[Attributes, float], bool]:
        def inside(attrs: Attributes, _at: float) -> bool:
            n = self._position(position, attrs)
            # Half-open, so 0% includes nobody (GrowthBook's `coverage` includes n == coverage,
            # which lets one unit in ten thousand into a 0% rollout). Stickiness is the same.
            return n is not None and n < coverage

        return inside

    def _outcomes(self, attrs: Attributes, at: float) -> list[Outcome]:
        bits = self._blank.copy()
        compute = self._compute
        chosen: list[Outcome] = []
        for plan in self._plans:
            for tests, outcome in plan:
                for test in tests:
                    bit = bits[test]
                    if bit is None:
                        bit = bits[test] = compute[test](attrs, at)
                    if not bit:
                        break
                else:
                    chosen.append(outcome)
                    break
        return chosen

    def evaluate(self, context: Context, at: datetime) -> dict[str, Any]:
        """Each config's value for this context at this instant, with the reason."""
        outcomes = self._outcomes(context.targeting_attributes(), at.timestamp())
        return {
            "configs": {c.name: o.result for c, o in zip(self._configs, outcomes, strict=True)},
            "environment": self.environment,
            "events": [],
            "revision": self.revision,
        }

    def evaluate_json(self, context: Context, at: datetime) -> bytes:
        """The same answer as `evaluate`, as JSON, from fragments encoded at compile time.

        The hot path. Segments and conditions are few next to the configs that use them, so all
        of them are computed first; the answer for that vector of results, less the rollout
        cuts and time windows still open, is remembered: most configs are then one fixed
        fragment, and only the rest look at the unit's hash or the clock."""
        attrs = context.targeting_attributes()
        # The predicates are a function of the attributes they read: remember by those values
        # (and their types: 1, 1.0 and true are equal keys in Python, not in conditions).
        values = tuple([attrs.get(name, _MISSING) for name in self._read])
        by_values: Any = (values, tuple([v.__class__ for v in values]))
        try:
            reduced = self._by_values.get(by_values)
        except TypeError:  # an object or array value: not hashable, so not remembered
            by_values, reduced = None, None
        if reduced is None:
            key = tuple([predicate(attrs) for predicate in self._predicates])
            reduced = self._reduced.get(key)
            if reduced is None:
                reduced = self._reduce(key)
            if by_values is not None:
                if len(self._by_values) >= self.VALUES_MEMO_SIZE:
                    self._by_values.clear()
                self._by_values[by_values] = reduced
        if len(reduced) == 1 and isinstance(reduced[0], bytes):
            return self._head + reduced[0] + self._tail
        at_ts = at.timestamp()
        bits = self._blank.copy()
        compute = self._compute
        parts: list[bytes] = []
        for item in reduced:
            if isinstance(item, bytes):
                parts.append(item)
                continue
            for tests, fragment in item:
                for test in tests:
                    bit = bits[test]
                    if bit is None:
                        bit = bits[test] = compute[test](attrs, at_ts)
                    if not bit:
                        break
                else:
                    parts.append(fragment)
                    break
        return self._head + b",".join(parts) + self._tail

    REDUCED_MEMO_SIZE = 4096
    VALUES_MEMO_SIZE = 16384

    def _reduce(
        self, predicate_bits: tuple[bool, ...]
    ) -> tuple[bytes | tuple[tuple[tuple[int, ...], bytes], ...], ...]:
        """The configs' choices once the predicates are known: a run of configs decided by them
        alone is one pre-joined fragment; a config that still depends on a rollout cut or a time
        window keeps its remaining choices (their tests, then the fragment)."""
        n = len(predicate_bits)
        out: list[bytes | tuple[tuple[tuple[int, ...], bytes], ...]] = []
        run: list[bytes] = []
        for plan in self._plans:
            remaining: list[tuple[tuple[int, ...], bytes]] = []
            for tests, outcome in plan:
                if any(t < n and not predicate_bits[t] for t in tests):
                    continue
                open_tests = tuple(t for t in tests if t >= n)
                remaining.append((open_tests, outcome.fragment))
                if not open_tests:
                    break
            if len(remaining) == 1:
                run.append(remaining[0][1])
                continue
            if run:
                out.append(b",".join(run))
                run = []
            out.append(tuple(remaining))
        if run:
            out.append(b",".join(run))
        reduced = tuple(out)
        if len(self._reduced) >= self.REDUCED_MEMO_SIZE:
            self._reduced.clear()
        self._reduced[predicate_bits] = reduced
        return reduced


def compile_snapshot(document: dict[str, Any]) -> CompiledSnapshot:
    return CompiledSnapshot(document)


def _never(_: Attributes) -> bool:
    return False


_MISSING = object()  # an absent attribute, which conditions tell apart from null


def _predicate_test(predicate: Callable[[Attributes], bool]) -> Callable[[Attributes, float], bool]:
    return lambda attrs, _at: predicate(attrs)


def _window_test(start: float, end: float) -> Callable[[Attributes, float], bool]:
    return lambda _attrs, at: start <= at < end


def _compile_config(
    name: str, entry: Mapping[str, Any], tests: _Tests, rollout: Mapping[str, Any] | None
) -> list[tuple[tuple[_Test, ...], Outcome]]:
    """A config's choices in order, with symbolic tests; the last choice (the live value, or the
    baseline of a rollout) has none."""
    version = entry["version"]
    value = entry["value"]
    rules = [r for r in parse_rules(entry.get("rules", []), f"configs.{name}.rules") if r.enabled]
    choices: list[tuple[tuple[_Test, ...], Outcome]] = []
    in_rollout: tuple[_Test, ...] = ()
    if rollout is not None:
        info = {"id": rollout["id"], "step": rollout.get("step")}
        coverage = float(rollout["percentage"]) / 100
        in_rollout = (("c", tests.cut(rollout["seed"], rollout.get("hashAttribute", "playerId"), coverage)),)
        # Canary units: the rules over the rollout's version, then the rollout's version itself.
        canary_info = {**info, "arm": "canary"}
        for rule in rules:
            outcome = _rule_outcome(name, rule, rollout["value"], rollout["version"], {"rollout": canary_info})
            choices.append((in_rollout + _rule_tests(name, rule, tests), outcome))
        canary = {"reason": "rollout", "rollout": canary_info, "value": rollout["value"], "version": rollout["version"]}
        choices.append((in_rollout, _outcome(name, canary)))
    for rule in rules:
        choices.append((_rule_tests(name, rule, tests), _rule_outcome(name, rule, value, version, {})))
    live: dict[str, Any] = {"reason": "default", "value": value, "version": version}
    if rollout is not None:
        live["rollout"] = {"id": rollout["id"], "step": rollout.get("step"), "arm": "baseline"}
    choices.append(((), _outcome(name, live)))
    return choices


def _rule_outcome(name: str, rule: Rule, base: Any, version: str, extra: dict[str, Any]) -> Outcome:
    value = rule.value if rule.replaces else deep_merge(base, rule.value)
    result: dict[str, Any] = {"reason": "segment" if rule.segment else "rule", "ruleId": rule.id}
    if rule.segment:
        result["segment"] = rule.segment
    return _outcome(name, {**result, **extra, "value": value, "version": version})


def _rule_tests(name: str, rule: Rule, tests: _Tests) -> tuple[_Test, ...]:
    found: list[_Test] = []
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
