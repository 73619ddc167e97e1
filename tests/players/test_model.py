"""The players' pure rules: targeting attributes, elapsed days, attribute checks and merges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.core.errors import InvalidInput
from hotswap.players import model as m

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def player(**changes: Any) -> m.PlayerProfile:
    values: dict[str, Any] = {
        "id": "p-1",
        "attributes": {"country": "DE", "level": 12},
        "first_seen": NOW - timedelta(days=10, hours=3),
        "last_seen": NOW - timedelta(hours=30),
        "sessions": 4,
        "total_spend": 12.5,
        "created_at": NOW,
        "updated_at": NOW,
        "revision": 1,
    }
    return m.PlayerProfile(**{**values, **changes})


def refused_fields(call: Any, *args: Any) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        call(*args)
    return [e.field for e in caught.value.errors]


def test_targeting_attributes_flatten_attributes_and_properties() -> None:
    assert m.targeting_attributes(player(), NOW) == {
        "country": "DE",
        "level": 12,
        "playerId": "p-1",
        "firstSeen": "2026-05-22T09:00:00Z",
        "lastSeen": "2026-05-31T06:00:00Z",
        "daysSinceInstall": 10,
        "daysSinceLastLogin": 1,
        "sessions": 4,
        "totalSpend": 12.5,
    }


def test_maintained_properties_win_over_attributes_of_the_same_name() -> None:
    # The API refuses such names; a row written some other way still cannot fake them.
    attrs = m.targeting_attributes(player(attributes={"totalSpend": 1e9, "playerId": "x"}), NOW)
    assert attrs["totalSpend"] == 12.5
    assert attrs["playerId"] == "p-1"


def test_the_profile_is_not_changed() -> None:
    p = player()
    m.targeting_attributes(p, NOW)["country"] = "FR"
    assert p.attributes["country"] == "DE"


@pytest.mark.parametrize(
    ("elapsed", "days"),
    [
        (timedelta(0), 0),
        (timedelta(hours=23, minutes=59, seconds=59), 0),
        (timedelta(days=1), 1),
        (timedelta(days=6, hours=23), 6),
        (timedelta(days=400), 400),
        (-timedelta(hours=5), 0),  # a clock behind the store's: never negative
        (-timedelta(days=3), 0),
    ],
)
def test_days_since_is_whole_days_floored_never_negative(elapsed: timedelta, days: int) -> None:
    assert m.days_since(NOW - elapsed, NOW) == days


@given(st.integers(min_value=-(10**9), max_value=10**10))
def test_days_since_is_never_negative_and_floors(seconds: int) -> None:
    days = m.days_since(NOW - timedelta(seconds=seconds), NOW)
    assert days == max(0, seconds // 86400)


def test_iso_is_utc_with_z() -> None:
    from datetime import timezone

    assert m.iso(datetime(2026, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))) == "2026-06-01T12:00:00Z"


@pytest.mark.parametrize("name", sorted(m.RESERVED_ATTRIBUTES))
def test_reserved_names_are_refused(name: str) -> None:
    assert refused_fields(m.check_attributes, {name: 1, "ok": 2}, "body.attributes") == [f"body.attributes.{name}"]


@pytest.mark.parametrize("name", ["", "1st", "$where", "a.b", "has space", "x" * 101, "é"])
def test_malformed_names_are_refused(name: str) -> None:
    assert refused_fields(m.check_attributes, {name: 1}, "body.attributes") == [f"body.attributes.{name}"]


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), [1, float("-inf")], {"a": "b\x00"}, 2**63, -(2**63) - 1, {"k\x00": 1}],
)
def test_unstorable_values_are_refused(value: Any) -> None:
    assert refused_fields(m.check_attributes, {"bad": value, "good": 1}, "body.attributes") == ["body.attributes.bad"]


def test_deep_values_are_refused() -> None:
    deep: Any = 1
    for _ in range(m.MAX_ATTRIBUTE_DEPTH + 1):
        deep = [deep]
    assert refused_fields(m.check_attributes, {"deep": deep}, "body.attributes") == ["body.attributes.deep"]


def test_ordinary_attributes_pass() -> None:
    m.check_attributes(
        {"country": "DE", "level": 12, "vip_tier": None, "tags": ["a"], "_x": {"y": [1, 2.5]}, "A-b": True},
        "body.attributes",
    )


def test_attribute_set_bounds() -> None:
    m.check_attribute_set({f"k{i}": i for i in range(m.MAX_ATTRIBUTES)}, "body.attributes")
    too_many = {f"k{i}": i for i in range(m.MAX_ATTRIBUTES + 1)}
    assert refused_fields(m.check_attribute_set, too_many, "body.attributes") == ["body.attributes"]
    too_big = {"blob": "x" * m.MAX_ATTRIBUTES_BYTES}
    assert refused_fields(m.check_attribute_set, too_big, "body.attributes") == ["body.attributes"]


def test_replace_drops_nulls_and_merge_removes_them() -> None:
    assert m.replaced_attributes({"a": 1, "b": None}) == {"a": 1}
    current = {"a": 1, "b": {"x": 1}, "c": 3}
    assert m.merged_attributes(current, {"a": 2, "b": {"y": 2}, "c": None, "d": 4, "zz": None}) == {
        "a": 2,
        "b": {"y": 2},  # top-level keys only: a value is replaced whole
        "d": 4,
    }
    assert current == {"a": 1, "b": {"x": 1}, "c": 3}


@pytest.mark.parametrize("amount", [-0.01, float("nan"), float("inf"), m.MAX_PURCHASE + 1])
def test_purchase_bounds(amount: float) -> None:
    assert refused_fields(m.check_purchase, amount, "body.purchase") == ["body.purchase"]
    m.check_purchase(0, "body.purchase")
    m.check_purchase(4.99, "body.purchase")
