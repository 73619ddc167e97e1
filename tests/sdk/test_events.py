"""`active_events` in the SDK: the server's answer for the same snapshot and instant, read from
memory without evaluating a config, on the client and on a session."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.sdk import AsyncClient
from hotswap.targeting.snapshot import CompiledSnapshot
from tests.conftest import START
from tests.delivery.test_api import release
from tests.delivery.test_player_events import (
    Events,
    iso,
    live_event,
    player_events,
    publish,
    served,  # noqa: F401 - the fixture
)
from tests.helpers import Headers, wait_until
from tests.sdk.support import FlakyTransport, options

VARIANTS = [{"name": "A", "weight": 30, "configuration": {"multiplier": 3}}, {"name": "B", "weight": 70}]


def contexts() -> list[dict[str, Any]]:
    return [
        {"playerId": f"p{i}", "region": ("eu", "na-west", "EU-WEST")[i % 3], "attributes": {"totalSpend": i * 10}}
        for i in range(24)
    ]


async def servers_answer(client: httpx.AsyncClient, headers: Headers, context: dict[str, Any]) -> list[Any]:
    params = {"region": context["region"], "attr.totalSpend": str(context["attributes"]["totalSpend"])}
    r = await player_events(client, headers, context["playerId"], **params)
    assert r.status_code == 200, r.text
    events: list[Any] = r.json()["events"]
    return events


async def test_active_events_are_the_servers_answer(
    client: httpx.AsyncClient,
    op: Headers,
    transport: FlakyTransport,
    server: Headers,
    container: Container,
    served: Events,  # noqa: F811 - the fixture imported above
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await release(client, op, "balance", {"hp": 100})
    eu_later = {"region": "EU-WEST", "start": iso(START + timedelta(days=1)), "end": iso(START + timedelta(days=2))}
    served += [
        live_event("summer", variants=VARIANTS),
        live_event("vip-sale", segment="vip", exposure=[{"percentage": 60}]),
        live_event("eu-weekend", windows=[eu_later]),
    ]
    await publish(container)
    async with AsyncClient(options(transport, server, now=clock.now)) as hs:
        # Reading events evaluates no config.
        def no_configs(*_: Any) -> NoReturn:
            raise AssertionError("active_events evaluated the configs")

        monkeypatch.setattr(CompiledSnapshot, "evaluate", no_configs)
        monkeypatch.setattr(CompiledSnapshot, "evaluate_config", no_configs)
        seen: set[str] = set()
        for at in (START, START + timedelta(days=1, hours=3)):
            clock.set(at)
            for context in contexts():
                expected = await servers_answer(client, server, context)
                assert hs.active_events(context) == expected, context
                with hs.session() as match:
                    assert match.active_events(context) == expected
                seen |= {f"{e['id']}:{e['variant']}" for e in expected}
        assert seen == {"summer:A", "summer:B", "vip-sale:None", "eu-weekend:None"}
        # A server asking for itself (no player): no exposure, no variant.
        assert [(e["id"], e["variant"]) for e in hs.active_events()] == [("summer", None)]

        served[0] = live_event("summer", version=2, configuration={"multiplier": 5})
        await publish(container)
        revision = (await player_events(client, server, "p1")).json()["revision"]
        await wait_until(lambda: hs.revision == revision, "the new revision")
        assert hs.active_events({"playerId": "p1"})[0]["configuration"] == {"multiplier": 5}
