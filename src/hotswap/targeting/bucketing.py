"""Deterministic hashing and bucketing, bit-for-bit compatible with GrowthBook's SDKs.

A unit (player or server id) hashes to a number in [0, 1); ranges of that interval are the
variations, or the steps of a rollout. The same id always lands in the same place, so a rollout
raised from 10% to 30% keeps everyone who was already in. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF

Range = tuple[float, float]


def fnv1a32(text: str, state: int = _FNV_OFFSET) -> int:
    """32-bit FNV-1a over UTF-16 code units, as JavaScript's charCodeAt sees the string.
    `state` continues a hash: fnv1a32(b, fnv1a32(a)) == fnv1a32(a + b)."""
    h = state
    if text.isascii():
        for byte in text.encode():
            h = ((h ^ byte) * _FNV_PRIME) & _MASK
        return h
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        h = ((h ^ (data[i] | data[i + 1] << 8)) * _FNV_PRIME) & _MASK
    return h


def hash_unit(seed: str, value: str, version: int) -> float | None:
    """Where `value` falls in [0, 1) for this seed. Version 2 hashes twice, which spreads
    sequential ids evenly; version 1 is kept for compatibility. Other versions: None."""
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def seed_state(seed: str) -> int:
    """The hash state after a seed, computed once: `position_v2(seed_state(s), v)` equals
    `hash_unit(s, v, 2)` and hashes only the unit id per call."""
    return fnv1a32(seed)


def position_v2(state: int, value: str) -> float:
    return (fnv1a32(str(fnv1a32(value, state))) % 10000) / 10000


def equal_weights(n: int) -> list[float]:
    return [1 / n] * n if n > 0 else []


def bucket_ranges(n: int, coverage: float = 1.0, weights: Sequence[float] | None = None) -> list[Range]:
    """One [start, end) range per variation: each variation's share of the interval, of which
    the first `coverage` fraction is used. Weights that don't fit (wrong count, not summing to
    1) fall back to equal weights."""
    coverage = min(max(coverage, 0.0), 1.0)
    equal = equal_weights(n)
    chosen = list(weights) if weights is not None and len(weights) == n else equal
    if not 0.99 <= sum(chosen) <= 1.01:
        chosen = equal
    ranges: list[Range] = []
    cumulative = 0.0
    for weight in chosen:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[Sequence[float]]) -> int:
    """The index of the range holding `n`, or -1 when it falls in none (outside coverage)."""
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return -1


def in_namespace(unit_id: str, namespace: tuple[str, float, float]) -> bool:
    """Namespaces keep experiments mutually exclusive: each takes its own slice of one hash."""
    name, start, end = namespace
    n = hash_unit("__" + name, unit_id, 1)
    return n is not None and start <= n < end


def in_rollout(seed: str, unit_id: str, coverage: float, version: int = 2) -> bool:
    """Whether a unit is inside a rollout that covers `coverage` of all units. The unit's place
    depends only on seed and id, never on the coverage, so raising a rollout keeps everyone
    who was already in."""
    if coverage <= 0 or not unit_id:
        return False
    n = hash_unit(seed, unit_id, version)
    return n is not None and n <= coverage
