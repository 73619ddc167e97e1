"""The snapshot's live events: which of them apply to a context at an instant, and the entries a
player is served, encoded once. Pure; no I/O.

An event applies when one of its windows is open at the instant in the context's region (a
window without a region is open everywhere; regions compare by canonical id, through the
document's alias map, as a rollout's do), its segment holds, and its exposure (an event
deployment in progress: grants shaped as a rollout's, see `_compile.exposure_tests`) admits the
player by a hash of `playerId` with the event's seed. A context without `playerId` is inside no
exposure and gets no variant. Variants are assigned by weight from a hash of the player id with
`{seed}:variant`.

Segments and region checks are predicates in the snapshot's table (`_compile.Tests`), shared
with the configs: a segment both use is evaluated once per request. What the predicates leave
(per event: the windows still open to this context, and the exposure's cut) is a `Plan`, kept
per vector of predicate results. Between two window boundaries the open windows do not change,
so a plan remembers what applies in the interval last asked about: the entries of the events
that need no player hash pre-joined, the others with what their hash is compared to.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from hotswap.targeting._compile import Attributes, Tests, deep_merge, unit_id
from hotswap.targeting.bucketing import Range, bucket_ranges, choose_variation, position_v2, seed_state

__all__ = ["CompiledEvents", "Plan"]
_SORTED = orjson.OPT_SORT_KEYS
_INF = float("inf")

# A window: start and end (POSIX seconds), then the entry for each choice (0: no variant, k: the
# k-th variant) encoded, and as a dict.
_Window = tuple[float, float, tuple[bytes, ...], tuple[dict[str, Any], ...]]
# What decides an event per player: the exposure's cut (-1: no exposure, else the positions
# below it are admitted), the position slots of its exposure and variant hashes (-1: none), and
# the variants' ranges.
_Hashed = tuple[float, int, int, tuple[Range, ...]]
_NO_EXPOSURE = -1.0
# What applies between two window boundaries, in id order. For JSON: runs of entries that apply
# to everyone there, pre-joined, and (encoded entries, hashed) for each other event. For dicts:
# (entries, hashed or None) per event.
_JsonItem = bytes | tuple[tuple[bytes, ...], _Hashed]
_DictItem = tuple[tuple[dict[str, Any], ...], _Hashed | None]
_View = tuple[float, float, tuple[_JsonItem, ...], tuple[_DictItem, ...]]


class Plan:
    """The events a vector of predicate results leaves, each with its windows open to the
    context (a region's own windows first) and its `_Hashed` (None: no exposure, no variants)."""

    __slots__ = ("_bounds", "_candidates", "_view")

    def __init__(self, candidates: Sequence[tuple[tuple[_Window, ...], _Hashed | None]]) -> None:
        self._candidates = tuple(candidates)
        self._bounds = sorted({t for windows, _ in candidates for w in windows for t in (w[0], w[1])})
        self._view: _View = (_INF, -_INF, (), ())

    def at(self, at: float) -> _View:
        """What applies at this instant. Replaced whole, so a reader on another thread (the SDK's
        clients are read from game threads) sees one interval's view or another's."""
        view = self._view
        if view[0] <= at < view[1]:
            return view
        i = bisect_right(self._bounds, at)
        low = self._bounds[i - 1] if i else -_INF
        high = self._bounds[i] if i < len(self._bounds) else _INF
        json_items: list[_JsonItem] = []
        dict_items: list[_DictItem] = []
        run: list[bytes] = []
        for windows, hashed in self._candidates:
            window = next((w for w in windows if w[0] <= at < w[1]), None)
            if window is None:
                continue
            dict_items.append((window[3], hashed))
            if hashed is None:
                run.append(window[2][0])
                continue
            if run:
                json_items.append(b",".join(run))
                run = []
            json_items.append((window[2], hashed))
        if run:
            json_items.append(b",".join(run))
        view = self._view = (low, high, tuple(json_items), tuple(dict_items))
        return view

    def same_for_everyone(self, at: float) -> tuple[float, float, bytes] | None:
        """When no event open at this instant needs a player hash: the interval and the entries
        (comma-separated) every context with these predicate results gets in it."""
        low, high, items, _ = self.at(at)
        if not items:
            return low, high, b""
        if len(items) == 1 and isinstance(items[0], bytes):
            return low, high, items[0]
        return None


class _Event:
    __slots__ = ("exposure_slot", "grants", "ranges", "segment", "variant_slot", "windows")

    def __init__(
        self,
        segment: int | None,
        windows: tuple[tuple[int | None, _Window], ...],
        grants: tuple[tuple[tuple[int, ...], float], ...] | None,
        exposure_slot: int,
        variant_slot: int,
        ranges: tuple[Range, ...],
    ) -> None:
        self.segment = segment
        self.windows = windows  # (region predicate or None, window)
        self.grants = grants  # (predicate tests, cut) per grant; None: no exposure
        self.exposure_slot = exposure_slot
        self.variant_slot = variant_slot
        self.ranges = ranges


class _Positions:
    """Players' hash positions per seed, computed on first need and remembered per player:
    hashing is pure Python, and the same players come back again and again."""

    MEMO_SIZE = 65536
    __slots__ = ("_memo", "states")

    def __init__(self, seeds: Sequence[str]) -> None:
        self.states = tuple(seed_state(seed) for seed in seeds)
        self._memo: dict[str, list[float | None]] = {}

    def of(self, unit: str) -> list[float | None]:
        found = self._memo.get(unit)
        if found is None:
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            found = self._memo[unit] = [None] * len(self.states)
        return found


class CompiledEvents:
    """A snapshot's `events` part, compiled: its predicates go into the snapshot's `tests`."""

    PLAN_MEMO_SIZE = 4096

    def __init__(self, events: Sequence[Mapping[str, Any]], tests: Tests) -> None:
        self._predicates = tests.predicates  # the snapshot's table (complete once it is compiled)
        seeds: list[str] = []

        def slot(seed: str) -> int:
            seeds.append(seed)
            return len(seeds) - 1

        compiled: list[_Event] = []
        for event in sorted(events, key=lambda e: str(e["id"])):
            seed = str(event.get("seed") or event["id"])
            segment = event.get("segment")
            grants = _grants(event.get("exposure"), tests)
            variants = event.get("variants") or []
            compiled.append(
                _Event(
                    None if segment is None else tests.segment(segment),
                    _windows(event, tests),
                    grants,
                    -1 if grants is None else slot(seed),
                    slot(f"{seed}:variant") if variants else -1,
                    tuple(bucket_ranges(len(variants), 1.0, _shares(variants))),
                )
            )
        self._events = tuple(compiled)
        used = {e.segment for e in compiled} | {r for e in compiled for r, _ in e.windows}
        used |= {t for e in compiled for tests_, _ in e.grants or () for t in tests_}
        self._used = tuple(sorted(i for i in used if i is not None))
        self._positions = _Positions(seeds)
        self._plans: dict[tuple[bool, ...], Plan] = {}

    def plan(self, bit: Callable[[int], bool]) -> Plan:
        """What applies once the predicates are known; `bit(i)` is predicate i's result."""
        key = tuple([bit(i) for i in self._used])
        found = self._plans.get(key)
        if found is None:
            found = self._reduce(dict(zip(self._used, key, strict=True)))
            if len(self._plans) >= self.PLAN_MEMO_SIZE:
                self._plans.clear()
            self._plans[key] = found
        return found

    def own_plan(self, attrs: Attributes) -> Plan:
        """The plan, computing only the predicates the events use."""
        predicates = self._predicates
        return self.plan(lambda i: predicates[i](attrs))

    def _reduce(self, bits: Mapping[int, bool]) -> Plan:
        found: list[tuple[tuple[_Window, ...], _Hashed | None]] = []
        for event in self._events:
            if event.segment is not None and not bits[event.segment]:
                continue
            windows = tuple(w for region, w in event.windows if region is None or bits[region])
            if not windows:
                continue
            cut = _NO_EXPOSURE
            if event.grants is not None:
                admitting = [c for tests, c in event.grants if all(bits[t] for t in tests)]
                if not admitting:
                    continue
                cut = max(admitting)  # the grants share the event's seed: the widest admits all
            hashed = None
            if event.exposure_slot >= 0 or event.variant_slot >= 0:
                hashed = (cut, event.exposure_slot, event.variant_slot, event.ranges)
            found.append((windows, hashed))
        return Plan(found)

    def _player(self, attrs: Attributes) -> tuple[str | None, list[float | None]]:
        unit = unit_id(attrs.get("playerId"))
        return unit, [] if unit is None else self._positions.of(unit)

    def _choice(self, hashed: _Hashed, unit: str | None, positions: list[float | None]) -> int:
        """The entry a player gets (0: no variant), or -1 when the exposure leaves them out."""
        cut, exposure_slot, variant_slot, ranges = hashed
        if unit is None:
            return 0 if cut == _NO_EXPOSURE else -1  # no player id: inside no exposure, no variant
        if exposure_slot >= 0:
            position = positions[exposure_slot]
            if position is None:
                position = positions[exposure_slot] = position_v2(self._positions.states[exposure_slot], unit)
            if position >= cut:
                return -1
        if variant_slot < 0:
            return 0
        choice = positions[variant_slot]  # a variant's slot remembers the choice, not the position
        if choice is None:
            n = position_v2(self._positions.states[variant_slot], unit)
            choice = positions[variant_slot] = choose_variation(n, ranges) + 1
        return int(choice)

    def active(self, plan: Plan, attrs: Attributes, at: float) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        player: tuple[str | None, list[float | None]] | None = None
        for entries, hashed in plan.at(at)[3]:
            if hashed is None:
                found.append(entries[0])
                continue
            if player is None:
                player = self._player(attrs)
            choice = self._choice(hashed, *player)
            if choice >= 0:
                found.append(entries[choice])
        return found

    def active_json(self, plan: Plan, attrs: Attributes, at: float) -> bytes:
        """The entries, comma-separated (the inside of the JSON array)."""
        items = plan.at(at)[2]
        if len(items) == 1 and isinstance(items[0], bytes):  # every event here applies to everyone
            return items[0]
        parts: list[bytes] = []
        player: tuple[str | None, list[float | None]] | None = None
        for item in items:
            if isinstance(item, bytes):
                parts.append(item)
                continue
            if player is None:
                player = self._player(attrs)
            choice = self._choice(item[1], *player)
            if choice >= 0:
                parts.append(item[0][choice])
        return b",".join(parts)


def _timestamp(raw: Any) -> float:
    at = datetime.fromisoformat(str(raw))
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()  # never the host's zone


def _shares(variants: Sequence[Mapping[str, Any]]) -> list[float] | None:
    """Each variant's share of the players, from its weight (weights need not sum to 100)."""
    weights = [max(float(v.get("weight", 0) or 0), 0.0) for v in variants]
    total = sum(weights)
    return [w / total for w in weights] if total > 0 else None


def _entries(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entry for each choice, without the window's times: the base configuration, then each
    variant's merged over it."""
    configuration = event.get("configuration")
    base: dict[str, Any] = {
        "class": event.get("class"),
        "configuration": configuration if configuration is not None else {},
        "description": event.get("description"),
        "displayName": event.get("displayName"),
        "id": event["id"],
        "milestones": event.get("milestones") or [],
        "objectives": event.get("objectives") or [],
        "theme": event.get("theme"),
        "type": event.get("type"),
        "variant": None,
        "version": event.get("version"),
    }
    found = [base]
    for variant in event.get("variants") or []:
        merged = deep_merge(base["configuration"], variant.get("configuration") or {})
        found.append({**base, "configuration": merged, "variant": variant["name"]})
    return found


def _windows(event: Mapping[str, Any], tests: Tests) -> tuple[tuple[int | None, _Window], ...]:
    """Each window with its region's predicate; a region's own windows come before the windows
    open everywhere, so a region-local schedule wins over a global one where both are open."""
    entries = _entries(event)
    found: list[tuple[int | None, _Window]] = []
    for raw in event.get("windows") or []:
        region = raw.get("region")
        timed = [{**entry, "endsAt": raw["end"], "startsAt": raw["start"]} for entry in entries]
        window: _Window = (
            _timestamp(raw["start"]),
            _timestamp(raw["end"]),
            tuple(orjson.dumps(entry, option=_SORTED) for entry in timed),
            tuple(timed),
        )
        found.append((None if region is None else tests.regions([region]), window))
    return tuple(sorted(found, key=lambda w: w[0] is None))  # stable: document order within each


def _grants(exposure: Any, tests: Tests) -> tuple[tuple[tuple[int, ...], float], ...] | None:
    """An exposure's grants as (predicate tests, cut); a grant of 0% admits nobody and is left
    out. The same meaning as a rollout's grants, hashed on `playerId` (`units` are player ids)."""
    if exposure is None:
        return None
    found: list[tuple[tuple[int, ...], float]] = []
    for grant in exposure:
        percentage = float(grant["percentage"])
        if percentage <= 0:
            continue
        admitted: list[int] = []
        if grant.get("regions") is not None:
            admitted.append(tests.regions(grant["regions"]))
        if grant.get("segment") is not None:
            admitted.append(tests.segment(grant["segment"]))
        if grant.get("units") is not None:
            admitted.append(tests.units("playerId", grant["units"]))
        found.append((tuple(admitted), percentage / 100 if percentage < 100 else 2.0))  # 2: every position
    return tuple(found)
