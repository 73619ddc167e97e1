"""Properties of hashing and bucketing that rollouts rely on."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotswap.targeting.bucketing import (
    bucket_ranges,
    choose_variation,
    fnv1a32,
    hash_unit,
    in_rollout,
    position_v2,
    seed_state,
)
from hotswap.targeting.conditions import ConditionError, compile_condition

IDS = 100_000


def _ids(seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"player-{rng.getrandbits(64):x}" for _ in range(IDS)]


@settings(max_examples=3)
@given(seed=st.integers(min_value=0, max_value=2**32), experiment=st.text(min_size=1, max_size=12))
def test_hashing_is_uniform_over_ten_buckets(seed: int, experiment: str) -> None:
    counts = Counter(min(int(hash_unit(experiment, unit, 2) * 10), 9) for unit in _ids(seed))  # type: ignore[operator]
    for bucket in range(10):
        share = counts[bucket] / IDS
        assert abs(share - 0.1) <= 0.01, (bucket, share)


@settings(max_examples=50)
@given(seed=st.text(max_size=12), units=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=200))
def test_raising_a_rollout_keeps_everyone_already_in(seed: str, units: list[str]) -> None:
    at_10 = {u for u in units if in_rollout(seed, u, 0.1)}
    at_30 = {u for u in units if in_rollout(seed, u, 0.3)}
    at_50 = {u for u in units if in_rollout(seed, u, 0.5)}
    assert at_10 <= at_30 <= at_50
    assert {u for u in units if in_rollout(seed, u, 1.0)} == set(units)
    assert not any(in_rollout(seed, u, 0.0) for u in units)


@given(unit=st.text(min_size=1, max_size=30), seed=st.text(max_size=10))
def test_the_same_unit_always_lands_in_the_same_place(unit: str, seed: str) -> None:
    first = hash_unit(seed, unit, 2)
    assert first is not None
    assert 0 <= first < 1
    assert hash_unit(seed, unit, 2) == first


def test_utf16_hashing_matches_javascript_for_characters_outside_the_bmp() -> None:
    # JavaScript hashes "😀" as two UTF-16 code units (a surrogate pair), not one code point.
    expected = 0x811C9DC5
    for unit in (0xD83D, 0xDE00):
        expected = ((expected ^ unit) * 0x01000193) & 0xFFFFFFFF
    assert fnv1a32("😀") == expected


@given(
    weights=st.lists(st.floats(min_value=0.01, max_value=1), min_size=2, max_size=5),
    coverage=st.floats(min_value=0, max_value=1),
    n=st.floats(min_value=0, max_value=0.9999),
)
def test_each_point_is_in_at_most_one_variation_and_coverage_shrinks_the_ranges(
    weights: list[float], coverage: float, n: float
) -> None:
    total = sum(weights)
    normalized = [w / total for w in weights]
    ranges = bucket_ranges(len(weights), coverage, normalized)
    assert sum(1 for start, end in ranges if start <= n < end) <= 1
    assert all(end - start == pytest.approx(coverage * w) for (start, end), w in zip(ranges, normalized, strict=True))
    index = choose_variation(n, ranges)
    assert index == -1 or ranges[index][0] <= n < ranges[index][1]


@pytest.mark.parametrize("bad", [[], "x", 1, {"$or": {"a": 1}}, {"$and": "x"}, {"$not": [1]}])
def test_conditions_that_cannot_be_compiled_are_refused(bad: object) -> None:
    with pytest.raises(ConditionError):
        compile_condition(bad)


@given(st.text(max_size=20), st.text(min_size=1, max_size=20))
def test_a_precomputed_seed_state_hashes_like_the_whole_string(seed: str, unit: str) -> None:
    assert position_v2(seed_state(seed), unit) == hash_unit(seed, unit, 2)
    assert fnv1a32(unit, fnv1a32(seed)) == fnv1a32(seed + unit)
