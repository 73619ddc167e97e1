"""`ingest.parse` and `fold` as pure functions: any JSON a client sends is a list of named errors,
never an exception; folding adds counts and values exactly."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hotswap.analysis import ingest

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
KNOWN = ingest.Known({"gs-1": "NA-WEST"}, frozenset({"dep_1"}), {"na-west": "NA-WEST"}.get)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
keys = st.sampled_from(["serverId", "deploymentId", "arm", "metric", "value", "count", "at", "playerId", "region"])
samples = st.dictionaries(keys, json_values, max_size=9) | json_values


@settings(max_examples=300, deadline=None)
@given(st.lists(samples, max_size=8))
def test_any_json_is_parsed_into_samples_and_named_errors(items: list[Any]) -> None:
    good, errors = ingest.parse(items, KNOWN, NOW)
    assert len(good) + len(errors) == len(items)
    assert all(e.field.startswith("body.samples[") for e in errors)
    ingest.fold([s for _, s in good])  # whatever was accepted folds


def test_fold_sums_counters_values_and_logs_per_minute_window() -> None:
    s = [
        ingest.Sample("gs-1", "dep_1", "canary", "session_end", NOW, "p1", 60.0),
        ingest.Sample("gs-1", "dep_1", "canary", "session_end", NOW + timedelta(seconds=10), "p2", 600.0, 2),
        ingest.Sample("gs-1", "dep_1", "canary", "crash", NOW, "p1", None, 3),
        ingest.Sample("gs-1", "dep_1", "canary", "crash", NOW + timedelta(seconds=40), "p1", None, 1),  # next minute
        ingest.Sample("gs-1", None, None, "session_start", NOW, "p3"),  # activity only
    ]
    folded = ingest.fold(s)
    minute = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    ends = folded.deltas[("dep_1", "canary", "session_end", minute, "")]
    # 60 once and 600 twice: count 3, sum 1,260, squares 3,600 + 2 * 360,000 = 723,600
    assert (ends.count, ends.total, ends.total_sq) == (3, 1260.0, 723_600.0)
    assert ends.log_count == 3
    assert math.isclose(ends.log_total, math.log(60) + 2 * math.log(600))
    assert folded.deltas[("dep_1", "canary", "crash", minute, "")].count == 3
    assert folded.deltas[("dep_1", "canary", "crash", minute + timedelta(minutes=1), "")].count == 1
    assert set(folded.players) == {"p1", "p2", "p3"}
    assert ("dep_1", "player", "p3") not in folded.units
    assert folded.units[("dep_1", "player", "p1")].first == NOW


def test_a_sample_keeps_its_own_time_within_limits() -> None:
    item = {"serverId": "gs-1", "deploymentId": "dep_1", "arm": "canary", "metric": "crash"}
    at = (NOW - timedelta(minutes=3)).isoformat()
    good, _ = ingest.parse([item | {"at": at}], KNOWN, NOW)
    assert good[0][1].at == NOW - timedelta(minutes=3)
    _, errors = ingest.parse([item | {"at": "2026-06-01T12:00:00"}, item | {"at": "2026-05-31T00:00:00Z"}], KNOWN, NOW)
    assert [e.message for e in errors] == ["needs a time zone offset (Z for UTC)", "is more than 6 hours old"]


def test_an_event_sample_counts_only_inside_the_window_of_its_servers_region() -> None:
    windows = [ingest.EventWindow("NA-WEST", NOW - timedelta(hours=1), NOW + timedelta(minutes=1))]
    known = ingest.Known(
        {"gs-1": "NA-WEST", "gs-2": "EU-WEST"}, frozenset(), {"na-west": "NA-WEST"}.get, {"e1": windows}
    )

    def sample(server: str, at: datetime) -> dict[str, Any]:
        return {"serverId": server, "playerId": "p1", "eventId": "e1", "metric": "purchase", "value": 2.0,
                "at": at.isoformat()}  # fmt: skip

    items = [
        sample("gs-1", NOW),  # inside
        sample("gs-1", NOW - timedelta(hours=2)),  # before the window
        sample("gs-1", NOW + timedelta(minutes=1)),  # at its end: outside
        sample("gs-2", NOW),  # a region the event does not run in
    ]
    good, errors = ingest.parse(items, known, NOW)
    assert errors == []
    assert [s.in_event_window for _, s in good] == [True, False, False, False]
    assert [s.outside_event for _, s in good] == [False, True, True, True]
    folded = ingest.fold([s for _, s in good])
    assert folded.participants[("e1", "p1")].revenue == 2.0  # only the sample inside counts
    assert set(folded.players) == {"p1"}  # every one still says the player was active
