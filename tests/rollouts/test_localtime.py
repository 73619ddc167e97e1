"""Region-local start times: the next occurrence of a wall-clock time, daylight saving included."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.rollouts.strategies import next_local_start, zone


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "time_zone", "after", "expected"),
    [
        # An ordinary day: 02:00 in New York (EST, UTC-5) in January.
        ("02:00", "America/New_York", "2026-01-10T00:00", "2026-01-10T07:00"),
        ("02:00", "America/New_York", "2026-01-10T07:00", "2026-01-10T07:00"),  # at counts
        ("02:00", "America/New_York", "2026-01-10T07:00:01", "2026-01-11T07:00"),  # just past: tomorrow
        # New York springs forward on 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC).
        ("01:30", "America/New_York", "2026-03-08T05:00", "2026-03-08T06:30"),  # before the gap: EST
        ("02:00", "America/New_York", "2026-03-08T05:00", "2026-03-08T07:00"),  # in the gap: when it ends
        ("02:30", "America/New_York", "2026-03-08T05:00", "2026-03-08T07:00"),
        ("03:30", "America/New_York", "2026-03-08T05:00", "2026-03-08T07:30"),  # after the gap: EDT
        ("02:30", "America/New_York", "2026-03-08T07:00:01", "2026-03-09T06:30"),  # next day exists again
        # New York falls back on 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:30 twice.
        ("01:30", "America/New_York", "2026-11-01T04:00", "2026-11-01T05:30"),  # the first 01:30 (EDT)
        ("01:30", "America/New_York", "2026-11-01T05:45", "2026-11-02T06:30"),  # that day's 01:30 passed
        ("02:30", "America/New_York", "2026-11-01T04:00", "2026-11-01T07:30"),  # EST
        # London springs forward on 2026-03-29: 01:00 GMT becomes 02:00 BST (01:00 UTC).
        ("01:30", "Europe/London", "2026-03-29T00:00", "2026-03-29T01:00"),
        ("02:30", "Europe/London", "2026-03-29T00:00", "2026-03-29T01:30"),
        # London falls back on 2026-10-25: 02:00 BST becomes 01:00 GMT (01:00 UTC); 01:30 twice.
        ("01:30", "Europe/London", "2026-10-25T00:00", "2026-10-25T00:30"),
        ("00:30", "Europe/London", "2026-10-25T00:00", "2026-10-26T00:30"),  # 00:30 BST passed: next, in GMT
        # Lord Howe moves by half an hour: 02:00 (UTC+10:30) becomes 02:30 (UTC+11) on 2026-10-04.
        ("02:15", "Australia/Lord_Howe", "2026-10-03T12:00", "2026-10-03T15:30"),
        # India keeps a half-hour offset all year; Tokyo has no daylight saving.
        ("09:00", "Asia/Kolkata", "2026-06-01T00:00", "2026-06-01T03:30"),
        ("02:00", "Asia/Tokyo", "2026-06-01T12:00", "2026-06-01T17:00"),
    ],
)
def test_next_local_start(local: str, time_zone: str, after: str, expected: str) -> None:
    assert next_local_start(time.fromisoformat(local), time_zone, utc(after)) == utc(expected)


def test_the_answer_is_in_utc_whatever_zone_after_is_given_in() -> None:
    after = datetime(2026, 1, 10, 0, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 2026-01-09T15:00Z
    found = next_local_start(time(2, 0), "America/New_York", after)
    assert found == utc("2026-01-10T07:00")
    assert found.tzinfo is UTC


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_local_start(time(2), "UTC", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="without an offset"):
        next_local_start(time(2, tzinfo=UTC), "UTC", utc("2026-01-01T00:00"))
    with pytest.raises(ZoneInfoNotFoundError):
        next_local_start(time(2), "Moon/Base", utc("2026-01-01T00:00"))


def test_zone_is_none_for_what_is_not_an_iana_zone() -> None:
    assert zone("Europe/London") == ZoneInfo("Europe/London")
    assert zone("Moon/Base") is None
    assert zone("../etc/passwd") is None
    assert zone("") is None


ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Los_Angeles", "Asia/Kolkata", "UTC"]
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
wall_times = st.times().map(lambda t: t.replace(microsecond=0))


@given(st.sampled_from(ZONES), wall_times, instants)
def test_the_start_is_the_first_occurrence_at_or_after(time_zone: str, local: time, after: datetime) -> None:
    tz = ZoneInfo(time_zone)
    found = next_local_start(local, time_zone, after)
    assert after <= found < after + timedelta(days=2)
    wall = found.astimezone(tz).replace(tzinfo=None)
    if wall.time() != local:
        # Only where the clocks jumped over `local`: an offset changes right at `found`.
        before = found - timedelta(seconds=1)
        assert before.astimezone(tz).utcoffset() != found.astimezone(tz).utcoffset()
        assert before.astimezone(tz).time() < local < wall.time()
    # Nothing earlier qualifies: asking from any instant up to `found` gives `found` again.
    assert next_local_start(local, time_zone, after + (found - after) / 2) == found
    assert next_local_start(local, time_zone, found) == found
