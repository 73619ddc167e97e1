"""Fleet membership: the SDK registers its game server and heartbeats the revision it applies."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from hotswap.core.clock import ManualClock
from hotswap.sdk import AsyncClient, Options
from tests.delivery.test_api import release
from tests.helpers import Headers, wait_until
from tests.sdk.support import FlakyTransport, options

MEMBER = {"register": True, "server_id": "gs-sdk-1", "region": "eu-west", "game": "arena", "build": "1.4.2"}


async def registered(client: httpx.AsyncClient, op: Headers, server_id: str = "gs-sdk-1") -> dict[str, Any] | None:
    r = await client.get(f"/api/v1/servers/{server_id}", headers=op)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_the_server_registers_and_reports_each_revision_it_applies(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"price": 10})
    member = MEMBER | {"labels": {"map": "island"}, "capacity": 64, "heartbeat_interval": 3600.0}
    async with AsyncClient(options(transport, server, **member)) as hs:
        fleet = hs._core.fleet
        assert fleet is not None
        await wait_until(lambda: fleet.reported == hs.revision, "a heartbeat with the revision")
        found = await registered(client, op)
        assert found is not None
        assert (found["region"], found["game"], found["build"], found["capacity"]) == ("EU-WEST", "arena", "1.4.2", 64)
        assert found["labels"] == {"map": "island"}
        assert (found["environment"], found["appliedRevision"]) == ("Staging", hs.revision)
        assert found["configVersions"] == {"shop": "1.0.0"}
        await release(client, op, "shop", {"price": 12}, version="1.0.1", create=False)
        # The heartbeat interval is an hour: a new revision is reported at once anyway.
        await wait_until(lambda: hs.config("shop") == {"price": 12} and fleet.reported == hs.revision)
        found = await registered(client, op)
        assert found is not None
        assert (found["appliedRevision"], found["configVersions"]) == (hs.revision, {"shop": "1.0.1"})


async def test_a_server_the_registry_forgot_registers_again(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers
) -> None:
    async with AsyncClient(options(transport, server, **MEMBER)) as hs:
        fleet = hs._core.fleet
        assert fleet is not None
        await wait_until(lambda: fleet.beats >= 1, "a heartbeat")
        r = await client.delete("/api/v1/servers/gs-sdk-1", headers=server)
        assert r.status_code == 204, r.text
        registrations = len(transport.paths("/api/v1/servers"))
        await wait_until(lambda: len(transport.paths("/api/v1/servers")) > registrations, "registering again")
        await wait_until(lambda: fleet.registered and fleet.beats >= 2)
        assert await registered(client, op) is not None


async def test_registration_failures_are_retried(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers
) -> None:
    transport.refused["/api/v1/servers"] = 503
    async with AsyncClient(options(transport, server, **MEMBER)) as hs:
        await wait_until(lambda: len(transport.paths("/api/v1/servers")) >= 2, "a second attempt")
        assert hs.ready  # the snapshot does not wait for the fleet
        del transport.refused["/api/v1/servers"]
        await wait_until(lambda: hs._core.fleet is not None and hs._core.fleet.beats >= 1, "registered at last")
    assert await registered(client, op) is not None


def test_registering_needs_what_the_registry_requires() -> None:
    with pytest.raises(ValueError, match="game, build"):
        Options(url="http://h", token="t", register=True, server_id="gs-1", region="eu-west")
    Options(url="http://h", token="t", register=True, server_id="gs-1", region="eu-west", game="g", build="1")


def test_a_server_id_registers_by_default() -> None:
    member = Options(url="http://h", token="t", server_id="gs-1", region="eu-west", game="g", build="1")
    assert member.registers
    assert not Options(url="http://h", token="t").registers  # no server id: nothing to register
    elsewhere = Options(url="http://h", token="t", server_id="gs-1", register=False)  # registered some other way
    assert not elsewhere.registers
    with pytest.raises(ValueError, match=r"needs region, game, build: .* pass register=False"):
        Options(url="http://h", token="t", server_id="gs-1")


async def test_a_client_named_as_a_server_registers_it_so_its_samples_count(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers, clock: ManualClock
) -> None:
    member = {k: v for k, v in MEMBER.items() if k != "register"}  # as the README's game server names itself
    async with AsyncClient(options(transport, server, **member, now=clock.now)) as hs:
        hs.track("session_end", 1260.0, {"playerId": "p-42"})
    assert (hs._core.tracker.sent, hs.dropped_samples) == (1, 0)
    found = await registered(client, op)
    assert found is not None
    assert (found["region"], found["game"], found["build"]) == ("EU-WEST", "arena", "1.4.2")


class SlowRegistry(httpx.AsyncBaseTransport):
    """Holds each registration until `answer` is set (a slow registry); passes the rest on."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/api/v1/servers":
            self.asked.set()
            await self.answer.wait()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_closing_while_registering_lets_the_registration_end_so_the_last_samples_count(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers, clock: ManualClock
) -> None:
    slow = SlowRegistry(transport)
    member = {k: v for k, v in MEMBER.items() if k != "register"}
    hs = AsyncClient(options(slow, server, **member, now=clock.now))
    await hs.start()
    await asyncio.wait_for(slow.asked.wait(), 10)
    hs.track("session_end", 1260.0, {"playerId": "p-42"})  # a short-lived server: it closes at once
    closing = asyncio.create_task(hs.aclose())
    await wait_until(lambda: hs._core._closing is not None and hs._core._closing.is_set(), "the close under way")
    slow.answer.set()
    await closing
    assert (hs._core.tracker.sent, hs.dropped_samples) == (1, 0)
    assert await registered(client, op) is not None
