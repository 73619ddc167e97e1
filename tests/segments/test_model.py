"""The segments' pure rules: references from targeting rules, revisions, previews, built-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hotswap.core.errors import PreconditionFailed
from hotswap.players.model import PlayerProfile, targeting_attributes
from hotswap.segments.model import (
    BUILTIN_SEGMENTS,
    SEGMENT_ID,
    Segment,
    check_revision,
    context_problem,
    match_contexts,
)
from hotswap.targeting.conditions import compile_condition

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def segment(revision: int = 3) -> Segment:
    return Segment("vip", "VIP", None, {"a": 1}, False, NOW, "a", NOW, "a", revision)


def player(**changes: Any) -> PlayerProfile:
    values: dict[str, Any] = {
        "id": "p1",
        "attributes": {},
        "first_seen": NOW,
        "last_seen": NOW,
        "sessions": 0,
        "total_spend": 0.0,
        "created_at": NOW,
        "updated_at": NOW,
        "revision": 1,
    }
    return PlayerProfile(**{**values, **changes})


def test_check_revision() -> None:
    check_revision(segment(3), None)
    check_revision(segment(3), 3)
    with pytest.raises(PreconditionFailed) as caught:
        check_revision(segment(3), 2)
    assert caught.value.extra == {"currentRevision": 3}


@pytest.mark.parametrize("slug", ["vip", "new-players", "a", "0day", "eu.whales_2", "x" * 100])
def test_segment_ids_are_slugs(slug: str) -> None:
    assert SEGMENT_ID.match(slug)


@pytest.mark.parametrize("slug", ["", "VIP", "-vip", ".vip", "with space", "x" * 101, "ü"])
def test_segment_ids_refused(slug: str) -> None:
    assert not SEGMENT_ID.match(slug)


def test_match_contexts_keeps_order_and_matches_nothing_for_non_objects() -> None:
    predicate = compile_condition({"country": "DE"})
    assert match_contexts(predicate, [{"country": "DE"}, {"country": "FR"}, "DE", {}]) == [True, False, False, False]


def _builtin(segment_id: str) -> Any:
    return compile_condition(next(s for s in BUILTIN_SEGMENTS if s["id"] == segment_id)["condition"])


def test_vip_is_total_spend_of_at_least_100() -> None:
    vip = _builtin("vip")
    assert not vip(targeting_attributes(player(total_spend=99.99), NOW))
    assert vip(targeting_attributes(player(total_spend=100.0), NOW))


def test_new_players_installed_less_than_7_days_ago() -> None:
    new = _builtin("new-players")
    installed = NOW - timedelta(days=7)
    assert new(targeting_attributes(player(first_seen=installed + timedelta(seconds=1)), NOW))
    assert not new(targeting_attributes(player(first_seen=installed), NOW))


def test_inactive_players_not_seen_for_14_days_or_more() -> None:
    inactive = _builtin("inactive-players")
    seen = NOW - timedelta(days=14)
    assert inactive(targeting_attributes(player(last_seen=seen), NOW))
    assert not inactive(targeting_attributes(player(last_seen=seen + timedelta(minutes=1)), NOW))


def test_context_problem() -> None:
    assert context_problem({"a": [1, {"b": "c"}], "n": 2**63 - 1}) is None
    assert context_problem({"n": 2**63}) == "integers must fit in 64 bits"
    deep: Any = 1
    for _ in range(33):
        deep = [deep]
    assert context_problem({"x": deep}) == "nested more than 32 levels"
    assert context_problem(deep[0]) is None
