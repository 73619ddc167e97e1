"""One-sentence English explanations of verdicts: numbers formatted for people, not machines."""

from __future__ import annotations

import math

from hotswap.analysis.policy import SECONDS, Kind, MetricPolicy, Scale


def percent(fraction: float) -> str:
    """0.031 -> '3.1%'; small rates keep two significant digits (0.00052 -> '0.052%')."""
    value = fraction * 100
    return f"{value:.2g}%" if 0 < abs(value) < 1 else f"{value:.1f}%"


def number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def signed(value: float, text: str) -> str:
    return text if text.startswith("-") or not math.isfinite(value) else f"+{text}"


def change(fraction: float) -> str:
    """Relative change: 0.55 -> '+55%', -0.004 -> '-0.4%'."""
    if not math.isfinite(fraction):
        return "from zero"
    value = fraction * 100
    return f"{value:+.0f}%" if abs(value) >= 1 or value == 0 else f"{value:+.1f}%"


def points(fraction: float) -> str:
    value = fraction * 100
    return f"{value:+.1f}" if abs(value) >= 0.1 or value == 0 else f"{value:+.2g}"


def minutes(seconds: float) -> str:
    """A duration as people read a session's length: 45 -> '45 s', 384 -> '6.4 min', 9000 -> '2.5 h'."""
    if abs(seconds) < 60:
        return f"{seconds:.0f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def amount(policy: MetricPolicy, value: float) -> str:
    """A value in the metric's own unit: a duration for seconds, else a plain number."""
    return minutes(value) if policy.unit == SECONDS else number(value)


def level(policy: MetricPolicy, value: float) -> str:
    """A level of the metric as shown to people: rates in percent, the rest in their unit."""
    return percent(value) if policy.kind is Kind.PROPORTION else amount(policy, value)


def gate(policy: MetricPolicy, magnitude: float) -> str:
    """A threshold magnitude with the sign of harm: '+10%', '-20%', '+1 point'."""
    sign = "+" if policy.higher_is_worse else "-"
    if policy.scale is Scale.RELATIVE:
        return f"{sign}{magnitude * 100:.3g}%"
    if policy.kind is Kind.PROPORTION:
        pts = magnitude * 100
        return f"{sign}{pts:.3g} point{'' if pts == 1 else 's'}"
    return f"{sign}{amount(policy, magnitude)}"


def estimates(
    policy: MetricPolicy,
    canary: float,
    baseline: float,
    relative: float,
    low: float,
    high: float,
    p_value: float,
    samples: tuple[int, int],
) -> str:
    """'crash rate 3.1% on canary vs 2.0% on baseline (+55%, interval +0.4 to +1.8 points)'."""
    head = f"{policy.name} {level(policy, canary)} on canary vs {level(policy, baseline)} on baseline"
    if policy.kind is Kind.PROPORTION:
        detail = f"interval {points(low)} to {points(high)} points"
    elif policy.kind is Kind.MEAN:
        detail = f"interval {signed(low, amount(policy, low))} to {signed(high, amount(policy, high))}"
    elif policy.kind is Kind.LOG_MEAN:
        head = f"{head} (geometric means"
        detail = f"interval {change(low)} to {change(high)}"
        return f"{head}; {change(relative)}, {detail})"
    else:
        head = f"{policy.name} median {amount(policy, canary)} on canary vs {amount(policy, baseline)} on baseline"
        detail = f"Mann-Whitney p={p_value:.2g}, {samples[0]} vs {samples[1]} servers"
    return f"{head} ({change(relative)}, {detail})"


def tail(policy: MetricPolicy, reason: str, gate_name: str, magnitude: float | None) -> str:
    """What the estimate means: 'above the critical +10%, roll back'. `reason` is the verdict's
    reason; `gate_name` / `magnitude` the gate that was passed, or the tightest one not reached."""
    side = "above" if policy.higher_is_worse else "below"
    worse = "higher" if policy.higher_is_worse else "lower"
    shown = "" if magnitude is None else gate(policy, magnitude)
    if reason == "critical":
        return f"{side} the critical {shown}, roll back"
    if reason == "warning":
        return f"{side} the warning {shown}, hold"
    if reason == "within_gates":
        within = f" but within the {gate_name} {shown}" if magnitude is not None else ", no gate set"
        return f"significantly {worse}{within}, continue"
    return f"not significantly {worse}, continue"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
