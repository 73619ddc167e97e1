"""`track`: samples batched to /api/v1/metrics under the arm their context was evaluated under;
bounded memory; retried after a failure."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from hotswap.analysis import ingest
from hotswap.analysis.tables import metric_aggregates
from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.sdk import AsyncClient, Context
from hotswap.sdk import tracking as sdk_tracking
from hotswap.sdk.tracking import Tracker, check_sample, samples_for
from tests.analysis.support import metrics_of, running
from tests.events.test_engagement import create_event
from tests.events.test_engagement import metrics as event_metrics
from tests.helpers import Headers, wait_until
from tests.sdk.support import FlakyTransport, options

METRICS = "/api/v1/metrics"
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AT_TEXT = "2026-06-01T12:00:00Z"


def test_a_sample_per_deployment_arm_the_context_was_evaluated_under() -> None:
    player = Context(player_id="p1", server_id="gs-1")
    configs = {
        "balance": {"value": 1, "rollout": {"id": "dep_a", "step": 1, "arm": "canary"}},
        "shop": {"value": 2, "rollout": {"id": "dep_b", "step": 1, "arm": "baseline"}},
        "combo": {"value": 3, "rollout": {"id": "dep_a", "step": 1, "arm": "canary"}},  # the same arm once
        "plain": {"value": 4},
    }
    samples = samples_for("session_end", 600, player, "gs-1", AT, configs, None)
    common = {
        "serverId": "gs-1",
        "playerId": "p1",
        "metric": "session_end",
        "value": 600.0,
        "at": "2026-06-01T12:00:00Z",
    }
    assert samples == [
        common | {"deploymentId": "dep_a", "arm": "canary"},
        common | {"deploymentId": "dep_b", "arm": "baseline"},
    ]
    assert samples_for("session_end", 600, player, "gs-1", AT, configs, "shop") == [
        common | {"deploymentId": "dep_b", "arm": "baseline"}
    ]
    assert samples_for("session_end", 600, player, "gs-1", AT, configs, "plain") == [common]  # activity only
    assert samples_for("session_end", 600, player, "gs-1", AT, {}, None) == [common]
    crash = samples_for("crash", 1.0, Context(server_id="gs-1"), "gs-1", AT, {}, None)
    assert crash == [{"serverId": "gs-1", "metric": "crash", "count": 1, "at": "2026-06-01T12:00:00Z"}]
    assert samples_for("crash", 3, player, "gs-1", AT, {}, None)[0]["count"] == 3
    assert samples_for("crash", 0, player, "gs-1", AT, {}, None) == []
    units = {"dep_a": "playerId", "dep_b": "serverId"}
    server_only = samples_for("crash", 1, Context(server_id="gs-1"), "gs-1", AT, configs, None, units)
    assert [(s.get("deploymentId"), s.get("arm")) for s in server_only] == [("dep_b", "baseline")]


def test_the_queue_is_bounded_and_a_failed_batch_goes_back_in_front() -> None:
    tracker = Tracker(batch_size=2, max_pending=3)
    woken: list[int] = []
    tracker.wake = lambda: woken.append(1)
    tracker.add([{"n": 1}])
    assert woken == []
    tracker.add([{"n": 2}, {"n": 3}, {"n": 4}])
    assert (tracker.pending, tracker.dropped, woken) == (3, 1, [1])
    batch = tracker.take()
    assert batch == [{"n": 1}, {"n": 2}]
    tracker.add([{"n": 5}])
    tracker.give_back(batch)  # room for one of the two: the older stays, in front
    assert [tracker.take(), tracker.take(), tracker.take()] == [[{"n": 1}, {"n": 3}], [{"n": 5}], []]
    assert tracker.dropped == 2
    tracker.add([{"n": 7}, {"n": 8}, {"n": 9}])
    tracker.give_back([{"n": 0}])  # no room at all: the failed batch is what goes
    assert (tracker.pending, tracker.dropped) == (3, 3)


async def test_tracked_samples_reach_the_deployment_under_their_arm(
    client: httpx.AsyncClient,
    transport: FlakyTransport,
    op: Headers,
    server: Headers,
    clock: ManualClock,
) -> None:
    deployment = (await running(client, op, server))["id"]
    overrides = {"server_id": "na-1", "region": "NA-WEST", "register": False, "now": clock.now, "track_batch_size": 7}
    async with AsyncClient(options(transport, server, **overrides)) as hs:
        arms: dict[str, list[str]] = {"canary": [], "baseline": []}
        for i in range(200):
            found = hs.evaluate("balance", {"playerId": f"p{i}"})
            assert found is not None
            assert found.deployment_id == deployment
            assert found.arm is not None
            arms[found.arm].append(f"p{i}")
        assert arms["canary"]
        assert arms["baseline"]
        for arm, players in arms.items():
            for player in players:
                hs.track("session_start", context={"playerId": player})
                hs.track("session_end", 600.0 if arm == "canary" else 300.0, {"playerId": player}, config="balance")
        hs.track("crash")  # the server itself is no unit of a rollout over players: activity only
        await wait_until(lambda: hs._core.tracker.sent == 401, "every sample stored")
    reported = await metrics_of(client, op, deployment)
    for arm, players in arms.items():
        assert reported["arms"][arm]["players"] == len(players)
        assert reported["arms"][arm]["sessions"] == len(players)
        assert reported["arms"][arm]["avgSessionDurationSeconds"] == (600.0 if arm == "canary" else 300.0)
        assert reported["arms"][arm]["crashRate"] == 0.0
    assert hs.dropped_samples == 0
    batches = transport.paths(METRICS)
    assert len(batches) >= 401 // 7
    assert all(len(httpx.Response(200, content=r.content).json()["samples"]) <= 7 for r in batches)


async def test_beyond_the_bound_samples_are_dropped_and_counted(
    client: httpx.AsyncClient,
    transport: FlakyTransport,
    op: Headers,
    server: Headers,
    clock: ManualClock,
    container: Container,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "hotswap.sdk")
    await running(client, op, server)
    transport.refused[METRICS] = 503
    overrides = {
        "server_id": "na-1",
        "register": False,
        "now": clock.now,
        "track_max_pending": 5,
        "track_batch_size": 2,
    }
    async with AsyncClient(options(transport, server, **overrides)) as hs:
        for i in range(8):
            hs.track("fps", 60.0, {"playerId": f"p{i}"})
        assert hs.dropped_samples == 3
        await wait_until(lambda: len(transport.paths(METRICS)) >= 3, "failed posts")
        assert "retrying at the next flush" in caplog.text
        assert hs.dropped_samples == 3  # a failed batch waits: nothing more is lost
        del transport.refused[METRICS]
        await wait_until(lambda: hs._core.tracker.sent == 5, "the five kept samples, stored")
    async with container.engine.connect() as conn:
        stored = (await conn.execute(sa.select(sa.func.sum(metric_aggregates.c.count)))).scalar_one()
    assert stored == 5


async def test_a_failing_metrics_route_is_backed_off_not_hammered(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers, clock: ManualClock
) -> None:
    await running(client, op, server)
    transport.refused[METRICS] = 429
    overrides = {
        "server_id": "na-1",
        "register": False,
        "now": clock.now,
        "track_batch_size": 1,
        "track_flush_interval": 0.5,
    }
    async with AsyncClient(options(transport, server, **overrides)) as hs:
        hs.track("fps", 60.0, {"playerId": "p0"})  # a full batch: posted at once, and refused
        await wait_until(lambda: len(transport.paths(METRICS)) == 1, "the first post")
        for i in range(50):  # each one a full batch again, each a nudge: not each a post
            hs.track("fps", 60.0, {"playerId": f"p{i}"})
            await asyncio.sleep(0)
        assert len(transport.paths(METRICS)) == 1
        del transport.refused[METRICS]
        await wait_until(lambda: hs._core.tracker.sent == 51, "everything, once the route works again")


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hotswap.sdk" and r.levelno == logging.WARNING]


async def test_a_refused_sample_is_logged_once_per_reason_and_counted_as_dropped(
    client: httpx.AsyncClient,
    transport: FlakyTransport,
    op: Headers,
    server: Headers,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "hotswap.sdk")
    await running(client, op, server)  # registers na-1, not the ghosts
    overrides = {"server_id": "na-1", "register": False, "now": clock.now, "track_batch_size": 4}
    async with AsyncClient(options(transport, server, **overrides)) as hs:
        for batch in (1, 2):  # a batch of four each time: the second brings no reason not seen before
            hs.track("fps", 60.0, {"playerId": "p1"})
            hs.track("fps", 60.0, {"playerId": "p2", "serverId": "ghost-1"})
            hs.track("fps", 60.0, {"playerId": "p3", "serverId": "ghost-1"})
            hs.track("Not A Metric")  # refused before it is queued
            hs.track("fps", 60.0, {"playerId": "p4", "serverId": "ghost-2"})
            await wait_until(lambda: hs._core.tracker.sent == batch, f"batch {batch} answered")  # noqa: B023
            await wait_until(lambda: hs.dropped_samples == 4 * batch, f"batch {batch}'s refusals counted")  # noqa: B023
    once = "; dropped (logged once for this reason; dropped_samples counts them all)"
    assert warnings_of(caplog) == [
        "hotswap: track: 'Not A Metric' is not a metric name (lower case letters, digits and _ . : -, up to 64)" + once,
        "hotswap: the server refused a tracked sample: serverId: no game server 'ghost-1' is registered" + once,
        "hotswap: the server refused a tracked sample: serverId: no game server 'ghost-2' is registered" + once,
    ]


async def test_a_batch_refused_whole_is_logged_once_with_the_servers_reason(
    client: httpx.AsyncClient,
    transport: FlakyTransport,
    op: Headers,
    server: Headers,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "hotswap.sdk")
    await running(client, op, server)
    transport.refused[METRICS] = 403  # as a token without the right to report would be
    overrides = {"server_id": "na-1", "register": False, "now": clock.now, "track_batch_size": 2}
    async with AsyncClient(options(transport, server, **overrides)) as hs:
        for i in range(6):
            hs.track("fps", 60.0, {"playerId": f"p{i}"})
        await wait_until(lambda: hs.dropped_samples == 6, "three batches refused")
    assert warnings_of(caplog) == [
        "hotswap: the server refused a tracked sample: HTTP 403: refused by the test; dropped "
        "(logged once for this reason; dropped_samples counts them all)"
    ]


def test_without_logging_configured_the_sdks_warnings_reach_stderr() -> None:
    """The SDK adds no handler: Python's last-resort handler prints its warnings when the game
    configures no logging, so a refused sample is never silent."""
    code = "import logging, hotswap.sdk; logging.getLogger('hotswap.sdk').warning('hotswap: refused')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    assert done.stderr == "hotswap: refused\n"


async def test_without_a_server_id_track_drops_and_says_so_once(
    transport: FlakyTransport, server: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    async with AsyncClient(options(transport, server)) as hs:
        hs.track("fps", 60.0, {"playerId": "p1"})
        hs.track("fps", 60.0, {"playerId": "p2"})
    assert hs.dropped_samples == 2
    assert caplog.text.count("track needs a server id") == 1
    assert transport.paths(METRICS) == []


async def test_close_sends_what_is_still_waiting(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers, clock: ManualClock
) -> None:
    await running(client, op, server)
    overrides = {"server_id": "na-1", "register": False, "now": clock.now, "track_flush_interval": 3600.0}
    hs = AsyncClient(options(transport, server, **overrides))
    await hs.start()
    hs.track("fps", 60.0, {"playerId": "p1"})
    assert transport.paths(METRICS) == []
    await hs.aclose()
    assert hs._core.tracker.sent == 1


# -- samples tagged with a live event -------------------------------------------------------------


def test_the_event_goes_on_one_sample_of_a_call_so_a_purchase_counts_once() -> None:
    player = Context(player_id="p1", server_id="gs-1")
    configs = {
        "balance": {"value": 1, "rollout": {"id": "dep_a", "step": 1, "arm": "canary"}},
        "shop": {"value": 2, "rollout": {"id": "dep_b", "step": 1, "arm": "baseline"}},
    }
    # The server adds every tagged sample to the event: one per deployment would count it twice.
    tagged = samples_for("purchase", 4.99, player, "gs-1", AT, configs, None, event="summer")
    assert [(s["deploymentId"], s.get("eventId")) for s in tagged] == [("dep_a", "summer"), ("dep_b", None)]
    assert samples_for("purchase", 4.99, player, "gs-1", AT, {}, None, event="summer") == [
        {"serverId": "gs-1", "playerId": "p1", "metric": "purchase", "value": 4.99, "at": AT_TEXT, "eventId": "summer"}
    ]
    assert samples_for("crash", 0, player, "gs-1", AT, {}, None, event="summer") == []  # nothing happened
    assert all("eventId" not in s for s in samples_for("purchase", 4.99, player, "gs-1", AT, configs, None))


def test_event_ids_are_checked_as_the_server_checks_them() -> None:
    assert sdk_tracking.EVENT_ID.pattern == ingest.EVENT_ID.pattern
    for good in ("e1", "summer-fest-2027", "a", "x" * 100, "v1.2_b"):
        assert check_sample("purchase", 1.0, good) is None, good
    for bad in ("", "Summer", "-e1", "e1-", "x" * 101, "e 1", "e/1", 7):
        problem = check_sample("purchase", 1.0, bad)  # type: ignore[arg-type]
        assert problem is not None, bad
        assert problem.startswith(f"{bad!r} is not a live event id"), problem
    assert check_sample("purchase", 1.0) is None


async def test_samples_tagged_with_an_event_count_their_players_as_participants(
    client: httpx.AsyncClient,
    transport: FlakyTransport,
    op: Headers,
    server: Headers,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "hotswap.sdk")
    deployment = (await running(client, op, server))["id"]
    await create_event(client, op, clock)  # "e1", from an hour ahead
    clock.advance(timedelta(hours=2))
    async with AsyncClient(options(transport, server, server_id="na-1", register=False, now=clock.now)) as hs:
        hs.track("session_start", context={"playerId": "p1"}, event="e1")
        hs.track("purchase", 4.99, {"playerId": "p1"}, event="e1")
        hs.track("session_start", context={"playerId": "p2"}, event="e1")
        hs.track("session_start", context={"playerId": "p3"})  # active during the event, not taking part
        hs.track("session_start", event="e1")  # the server's own sample: no player to count
        hs.track("session_start", context={"playerId": "p4"}, event="E1")  # no event id
        assert hs.dropped_samples == 2  # refused before they were queued
        await wait_until(lambda: hs._core.tracker.sent == 4, "the four good samples stored")
        hs.track("session_start", context={"playerId": "p5"}, event="no-such-event")
        await wait_until(lambda: hs.dropped_samples == 3, "the unknown event refused by the server")
    assert "track('session_start', event='e1') needs a player id in the context; dropped" in caplog.text
    assert "'E1' is not a live event id" in caplog.text
    assert "the server refused a tracked sample: eventId: no live event 'no-such-event'" in caplog.text
    posted = [s for r in transport.paths(METRICS) for s in httpx.Response(200, content=r.content).json()["samples"]]
    assert [(s["playerId"], s["metric"], s.get("eventId"), s["deploymentId"]) for s in posted] == [
        ("p1", "session_start", "e1", deployment),
        ("p1", "purchase", "e1", deployment),
        ("p2", "session_start", "e1", deployment),
        ("p3", "session_start", None, deployment),
        ("p5", "session_start", "no-such-event", deployment),
    ]
    found = await event_metrics(client, op)
    assert {k: found[k] for k in ("participants", "activePlayers", "payers", "purchases", "revenue")} == {
        "participants": 2,
        "activePlayers": 3,
        "payers": 1,
        "purchases": 1,
        "revenue": pytest.approx(4.99),
    }
    assert found["averageSamplesPerParticipant"] == 1.5  # p1: a session and a purchase; p2: a session
    reported = await metrics_of(client, op, deployment)  # tagged samples count for the deployment as ever
    assert reported["arms"]["canary"]["players"] + reported["arms"]["baseline"]["players"] == 3
