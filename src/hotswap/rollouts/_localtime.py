"""Region-local wall-clock times as UTC instants, daylight saving included. Pure; no I/O."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(time_zone: str) -> ZoneInfo | None:
    """The IANA time zone called `time_zone`, or None when there is no such zone."""
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def next_local_start(local_time: time, time_zone: str, after: datetime) -> datetime:
    """The first instant (in UTC) at or after `after` when the wall clock in `time_zone` reads
    `local_time`.

    Daylight saving: a local time that does not exist that day (skipped by a spring-forward gap)
    moves to the first valid instant after the gap, the moment the clocks jump; one that happens
    twice (a fall-back fold) takes the first occurrence. Raises ValueError for a naive `after` or
    a `local_time` with an offset, and ZoneInfoNotFoundError for an unknown zone.
    """
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    if local_time.tzinfo is not None:
        raise ValueError("local_time is a wall-clock time, without an offset")
    tz = ZoneInfo(time_zone)
    day = after.astimezone(tz).date()
    for offset in range(-1, 3):
        candidate = _local_instant(day + timedelta(days=offset), local_time, tz)
        if candidate >= after:
            return candidate
    raise AssertionError("unreachable: some day within two of `after` has the time")  # pragma: no cover


def _local_instant(day: date, local_time: time, tz: ZoneInfo) -> datetime:
    wall = datetime.combine(day, local_time)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)  # fold=0: the earlier of two, if ambiguous
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In a gap. fold=1 reads the wall time with the offset after the jump, fold=0 with the one
    # before: the jump lies between the two. Find the first second whose wall time is past `wall`.
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = math.ceil(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) < wall:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)
