"""Per-metric and per-look verdicts, on hand-computed cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.analysis.policy import DEFAULT_POLICY, Direction, Kind, MetricPolicy
from hotswap.analysis.stats import Moments, Proportion, log_moments
from hotswap.analysis.verdicts import (
    Arm,
    ArmValue,
    MetricData,
    MetricVerdict,
    Outcome,
    Reason,
    UnitCounts,
    check_sample_ratio,
    combine,
    evaluate_look,
    evaluate_metric,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
START = NOW - timedelta(hours=1)
FRESH = NOW - timedelta(minutes=1)
CRASH, CHURN = DEFAULT_POLICY["crash"], DEFAULT_POLICY["churn"]


def pair(canary: ArmValue, baseline: ArmValue) -> MetricData:
    return MetricData(Arm(canary, FRESH), Arm(baseline, FRESH))


def judge(policy: MetricPolicy, data: MetricData | None, *, started_at: datetime = START) -> MetricVerdict:
    return evaluate_metric(policy, data, now=NOW, started_at=started_at, alpha=0.01)


def test_canary_fails_when_crash_rate_rises_past_the_critical_gate() -> None:
    # 3.1% vs 2.0%: +55% relative, far past +10%; se 0.0017961 (see test_stats), and the boundary
    # at 10,000 / 2,000 = 5 is 3.463, so the interval is 0.011 ± 0.0062 = +0.48 to +1.72 points.
    v = judge(CRASH, pair(Proportion(310, 10_000), Proportion(1_800, 90_000)))
    assert (v.outcome, v.reason) == (Outcome.FAILED, Reason.CRITICAL)
    assert v.explanation == (
        "crash rate 3.1% on canary vs 2.0% on baseline (+55%, interval +0.5 to +1.7 points): "
        "above the critical +10%, roll back"
    )
    assert v.change == pytest.approx(0.55)
    assert v.effect == pytest.approx(0.55)
    assert (v.threshold, v.alpha) == (0.10, 0.01)
    assert (v.canary_samples, v.baseline_samples) == (10_000, 90_000)


def test_churn_between_the_gates_holds() -> None:
    # 3.12% vs 3.00%: +4%, between the warning +2% and the critical +5%. se = sqrt(0.0312 · 0.9688
    # / 1e6 + 0.03 · 0.97 / 9e6) = 1.83e-4; z = 0.0012 / 1.83e-4 = 6.6: significant.
    v = judge(CHURN, pair(Proportion(31_200, 1_000_000), Proportion(270_000, 9_000_000)))
    assert (v.outcome, v.reason, v.threshold) == (Outcome.INCONCLUSIVE, Reason.WARNING, 0.02)
    assert v.explanation.endswith(": above the warning +2%, hold")


def test_equal_rates_continue() -> None:
    # 2.0% on both arms: (200.5 / 10,001) · (1 - that) / 10,000 = 1.9646e-6, plus
    # (1,800.5 / 90,001) · (1 - that) / 90,000 = 2.178e-7: se 0.0014773; 3.463 · se = 0.0051.
    v = judge(CRASH, pair(Proportion(200, 10_000), Proportion(1_800, 90_000)))
    assert (v.outcome, v.reason, v.p_value) == (Outcome.SUCCESSFUL, Reason.NOT_WORSE, 1.0)
    assert v.explanation.endswith("(+0%, interval -0.5 to +0.5 points): not significantly higher, continue")


def test_a_significant_rise_within_the_gates_continues() -> None:
    # 2.1% vs 2.0% on 10M / 90M sessions: +5%, z ≈ 21, but within the critical +10%.
    v = judge(CRASH, pair(Proportion(210_000, 10_000_000), Proportion(1_800_000, 90_000_000)))
    assert (v.outcome, v.reason) == (Outcome.SUCCESSFUL, Reason.WITHIN_GATES)
    assert v.explanation.endswith(": significantly higher but within the critical +10%, continue")


def test_shorter_sessions_are_judged_on_geometric_means() -> None:
    # Canary 17/1.5, 17, 17·1.5 (geometric mean 17) against 20/1.5, 20, 20·1.5 (20): -15%, past
    # the warning -10%. Log sd ln 1.5 = 0.405 per arm; se = sqrt(0.11 / 1,200 + 0.11 / 3,600) =
    # 0.011, z = ln(17 / 20) / 0.011 = -14.7: significant.
    canary = log_moments([17 / 1.5, 17.0, 17 * 1.5] * 400)
    baseline = log_moments([20 / 1.5, 20.0, 20 * 1.5] * 1_200)
    v = judge(DEFAULT_POLICY["session_duration"], pair(canary, baseline))
    assert (v.outcome, v.reason, v.threshold) == (Outcome.INCONCLUSIVE, Reason.WARNING, -0.10)
    assert [v.canary, v.baseline, v.difference] == pytest.approx([17, 20, -0.15])
    assert v.low is not None
    assert v.high is not None
    assert v.low < -0.15 < v.high < 0
    assert v.explanation.startswith("session duration 17 s on canary vs 20 s on baseline (geometric means; -15%")
    assert v.explanation.endswith(": below the warning -10%, hold")


def test_session_durations_are_explained_with_their_unit() -> None:
    canary = log_moments([384 / 1.5, 384.0, 384 * 1.5] * 400)
    baseline = log_moments([9000 / 1.5, 9000.0, 9000 * 1.5] * 1_200)
    v = judge(DEFAULT_POLICY["session_duration"], pair(canary, baseline))
    assert v.explanation.startswith("session duration 6.4 min on canary vs 2.5 h on baseline (geometric means")
    # A metric without a unit is a plain number.
    plain = MetricPolicy("load", Kind.LOG_MEAN, Direction.LOWER_IS_WORSE, warning=0.1)
    assert judge(plain, pair(canary, baseline)).explanation.startswith("load 384 on canary vs 9,000 on baseline")


def test_few_canary_servers_with_a_lower_tick_rate_fail_the_rank_test() -> None:
    # All 3 canary servers below all 20 baseline ones: p = 1 / C(23, 3) = 1 / 1,771 = 0.000565.
    # Medians 41 vs 60.95: -32.7%, past the critical -20%.
    baseline = tuple(60 + 0.1 * i for i in range(20))
    v = judge(DEFAULT_POLICY["server_tick_rate"], pair((40.0, 41.0, 42.0), baseline))
    assert (v.outcome, v.reason, v.threshold) == (Outcome.FAILED, Reason.CRITICAL, -0.20)
    assert v.p_value == pytest.approx(1 / 1771)
    assert v.change == pytest.approx(41 / 60.95 - 1)
    assert (v.low, v.high) == (None, None)
    assert "Mann-Whitney p=0.00056, 3 vs 20 servers" in v.explanation


def test_the_ceiling_fails_the_canary_whatever_the_baseline() -> None:
    # 300 crashes in 1,000 sessions: 30% > the 20% ceiling, with 300 ≥ 50 events; the baseline
    # has sent nothing for an hour.
    data = MetricData(Arm(Proportion(300, 1_000), FRESH), Arm(Proportion(0, 0), NOW - timedelta(hours=1)))
    v = judge(CRASH, data)
    assert (v.outcome, v.reason, v.threshold) == (Outcome.FAILED, Reason.CEILING, 0.20)
    assert v.explanation == "crash rate 30.0% on canary is past the ceiling 20.0% (300 events), roll back"


def test_the_ceiling_needs_its_minimum_count() -> None:
    # 30 of 100 is 30%, but 30 events < 50: no breaker, and 100 < 500 sessions: keep waiting.
    v = judge(CRASH, pair(Proportion(30, 100), Proportion(1_800, 90_000)))
    assert (v.outcome, v.reason) == (Outcome.PENDING, Reason.TOO_FEW_SAMPLES)
    assert v.explanation == "crash rate: too few samples yet (100 of 500 on canary), keep waiting"


def test_crashes_without_sessions_are_not_enough_data_rather_than_a_regression() -> None:
    # 100 crashes reported, no session: no crash rate at all (not 100%, past the 20% ceiling).
    v = judge(CRASH, pair(Proportion.observed(100, 0), Proportion(40, 2_000)))
    assert (v.outcome, v.reason, v.canary) == (Outcome.PENDING, Reason.TOO_FEW_SAMPLES, None)
    assert v.explanation == "crash rate: too few samples yet (0 of 500 on canary), keep waiting"
    floor = MetricPolicy("retention", Kind.PROPORTION, Direction.LOWER_IS_WORSE, ceiling=0.5, ceiling_min_count=1)
    assert judge(floor, pair(Proportion(0, 0), Proportion(40, 2_000))).outcome is Outcome.PENDING


def test_stale_canary_data_is_an_error_not_a_failure() -> None:
    data = MetricData(Arm(Proportion(900, 1_000), NOW - timedelta(minutes=20)), Arm(Proportion(20, 1_000), FRESH))
    v = judge(CRASH, data)
    assert (v.outcome, v.reason) == (Outcome.ERROR, Reason.STALE)
    assert v.explanation == "crash rate: no canary sample for 20 min (limit 15 min), hold"


def test_missing_data_waits_then_errors() -> None:
    young = judge(CRASH, None, started_at=NOW - timedelta(minutes=5))
    assert (young.outcome, young.reason) == (Outcome.PENDING, Reason.WAITING)
    old = judge(CRASH, None)
    assert (old.outcome, old.reason) == (Outcome.ERROR, Reason.MISSING)
    assert old.explanation == "crash rate: no canary data 60 min after the start (limit 15 min), hold"


def test_an_aggregate_of_the_wrong_kind_is_a_caller_bug() -> None:
    with pytest.raises(TypeError, match="crash is proportion, got a Moments"):
        judge(CRASH, pair(Moments.of([1.0, 2.0]), Moments.of([1.0, 2.0])))


stale_or_missing = st.one_of(st.none(), st.integers(16, 600).map(lambda m: NOW - timedelta(minutes=m)))
proportions = st.integers(0, 5_000).flatmap(lambda n: st.integers(0, n).map(lambda e: Proportion(e, n)))


@given(proportions, proportions, stale_or_missing, st.booleans(), st.integers(0, 600))
def test_never_failed_on_stale_or_missing_data(
    canary: Proportion, baseline: Proportion, last: datetime | None, canary_is_stale: bool, age: int
) -> None:
    other = Arm(baseline if canary_is_stale else canary, NOW - timedelta(minutes=age % 15))
    stale = Arm(canary if canary_is_stale else baseline, last)
    data = MetricData(stale, other) if canary_is_stale else MetricData(other, stale)
    v = judge(CRASH, data)
    # Only the ceiling, which reads the canary alone and only when it is fresh, may fail it.
    assert v.outcome is not Outcome.FAILED or (not canary_is_stale and v.reason is Reason.CEILING)


def _verdict(metric: str, outcome: Outcome, reason: Reason = Reason.NOT_WORSE) -> MetricVerdict:
    return MetricVerdict(metric, Kind.PROPORTION, outcome, reason, f"{metric} says {outcome}")


@pytest.mark.parametrize(
    ("outcomes", "expected", "action", "explanation"),
    [
        ([Outcome.SUCCESSFUL, Outcome.FAILED, Outcome.ERROR], Outcome.FAILED, "rollback", "roll back: b failed"),
        (
            [Outcome.INCONCLUSIVE, Outcome.ERROR, Outcome.PENDING],
            Outcome.INCONCLUSIVE,
            "hold",
            "hold: a inconclusive; no fresh data for b",
        ),
        ([Outcome.ERROR, Outcome.PENDING], Outcome.ERROR, "hold", "hold: no fresh data for a"),
        ([Outcome.SUCCESSFUL, Outcome.PENDING], Outcome.PENDING, "hold", "keep waiting: not enough data yet for b"),
        ([Outcome.SUCCESSFUL, Outcome.SUCCESSFUL], Outcome.SUCCESSFUL, "continue", "continue: all 2 metrics healthy"),
        ([], Outcome.PENDING, "hold", "keep waiting: no metrics to judge"),
    ],
)
def test_combine_takes_the_most_urgent_outcome(
    outcomes: list[Outcome], expected: Outcome, action: str, explanation: str
) -> None:
    look = combine([_verdict(name, o) for name, o in zip("abc", outcomes, strict=False)])
    assert (look.outcome, look.action, look.explanation) == (expected, action, explanation)


def test_a_sample_ratio_mismatch_holds_the_look_but_not_a_ceiling() -> None:
    # 1,100 of 10,000 on canary where 10% was expected: p = 0.000858 < 0.001.
    srm = check_sample_ratio(UnitCounts(1_100, 8_900, 0.1))
    assert srm.mismatch
    compared = combine([_verdict("crash", Outcome.FAILED, Reason.CRITICAL)], srm)
    assert (compared.outcome, compared.action) == (Outcome.INCONCLUSIVE, "hold")
    assert compared.explanation == (
        "hold: sample-ratio mismatch: canary has 1,100 of 10,000 units (11.0%, expected 10.0%; "
        "chi-square p=0.00086); crash inconclusive"
    )
    breaker = combine([_verdict("crash", Outcome.FAILED, Reason.CEILING)], srm)
    assert breaker.outcome is Outcome.FAILED
    assert not check_sample_ratio(UnitCounts(1_050, 8_950, 0.1)).mismatch


def test_evaluate_look_judges_every_policy_metric_and_serialises_to_json() -> None:
    policy = DEFAULT_POLICY.select(["crash", "complaint"])
    look = evaluate_look(
        policy,
        {"crash": pair(Proportion(310, 10_000), Proportion(1_800, 90_000)), "unknown": pair((1.0,), (1.0,))},
        now=NOW,
        started_at=START,
        units=UnitCounts(10_000, 90_000, 0.1),
    )
    assert look.outcome is Outcome.FAILED
    assert [(m.metric, m.outcome) for m in look.metrics] == [("crash", Outcome.FAILED), ("complaint", Outcome.ERROR)]
    assert look.metrics[0].alpha == pytest.approx(0.025)  # 0.05 over two metrics
    doc = json.loads(json.dumps(look.to_json(), allow_nan=False))
    assert doc["action"] == "rollback"
    assert doc["sampleRatio"]["mismatch"] is False
    crash = doc["metrics"][0]
    assert set(crash) >= {"metric", "outcome", "explanation", "pValue", "canarySamples", "low", "high", "threshold"}
    assert (crash["outcome"], crash["threshold"], crash["canarySamples"]) == ("Failed", 0.1, 10_000)


def test_json_has_no_infinities() -> None:
    # A rate rising from zero is an infinite relative change: stored as null, not Infinity.
    complaint = DEFAULT_POLICY["complaint"]
    v = judge(complaint, pair(Proportion(5, 1_000), Proportion(0, 9_000)))
    assert v.change == float("inf")
    assert v.to_json()["change"] is None
    json.dumps(v.to_json(), allow_nan=False)
