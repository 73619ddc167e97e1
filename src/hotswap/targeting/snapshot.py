"""The compiled snapshot and `evaluate`: what a context is served. Pure; no I/O.

A snapshot document (JSON: what `GET /api/v1/snapshot` returns and what the SDK caches) holds an
environment's live configs with their targeting rules, the segments those rules name, the
rollouts in progress (the rollouts slice fills `rollouts`) and the live events (the events slice
fills `events`). `compile_snapshot` turns it, once, into plain callables and pre-encoded JSON
fragments: evaluating a context then parses nothing and encodes no config value.

Precedence for one config: the first applying rule (over the rollout's version when the unit is
in a rollout, else over the live version), then the rollout's version, then the live version.

A rollout entry names its config, version and value, a `seed`, a `hashAttribute` (`playerId`
for player units, `serverId` for server units) and its `exposure`: grants, any of which admits a
unit, each `{"percentage", "regions"?, "segment"?, "units"?}` (see `_compile.exposure_tests`).
Regions compare by canonical id: the document's `regions` maps each alias (lower case) to it.

The live events a context is served (`events`, see `targeting.events`) come after the configs in
an answer, and alone from `active_events`. A document without them (older ones) has none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson

from hotswap.targeting._compile import (
    Attributes,
    CutGroup,
    Outcome,
    Tests,
    compile_config,
    deep_merge,
    never_at,
    predicate_test,
    unit_id,
    window_test,
)
from hotswap.targeting.events import CompiledEvents, Plan

__all__ = ["CompiledSnapshot", "Context", "compile_snapshot", "deep_merge"]
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


# What the predicates leave of an answer: the whole answer when they decide every config, else
# runs of decided configs (pre-joined fragments) and, for each config a rollout cut or a time
# window still decides, its remaining choices (open tests, fragment).
_Reduced = bytes | tuple[bytes | tuple[tuple[tuple[int, ...], bytes], ...], ...]


class CompiledSnapshot:
    """An environment's snapshot, ready to evaluate. Immutable once built (but for its memo).

    Evaluating a context walks each config's choices in order. Each distinct test (a segment, a
    condition, a rollout cut, a time window) is computed at most once per request, and only when
    a choice needs it: a segment shared by twenty configs costs one evaluation. A unit's rollout
    cuts are computed together the first time one is needed, and remembered per unit.
    """

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.environment: str = document["environment"]
        self.revision: int = document["revision"]
        self.etag = f'"{self.environment}-{self.revision}"'
        tests = Tests(document.get("segments", {}), document.get("regions"))
        rollouts = {r["config"]: r for r in document.get("rollouts", [])}
        configs = document.get("configs", {})
        # A config's first deployment has no live version yet: only its canary units get it.
        symbolic = [
            (name, compile_config(name, configs.get(name), tests, rollouts.get(name)))
            for name in sorted(configs.keys() | rollouts.keys())
        ]
        # Before the cuts are numbered: events add predicates (segments, regions) to the table.
        events = document.get("events") or []
        self._events = CompiledEvents(events, tests) if events else None
        first_cut = len(tests.predicates)
        # Rollout cuts by the attribute they hash: a unit's cuts are computed together, once.
        groups: dict[str, list[int]] = {}
        for i, (position, _coverage) in enumerate(tests.cuts):
            groups.setdefault(tests.positions[position][1], []).append(i)
        self._cut_groups = tuple(
            CutGroup(
                attribute,
                tuple(first_cut + i for i in members),
                tuple(tests.positions[tests.cuts[i][0]][0] for i in members),
                tuple(tests.cuts[i][1] for i in members),
            )
            for attribute, members in groups.items()
        )
        cut_tests: list[Callable[[Attributes, float], bool]] = [never_at] * len(tests.cuts)
        for group in self._cut_groups:
            for k, test in enumerate(group.tests):
                cut_tests[test - first_cut] = self._cut_test(group, k)
        computers: dict[str, list[Callable[[Attributes, float], bool]]] = {
            "p": [predicate_test(p) for p in tests.predicates],
            "c": cut_tests,
            "w": [window_test(start, end) for start, end in tests.windows],
        }
        base = {"p": 0, "c": first_cut, "w": first_cut + len(cut_tests)}
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
        self._index = {config.name: i for i, config in enumerate(self._configs)}
        self._predicates = tuple(tests.predicates)
        self._read = tuple(sorted(tests.attributes))
        # By the values of the attributes read: the reduced configs, with the events' plan when
        # the snapshot has events.
        self._by_values: dict[Any, _Reduced | _WithEvents] = {}
        self._reduced: dict[tuple[bool, ...], _Reduced] = {}
        self._event_plans: dict[Any, Plan] = {}  # `active_events`' plans, by the same values
        self._head = b'{"configs":{'
        # With events, what `_reduce` builds stops inside the events array: each answer adds its
        # own events, then `_after_events`.
        self._tail = b'},"environment":' + orjson.dumps(self.environment) + b',"events":['
        self._after_events = b'],"revision":' + str(self.revision).encode() + b"}"
        if self._events is None:
            self._tail += self._after_events

    @cached_property
    def body(self) -> bytes:
        """The document as JSON (sorted keys): what the snapshot route and the stream send.
        Encoded on first need: an SDK client never sends it."""
        return orjson.dumps(self.document, option=_SORTED)

    @property
    def config_names(self) -> list[str]:
        return [c.name for c in self._configs]

    def _cut_test(self, group: CutGroup, k: int) -> Callable[[Attributes, float], bool]:
        def inside(attrs: Attributes, _at: float) -> bool:
            unit = unit_id(attrs.get(group.attribute))
            return unit is not None and group.bits(unit)[k]

        return inside

    def _fill_cuts(self, bits: list[bool | None], attrs: Attributes) -> None:
        """Every rollout cut's result for this context's units, into `bits`."""
        for group in self._cut_groups:
            unit = unit_id(attrs.get(group.attribute))
            if unit is None:  # no unit: in no rollout
                for test in group.tests:
                    bits[test] = False
            else:
                for test, bit in zip(group.tests, group.bits(unit), strict=True):
                    bits[test] = bit

    def _outcomes(self, attrs: Attributes, at: float, bits: list[bool | None]) -> list[Outcome]:
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

    def evaluate_config(self, name: str, context: Context, at: datetime) -> dict[str, Any] | None:
        """One config's result for this context at this instant (what `evaluate` gives for it),
        or None when the context is served none. Computes only the tests that config's choices
        need: the SDK's reads name one config, and most of a snapshot is other configs."""
        index = self._index.get(name)
        if index is None:
            return None
        attrs = context.targeting_attributes()
        at_ts = at.timestamp()
        compute = self._compute
        bits: dict[int, bool] = {}
        for tests, outcome in self._plans[index]:
            for test in tests:
                bit = bits.get(test)
                if bit is None:
                    bit = bits[test] = compute[test](attrs, at_ts)
                if not bit:
                    break
            else:
                return outcome.result if outcome.fragment else None
        return None

    def evaluate(self, context: Context, at: datetime) -> dict[str, Any]:
        """Each config's value for this context at this instant, with the reason, and the live
        events that apply."""
        attrs = context.targeting_attributes()
        at_ts = at.timestamp()
        bits = self._blank.copy()
        outcomes = self._outcomes(attrs, at_ts, bits)
        events: list[dict[str, Any]] = []
        if self._events is not None:
            compute = self._compute

            def bit(test: int) -> bool:  # the predicates the configs computed are not computed again
                found = bits[test]
                if found is None:
                    found = bits[test] = compute[test](attrs, at_ts)
                return found

            events = self._events.active(self._events.plan(bit), attrs, at_ts)
        return {
            "configs": {c.name: o.result for c, o in zip(self._configs, outcomes, strict=True) if o.fragment},
            "environment": self.environment,
            "events": events,
            "revision": self.revision,
        }

    def active_events(self, context: Context, at: datetime) -> list[dict[str, Any]]:
        """The live events that apply to this context at this instant (`evaluate`'s `events`),
        computing nothing for the configs."""
        if self._events is None:
            return []
        attrs = context.targeting_attributes()
        return self._events.active(self._events_plan(self._events, attrs), attrs, at.timestamp())

    def active_events_json(self, context: Context, at: datetime) -> bytes:
        """`active_events` as a JSON array, from entries encoded at compile time."""
        if self._events is None:
            return b"[]"
        attrs = context.targeting_attributes()
        return b"[" + self._events.active_json(self._events_plan(self._events, attrs), attrs, at.timestamp()) + b"]"

    def _events_plan(self, events: CompiledEvents, attrs: Attributes) -> Plan:
        """The events' plan for these attributes, remembered by their values as `evaluate_json`
        remembers its answers (the configs' predicates are not computed)."""
        values = tuple([attrs.get(name, _MISSING) for name in self._read])
        by_values = (values, tuple([v.__class__ for v in values]))
        try:
            plan = self._event_plans.get(by_values)
        except TypeError:  # an object or array value: not hashable, so not remembered
            return events.own_plan(attrs)
        if plan is None:
            plan = events.own_plan(attrs)
            if len(self._event_plans) >= self.VALUES_MEMO_SIZE:
                self._event_plans.clear()
            self._event_plans[by_values] = plan
        return plan

    def evaluate_json(self, context: Context, at: datetime) -> bytes:
        """The same answer as `evaluate`, as JSON, from fragments encoded at compile time.

        The hot path. Segments and conditions are few next to the configs that use them, so all
        of them are computed first; the answer for that vector of results, less the rollout
        cuts and time windows still open, is remembered: most configs are then one fixed
        fragment, and only the rest look at the unit's hash (each unit's rollout cuts are
        computed together, once, and remembered) or the clock. The events come last: what they
        serve between two window boundaries is remembered with the rest, and only an event with
        an exposure or variants looks at the player's hash."""
        attrs = context.targeting_attributes()
        # The predicates are a function of the attributes they read: remember by those values
        # (and their types: 1, 1.0 and true are equal keys in Python, not in conditions).
        values = tuple([attrs.get(name, _MISSING) for name in self._read])
        by_values: Any = (values, tuple([v.__class__ for v in values]))
        events = self._events
        memo: Any
        try:
            memo = self._by_values.get(by_values)
        except TypeError:  # an object or array value: not hashable, so not remembered
            by_values, memo = None, None
        if memo is None:
            key = tuple([predicate(attrs) for predicate in self._predicates])
            reduced = self._reduced.get(key)
            if reduced is None:
                reduced = self._reduce(key)
            memo = reduced if events is None else _WithEvents(reduced, events.plan(key.__getitem__))
            if by_values is not None:
                if len(self._by_values) >= self.VALUES_MEMO_SIZE:
                    self._by_values.clear()
                self._by_values[by_values] = memo
        if events is None:
            reduced = memo
            if isinstance(reduced, bytes):  # decided by the predicates alone: the whole answer
                return reduced
            at_ts = at.timestamp()
        else:
            at_ts = at.timestamp()
            entry: _WithEvents = memo
            whole = entry.whole
            if whole[0] <= at_ts < whole[1]:
                return whole[2]
            reduced, plan = entry.reduced, entry.plan
        body: bytes
        if isinstance(reduced, bytes):
            body = reduced
        else:
            bits = self._blank.copy()
            self._fill_cuts(bits, attrs)
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
                        if fragment:  # empty: the config is absent for this context
                            parts.append(fragment)
                        break
            body = self._head + b",".join(parts) + self._tail
        if events is None:
            return body
        if isinstance(reduced, bytes):
            same = plan.same_for_everyone(at_ts)
            if same is not None:  # decided without the clock or a hash until the next boundary
                low, high, inside = same
                answer = body + inside + self._after_events
                entry.whole = (low, high, answer)
                return answer
        return body + events.active_json(plan, attrs, at_ts) + self._after_events

    REDUCED_MEMO_SIZE = 4096
    VALUES_MEMO_SIZE = 16384

    def _reduce(self, predicate_bits: tuple[bool, ...]) -> _Reduced:
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
                if remaining[0][1]:  # an empty fragment: the config is absent for this context
                    run.append(remaining[0][1])
                continue
            if run:
                out.append(b",".join(run))
                run = []
            out.append(tuple(remaining))
        if run:
            out.append(b",".join(run))
        if not out:
            reduced: _Reduced = self._head + self._tail
        elif len(out) == 1 and isinstance(out[0], bytes):
            reduced = self._head + out[0] + self._tail
        else:
            reduced = tuple(out)
        if len(self._reduced) >= self.REDUCED_MEMO_SIZE:
            self._reduced.clear()
        self._reduced[predicate_bits] = reduced
        return reduced


class _WithEvents:
    """What `evaluate_json` remembers for a snapshot with events: the reduced configs, the
    events' plan and, when both are decided for everyone between two window boundaries, the
    whole answer until the next one (replaced whole: threads see one interval or another)."""

    __slots__ = ("plan", "reduced", "whole")

    def __init__(self, reduced: _Reduced, plan: Plan) -> None:
        self.reduced = reduced
        self.plan = plan
        self.whole: tuple[float, float, bytes] = (1.0, 0.0, b"")


def compile_snapshot(document: dict[str, Any]) -> CompiledSnapshot:
    return CompiledSnapshot(document)


_MISSING = object()  # an absent attribute, which conditions tell apart from null
