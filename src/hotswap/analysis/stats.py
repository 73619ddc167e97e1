"""Aggregates per arm and the tests that compare canary with baseline. Pure: no I/O, no clock.

Aggregates are *mergeable*: the caller keeps one per window, arm and metric and adds them up
since the deployment started, so every look sees all the data so far.

- `Proportion(events, trials)` for rates (crashes / sessions, churned / active-before players).
- `Moments(count, total, total_sq)` for means; `log_moments` for metrics judged on the log scale
  (session duration), whose comparison is then a ratio of geometric means.
- Per-server values (a tuple of floats per arm) for server health, where canaries are few.

The tests:

- `compare_proportions` / `compare_means`: a one-sided *confidence sequence* on
  canary - baseline, i.e. an interval that holds at every look at once, however often one looks:
  P(the worse-direction bound is ever on the wrong side of the true difference) ≤ alpha. It is the
  one-sided normal-mixture boundary of Howard, Ramdas, McAuliffe and Sekhon (2021, "Time-uniform,
  nonparametric, nonasymptotic confidence sequences", §3.1; the `confseq` package's
  `OneSidedNormalMixture`), applied to the standardised difference with a plug-in variance,
  which makes it an *asymptotic* confidence sequence in the sense of Waudby-Smith et al. (2024,
  "Time-uniform central limit theory and asymptotic confidence sequences"). Its mixing scale is
  tuned so that the boundary is tightest when the canary has `tightest_at` samples, assuming the
  information grows in proportion to the canary's sample count (a fixed canary share). The
  p-value is 1 / the mixture martingale, valid at any look for the same reason.
- `compare_ranks`: SciPy's Mann-Whitney U, one-sided, on one value per server. With a handful of
  canary servers a rank test is the honest choice, but it is a fixed-sample test: looking again
  and again inflates its false alarms, which the policy's effect-size gate keeps in check.
- `sample_ratio_p_value`: SciPy's chi-square goodness of fit of the units seen per arm against
  the expected canary share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, special, stats


@dataclass(frozen=True, slots=True)
class Moments:
    """Count, sum and sum of squares of a metric's values: enough for a mean and a variance."""

    count: int
    total: float
    total_sq: float

    def __post_init__(self) -> None:
        if self.count < 0 or self.total_sq < 0:
            raise ValueError(f"not moments of any data: {self}")

    @classmethod
    def of(cls, values: Iterable[float]) -> Moments:
        data = np.fromiter(values, dtype=float)
        return cls(int(data.size), float(data.sum()), float(np.dot(data, data)))

    def merge(self, other: Moments) -> Moments:
        return Moments(self.count + other.count, self.total + other.total, self.total_sq + other.total_sq)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    @property
    def variance(self) -> float:
        """The sample variance (n - 1 in the denominator); NaN below two values."""
        if self.count < 2:
            return math.nan
        # The sum-of-squares form loses digits when the mean dwarfs the spread; never below zero.
        return max(0.0, (self.total_sq - self.total * self.total / self.count) / (self.count - 1))


def log_moments(values: Iterable[float]) -> Moments:
    """Moments of the natural logs of `values` (all > 0), for metrics judged on the log scale."""
    data = np.fromiter(values, dtype=float)
    if np.any(~(data > 0)):
        raise ValueError("log-scale metrics need values above zero")
    return Moments.of(np.log(data))


@dataclass(frozen=True, slots=True)
class Proportion:
    """`events` out of `trials` (crashes out of sessions, churned out of active-before players)."""

    events: int
    trials: int

    def __post_init__(self) -> None:
        if not 0 <= self.events <= self.trials:
            raise ValueError(f"need 0 <= events <= trials, got {self.events} of {self.trials}")

    @classmethod
    def observed(cls, events: int, trials: int) -> Proportion:
        """Events out of trials as reported, where each event belongs to one trial (a crash ends
        its session). Events beyond the trials belong to trials that were never reported (a
        session begun before the counting did) and are left out: the denominator does not hold
        them. Without trials there is no rate at all (NaN, "not enough data"), never 100%."""
        if events < 0 or trials < 0:
            raise ValueError(f"counts cannot be negative, got {events} of {trials}")
        return cls(min(events, trials), trials)

    def merge(self, other: Proportion) -> Proportion:
        return Proportion(self.events + other.events, self.trials + other.trials)

    @property
    def rate(self) -> float:
        """events / trials; NaN without trials (no denominator, no rate)."""
        return self.events / self.trials if self.trials else math.nan

    @property
    def rate_or_none(self) -> float | None:
        """The rate for an answer: None (JSON null) without trials."""
        return self.events / self.trials if self.trials else None


@dataclass(frozen=True, slots=True)
class Comparison:
    """Canary against baseline on the estimation scale: rates, means, means of logs or medians.

    `low` / `high` bound canary - baseline (each at `alpha`, so together a 1 - 2·alpha confidence
    sequence); NaN for the rank test, which has none. `p_value` is one-sided, in the worse
    direction."""

    canary: float
    baseline: float
    difference: float
    low: float
    high: float
    p_value: float


def _mixture_scale(progress: float, alpha: float) -> float:
    """rho of the standardised mixture (intrinsic time 1 = the information so far), chosen like
    confseq's `OneSidedNormalMixture.best_rho` for the time `progress` = n / tightest_at."""
    log_term = 2 * math.log(1 / (2 * alpha))
    return 1 / (max(progress, 1e-12) * (log_term + math.log(1 + log_term)))


def _log_mixture(z: float, rho: float) -> float:
    """Log of the one-sided normal-mixture martingale at standardised sum z (intrinsic time 1)."""
    return (
        0.5 * math.log(4 * rho / (1 + rho)) + z * z / (2 * (1 + rho)) + float(special.log_ndtr(z / math.sqrt(1 + rho)))
    )


@lru_cache(maxsize=4096)
def sequential_boundary(progress: float, alpha: float) -> float:
    """The z-score the standardised difference must pass, in the worse direction, for the
    one-sided confidence sequence at level `alpha` to exclude zero, when the canary has
    `progress` * `tightest_at` samples. Decreases towards ~3.4 (alpha 0.01) near progress 1, then
    grows slowly (like √log n) beyond: the price of being allowed to look at every step."""
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    rho = _mixture_scale(progress, alpha)
    target = math.log(1 / alpha)
    # Howard et al.'s closed-form bound on this boundary brackets the root from above.
    upper = math.sqrt(2 * (1 + rho) * math.log(1 + math.sqrt((1 + rho) / rho) / (2 * alpha)))
    while _log_mixture(upper, rho) < target:  # never taken in practice: a guard, not a loop
        upper *= 2
    root: float = optimize.brentq(lambda z: _log_mixture(z, rho) - target, 0.0, upper, xtol=1e-9)
    return root


def sequential_p_value(z: float, progress: float, alpha: float) -> float:
    """Anytime-valid one-sided p-value: 1 / the mixture martingale at standardised difference `z`
    (positive = worse). P(it is ever ≤ alpha under no harm) ≤ alpha, by Ville's inequality."""
    if math.isinf(z):
        return 0.0 if z > 0 else 1.0
    return min(1.0, math.exp(-_log_mixture(z, _mixture_scale(progress, alpha))))


def _sequential(
    canary: float, baseline: float, variance: float, progress: float, alpha: float, higher_is_worse: bool
) -> Comparison:
    difference = canary - baseline
    se = math.sqrt(variance)
    radius = sequential_boundary(progress, alpha) * se
    harm = difference if higher_is_worse else -difference
    # With no spread at all, any difference is certain.
    z = harm / se if se > 0 else (math.copysign(math.inf, harm) if harm else 0.0)
    return Comparison(
        canary, baseline, difference, difference - radius, difference + radius, sequential_p_value(z, progress, alpha)
    )


def compare_proportions(
    canary: Proportion, baseline: Proportion, *, alpha: float, higher_is_worse: bool, tightest_at: int
) -> Comparison:
    """Confidence sequence on canary rate - baseline rate (both arms need trials).

    The variance uses (events + ½) / (trials + 1) per arm, so an arm with no events yet still has
    some spread: zero crashes among the first 500 sessions is not proof of a zero crash rate."""
    if not canary.trials or not baseline.trials:
        raise ValueError("both arms need trials")
    variance = sum(
        p * (1 - p) / arm.trials for arm in (canary, baseline) for p in [(arm.events + 0.5) / (arm.trials + 1)]
    )
    progress = canary.trials / tightest_at
    return _sequential(canary.rate, baseline.rate, variance, progress, alpha, higher_is_worse)


def compare_means(
    canary: Moments, baseline: Moments, *, alpha: float, higher_is_worse: bool, tightest_at: int
) -> Comparison:
    """Confidence sequence on canary mean - baseline mean (Welch's variance; ≥ 2 values per arm).
    For `log_moments` the means are of logs and the difference is a log ratio."""
    if canary.count < 2 or baseline.count < 2:
        raise ValueError("both arms need at least two values")
    variance = canary.variance / canary.count + baseline.variance / baseline.count
    progress = canary.count / tightest_at
    return _sequential(canary.mean, baseline.mean, variance, progress, alpha, higher_is_worse)


def compare_ranks(canary: Sequence[float], baseline: Sequence[float], *, higher_is_worse: bool) -> Comparison:
    """Medians per arm and Mann-Whitney U's one-sided p-value that canary values tend to be worse."""
    if not canary or not baseline:
        raise ValueError("both arms need values")
    result = stats.mannwhitneyu(canary, baseline, alternative="greater" if higher_is_worse else "less")
    mid_c, mid_b = float(np.median(canary)), float(np.median(baseline))
    return Comparison(mid_c, mid_b, mid_c - mid_b, math.nan, math.nan, float(result.pvalue))


def sample_ratio_p_value(canary_units: int, baseline_units: int, expected_share: float) -> float:
    """Chi-square p-value of seeing these units per arm when the canary should get
    `expected_share` of them (1.0 when nothing was seen yet)."""
    if not 0 < expected_share < 1:
        raise ValueError(f"expected canary share must be in (0, 1), got {expected_share}")
    if canary_units < 0 or baseline_units < 0:
        raise ValueError("unit counts cannot be negative")
    total = canary_units + baseline_units
    if total == 0:
        return 1.0
    expected = np.array([total * expected_share, total * (1 - expected_share)])
    statistic = float(np.sum((np.array([canary_units, baseline_units]) - expected) ** 2 / expected))
    # Pearson's statistic by hand and SciPy's chi-square distribution: what `stats.chisquare` does
    # for two cells, without its per-call overhead (a millisecond, paid at every look).
    return float(stats.chi2.sf(statistic, df=1))
