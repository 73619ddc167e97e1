"""Policies: the defaults, and overrides merged from plain JSON with field-path errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hotswap.analysis.policy import (
    DEFAULT_POLICY,
    PLAYER_METRICS,
    SERVER_METRICS,
    Direction,
    Kind,
    MetricPolicy,
    Scale,
    policy_from_json,
    policy_to_json,
)


def test_default_policy_carries_the_seed_triggers() -> None:
    table = {m.metric: (m.kind, m.direction, m.scale, m.critical, m.warning, m.ceiling) for m in DEFAULT_POLICY.metrics}
    up, down, rel, ab = Direction.HIGHER_IS_WORSE, Direction.LOWER_IS_WORSE, Scale.RELATIVE, Scale.ABSOLUTE
    assert table == {
        "crash": (Kind.PROPORTION, up, rel, 0.10, None, 0.20),
        "churn": (Kind.PROPORTION, up, rel, 0.05, 0.02, None),
        "complaint": (Kind.PROPORTION, up, ab, 0.01, None, 0.01),
        "session_duration": (Kind.LOG_MEAN, down, rel, None, 0.10, None),
        "engagement": (Kind.MEAN, down, rel, None, 0.15, None),
        "server_error_rate": (Kind.SERVER_RANK, up, rel, 0.20, None, None),
        "server_tick_rate": (Kind.SERVER_RANK, down, rel, 0.20, None, None),
    }
    assert set(PLAYER_METRICS) | set(SERVER_METRICS) == set(table)
    # 0.05 over seven metrics (Bonferroni).
    assert DEFAULT_POLICY.metric_alpha == pytest.approx(0.05 / 7)


def test_select_keeps_only_the_named_metrics_in_order() -> None:
    player = DEFAULT_POLICY.select(PLAYER_METRICS)
    assert [m.metric for m in player.metrics] == list(PLAYER_METRICS)
    assert player.metric_alpha == pytest.approx(0.01)
    with pytest.raises(KeyError):
        DEFAULT_POLICY.select(["fps"])


def test_override_merges_over_the_defaults_metric_by_metric() -> None:
    policy = policy_from_json(
        {
            "alpha": 0.02,
            "metrics": [
                {"metric": "crash", "critical": 0.2, "ceiling": None, "staleAfterSeconds": 60},
                {"metric": "engagement", "enabled": False},
                {"metric": "fps_p95", "kind": "mean", "direction": "lower_is_worse", "warning": 0.1},
            ],
        }
    )
    crash = policy["crash"]
    assert (crash.critical, crash.ceiling, crash.stale_after) == (0.2, None, timedelta(seconds=60))
    assert crash.min_samples == DEFAULT_POLICY["crash"].min_samples  # untouched keys keep the default
    assert "engagement" not in [m.metric for m in policy.metrics]
    assert policy["fps_p95"] == MetricPolicy("fps_p95", Kind.MEAN, Direction.LOWER_IS_WORSE, warning=0.1)
    assert (policy.alpha, policy.srm_threshold) == (0.02, DEFAULT_POLICY.srm_threshold)


def test_no_override_is_the_base_policy() -> None:
    assert policy_from_json(None) is DEFAULT_POLICY
    assert policy_from_json({}) == DEFAULT_POLICY


def test_policy_json_round_trips() -> None:
    doc = policy_to_json(DEFAULT_POLICY)
    assert doc["metrics"][0]["staleAfterSeconds"] == 900.0
    assert doc["metrics"][0]["kind"] == "proportion"
    assert policy_from_json(doc) == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "policy: expected an object"),
        ({"metrics": {"crash": {}}}, "metrics: expected a list"),
        ({"metrics": [{"metric": "crash", "critical": "x"}]}, r"metrics\[0\]\.critical: expected a number"),
        ({"metrics": [{"metric": "crash", "critical": True}]}, r"metrics\[0\]\.critical: expected a number"),
        ({"metrics": [{"metric": "crash", "critical": -1}]}, r"metrics\[0\]\.critical: must be a finite number"),
        ({"metrics": [{}, {"metric": "churn", "warning": 0.9}]}, r"metrics\[0\]\.metric: expected a metric name"),
        ({"metrics": [{"metric": "churn", "warning": 0.9}]}, r"metrics\[0\]\.warning: 0\.9 is past the critical"),
        ({"metrics": [{"metric": "crash", "critcal": 0.2}]}, r"metrics\[0\]\.critcal: unknown field"),
        ({"metrics": [{"metric": "crash", "kind": "median"}]}, r"metrics\[0\]\.kind: expected one of proportion"),
        ({"metrics": [{"metric": "crash", "minSamples": 1.5}]}, r"metrics\[0\]\.minSamples: expected a whole"),
        ({"metrics": [{"metric": "crash", "minSamples": 0}]}, r"metrics\[0\]\.minSamples: must be ≥ 1"),
        ({"metrics": [{"metric": "engagement", "minSamples": 1}]}, r"metrics\[0\]\.minSamples: must be ≥ 2"),
        ({"metrics": [{"metric": "crash", "staleAfterSeconds": 0}]}, r"metrics\[0\]\.staleAfterSeconds: must be > 0"),
        ({"metrics": [{"metric": "crash", "enabled": "no"}]}, r"metrics\[0\]\.enabled: expected true or false"),
        ({"metrics": [{"metric": "fps", "critical": 0.1}]}, r"metrics\[0\]: a new metric needs kind and direction"),
        ({"alpha": 0.7}, r"alpha: must be in \(0, 0.5\)"),
        ({"sampleRatioThreshold": "0.001"}, "sampleRatioThreshold: expected a number"),
        ({"alpah": 0.01}, r"policy\.alpah: unknown field"),
    ],
)
def test_bad_overrides_name_the_failing_field(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        policy_from_json(doc)
