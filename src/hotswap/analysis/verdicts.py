"""Verdicts: per metric and per look, from cumulative per-arm aggregates. Pure; time is passed in.

The caller (the ingestion side) builds, per metric, a `MetricData` of two `Arm`s, each an
aggregate summed since the deployment started plus when its last sample arrived, and calls
`evaluate_look(policy, data, now=..., started_at=..., units=...)`. The `LookVerdict` it gets back
says what to do (`action`: "rollback", "hold" or "continue", the values of
`rollouts.model.Verdict`), why, and carries every `MetricVerdict` with the numbers behind it;
`to_json()` gives camelCase dicts ready for a JSON column.

A metric's verdict, in the order the checks run:

1. ERROR when the canary's data is stale (no sample for longer than `stale_after`) or missing
   that long after the start; PENDING while it is missing but the deployment is younger. Never
   FAILED on stale or missing data.
2. FAILED when the canary alone passes the policy's `ceiling` (circuit breaker).
3. The same freshness check for the baseline, then PENDING below `min_samples` on either arm.
   A rate without trials (crashes reported, no session) has no level: it is never past a
   ceiling, and it is PENDING ("too few samples"), whatever its events.
4. The test (see `stats`): if the canary is significantly worse at the policy's per-metric alpha,
   its estimate is held against the gates: FAILED past critical, INCONCLUSIVE past warning,
   SUCCESSFUL within them. Not significantly worse: SUCCESSFUL.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hotswap.analysis import _explain as say
from hotswap.analysis.policy import Kind, MetricPolicy, Policy, Scale
from hotswap.analysis.stats import (
    Comparison,
    Moments,
    Proportion,
    compare_means,
    compare_proportions,
    compare_ranks,
    sample_ratio_p_value,
)


class Outcome(StrEnum):
    FAILED = "Failed"  # roll back now
    INCONCLUSIVE = "Inconclusive"  # hold and alert: a warning gate, or a sample-ratio mismatch
    PENDING = "Pending"  # not enough data yet: keep waiting
    ERROR = "Error"  # the metric source is failing: hold
    SUCCESSFUL = "Successful"  # continue


class Reason(StrEnum):
    CEILING = "ceiling"  # the canary passed the absolute circuit breaker
    CRITICAL = "critical"  # significantly worse, past the critical gate
    WARNING = "warning"  # significantly worse, past the warning gate
    WITHIN_GATES = "within_gates"  # significantly worse, but by less than any gate
    NOT_WORSE = "not_worse"  # not significantly worse
    TOO_FEW_SAMPLES = "too_few_samples"
    WAITING = "waiting"  # no data yet, deployment still young
    MISSING = "missing"  # no data long after the start
    STALE = "stale"  # data stopped arriving
    SAMPLE_RATIO = "sample_ratio"  # look-level: units per arm do not match the expected share


ArmValue = Proportion | Moments | tuple[float, ...]
_ACTION = {Outcome.FAILED: "rollback", Outcome.SUCCESSFUL: "continue"}


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm's aggregate since the deployment started: a `Proportion` (kind proportion),
    `Moments` (mean; `log_moments` for log_mean) or one value per server (server_rank), and when
    its last sample arrived (None: never)."""

    value: ArmValue
    last_sample_at: datetime | None


@dataclass(frozen=True, slots=True)
class MetricData:
    canary: Arm
    baseline: Arm


@dataclass(frozen=True, slots=True)
class UnitCounts:
    """Units (players or servers) seen per arm, and the share the canary should have."""

    canary: int
    baseline: int
    expected_share: float


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class MetricVerdict:
    """One metric at one look, with the numbers that produced it.

    `canary` / `baseline` are the arms' levels (rate, mean, geometric mean, median);
    `difference`, `low`, `high` are canary - baseline and its confidence-sequence bounds, except
    for log_mean where they are the relative change of the geometric mean (canary / baseline - 1);
    `change` is canary / baseline - 1; `effect` is what the gates were held against (`change` or
    the difference, by the policy's scale); `threshold` the gate or ceiling used, signed."""

    metric: str
    kind: Kind
    outcome: Outcome
    reason: Reason
    explanation: str
    canary_samples: int = 0
    baseline_samples: int = 0
    canary: float | None = None
    baseline: float | None = None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    change: float | None = None
    effect: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    alpha: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "kind": self.kind.value,
            "outcome": self.outcome.value,
            "reason": self.reason.value,
            "explanation": self.explanation,
            "canarySamples": self.canary_samples,
            "baselineSamples": self.baseline_samples,
            "canary": _finite(self.canary),
            "baseline": _finite(self.baseline),
            "difference": _finite(self.difference),
            "low": _finite(self.low),
            "high": _finite(self.high),
            "change": _finite(self.change),
            "effect": _finite(self.effect),
            "pValue": _finite(self.p_value),
            "threshold": self.threshold,
            "alpha": self.alpha,
        }


@dataclass(frozen=True, slots=True)
class SampleRatio:
    units: UnitCounts
    p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < self.threshold

    @property
    def explanation(self) -> str:
        total = self.units.canary + self.units.baseline
        share = self.units.canary / total if total else math.nan
        return (
            f"canary has {self.units.canary:,} of {total:,} units ({say.percent(share)}, expected "
            f"{say.percent(self.units.expected_share)}; chi-square p={self.p_value:.2g})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "canaryUnits": self.units.canary,
            "baselineUnits": self.units.baseline,
            "expectedShare": self.units.expected_share,
            "pValue": self.p_value,
            "threshold": self.threshold,
            "mismatch": self.mismatch,
        }


@dataclass(frozen=True, slots=True)
class LookVerdict:
    outcome: Outcome
    explanation: str
    metrics: tuple[MetricVerdict, ...]
    sample_ratio: SampleRatio | None = None

    @property
    def action(self) -> str:
        """What the rollout should do: "rollback", "hold" or "continue" (`rollouts.model.Verdict`)."""
        return _ACTION.get(self.outcome, "hold")

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "action": self.action,
            "explanation": self.explanation,
            "metrics": [m.to_json() for m in self.metrics],
            "sampleRatio": None if self.sample_ratio is None else self.sample_ratio.to_json(),
        }


def check_sample_ratio(units: UnitCounts, threshold: float = 0.001) -> SampleRatio:
    """Chi-square test of the units per arm against the expected canary share."""
    return SampleRatio(units, sample_ratio_p_value(units.canary, units.baseline, units.expected_share), threshold)


def evaluate_look(
    policy: Policy,
    data: Mapping[str, MetricData],
    *,
    now: datetime,
    started_at: datetime,
    units: UnitCounts | None = None,
) -> LookVerdict:
    """Every metric of `policy` at this look, combined. A policy metric absent from `data` counts
    as having no data (PENDING, then ERROR); metrics in `data` but not in `policy` are ignored.
    `started_at` is when the deployment (whose data is summed) started."""
    verdicts = [
        evaluate_metric(m, data.get(m.metric), now=now, started_at=started_at, alpha=policy.metric_alpha)
        for m in policy.metrics
    ]
    srm = None if units is None else check_sample_ratio(units, policy.srm_threshold)
    return combine(verdicts, srm)


def evaluate_metric(
    policy: MetricPolicy, data: MetricData | None, *, now: datetime, started_at: datetime, alpha: float
) -> MetricVerdict:
    """One metric's verdict at this look (see the module docstring for the order of checks).
    TypeError when an arm's value does not fit the policy's kind: that is a caller's bug."""
    canary, baseline = (None, None) if data is None else (data.canary, data.baseline)
    for arm in (canary, baseline):
        if arm is not None:
            _check_kind(policy, arm.value)
    stale = _freshness(policy, canary, "canary", now, started_at)
    if stale is not None:
        return stale
    assert canary is not None
    breaker = _ceiling(policy, canary.value)
    if breaker is not None:
        return breaker
    stale = _freshness(policy, baseline, "baseline", now, started_at)
    if stale is not None:
        return stale
    assert baseline is not None
    n_c, n_b = _samples(canary.value), _samples(baseline.value)
    if min(n_c, n_b) < policy.min_samples:
        short = [
            f"{n:,} of {policy.min_samples:,} on {w}"
            for n, w in ((n_c, "canary"), (n_b, "baseline"))
            if n < policy.min_samples
        ]
        text = f"{policy.name}: too few samples yet ({'; '.join(short)}), keep waiting"
        return MetricVerdict(policy.metric, policy.kind, Outcome.PENDING, Reason.TOO_FEW_SAMPLES, text, n_c, n_b)
    return _judge(policy, _compare(policy, canary.value, baseline.value, alpha), (n_c, n_b), alpha)


def combine(verdicts: Sequence[MetricVerdict], sample_ratio: SampleRatio | None = None) -> LookVerdict:
    """The look's verdict: any FAILED -> FAILED; else a sample-ratio mismatch, INCONCLUSIVE or
    ERROR -> hold (INCONCLUSIVE if any of the first two, else ERROR); else any PENDING -> PENDING;
    else SUCCESSFUL. Under a sample-ratio mismatch the arms are not comparable, so only a ceiling
    (which looks at the canary alone) can still fail the look."""
    metrics = tuple(verdicts)
    srm = sample_ratio is not None and sample_ratio.mismatch

    def names(outcome: Outcome, *, comparative: bool | None = None) -> list[str]:
        return [
            v.metric
            for v in metrics
            if v.outcome is outcome and (comparative is None or (v.reason is not Reason.CEILING) == comparative)
        ]

    failed = names(Outcome.FAILED, comparative=False) if srm else names(Outcome.FAILED)
    if failed:
        return LookVerdict(Outcome.FAILED, f"roll back: {', '.join(failed)} failed", metrics, sample_ratio)
    inconclusive, errors = names(Outcome.INCONCLUSIVE), names(Outcome.ERROR)
    if srm:
        inconclusive = [*names(Outcome.FAILED), *inconclusive]
    if srm or inconclusive or errors:
        parts = [f"sample-ratio mismatch: {sample_ratio.explanation}"] if srm and sample_ratio else []
        parts += [f"{', '.join(inconclusive)} inconclusive"] if inconclusive else []
        parts += [f"no fresh data for {', '.join(errors)}"] if errors else []
        outcome = Outcome.INCONCLUSIVE if srm or inconclusive else Outcome.ERROR
        return LookVerdict(outcome, f"hold: {'; '.join(parts)}", metrics, sample_ratio)
    pending = names(Outcome.PENDING)
    if pending or not metrics:
        text = (
            f"keep waiting: not enough data yet for {', '.join(pending)}"
            if pending
            else "keep waiting: no metrics to judge"
        )
        return LookVerdict(Outcome.PENDING, text, metrics, sample_ratio)
    return LookVerdict(Outcome.SUCCESSFUL, f"continue: all {len(metrics)} metrics healthy", metrics, sample_ratio)


# -- the steps -------------------------------------------------------------------------------

_EXPECTED: dict[Kind, type | tuple[type, ...]] = {
    Kind.PROPORTION: Proportion,
    Kind.MEAN: Moments,
    Kind.LOG_MEAN: Moments,
    Kind.SERVER_RANK: tuple,
}


def _check_kind(policy: MetricPolicy, value: ArmValue) -> None:
    if not isinstance(value, _EXPECTED[policy.kind]):
        raise TypeError(f"{policy.metric} is {policy.kind}, got a {type(value).__name__}")


def _samples(value: ArmValue) -> int:
    if isinstance(value, Proportion):
        return value.trials
    if isinstance(value, Moments):
        return value.count
    return len(value)


def _freshness(
    policy: MetricPolicy, arm: Arm | None, which: str, now: datetime, started_at: datetime
) -> MetricVerdict | None:
    limit = say.duration(policy.stale_after.total_seconds())
    if arm is None or arm.last_sample_at is None:
        waited = now - started_at
        if waited <= policy.stale_after:
            text = f"{policy.name}: no {which} data yet, keep waiting"
            return MetricVerdict(policy.metric, policy.kind, Outcome.PENDING, Reason.WAITING, text)
        after = say.duration(waited.total_seconds())
        text = f"{policy.name}: no {which} data {after} after the start (limit {limit}), hold"
        return MetricVerdict(policy.metric, policy.kind, Outcome.ERROR, Reason.MISSING, text)
    age = max(now - arm.last_sample_at, timedelta(0))  # a sample "from the future" is a skewed clock
    if age > policy.stale_after:
        text = f"{policy.name}: no {which} sample for {say.duration(age.total_seconds())} (limit {limit}), hold"
        return MetricVerdict(policy.metric, policy.kind, Outcome.ERROR, Reason.STALE, text)
    return None


def _level(kind: Kind, value: ArmValue) -> float:
    if isinstance(value, Proportion):
        return value.rate
    if isinstance(value, Moments):
        return math.exp(value.mean) if kind is Kind.LOG_MEAN else value.mean
    return statistics.median(value) if value else math.nan


def _ceiling(policy: MetricPolicy, value: ArmValue) -> MetricVerdict | None:
    if policy.ceiling is None or _samples(value) == 0:
        return None  # no gate, or no level to hold against it (a rate without trials has none)
    count = value.events if isinstance(value, Proportion) else _samples(value)
    level = _level(policy.kind, value)
    passed = level > policy.ceiling if policy.higher_is_worse else level < policy.ceiling
    if count < policy.ceiling_min_count or not passed:
        return None
    bound = "ceiling" if policy.higher_is_worse else "floor"
    counted = f"{count:,} events" if isinstance(value, Proportion) else f"{count:,} samples"
    text = (
        f"{policy.name} {say.level(policy, level)} on canary is past the {bound} "
        f"{say.level(policy, policy.ceiling)} ({counted}), roll back"
    )
    return MetricVerdict(
        policy.metric, policy.kind, Outcome.FAILED, Reason.CEILING, text, _samples(value), 0, level,
        threshold=policy.ceiling,
    )  # fmt: skip


def _compare(policy: MetricPolicy, canary: ArmValue, baseline: ArmValue, alpha: float) -> Comparison:
    worse, tight = policy.higher_is_worse, policy.tightest_at
    if isinstance(canary, Proportion) and isinstance(baseline, Proportion):
        return compare_proportions(canary, baseline, alpha=alpha, higher_is_worse=worse, tightest_at=tight)
    if isinstance(canary, Moments) and isinstance(baseline, Moments):
        return compare_means(canary, baseline, alpha=alpha, higher_is_worse=worse, tightest_at=tight)
    assert isinstance(canary, tuple)
    assert isinstance(baseline, tuple)
    return compare_ranks(canary, baseline, higher_is_worse=worse)


def _relative(canary: float, baseline: float) -> float:
    if baseline == 0:
        return 0.0 if canary == 0 else math.copysign(math.inf, canary)
    return (canary - baseline) / abs(baseline)


def _judge(policy: MetricPolicy, c: Comparison, samples: tuple[int, int], alpha: float) -> MetricVerdict:
    if policy.kind is Kind.LOG_MEAN:  # back from logs: levels are geometric means, bounds ratios
        canary, baseline = math.exp(c.canary), math.exp(c.baseline)
        difference, low, high = math.expm1(c.difference), math.expm1(c.low), math.expm1(c.high)
    else:
        canary, baseline, difference, low, high = c.canary, c.baseline, c.difference, c.low, c.high
    change = _relative(canary, baseline)
    effect = change if policy.scale is Scale.RELATIVE else canary - baseline
    harm = effect if policy.higher_is_worse else -effect
    significant = c.p_value <= alpha
    sign = 1.0 if policy.higher_is_worse else -1.0
    gates = [(Outcome.FAILED, Reason.CRITICAL, policy.critical), (Outcome.INCONCLUSIVE, Reason.WARNING, policy.warning)]
    outcome, reason = Outcome.SUCCESSFUL, Reason.WITHIN_GATES if significant else Reason.NOT_WORSE
    which, magnitude = "", None
    for gate_outcome, gate_reason, gate in gates:
        if gate is not None and significant and harm > gate:
            outcome, reason, which, magnitude = gate_outcome, gate_reason, gate_reason.value, gate
            break
    else:  # within every gate: the threshold reported is the tightest one, not reached
        unmet = [(name, g) for name, g in (("warning", policy.warning), ("critical", policy.critical)) if g is not None]
        which, magnitude = unmet[0] if unmet else ("", None)
    head = say.estimates(policy, canary, baseline, change, low, high, c.p_value, samples)
    text = f"{head}: {say.tail(policy, reason.value, which, magnitude)}"
    return MetricVerdict(
        policy.metric, policy.kind, outcome, reason, text, samples[0], samples[1], canary, baseline,
        difference, None if math.isnan(low) else low, None if math.isnan(high) else high, change, effect,
        c.p_value, None if magnitude is None else sign * magnitude, alpha,
    )  # fmt: skip
