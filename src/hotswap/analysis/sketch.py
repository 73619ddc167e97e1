"""A mergeable quantile sketch for latency-like metrics (FPS, network latency, frame time).

DDSketch (Masson, Rim and Lee, VLDB 2019): a value x > 0 goes to bucket ceil(log_gamma x), with
gamma = (1 + a) / (1 - a) for relative accuracy a; a bucket answers with the value whose
relative distance to both its edges is a. Any quantile is then within a relative error of a of
the sample quantile (the value of rank floor(q * (n - 1)), 0-based), for as long as no buckets
were collapsed. Buckets are counts, so two sketches merge by adding counts: a sketch per
replica and window, merged in any order, equals the sketch of all the data. When a sketch would
exceed `max_bins` buckets, the lowest ones are folded together (the high quantiles that matter
for latency keep their guarantee; 2048 buckets at 1% cover 1 µs to over 10^8 s).

Why hand-written: Datadog's `ddsketch` package is the reference implementation, but it is not in
our lock files, it stores sketches as protobuf rather than the JSON document our JSON column
holds, and the part we need is this page. Values must be ≥ 0 (latencies and rates are); values
below `MIN_VALUE` count as zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MIN_VALUE = 1e-9  # smaller positive values are counted as zero: below any latency we measure


class QuantileSketch:
    """Counts per log-sized bucket, plus exact count, sum, min and max. Mutable: `add`, `merge`."""

    __slots__ = ("_bins", "_gamma_log", "count", "max", "max_bins", "min", "relative_accuracy", "total", "zero_count")

    def __init__(self, relative_accuracy: float = 0.01, max_bins: int = 2048) -> None:
        if not 0 < relative_accuracy < 1:
            raise ValueError(f"relative accuracy must be in (0, 1), got {relative_accuracy}")
        if max_bins < 1:
            raise ValueError(f"max_bins must be ≥ 1, got {max_bins}")
        self.relative_accuracy = relative_accuracy
        self.max_bins = max_bins
        self._gamma_log = math.log((1 + relative_accuracy) / (1 - relative_accuracy))
        self._bins: dict[int, int] = {}
        self.zero_count = 0
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float, count: int = 1) -> None:
        """Count `value` (≥ 0, finite) `count` times."""
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"the sketch takes finite values ≥ 0, got {value}")
        if count < 1:
            raise ValueError(f"count must be ≥ 1, got {count}")
        if value < MIN_VALUE:
            self.zero_count += count
        else:
            key = math.ceil(math.log(value) / self._gamma_log)
            self._bins[key] = self._bins.get(key, 0) + count
            self._collapse()
        self.count += count
        self.total += value * count
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def merge(self, other: QuantileSketch) -> None:
        """Add `other`'s counts to this sketch (both must have the same relative accuracy)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError("cannot merge sketches of different relative accuracy")
        for key, n in other._bins.items():
            self._bins[key] = self._bins.get(key, 0) + n
        self._collapse()
        self.zero_count += other.zero_count
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def quantile(self, q: float) -> float:
        """The q-quantile (0 ≤ q ≤ 1) within the relative accuracy; NaN when empty. q = 0 and q = 1
        are the exact min and max."""
        if not 0 <= q <= 1:
            raise ValueError(f"q must be in [0, 1], got {q}")
        if self.count == 0:
            return math.nan
        if q in (0, 1):
            return self.min if q == 0 else self.max
        rank = q * (self.count - 1)
        running = self.zero_count
        if running > rank:
            return max(0.0, self.min)
        for key in sorted(self._bins):
            running += self._bins[key]
            if running > rank:
                value = 2 * math.exp(key * self._gamma_log) / (1 + math.exp(self._gamma_log))
                return min(max(value, self.min), self.max)
        return self.max  # unreachable unless counts and bins disagree

    def _collapse(self) -> None:
        if len(self._bins) <= self.max_bins:
            return
        keys = sorted(self._bins)
        cut = len(keys) - self.max_bins  # fold the lowest `cut` buckets into the next one up
        fold, keep = keys[:cut], keys[cut]
        self._bins[keep] += sum(self._bins.pop(key) for key in fold)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QuantileSketch) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"QuantileSketch(count={self.count}, relative_accuracy={self.relative_accuracy})"

    def to_json(self) -> dict[str, Any]:
        """A JSON document (camelCase) that `from_json` reads back into an equal sketch."""
        return {
            "relativeAccuracy": self.relative_accuracy,
            "maxBins": self.max_bins,
            "count": self.count,
            "zeroCount": self.zero_count,
            "sum": self.total,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "bins": [[key, self._bins[key]] for key in sorted(self._bins)],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> QuantileSketch:
        """The sketch `to_json` wrote; ValueError if `doc` is not one."""
        try:
            sketch = cls(float(doc["relativeAccuracy"]), int(doc["maxBins"]))
            bins = {int(key): int(n) for key, n in doc["bins"]}
            sketch.zero_count, sketch.count, sketch.total = int(doc["zeroCount"]), int(doc["count"]), float(doc["sum"])
            if sketch.count:
                sketch.min, sketch.max = float(doc["min"]), float(doc["max"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored quantile sketch: {exc!r}") from exc
        if any(n < 1 for n in bins.values()) or sketch.zero_count < 0 or len(bins) > sketch.max_bins:
            raise ValueError("not a stored quantile sketch: bad bucket counts")
        if sum(bins.values()) + sketch.zero_count != sketch.count:
            raise ValueError("not a stored quantile sketch: bucket counts do not add up to the count")
        sketch._bins = bins
        return sketch
