"""How often the canary judge rolls back a healthy canary, and how fast it catches a bad one.

Targets: at most 1% of healthy canaries rolled back over 24 looks, and a
+50% crash-rate regression detected within 3 looks (median), at 1,000 canary / 9,000 baseline
players per look.

What it does, by simulation (a NumPy Generator with a fixed seed; the data are drawn vectorised,
then every look of every run is judged by `evaluate_look` with the default player policy, the
same functions the product calls):

- Each run is a deployment watched for `--looks` looks. At each look 10,000 players arrive, each
  sent to the canary with probability 0.1 (so about 1,000 canary / 9,000 baseline; the counts go
  to the sample-ratio check); aggregates are cumulative since the start.
- Per player and look: a crash with probability p (drawn per run, 2-5%), churn with probability
  1-4%, a complaint with probability 0.02-0.1%, one session whose duration is log-normal (median
  10-30 min, log sd 0.9), and an engagement score ~ N(50, 15). Means are drawn exactly from their
  sampling distributions (normal mean, chi-square sum of squares), which is what summing the
  players' values would give.
- Healthy runs: the canary is the baseline. It prints the share of runs rolled back at any look
  (and by which metric), the share ever held INCONCLUSIVE, and the share of looks on hold.
- Regressed runs: the canary's crash probability is p * (1 + effect); it prints the look at which
  the judge first says roll back (median and p90; "never" when not within the looks).

    .venv/bin/python bench/judge_accuracy.py [--healthy 1000] [--regressed 200] [--looks 24] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from hotswap.analysis.policy import DEFAULT_POLICY, PLAYER_METRICS, Policy
from hotswap.analysis.stats import Moments, Proportion
from hotswap.analysis.verdicts import Arm, MetricData, Outcome, UnitCounts, evaluate_look

PLAYERS_PER_LOOK, CANARY_SHARE = 10_000, 0.1
LOOK_EVERY = timedelta(minutes=30)
START = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Arms:
    """Cumulative aggregates for one arm, shaped (runs, looks)."""

    players: np.ndarray
    crashes: np.ndarray
    churned: np.ndarray
    complaints: np.ndarray
    log_duration: tuple[np.ndarray, np.ndarray]  # total, total of squares
    engagement: tuple[np.ndarray, np.ndarray]


def _moments(
    rng: np.random.Generator, n: np.ndarray, mean: np.ndarray, sd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (total, total of squares) of n ~ N(mean, sd^2) values per look, drawn exactly:
    the sample mean is normal and the centred sum of squares is sd^2 times a chi-square."""
    sample_mean = rng.normal(mean, sd / np.sqrt(n))
    centred_sq = sd**2 * rng.chisquare(np.maximum(n - 1, 1))
    return np.cumsum(n * sample_mean, axis=1), np.cumsum(centred_sq + n * sample_mean**2, axis=1)


def simulate(rng: np.random.Generator, runs: int, looks: int, crash_lift: float) -> tuple[Arms, Arms]:
    shape = (runs, looks)
    crash = rng.uniform(0.02, 0.05, (runs, 1))
    churn = rng.uniform(0.01, 0.04, (runs, 1))
    complaint = rng.uniform(0.0002, 0.001, (runs, 1))
    log_median = np.log(rng.uniform(10, 30, (runs, 1)))
    canary_players = rng.binomial(PLAYERS_PER_LOOK, CANARY_SHARE, shape)
    arms = []
    for players, lift in ((canary_players, crash_lift), (PLAYERS_PER_LOOK - canary_players, 0.0)):
        arms.append(
            Arms(
                players=np.cumsum(players, axis=1),
                crashes=np.cumsum(rng.binomial(players, np.minimum(1.0, crash * (1 + lift))), axis=1),
                churned=np.cumsum(rng.binomial(players, churn), axis=1),
                complaints=np.cumsum(rng.binomial(players, complaint), axis=1),
                log_duration=_moments(rng, players, np.broadcast_to(log_median, shape), np.full(shape, 0.9)),
                engagement=_moments(rng, players, np.full(shape, 50.0), np.full(shape, 15.0)),
            )
        )
    return arms[0], arms[1]


def _data(arm: Arms, run: int, look: int, now: datetime) -> dict[str, Arm]:
    players = int(arm.players[run, look])
    return {
        "crash": Arm(Proportion(int(arm.crashes[run, look]), players), now),
        "churn": Arm(Proportion(int(arm.churned[run, look]), players), now),
        "complaint": Arm(Proportion(int(arm.complaints[run, look]), players), now),
        "session_duration": Arm(
            Moments(players, float(arm.log_duration[0][run, look]), float(arm.log_duration[1][run, look])), now
        ),
        "engagement": Arm(
            Moments(players, float(arm.engagement[0][run, look]), float(arm.engagement[1][run, look])), now
        ),
    }


def judge_runs(
    policy: Policy, canary: Arms, baseline: Arms, *, stop_at_rollback: bool
) -> tuple[list[list[Outcome]], Counter[str], Counter[str]]:
    """The overall outcome at each look of each run (up to the first rollback when asked); how
    many looks each metric failed; what held the INCONCLUSIVE looks (a metric or the sample ratio)."""
    runs, looks = canary.players.shape
    outcomes: list[list[Outcome]] = []
    failed_by: Counter[str] = Counter()
    held_by: Counter[str] = Counter()
    for run in range(runs):
        seen: list[Outcome] = []
        for look in range(looks):
            now = START + LOOK_EVERY * (look + 1)
            c, b = _data(canary, run, look, now), _data(baseline, run, look, now)
            data = {name: MetricData(c[name], b[name]) for name in c}
            units = UnitCounts(int(canary.players[run, look]), int(baseline.players[run, look]), CANARY_SHARE)
            verdict = evaluate_look(policy, data, now=now, started_at=START, units=units)
            seen.append(verdict.outcome)
            if verdict.outcome is Outcome.INCONCLUSIVE:
                held_by.update(m.metric for m in verdict.metrics if m.outcome is not Outcome.SUCCESSFUL)
                if verdict.sample_ratio is not None and verdict.sample_ratio.mismatch:
                    held_by["sample ratio"] += 1
            if verdict.outcome is Outcome.FAILED:
                failed_by.update(m.metric for m in verdict.metrics if m.outcome is Outcome.FAILED)
                if stop_at_rollback:
                    break
        outcomes.append(seen)
    return outcomes, failed_by, held_by


def _looks(value: float) -> str:
    return "never" if np.isinf(value) else f"{value:.0f}"


def main(healthy: int, regressed: int, looks: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    policy = DEFAULT_POLICY.select(PLAYER_METRICS)
    started = time.perf_counter()
    print(
        f"policy: {', '.join(m.metric for m in policy.metrics)}; alpha {policy.alpha} overall, "
        f"{policy.metric_alpha:.4f} per metric; {looks} looks of ~{PLAYERS_PER_LOOK * CANARY_SHARE:,.0f} canary / "
        f"~{PLAYERS_PER_LOOK * (1 - CANARY_SHARE):,.0f} baseline players each; seed {seed}"
    )

    outcomes, failed_by, held_by = judge_runs(policy, *simulate(rng, healthy, looks, 0.0), stop_at_rollback=False)
    rolled_back = sum(Outcome.FAILED in seen for seen in outcomes) / healthy
    inconclusive = sum(Outcome.INCONCLUSIVE in seen for seen in outcomes) / healthy
    tally = Counter(o for seen in outcomes for o in seen)
    print(f"\nhealthy canaries: {healthy:,} runs of {looks} looks")
    print(f"  false rollback rate (runs rolled back at any look) {rolled_back:7.2%}")
    print(f"  hold rate (runs ever held INCONCLUSIVE)            {inconclusive:7.2%}")
    print(f"  looks failed by metric:  {dict(failed_by) or '-'}")
    print(f"  INCONCLUSIVE looks held by: {dict(held_by) or '-'}")
    print("  looks by outcome:        " + ", ".join(f"{o.value} {tally[o] / (healthy * looks):.2%}" for o in Outcome))
    verdicts = [f"false rollback rate <= 1%: {'met' if rolled_back <= 0.01 else 'missed'} ({rolled_back:.2%})"]

    print(f"\ncrash-rate regressions: {regressed} runs each; looks until the judge says roll back")
    for lift in (0.25, 0.50, 1.00):
        seen_runs, _, _ = judge_runs(policy, *simulate(rng, regressed, looks, lift), stop_at_rollback=True)
        first = np.array(
            [len(seen) if seen[-1] is Outcome.FAILED else np.inf for seen in seen_runs], dtype=float
        )  # 1-based look of the first rollback
        median, p90 = np.percentile(first, 50), np.percentile(first, 90)
        within3 = np.mean(first <= 3)
        print(
            f"  +{lift:4.0%}: median {_looks(median):>5}   p90 {_looks(p90):>5}   "
            f"detected within 3 looks {within3:6.1%}   within {looks} {np.mean(np.isfinite(first)):6.1%}"
        )
        if lift == 0.50:
            met = median <= 3
            verdicts.append(f"+50% detected within 3 looks (median): {'met' if met else 'missed'} ({_looks(median)})")

    print(f"\n(took {time.perf_counter() - started:.1f} s)")
    for line in verdicts:
        print(f"target {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--healthy", type=int, default=1000, help="healthy canaries to simulate")
    parser.add_argument("--regressed", type=int, default=200, help="runs per crash-rate regression")
    parser.add_argument("--looks", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    main(args.healthy, args.regressed, args.looks, args.seed)
