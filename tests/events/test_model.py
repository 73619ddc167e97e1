"""Live events, the pure model: lifecycle, scheduling rules, region-local times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.event_templates.model import EventClass
from hotswap.events.model import (
    EVERYWHERE,
    EventAction,
    EventStatus,
    IllegalTransition,
    Planned,
    TimeMode,
    Window,
    allowed_actions,
    conflicts,
    local_to_utc,
    span,
    transition,
    utc_to_local,
    windows_for,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)
A, S = EventAction, EventStatus


def test_the_lifecycle_as_drawn() -> None:
    status = S.SCHEDULED
    for action, expected in [
        (A.ACTIVATE, S.ACTIVE),
        (A.PAUSE, S.PAUSED),
        (A.RESUME, S.ACTIVE),
        (A.EXPIRE, S.EXPIRED),
        (A.ARCHIVE, S.ARCHIVED),
    ]:
        status = transition(status, action)
        assert status is expected
    assert transition(S.SCHEDULED, A.CANCEL) is S.CANCELLED
    assert transition(S.PAUSED, A.EXPIRE) is S.EXPIRED  # a paused event still ends on time
    assert transition(S.CANCELLED, A.ARCHIVE) is S.ARCHIVED


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (S.ACTIVE, A.ACTIVATE),
        (S.ACTIVE, A.CANCEL),
        (S.SCHEDULED, A.PAUSE),
        (S.EXPIRED, A.RESUME),
        (S.ARCHIVED, A.ARCHIVE),
        (S.CANCELLED, A.ACTIVATE),
    ],
)
def test_illegal_steps_are_refused_saying_what_is_allowed(status: EventStatus, action: EventAction) -> None:
    with pytest.raises(IllegalTransition, match=f"cannot {action.value}") as raised:
        transition(status, action)
    for allowed in allowed_actions(status):
        assert allowed.value in str(raised.value)


@given(st.lists(st.sampled_from(list(EventAction)), max_size=12))
def test_no_sequence_of_actions_leaves_the_drawn_states(actions: list[EventAction]) -> None:
    status = S.SCHEDULED
    for action in actions:
        if action in allowed_actions(status):
            status = transition(status, action)
    assert status in set(EventStatus)
    if status is S.ARCHIVED:
        assert allowed_actions(status) == []


def _event(i: str, event_type: str, start_hours: float, hours: float, cls: EventClass) -> Planned:
    start = T0 + timedelta(hours=start_hours)
    return Planned(i, event_type, cls, start, start + timedelta(hours=hours))


def _major(i: str, event_type: str, start_hours: float, hours: float) -> Planned:
    return _event(i, event_type, start_hours, hours, EventClass.MAJOR)


def _standard(i: str, event_type: str, start_hours: float, hours: float) -> Planned:
    return _event(i, event_type, start_hours, hours, EventClass.STANDARD)


def test_a_fifth_concurrent_event_is_refused_naming_the_four() -> None:
    others = [_standard(f"e{i}", f"type{i}", 90 + i, 30) for i in range(4)]
    found = conflicts(_standard("new", "Gacha", 99, 10), others)
    assert [c.rule for c in found] == ["concurrent"]
    assert set(found[0].event_ids) == {"e0", "e1", "e2", "e3"}
    assert conflicts(_standard("new", "Gacha", 99, 10), others[:3]) == []


def test_events_that_never_run_together_do_not_count_as_concurrent() -> None:
    # Four overlapping the candidate's window, but never more than two at once.
    others = [_standard(n, f"t{n}", 0 if n in "ab" else 10, 10) for n in "abcd"]
    assert conflicts(_standard("new", "t5", 0, 20), others) == []


def test_at_most_two_of_one_type_at_once() -> None:
    others = [
        _standard("s1", "Seasonal", 0, 100),
        _standard("s2", "Seasonal", 10, 100),
        _standard("c1", "Competitive", 0, 100),
    ]
    found = conflicts(_standard("s3", "Seasonal", 20, 10), others)
    assert [c.rule for c in found] == ["concurrent-type"]
    assert found[0].event_ids == ("s1", "s2")
    assert conflicts(_standard("c2", "Competitive", 20, 10), others) == []


def test_major_events_need_48_hours_between_them() -> None:
    before = _major("before", "Seasonal", 0, 24)  # ends at hour 24
    assert [c.event_ids for c in conflicts(_major("new", "Gacha", 24 + 47, 10), [before])] == [("before",)]
    assert conflicts(_major("new", "Gacha", 24 + 48, 10), [before]) == []
    after = _major("after", "Seasonal", 200, 24)
    assert [c.rule for c in conflicts(_major("new", "Gacha", 150, 10), [after])] == ["major-gap"]
    assert [c.rule for c in conflicts(_major("new", "Gacha", 10, 5), [before])] == ["major-gap"]  # overlapping
    assert conflicts(_standard("new", "Gacha", 30, 5), [before]) == []  # not a major: no gap needed


def test_mini_events_and_daily_activities_are_exempt() -> None:
    crowd = [_standard(f"e{i}", "Seasonal", 0, 100) for i in range(4)]
    for exempt in (EventClass.MINI, EventClass.DAILY):
        candidate = Planned("x", "Seasonal", exempt, T0, T0 + timedelta(hours=5))
        assert conflicts(candidate, crowd) == []
    minis = [Planned(f"m{i}", "Seasonal", EventClass.MINI, T0, T0 + timedelta(hours=50)) for i in range(6)]
    assert conflicts(_standard("new", "Seasonal", 1, 5), minis) == []  # they are not counted either


def test_an_edited_event_is_not_its_own_conflict() -> None:
    event = _major("e", "Seasonal", 0, 10)
    assert conflicts(_major("e", "Seasonal", 2, 10), [event]) == []


def test_local_midnight_in_each_region_is_its_own_instant() -> None:
    assert local_to_utc(datetime(2026, 12, 1), "Europe/Paris") == datetime(2026, 11, 30, 23, tzinfo=UTC)
    assert local_to_utc(datetime(2026, 12, 1), "America/New_York") == datetime(2026, 12, 1, 5, tzinfo=UTC)
    assert local_to_utc(datetime(2026, 12, 1), "Asia/Tokyo") == datetime(2026, 11, 30, 15, tzinfo=UTC)


def test_wall_clock_times_across_a_dst_change() -> None:
    # Paris moves from UTC+1 to UTC+2 at 02:00 local on 2027-03-28.
    assert local_to_utc(datetime(2027, 3, 27, 12), "Europe/Paris") == datetime(2027, 3, 27, 11, tzinfo=UTC)
    assert local_to_utc(datetime(2027, 3, 28, 12), "Europe/Paris") == datetime(2027, 3, 28, 10, tzinfo=UTC)
    # 02:30 does not exist that night: read on the old offset, it is 03:30 on the new clock.
    skipped = local_to_utc(datetime(2027, 3, 28, 2, 30), "Europe/Paris")
    assert utc_to_local(skipped, "Europe/Paris") == datetime(2027, 3, 28, 3, 30)
    # 02:30 happens twice on 2026-10-25 (back from UTC+2 to UTC+1): the first one.
    assert local_to_utc(datetime(2026, 10, 25, 2, 30), "Europe/Paris") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="no time zone"):
        local_to_utc(T0, "Europe/Paris")


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31)))
def test_a_wall_time_that_exists_survives_the_round_trip(wall: datetime) -> None:
    instant = local_to_utc(wall, "America/New_York")
    back = utc_to_local(instant, "America/New_York")
    # Either the same wall time, or (in the spring gap) the hour after it.
    assert back - wall in (timedelta(0), timedelta(hours=1))


# -- windows ------------------------------------------------------------------------------------


def test_one_utc_window_everywhere_or_one_per_region() -> None:
    start, end = T0, T0 + timedelta(days=2)
    assert windows_for(TimeMode.UTC, start, end, None) == [Window(EVERYWHERE, start, end)]
    regional = windows_for(TimeMode.UTC, start, end, [("EU-WEST", "Europe/London"), ("APAC", "Asia/Singapore")])
    assert regional == [Window("EU-WEST", start, end), Window("APAC", start, end)]


def test_region_local_windows_read_each_clock_across_a_dst_change() -> None:
    # Local midnight to local midnight over the night Paris falls back (25 Oct 2026).
    wall_start, wall_end = datetime(2026, 10, 24), datetime(2026, 10, 26)
    paris, tokyo = windows_for(
        TimeMode.REGION_LOCAL, wall_start, wall_end, [("EU", "Europe/Paris"), ("JP", "Asia/Tokyo")]
    )
    assert (paris.start, paris.end) == (datetime(2026, 10, 23, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC))
    assert paris.end - paris.start == timedelta(hours=49)  # the night with an hour more
    assert (tokyo.start, tokyo.end) == (datetime(2026, 10, 23, 15, tzinfo=UTC), datetime(2026, 10, 25, 15, tzinfo=UTC))
    assert span([paris, tokyo]) == (tokyo.start, paris.end)


@pytest.mark.parametrize(
    ("mode", "start", "end", "regions", "message"),
    [
        (TimeMode.UTC, datetime(2026, 12, 1), T0 + timedelta(days=1), None, "offset"),
        (TimeMode.UTC, T0, T0, None, "after"),
        (TimeMode.REGION_LOCAL, T0, T0 + timedelta(days=1), [("EU", "Europe/Paris")], "without an offset"),
        (TimeMode.REGION_LOCAL, datetime(2026, 12, 2), datetime(2026, 12, 1), [("EU", "Europe/Paris")], "after"),
        (TimeMode.REGION_LOCAL, datetime(2026, 12, 1), datetime(2026, 12, 2), None, "regions"),
        # 30 minutes on the wall clock across the spring-forward gap: the end reads before the start.
        (
            TimeMode.REGION_LOCAL,
            datetime(2026, 3, 29, 2, 45),
            datetime(2026, 3, 29, 3, 0),
            [("EU", "Europe/Paris")],
            "before the start",
        ),
    ],
)
def test_times_that_do_not_fit_are_refused(
    mode: TimeMode, start: datetime, end: datetime, regions: list[tuple[str, str]] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        windows_for(mode, start, end, regions)


def test_an_event_whose_time_passed_unopened_expires() -> None:
    assert transition(S.SCHEDULED, A.EXPIRE) is S.EXPIRED
