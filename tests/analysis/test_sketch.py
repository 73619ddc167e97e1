"""The quantile sketch: bounded relative error, merges like the concatenation, stored as JSON."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.analysis.sketch import QuantileSketch

latencies = st.lists(st.floats(0.0, 1e6, allow_nan=False), max_size=200)


def sketch_of(values: list[float], **options: float) -> QuantileSketch:
    sketch = QuantileSketch(**options)  # type: ignore[arg-type]
    for value in values:
        sketch.add(value)
    return sketch


def test_a_value_lands_in_its_log_bucket_and_comes_back_within_one_percent() -> None:
    # gamma = 1.01 / 0.99 = 1.020202; ln gamma = 0.0200007; 100 goes to ceil(4.60517 / 0.0200007)
    # = ceil(230.25) = 231: the bucket (gamma^230, gamma^231] = (99.50, 101.51], which answers
    # 2 · gamma^231 / (gamma + 1) = 100.49, 1% from either edge.
    two = sketch_of([100.0, 1000.0])
    assert two.to_json()["bins"] == [[231, 1], [346, 1]]  # 1000: ceil(6.90776 / 0.0200007) = ceil(345.38)
    assert two.quantile(0.4) == pytest.approx(100.4946, rel=1e-5)
    assert (two.quantile(0.0), two.quantile(1.0)) == (100.0, 1000.0)  # the exact min and max
    assert sketch_of([100.0]).quantile(0.5) == 100.0  # answers are clamped to [min, max]


def test_median_of_one_to_a_hundred() -> None:
    # rank 0.5 · 99 = 49.5: the 50th smallest value (0-based index 49), that is 50.
    sketch = sketch_of([float(v) for v in range(1, 101)])
    assert sketch.quantile(0.5) == pytest.approx(50.0, rel=0.01)
    assert sketch.quantile(0.99) == pytest.approx(99.0, rel=0.01)
    assert (sketch.count, sketch.mean, sketch.min, sketch.max) == (100, 50.5, 1.0, 100.0)


def test_zeros_count_apart() -> None:
    sketch = sketch_of([0.0, 0.0, 0.0, 5.0])
    assert sketch.quantile(0.5) == 0.0  # rank 1.5 falls among the three zeros
    assert sketch.quantile(1.0) == 5.0


def test_empty_sketch_has_no_quantiles() -> None:
    assert math.isnan(QuantileSketch().quantile(0.5))


@pytest.mark.parametrize("value", [-1.0, math.inf, math.nan])
def test_refuses_values_it_cannot_bucket(value: float) -> None:
    with pytest.raises(ValueError, match="finite values"):
        QuantileSketch().add(value)


@given(latencies, st.floats(0, 1))
def test_quantiles_are_within_the_relative_accuracy(values: list[float], q: float) -> None:
    sketch = sketch_of(values)
    if not values:
        return
    truth = sorted(values)[math.floor(q * (len(values) - 1))]
    assert sketch.quantile(q) == pytest.approx(truth, rel=0.01, abs=1e-9)


@given(latencies, latencies)
def test_merging_sketches_equals_the_sketch_of_the_concatenation(a: list[float], b: list[float]) -> None:
    merged = sketch_of(a)
    merged.merge(sketch_of(b))
    whole = sketch_of(a + b)
    left, right = merged.to_json(), whole.to_json()
    assert left.pop("sum") == pytest.approx(right.pop("sum"))  # float sums depend on the order
    assert left == right


@given(latencies)
def test_json_round_trip_gives_an_equal_sketch(values: list[float]) -> None:
    sketch = sketch_of(values)
    back = QuantileSketch.from_json(json.loads(json.dumps(sketch.to_json())))
    assert back == sketch
    assert back.quantile(0.9) == sketch.quantile(0.9) or math.isnan(sketch.quantile(0.9))


def test_too_many_buckets_fold_the_lowest_and_keep_the_high_quantiles() -> None:
    values = [1.5**i for i in range(60)]  # 60 distinct buckets
    sketch = sketch_of(values, max_bins=10)
    assert len(sketch.to_json()["bins"]) == 10
    assert sketch.quantile(0.99) == pytest.approx(sorted(values)[58], rel=0.01)
    assert sketch.count == 60


def test_sketches_of_different_accuracy_do_not_merge() -> None:
    with pytest.raises(ValueError, match="relative accuracy"):
        QuantileSketch(0.01).merge(QuantileSketch(0.02))


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"relativeAccuracy": 0.01, "maxBins": 8, "count": 2, "zeroCount": 0, "sum": 1, "min": 0.5, "max": 0.5,
         "bins": [[1, 1]]},
        {"relativeAccuracy": 0.01, "maxBins": 8, "count": 1, "zeroCount": 0, "sum": 1, "min": 1, "max": 1,
         "bins": [[1, 0], [2, 1]]},
        {"relativeAccuracy": 2, "maxBins": 8, "count": 0, "zeroCount": 0, "sum": 0, "min": None, "max": None,
         "bins": []},
    ],
)  # fmt: skip
def test_from_json_refuses_what_is_not_a_stored_sketch(doc: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"sketch|accuracy"):
        QuantileSketch.from_json(doc)
