"""Metric samples from game servers: checked one by one, then folded into per-window deltas.

Pure: the caller looks up which servers, deployments and regions exist and passes them in, with
`now`. A batch is judged item by item: the good items are folded and stored, each bad one is
named (`samples[3].value: ...`) in the answer, so one broken sample never costs the batch.

Built-in metrics and what their samples carry:

| metric | sample | folded into |
| --- | --- | --- |
| session_start, crash, disconnect, complaint | `count` (default 1) | counts (a complaint marks the player) |
| session_end | `value`: the session's duration in seconds (≥ 0) | moments of the durations and of their logs |
| purchase | `value`: the amount (≥ 0) | moments |
| fps, network_latency | `value` (≥ 0) | moments and a quantile sketch |
| server_tick_rate, server_error_rate | `value` (≥ 0), per server | moments per server (compared server by server) |
| engagement_score, feedback_rating | `value` | moments |

Any other name (lower case, digits, `_ . : -`, up to 64 characters) is a custom metric: a `value`
(moments) or a `count`.

A sample without `deploymentId` (and `arm`) only records that its player was active: game servers
report sessions whether or not a deployment runs, which is how the churn check knows who was
playing before a deployment began.

A sample may name a live event (`eventId`, with or without a deployment): it then records its
player's participation in that event (`playerId` is required with it). Every such sample counts
towards the player's samples in the event (`count` times); a `purchase` adds `count` purchases
and `value * count` to the event's revenue, as it adds to the moments above. An id that names no
live event is refused like an unknown deployment. Only a sample taken inside the event's window
in its server's region counts (`at` in [start, end); a region-local event has a window per
region): one taken before the event starts there or after it ends is stored for everything else
it says, and the answer counts it as outside the event's window, so a game server that tags too
eagerly sees it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hotswap.analysis.sketch import QuantileSketch
from hotswap.core.errors import FieldError

MAX_BATCH = 5000
WINDOW = timedelta(seconds=60)  # aggregates are kept per minute
MAX_AGE = timedelta(hours=6)  # an older sample is refused: the deployment has judged past it
MAX_SKEW = timedelta(minutes=5)  # a sample further in the future is a broken clock
MAX_VALUE = 1e12  # beyond any duration, amount or rate; keeps sums of squares finite

COUNTERS = frozenset({"session_start", "crash", "disconnect", "complaint"})
NON_NEGATIVE = frozenset({"session_end", "purchase", "fps", "network_latency", "server_tick_rate", "server_error_rate"})
VALUED = NON_NEGATIVE | {"engagement_score", "feedback_rating"}
SKETCHED = frozenset({"fps", "network_latency"})
PER_SERVER = frozenset({"server_tick_rate", "server_error_rate"})
ARMS = ("canary", "baseline")
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$")
# A live event's id: events.schemas.EVENT_ID_PATTERN, repeated so this module stays pure (a test
# keeps the two equal).
EVENT_ID = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Sample:
    server_id: str
    deployment_id: str | None  # None: activity only
    arm: str | None
    metric: str
    at: datetime
    player_id: str | None = None
    value: float | None = None
    count: int = 1
    event_id: str | None = None  # a live event the sample is tagged with (then player_id is set)
    in_event_window: bool = True  # False: taken outside that event's window in its server's region

    @property
    def outside_event(self) -> bool:
        """Tagged with a live event, but taken outside its window: it does not count towards it."""
        return self.event_id is not None and not self.in_event_window


@dataclass(slots=True)
class Delta:
    """What one batch adds to one aggregate row."""

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    log_count: int = 0
    log_total: float = 0.0
    log_total_sq: float = 0.0
    last_at: datetime | None = None
    sketch: QuantileSketch | None = None

    def add(self, sample: Sample) -> None:
        if sample.value is None:  # a counter
            self.count += sample.count
            self.total += sample.count
            self.total_sq += sample.count
        else:
            v, n = sample.value, sample.count
            self.count += n
            self.total += v * n
            self.total_sq += v * v * n
            if v > 0:
                lv = math.log(v)
                self.log_count += n
                self.log_total += lv * n
                self.log_total_sq += lv * lv * n
            if sample.metric in SKETCHED:
                if self.sketch is None:
                    self.sketch = QuantileSketch()
                self.sketch.add(v, n)
        self.last_at = sample.at if self.last_at is None else max(self.last_at, sample.at)


# (deployment id, arm, metric, window start, source)
Key = tuple[str, str, str, datetime, str]


@dataclass(slots=True)
class UnitSeen:
    arm: str
    first: datetime
    last: datetime
    complained: bool = False


@dataclass(slots=True)
class Participation:
    """What one batch adds to one player's participation in one live event."""

    first: datetime
    last: datetime
    samples: int = 0
    purchases: int = 0
    revenue: float = 0.0

    def add(self, sample: Sample) -> None:
        self.first, self.last = min(self.first, sample.at), max(self.last, sample.at)
        self.samples += sample.count
        if sample.metric == "purchase" and sample.value is not None:
            self.purchases += sample.count
            self.revenue += sample.value * sample.count


@dataclass(slots=True)
class Folded:
    """A batch's good samples, summed: aggregate deltas, the players and servers seen, and each
    player's participation in live events."""

    deltas: dict[Key, Delta] = field(default_factory=dict)
    # (deployment id, kind, unit id) -> what this batch saw of it
    units: dict[tuple[str, str, str], UnitSeen] = field(default_factory=dict)
    players: dict[str, datetime] = field(default_factory=dict)  # player id -> latest sample
    # (event id, player id) -> what this batch adds: one upsert per pair, whatever the batch's size
    participants: dict[tuple[str, str], Participation] = field(default_factory=dict)


def window_of(at: datetime) -> datetime:
    seconds = int(WINDOW.total_seconds())
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=at.tzinfo)


def fold(samples: Sequence[Sample]) -> Folded:
    out = Folded()
    for s in samples:
        if s.player_id is not None:
            seen = out.players.get(s.player_id)
            out.players[s.player_id] = s.at if seen is None else max(seen, s.at)
            if s.event_id is not None and s.in_event_window:
                out.participants.setdefault((s.event_id, s.player_id), Participation(s.at, s.at)).add(s)
        if s.deployment_id is None or s.arm is None:
            continue
        source = s.server_id if s.metric in PER_SERVER else ""
        out.deltas.setdefault((s.deployment_id, s.arm, s.metric, window_of(s.at), source), Delta()).add(s)
        _see(out, (s.deployment_id, "server", s.server_id), s, complained=False)
        if s.player_id is not None:
            _see(out, (s.deployment_id, "player", s.player_id), s, complained=s.metric == "complaint")
    return out


def _see(out: Folded, key: tuple[str, str, str], s: Sample, *, complained: bool) -> None:
    assert s.arm is not None
    unit = out.units.get(key)
    if unit is None:
        out.units[key] = UnitSeen(s.arm, s.at, s.at, complained)
        return
    if s.at < unit.first:
        unit.first, unit.arm = s.at, s.arm
    unit.last = max(unit.last, s.at)
    unit.complained = unit.complained or complained


EVERYWHERE = ""  # the region of an event window that holds in every region


@dataclass(frozen=True, slots=True)
class EventWindow:
    """Where and when samples tagged with a live event count towards it: in `region` (EVERYWHERE:
    in all), at `start` or after and before `end` (UTC instants)."""

    region: str
    start: datetime
    end: datetime


def in_window(windows: Sequence[EventWindow], region: str, at: datetime) -> bool:
    """Whether a sample from a server in `region`, taken at `at`, falls inside one of `windows`."""
    return any(w.region in (EVERYWHERE, region) and w.start <= at < w.end for w in windows)


@dataclass(frozen=True, slots=True)
class Known:
    """What the store knows, for the batch's ids: each server's region, the deployments, how
    to resolve a region name or alias (None: no such region), and the live events with the
    windows in which their samples count (none: the event never ran)."""

    servers: Mapping[str, str]
    deployments: frozenset[str]
    region: Callable[[str], str | None]
    events: Mapping[str, Sequence[EventWindow]] = field(default_factory=dict)


def parse(items: Sequence[Any], known: Known, now: datetime) -> tuple[list[tuple[int, Sample]], list[FieldError]]:
    """The good samples (with their index in the batch) and an error for each bad item."""
    good: list[tuple[int, Sample]] = []
    errors: list[FieldError] = []
    for i, item in enumerate(items):
        try:
            good.append((i, _sample(item, known, now)))
        except _Bad as bad:
            errors.append(
                FieldError(f"body.samples[{i}].{bad.field}" if bad.field else f"body.samples[{i}]", bad.message)
            )
    return good, errors


class _Bad(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


_FIELDS = frozenset(
    {"serverId", "region", "playerId", "deploymentId", "arm", "eventId", "metric", "value", "count", "at"}
)


def _sample(item: Any, known: Known, now: datetime) -> Sample:
    if not isinstance(item, Mapping):
        raise _Bad("", "must be an object")
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        raise _Bad(str(unknown[0]), "unknown field")
    server_id = _id(item, "serverId", required=True)
    assert server_id is not None
    if server_id not in known.servers:
        raise _Bad("serverId", f"no game server {server_id!r} is registered")
    region = item.get("region")
    if region is not None:
        if not isinstance(region, str) or (resolved := known.region(region)) is None:
            raise _Bad("region", f"no such region: {region!r}")
        if resolved != known.servers[server_id]:
            raise _Bad("region", f"server {server_id!r} is registered in {known.servers[server_id]}, not {resolved}")
    deployment_id = _id(item, "deploymentId", required=False)
    arm = item.get("arm")
    if deployment_id is None:
        if arm is not None:
            raise _Bad("deploymentId", "required with arm")
    elif deployment_id not in known.deployments:
        raise _Bad("deploymentId", f"no deployment {deployment_id!r}")
    elif arm not in ARMS:
        raise _Bad("arm", "must be canary or baseline")
    player_id = _id(item, "playerId", required=False)
    event_id = _event_id(item, known, player_id)
    metric = item.get("metric")
    if not isinstance(metric, str) or not METRIC_NAME.fullmatch(metric):
        raise _Bad("metric", "must be a metric name: lower case letters, digits and _ . : -, up to 64")
    value, count = _value_and_count(item, metric)
    at = _at(item.get("at"), now)
    return Sample(
        server_id=server_id,
        deployment_id=deployment_id,
        arm=arm,
        metric=metric,
        at=at,
        player_id=player_id,
        value=value,
        count=count,
        event_id=event_id,
        in_event_window=event_id is None or in_window(known.events[event_id], known.servers[server_id], at),
    )


def _id(item: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise _Bad(key, "required" if value is None else "must be an id: letters, digits and _ . : @ -, up to 200")
    return value


def _event_id(item: Mapping[str, Any], known: Known, player_id: str | None) -> str | None:
    event_id = item.get("eventId")
    if event_id is None:
        return None
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise _Bad("eventId", "must be a live event id: lower case letters, digits and . _ -, up to 100")
    if event_id not in known.events:
        raise _Bad("eventId", f"no live event {event_id!r}")
    if player_id is None:
        raise _Bad("playerId", "required with eventId: participation is counted per player")
    return event_id


def _value_and_count(item: Mapping[str, Any], metric: str) -> tuple[float | None, int]:
    raw_count = item.get("count", 1)
    if isinstance(raw_count, bool) or not isinstance(raw_count, int) or not 1 <= raw_count <= 1_000_000:
        raise _Bad("count", "must be a whole number from 1 to 1000000")
    raw = item.get("value")
    if raw is None:
        if metric in VALUED:
            raise _Bad("value", f"{metric} needs a value")
        return None, raw_count
    if metric in COUNTERS:
        raise _Bad("value", f"{metric} is counted: send count, not value")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _Bad("value", "must be a number")
    try:
        value = float(raw)
    except OverflowError:  # an integer past any float
        value = math.inf
    if not math.isfinite(value):
        raise _Bad("value", "must be a finite number")
    if abs(value) > MAX_VALUE:
        raise _Bad("value", f"must be between -{MAX_VALUE:g} and {MAX_VALUE:g}")
    if metric in NON_NEGATIVE and value < 0:
        what = "a duration" if metric == "session_end" else metric
        raise _Bad("value", f"{what} cannot be negative")
    return value, raw_count


def _at(raw: Any, now: datetime) -> datetime:
    if raw is None:
        return now
    if not isinstance(raw, str):
        raise _Bad("at", "must be an RFC 3339 date-time")
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad("at", "must be an RFC 3339 date-time") from None
    if at.tzinfo is None:
        raise _Bad("at", "needs a time zone offset (Z for UTC)")
    if at > now + MAX_SKEW:
        raise _Bad("at", f"is more than {int(MAX_SKEW.total_seconds() // 60)} minutes in the future")
    if at < now - MAX_AGE:
        raise _Bad("at", f"is more than {int(MAX_AGE.total_seconds() // 3600)} hours old")
    return at.astimezone(now.tzinfo)
