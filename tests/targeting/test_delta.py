"""Snapshot deltas: diff then apply gives back the new document, whatever changed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.targeting.delta import DeltaMismatch, apply_delta, diff, same


def _doc(revision: int, **parts: Any) -> dict[str, Any]:
    return {"environment": "Production", "revision": revision, "configs": {}, "segments": {}, "rollouts": [], **parts}


def test_a_changed_config_is_sent_alone_and_whole() -> None:
    old = _doc(6, configs={"shop": {"value": {"price": 10}, "version": 1}, "pvp": {"value": {"a": 1}, "version": 3}})
    new = _doc(7, configs={"shop": {"value": {"price": 12}, "version": 2}, "pvp": {"value": {"a": 1}, "version": 3}})
    delta = diff(old, new)
    assert delta == {
        "base": 6,
        "environment": "Production",
        "revision": 7,
        "set": {"configs": {"shop": {"value": {"price": 12}, "version": 2}}},
    }
    assert apply_delta(old, delta) == new


def test_removed_entries_replaced_lists_and_dropped_parts() -> None:
    old = _doc(2, segments={"vip": {"condition": {}}, "new": {"condition": {}}}, rollouts=[{"id": "d1"}], extra=1)
    new = _doc(5, segments={"vip": {"condition": {}}}, rollouts=[], changedAt=None)
    delta = diff(old, new)
    assert delta["remove"] == {"segments": ["new"]}
    assert delta["replace"] == {"rollouts": [], "changedAt": None}
    assert delta["drop"] == ["extra"]
    assert apply_delta(old, delta) == new


def test_applying_leaves_the_held_document_as_it_was() -> None:
    old = _doc(1, configs={"a": {"value": 1}})
    new = _doc(2, configs={"b": {"value": 2}})
    apply_delta(old, diff(old, new))
    assert old == _doc(1, configs={"a": {"value": 1}})


def test_a_delta_applies_only_to_its_base_revision() -> None:
    delta = diff(_doc(3), _doc(4, configs={"a": {"value": 1}}))
    with pytest.raises(DeltaMismatch):
        apply_delta(_doc(2), delta)
    with pytest.raises(DeltaMismatch):
        apply_delta({**_doc(3), "environment": "Staging"}, delta)


def test_true_one_and_one_point_zero_are_different_values() -> None:
    """Python holds True == 1 == 1.0; conditions do not, so neither may a delta."""
    rule = {"condition": {"level": {"$eq": 1}}, "value": {"hp": 1}}
    for other in (True, 1.0):
        old = _doc(1, segments={"s": {"condition": {"vip": 1}}}, configs={"c": {"rules": [rule]}})
        new = _doc(
            2,
            segments={"s": {"condition": {"vip": other}}},
            configs={"c": {"rules": [{**rule, "condition": {"level": {"$eq": other}}}]}},
        )
        delta = diff(old, new)
        assert set(delta["set"]) == {"segments", "configs"}
        assert apply_delta(old, delta) == new
        assert orjson.dumps(apply_delta(old, delta), option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            new, option=orjson.OPT_SORT_KEYS
        )


def test_environments_must_match() -> None:
    with pytest.raises(ValueError, match="same environment"):
        diff(_doc(1), {**_doc(2), "environment": "Staging"})


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
_entries = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _values, max_size=4)
_documents = st.fixed_dictionaries(
    {"configs": _entries, "segments": _entries, "rollouts": st.lists(_values, max_size=2)},
    optional={"regions": _entries, "events": _values, "changedAt": st.none() | st.text(max_size=4)},
)


@given(_documents, _documents)
def test_diff_then_apply_is_the_new_document(old: dict[str, Any], new: dict[str, Any]) -> None:
    old = {**old, "environment": "Production", "revision": 1}
    new = {**new, "environment": "Production", "revision": 2}
    assert apply_delta(old, diff(old, new)) == new


def test_same_is_json_equality() -> None:
    assert same({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
    assert not same({"a": [True]}, {"a": [1]})
    assert not same(1, 1.0)
    assert same({"big": 2**70, "x": [True]}, {"big": 2**70, "x": [True]})  # beyond orjson: by hand
    assert not same({"big": 2**70, "x": [True]}, {"big": 2**70, "x": [1]})
