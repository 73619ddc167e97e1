"""Aggregates and tests of the canary judge, on hand-computed cases and a few properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from hotswap.analysis.stats import (
    Moments,
    Proportion,
    compare_means,
    compare_proportions,
    compare_ranks,
    log_moments,
    sample_ratio_p_value,
    sequential_boundary,
    sequential_p_value,
)

values = st.lists(st.floats(-1e3, 1e3, allow_nan=False), max_size=40)


def test_moments_of_values_give_mean_and_sample_variance() -> None:
    # 2, 4, 6: count 3, total 12, total_sq 4 + 16 + 36 = 56; mean 4;
    # variance (56 - 12² / 3) / 2 = (56 - 48) / 2 = 4.
    m = Moments.of([2.0, 4.0, 6.0])
    assert m == Moments(3, 12.0, 56.0)
    assert m.mean == 4.0
    assert m.variance == 4.0


def test_moments_below_two_values_have_no_variance() -> None:
    assert math.isnan(Moments.of([5.0]).variance)
    assert math.isnan(Moments(0, 0.0, 0.0).mean)


def test_log_moments_sum_natural_logs_and_refuse_non_positive_values() -> None:
    # ln 1 = 0, ln e² = 2: count 2, total 2, total_sq 4.
    m = log_moments([1.0, math.e**2])
    assert m.count == 2
    assert m.total == pytest.approx(2.0)
    assert m.total_sq == pytest.approx(4.0)
    with pytest.raises(ValueError, match="above zero"):
        log_moments([3.0, 0.0])


@given(values, values)
def test_merging_moments_equals_moments_of_the_concatenation(a: list[float], b: list[float]) -> None:
    merged = Moments.of(a).merge(Moments.of(b))
    whole = Moments.of(a + b)
    assert merged.count == whole.count
    assert merged.total == pytest.approx(whole.total, abs=1e-6)
    assert merged.total_sq == pytest.approx(whole.total_sq, rel=1e-9, abs=1e-6)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), max_size=10))
def test_merging_proportions_adds_events_and_trials(windows: list[tuple[int, int]]) -> None:
    total = Proportion(0, 0)
    for events, extra in windows:
        total = total.merge(Proportion(events, events + extra))
    assert total == Proportion(sum(e for e, _ in windows), sum(e + x for e, x in windows))


def test_a_proportion_cannot_have_more_events_than_trials() -> None:
    with pytest.raises(ValueError, match="events <= trials"):
        Proportion(5, 4)


def test_an_observed_rate_has_no_value_without_trials_rather_than_a_rate_of_one() -> None:
    crashes_alone = Proportion.observed(5, 0)
    assert crashes_alone == Proportion(0, 0)
    assert math.isnan(crashes_alone.rate)
    assert crashes_alone.rate_or_none is None
    # 12 crashes in 10 reported sessions: two belong to sessions never reported.
    assert Proportion.observed(12, 10) == Proportion(10, 10)
    assert Proportion.observed(3, 10).rate_or_none == 0.3
    assert Proportion.observed(0, 10).rate_or_none == 0.0
    with pytest.raises(ValueError, match="negative"):
        Proportion.observed(-1, 10)


def test_boundary_is_where_the_one_sided_normal_mixture_reaches_one_over_alpha() -> None:
    # alpha 0.01, progress 1: L = 2 ln(1 / 0.02) = 7.824; rho = 1 / (L + ln(1 + L)) = 1 / 10.0015.
    # The mixture at z is sqrt(4 rho / (1 + rho)) · exp(z² / (2 (1 + rho))) · Φ(z / sqrt(1 + rho)).
    alpha, rho = 0.01, 1 / (7.824046 + math.log(8.824046))
    z = sequential_boundary(1.0, alpha)
    log_mixture = (
        0.5 * math.log(4 * rho / (1 + rho)) + z**2 / (2 * (1 + rho)) + scipy_stats.norm.logcdf(z / math.sqrt(1 + rho))
    )
    assert log_mixture == pytest.approx(math.log(1 / alpha), abs=1e-6)
    assert z == pytest.approx(3.353, abs=1e-3)  # vs 2.326 for a single look: the price of peeking


def test_boundary_is_tightest_near_the_tuned_sample_count() -> None:
    at = [sequential_boundary(progress, 0.01) for progress in (0.1, 1.0, 100.0)]
    assert at[1] < at[0]
    assert at[1] < at[2]


def test_p_value_is_alpha_exactly_on_the_boundary() -> None:
    z = sequential_boundary(2.0, 0.05)
    assert sequential_p_value(z, 2.0, 0.05) == pytest.approx(0.05, rel=1e-6)
    assert sequential_p_value(0.0, 2.0, 0.05) == 1.0
    assert sequential_p_value(math.inf, 2.0, 0.05) == 0.0


def test_false_alarms_stay_below_alpha_however_often_one_looks() -> None:
    # 20,000 null random walks seen at 24 looks (equal information per look, tuned for look 2):
    # the share that ever crosses the boundary must stay below alpha, where a fixed-sample
    # one-sided test at the same alpha (z > 1.645) crosses far more often.
    rng = np.random.default_rng(11)
    looks = np.arange(1, 25)
    z = np.cumsum(rng.standard_normal((20_000, 24)), axis=1) / np.sqrt(looks)
    boundary = np.array([sequential_boundary(k / 2, 0.05) for k in looks])
    assert (z > boundary).any(axis=1).mean() <= 0.05
    assert (z > 1.645).any(axis=1).mean() > 0.2


def test_compare_proportions_on_a_hand_computed_case() -> None:
    # Canary 310 / 10,000 = 3.1%, baseline 1,800 / 90,000 = 2.0%: difference 0.011.
    # Variance with (events + 0.5) / (trials + 1): 0.0310469 · 0.9689531 / 10,000 = 3.00831e-6,
    # 0.0200053 · 0.9799947 / 90,001 = 2.17833e-7; total 3.22614e-6, se 0.00179615.
    # Progress 10,000 / 2,000 = 5; z = 0.011 / 0.00179615 = 6.124, far past the boundary.
    c = compare_proportions(
        Proportion(310, 10_000), Proportion(1_800, 90_000), alpha=0.01, higher_is_worse=True, tightest_at=2_000
    )
    radius = sequential_boundary(5.0, 0.01) * 0.00179615
    assert (c.canary, c.baseline) == (0.031, 0.02)
    assert c.difference == pytest.approx(0.011)
    assert c.low == pytest.approx(0.011 - radius, rel=1e-4)
    assert c.high == pytest.approx(0.011 + radius, rel=1e-4)
    assert c.p_value < 1e-6


def test_a_better_canary_is_never_significantly_worse() -> None:
    # The same numbers with lower as the worse direction: the canary's rate is higher, so better.
    c = compare_proportions(
        Proportion(310, 10_000), Proportion(1_800, 90_000), alpha=0.01, higher_is_worse=False, tightest_at=2_000
    )
    assert c.p_value == 1.0


def test_compare_means_uses_welch_variance() -> None:
    # Canary 1, 2, 3 (mean 2, var 1); baseline 2, 4, 6 (mean 4, var 4): difference -2,
    # variance 1/3 + 4/3 = 5/3, se 1.29099; progress 3 / 2,000.
    c = compare_means(
        Moments.of([1.0, 2.0, 3.0]), Moments.of([2.0, 4.0, 6.0]), alpha=0.05, higher_is_worse=False, tightest_at=2000
    )
    radius = sequential_boundary(3 / 2000, 0.05) * math.sqrt(5 / 3)
    assert c.difference == -2.0
    assert (c.low, c.high) == pytest.approx((-2 - radius, -2 + radius))


@given(
    st.integers(0, 400),
    st.integers(400, 2000),
    st.integers(0, 400),
    st.integers(400, 2000),
    st.integers(2, 50),
)
def test_intervals_shrink_with_more_data(ec: int, nc: int, eb: int, nb: int, k: int) -> None:
    # The same rates seen over k times the trials: a narrower interval.
    def width(scale: int) -> float:
        c = compare_proportions(
            Proportion(ec * scale, nc * scale),
            Proportion(eb * scale, nb * scale),
            alpha=0.01,
            higher_is_worse=True,
            tightest_at=1000,
        )
        return c.high - c.low

    assert width(k) < width(1)


def test_rank_test_on_a_hand_computed_case() -> None:
    # Every canary value (3, 4, 5) is above every baseline value (1, 2): U = 6, the most extreme
    # of C(5, 2) = 10 equally likely rankings, so the exact one-sided p-value is 1 / 10.
    c = compare_ranks((3.0, 4.0, 5.0), (1.0, 2.0), higher_is_worse=True)
    assert c.p_value == pytest.approx(0.1)
    assert (c.canary, c.baseline, c.difference) == (4.0, 1.5, 2.5)
    assert math.isnan(c.low)
    assert compare_ranks((3.0, 4.0, 5.0), (1.0, 2.0), higher_is_worse=False).p_value == pytest.approx(1.0)


def test_sample_ratio_p_value_on_a_hand_computed_case() -> None:
    # 1,100 of 10,000 units on canary, 10% expected: expected 1,000 / 9,000;
    # chi-square 100² / 1,000 + 100² / 9,000 = 11.111, 1 df: p = 2 (1 - Φ(3.3333)) = 0.000858.
    assert sample_ratio_p_value(1_100, 8_900, 0.1) == pytest.approx(0.000858, rel=1e-3)
    assert sample_ratio_p_value(1_000, 9_000, 0.1) == pytest.approx(1.0)
    assert sample_ratio_p_value(0, 0, 0.1) == 1.0
    with pytest.raises(ValueError, match="share"):
        sample_ratio_p_value(1, 1, 1.0)
