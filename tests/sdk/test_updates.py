"""Keeping the snapshot current against the real app: the stream, resuming, the full snapshot
after a delta that does not fit, reconnect backoff, the idle timeout, and polling."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest

from hotswap.container import Container
from hotswap.sdk import AsyncClient
from hotswap.sdk._updates import FALLBACK_AFTER, backoff
from tests.delivery.test_api import release, snapshot
from tests.helpers import Headers, wait_until
from tests.sdk.support import FlakyTransport, ScriptedStream, options
from tests.streaming import StreamingASGITransport

STREAM = "/api/v1/stream"
SNAPSHOT = "/api/v1/snapshot"


async def test_a_change_reaches_the_client_through_the_stream(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"price": 10})
    async with AsyncClient(options(transport, server)) as hs:
        assert hs.ready
        assert hs.config("shop") == {"price": 10}
        before = hs.revision
        await release(client, op, "shop", {"price": 12}, version="1.0.1", create=False)
        await wait_until(lambda: hs.config("shop") == {"price": 12}, "the new price")
        assert hs.revision == (await snapshot(client, server))["revision"] > (before or 0)
        found = hs.evaluate("shop")
        assert found is not None
        assert (found.version, found.reason, found.revision) == ("1.0.1", "default", hs.revision)
    assert len(transport.paths(STREAM)) == 1  # one connection did it all
    assert transport.paths(SNAPSHOT) == []


async def test_after_a_disconnect_the_client_resumes_from_the_revision_it_holds(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"price": 10})
    async with AsyncClient(options(transport, server)) as hs:
        held = hs.revision
        transport.down = True
        transport.cut()
        await release(client, op, "pvp", {"maps": 3})  # while the client is away
        await wait_until(lambda: len(transport.requests) >= 3, "reconnect attempts")
        assert hs.config("shop") == {"price": 10}  # still serving what it had
        transport.down = False
        await wait_until(lambda: hs.config("pvp") == {"maps": 3}, "the change made while away")
    resumed = transport.paths(STREAM)[1:]
    assert resumed
    assert {r.headers.get("last-event-id") for r in resumed} == {str(held)}


async def test_a_delta_that_does_not_fit_brings_the_full_snapshot(
    client: httpx.AsyncClient, app: object, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"price": 10})
    current = await snapshot(client, server)
    bad = {"base": current["revision"] + 5, "revision": current["revision"] + 6, "environment": "Staging"}
    hello = b'event: heartbeat\ndata: {"revision":%d}\n\n' % current["revision"]
    frames = b"event: snapshot\nid: %d\ndata: %s\n\n" % (current["revision"], orjson.dumps(current))
    script = [hello + frames + b"event: delta\ndata: " + orjson.dumps(bad) + b"\n\n"]
    scripted = ScriptedStream(StreamingASGITransport(app), script)
    async with AsyncClient(options(scripted, server)) as hs:
        await wait_until(lambda: len([r for r in scripted.requests if r.url.path == STREAM]) == 2, "a reconnect")
        await release(client, op, "shop", {"price": 11}, version="1.0.1", create=False)
        await wait_until(lambda: hs.config("shop") == {"price": 11}, "the next change")
    first, second = [r for r in scripted.requests if r.url.path == STREAM][:2]
    assert "last-event-id" not in first.headers
    assert "last-event-id" not in second.headers  # it asked for the full snapshot
    await scripted.aclose()


async def test_nothing_arriving_within_the_idle_timeout_means_reconnecting(
    app: object, server: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    silent = ScriptedStream(StreamingASGITransport(app), [b": nothing but a comment\n\n"] * 3)
    caplog.set_level(logging.INFO, "hotswap.sdk")
    async with AsyncClient(options(silent, server, stream_idle_timeout=0.05, start_timeout=0)) as hs:
        await wait_until(lambda: len([r for r in silent.requests if r.url.path == STREAM]) >= 3, "reconnects")
        await wait_until(lambda: hs.ready, "the real stream after the silent ones")
    assert "idle timeout" in caplog.text
    await silent.aclose()


def test_backoff_is_full_jitter_under_a_doubling_cap() -> None:
    draws: list[float] = []

    def top() -> float:
        draws.append(1.0)
        return 1.0

    assert [backoff(n, 0.5, 30.0, top) for n in range(0, 9)] == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff(10_000, 0.5, 30.0, top) == 30.0
    assert backoff(3, 0.5, 30.0, lambda: 0.25) == 0.5
    assert backoff(3, 0.5, 30.0, lambda: 0.0) == 0.0
    assert len(draws) == 9  # the injected source is what decides


async def test_reconnect_delays_come_from_the_injected_random_source(
    transport: FlakyTransport, server: Headers
) -> None:
    draws: list[int] = []

    def source() -> float:
        draws.append(1)
        return 0.5

    transport.down = True
    hs = AsyncClient(options(transport, server, random=source, start_timeout=0))
    await hs.start()
    await wait_until(lambda: len(draws) >= 3, "three reconnect delays")
    await hs.aclose()
    assert len(transport.paths(STREAM)) >= len(draws)  # one draw per failed attempt


async def test_while_the_stream_keeps_failing_the_snapshot_is_polled(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers
) -> None:
    transport.refused[STREAM] = 503
    await release(client, op, "shop", {"price": 10})
    async with AsyncClient(options(transport, server)) as hs:
        await wait_until(lambda: hs.config("shop") == {"price": 10}, "the snapshot, polled")
        assert len(transport.paths(STREAM)) >= FALLBACK_AFTER
        await wait_until(lambda: 304 in transport.statuses(SNAPSHOT), "an unchanged poll")
        assert transport.paths(SNAPSHOT)[-1].headers["if-none-match"] == f'"Staging-{hs.revision}"'
        await release(client, op, "shop", {"price": 12}, version="1.0.1", create=False)
        await wait_until(lambda: hs.config("shop") == {"price": 12}, "the change, polled")
        del transport.refused[STREAM]  # streaming works again: the client goes back to it
        await wait_until(lambda: 200 in transport.statuses(STREAM), "the stream again")


async def test_with_streaming_off_the_client_only_polls(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers
) -> None:
    async with AsyncClient(options(transport, server, streaming=False)) as hs:
        assert hs.ready
        await release(client, op, "shop", {"price": 10})
        await wait_until(lambda: hs.config("shop") == {"price": 10}, "the change, polled")
    assert transport.paths(STREAM) == []
    assert 304 in transport.statuses(SNAPSHOT) or len(transport.paths(SNAPSHOT)) >= 2


async def test_an_unusable_token_is_logged_not_raised(
    transport: FlakyTransport, caplog: pytest.LogCaptureFixture
) -> None:
    hs = AsyncClient(options(transport, {"Authorization": "Bearer nonsense"}, start_timeout=0.2))
    await hs.start()
    await wait_until(lambda: "HTTP 401" in caplog.text, "the refusal in the log")
    assert not hs.ready
    assert hs.config("shop") is None
    assert hs.value("shop", "price", default=7) == 7
    await hs.aclose()


async def test_the_client_stops_reading_a_stream_the_server_ended(
    client: httpx.AsyncClient, transport: FlakyTransport, container: Container, op: Headers, server: Headers
) -> None:
    async with AsyncClient(options(transport, server)) as hs:
        held = hs.revision
        container.streams.shutdown()  # a replica going away ends its streams cleanly
        await wait_until(lambda: len(transport.paths(STREAM)) >= 2, "a reconnect")
    assert transport.paths(STREAM)[1].headers["last-event-id"] == str(held)


async def test_listeners_fire_after_the_swap_for_the_configs_that_changed(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"price": 10})
    await release(client, op, "pvp", {"maps": 3})
    async with AsyncClient(options(transport, server)) as hs:
        seen: list[tuple[str, int, object]] = []
        hs.on_change("shop", lambda name, revision: seen.append((name, revision, hs.config(name))))
        hs.on_change("pvp", lambda name, revision: seen.append((name, revision, hs.config(name))))
        everything: list[str] = []
        stop = hs.on_change("*", lambda name, revision: everything.append(name))
        await release(client, op, "shop", {"price": 12}, version="1.0.1", create=False)
        await wait_until(lambda: seen, "the listener")
        assert seen == [("shop", hs.revision, {"price": 12})]  # it sees the new snapshot
        assert everything == ["shop"]
        stop()
        await release(client, op, "loot", {"drop": 0.1})
        await wait_until(lambda: hs.config("loot") is not None, "the new config")
        assert everything == ["shop"]
        assert [name for name, _, _ in seen] == ["shop"]
