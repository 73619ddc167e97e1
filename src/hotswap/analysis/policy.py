"""What a deployment is judged on: one `MetricPolicy` per metric, gathered in a `Policy`.

Thresholds are *effect-size gates on the estimate*, applied only once the test says the canary is
significantly worse: a critical gate passed means FAILED (roll back), a warning gate passed means
INCONCLUSIVE (hold and alert). They are magnitudes of harm, always ≥ 0, measured on the metric's
`scale`:

- `relative` (the default): canary / baseline - 1. A "crash rate increase > 10%" is
  a crash rate 10% above the baseline's (2.0% → 2.2%), not 10 percentage points. Used for every
  "increase / decrease / drop / degradation by X%" trigger: crash, churn, session duration,
  engagement, server health.
- `absolute`: canary - baseline in the metric's own units (for rates: a fraction, 0.01 = one
  percentage point). Used for complaints, a share of active players.

`ceiling` is a circuit breaker on the canary's own level in the worse direction (a floor when
lower is worse): passed with at least `ceiling_min_count` events (values, for means and servers),
it fails the canary at once, whatever the baseline says.

`policy_from_json` reads an override (camelCase, as stored and sent over the API) and merges it
over a base policy, metric by metric.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

SECONDS = "s"  # a metric's unit when its values are durations in seconds


class Kind(StrEnum):
    PROPORTION = "proportion"  # events / trials per arm
    MEAN = "mean"  # Moments per arm
    LOG_MEAN = "log_mean"  # Moments of log values per arm: judged as a ratio of geometric means
    SERVER_RANK = "server_rank"  # one value per server per arm: Mann-Whitney U


class Direction(StrEnum):
    HIGHER_IS_WORSE = "higher_is_worse"
    LOWER_IS_WORSE = "lower_is_worse"


class Scale(StrEnum):
    RELATIVE = "relative"
    ABSOLUTE = "absolute"


@dataclass(frozen=True, slots=True)
class MetricPolicy:
    """How one metric is judged. See the module docstring for the gates' scale."""

    metric: str
    kind: Kind
    direction: Direction
    critical: float | None = None  # harm past this, significant: FAILED
    warning: float | None = None  # harm past this, significant: INCONCLUSIVE
    scale: Scale = Scale.RELATIVE
    min_samples: int = 500  # per arm (trials, values or servers): PENDING below
    ceiling: float | None = None  # canary level past this: FAILED regardless of the baseline
    ceiling_min_count: int = 20  # events (proportions) or values needed before the ceiling counts
    stale_after: timedelta = timedelta(minutes=15)  # no sample for longer: ERROR
    tightest_at: int = 2000  # canary samples at which the confidence sequence is tightest
    label: str = ""  # for explanations: "crash rate"; the metric name when empty
    # For explanations: SECONDS shows levels as durations ("6.4 min"); empty, as plain numbers.
    # The built-in metrics' own; an override keeps its base's.
    unit: str = ""

    def __post_init__(self) -> None:
        for name in ("critical", "warning", "ceiling"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and (value >= 0 or name == "ceiling")):
                raise ValueError(f"{name}: must be a finite number ≥ 0, got {value}")
        if self.critical is not None and self.warning is not None and self.warning > self.critical:
            raise ValueError(f"warning: {self.warning} is past the critical {self.critical}")
        least = 2 if self.kind in (Kind.MEAN, Kind.LOG_MEAN) else 1
        if self.min_samples < least:
            raise ValueError(f"minSamples: must be ≥ {least} for {self.kind}, got {self.min_samples}")
        if self.ceiling_min_count < 1 or self.tightest_at < 1:
            raise ValueError("ceilingMinCount and tightestAt must be ≥ 1")
        if self.stale_after <= timedelta(0):
            raise ValueError("staleAfterSeconds: must be > 0")

    @property
    def higher_is_worse(self) -> bool:
        return self.direction is Direction.HIGHER_IS_WORSE

    @property
    def name(self) -> str:
        return self.label or self.metric


@dataclass(frozen=True, slots=True)
class Policy:
    """A deployment's metrics, `alpha` and sample-ratio threshold.

    `alpha` bounds the chance that any metric of the deployment raises a false alarm (FAILED or
    INCONCLUSIVE on a canary no worse than its baseline) over all looks: each metric is tested at
    alpha / number of metrics (Bonferroni). Only the rank test's share of it is fixed-sample."""

    metrics: tuple[MetricPolicy, ...]
    alpha: float = 0.05
    srm_threshold: float = 0.001  # sample-ratio mismatch when its chi-square p-value is below this
    _by_name: Mapping[str, MetricPolicy] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha: must be in (0, 0.5), got {self.alpha}")
        if not 0 < self.srm_threshold < 1:
            raise ValueError(f"sampleRatioThreshold: must be in (0, 1), got {self.srm_threshold}")
        by_name = {m.metric: m for m in self.metrics}
        if len(by_name) != len(self.metrics):
            raise ValueError("metrics: a metric is listed twice")
        object.__setattr__(self, "_by_name", by_name)

    @property
    def metric_alpha(self) -> float:
        return self.alpha / max(1, len(self.metrics))

    def __getitem__(self, metric: str) -> MetricPolicy:
        return self._by_name[metric]

    def select(self, metrics: Iterable[str]) -> Policy:
        """The same policy judged on `metrics` only (KeyError for one it does not have)."""
        return replace(self, metrics=tuple(self._by_name[name] for name in metrics))


_MAX_STALE_SECONDS = 30 * 86_400  # a sample older than 30 days is no sign of health
_PLAYER_STALE, _SERVER_STALE = timedelta(minutes=15), timedelta(minutes=5)
_UP, _DOWN = Direction.HIGHER_IS_WORSE, Direction.LOWER_IS_WORSE

# The automatic rollback triggers a game team expects by default; the comments give the reasons.
DEFAULT_POLICY = Policy(
    metrics=(
        # crashes / sessions. Ceiling: a fifth of sessions crashing is broken, whatever the baseline.
        MetricPolicy("crash", Kind.PROPORTION, _UP, critical=0.10, ceiling=0.20,
                     ceiling_min_count=50, label="crash rate"),
        # churned players / players active before; churn is measured over longer windows.
        MetricPolicy("churn", Kind.PROPORTION, _UP, critical=0.05, warning=0.02, stale_after=timedelta(hours=1),
                     label="churn rate"),
        # complaining / active players: "> 1% of active users", as points above the baseline and
        # as a ceiling on the canary's own share.
        MetricPolicy("complaint", Kind.PROPORTION, _UP, critical=0.01, scale=Scale.ABSOLUTE, ceiling=0.01,
                     label="complaint rate"),
        MetricPolicy("session_duration", Kind.LOG_MEAN, _DOWN, warning=0.10, label="session duration",
                     unit=SECONDS),
        MetricPolicy("engagement", Kind.MEAN, _DOWN, warning=0.15, label="engagement score"),
        # "Server health degradation > 20%": medians per server, a few canary servers.
        MetricPolicy("server_error_rate", Kind.SERVER_RANK, _UP, critical=0.20, min_samples=3,
                     stale_after=_SERVER_STALE, label="server error rate"),
        MetricPolicy("server_tick_rate", Kind.SERVER_RANK, _DOWN, critical=0.20, min_samples=3,
                     stale_after=_SERVER_STALE, label="server tick rate"),
    ),
)  # fmt: skip
PLAYER_METRICS = ("crash", "churn", "complaint", "session_duration", "engagement")
SERVER_METRICS = ("server_error_rate", "server_tick_rate")

_FIELDS: dict[str, str] = {  # JSON key -> attribute
    "metric": "metric",
    "kind": "kind",
    "direction": "direction",
    "critical": "critical",
    "warning": "warning",
    "scale": "scale",
    "minSamples": "min_samples",
    "ceiling": "ceiling",
    "ceilingMinCount": "ceiling_min_count",
    "staleAfterSeconds": "stale_after",
    "tightestAt": "tightest_at",
    "label": "label",
}
_OPTIONAL = {"critical", "warning", "ceiling"}  # may be null: no such gate


def policy_from_json(doc: Mapping[str, Any] | None, base: Policy = DEFAULT_POLICY) -> Policy:
    """`base` with the override `doc` merged over it; ValueError naming the failing field path.

    `doc` looks like {"alpha": 0.05, "sampleRatioThreshold": 0.001, "metrics": [{"metric":
    "crash", "critical": 0.2}, {"metric": "engagement", "enabled": false}]}. A listed metric keeps
    its base settings for the keys it leaves out; `null` removes an optional gate; `"enabled":
    false` drops the metric; a metric not in `base` must give at least `kind` and `direction`.
    Unknown keys are refused, so a typo is not silently ignored."""
    if doc is None:
        return base
    if not isinstance(doc, Mapping):
        raise ValueError(f"policy: expected an object, got {type(doc).__name__}")
    _refuse_unknown(doc, {"alpha", "sampleRatioThreshold", "metrics"}, "policy")
    metrics = {m.metric: m for m in base.metrics}
    items = doc.get("metrics", [])
    if not isinstance(items, list):
        raise ValueError("metrics: expected a list")
    for i, item in enumerate(items):
        path = f"metrics[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{path}: expected an object")
        _refuse_unknown(item, {*_FIELDS, "enabled"}, path)
        name = item.get("metric")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{path}.metric: expected a metric name")
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError(f"{path}.enabled: expected true or false")
        if not enabled:
            metrics.pop(name, None)
            continue
        metrics[name] = _metric(item, metrics.get(name), path)
    return Policy(  # its own errors already name their field: "alpha: must be in (0, 0.5)"
        metrics=tuple(metrics.values()),
        alpha=_number(doc, "alpha", base.alpha, "alpha"),
        srm_threshold=_number(doc, "sampleRatioThreshold", base.srm_threshold, "sampleRatioThreshold"),
    )


def policy_to_json(policy: Policy) -> dict[str, Any]:
    """The whole policy in the form `policy_from_json` reads (merged over any base, it is itself)."""

    def plain(value: Any) -> Any:
        if isinstance(value, timedelta):
            return value.total_seconds()
        return value.value if isinstance(value, StrEnum) else value

    metrics = [{key: plain(getattr(m, attr)) for key, attr in _FIELDS.items()} for m in policy.metrics]
    return {"alpha": policy.alpha, "sampleRatioThreshold": policy.srm_threshold, "metrics": metrics}


def _metric(item: Mapping[str, Any], base: MetricPolicy | None, path: str) -> MetricPolicy:
    if base is None and not {"kind", "direction"} <= item.keys():
        raise ValueError(f"{path}: a new metric needs kind and direction")
    values: dict[str, Any] = {}
    for key, attr in _FIELDS.items():
        if key not in item:
            continue
        value, where = item[key], f"{path}.{key}"
        if value is None and attr in _OPTIONAL:
            values[attr] = None
        elif attr in ("kind", "direction", "scale"):
            enum = {"kind": Kind, "direction": Direction, "scale": Scale}[attr]
            if value not in {member.value for member in enum}:
                raise ValueError(f"{where}: expected one of {', '.join(member.value for member in enum)}")
            values[attr] = enum(value)
        elif attr in ("min_samples", "ceiling_min_count", "tightest_at"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{where}: expected a whole number")
            values[attr] = value
        elif attr in ("metric", "label"):
            if not isinstance(value, str):
                raise ValueError(f"{where}: expected a string")
            values[attr] = value
        else:
            number = _number(item, key, None, where)
            if attr == "stale_after" and abs(number) > _MAX_STALE_SECONDS:  # timedelta overflows
                raise ValueError(f"{where}: at most {_MAX_STALE_SECONDS:,} seconds (30 days)")
            values[attr] = timedelta(seconds=number) if attr == "stale_after" else number
    try:
        return replace(base, **values) if base is not None else MetricPolicy(**values)
    except ValueError as exc:
        field_name = str(exc).split(":", 1)[0]
        if field_name in _FIELDS:
            raise ValueError(f"{path}.{exc}") from exc
        raise ValueError(f"{path}: {exc}") from exc


def _number(doc: Mapping[str, Any], key: str, default: float | None, where: str) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)  # an integer too wide for a double overflows
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{where}: expected a finite number")
    return number


def _refuse_unknown(doc: Mapping[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise ValueError(f"{path}.{unknown[0]}: unknown field")
