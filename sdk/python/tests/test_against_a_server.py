"""What a game server does with the SDK, against a running HotSwap: connect, evaluate configs
with targeting locally (as the server would), follow a change over the stream, register in the
fleet and track samples under a deployment's arms; with the thread-backed `Client`, with the
asyncio `AsyncClient`, and through the OpenFeature provider."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from hotswap.sdk import AsyncClient, Client, Options
from live_server import ENVIRONMENT, Server, release, revision, set_rules, wait_for

_names = itertools.count(1)


def config_name(what: str) -> str:
    """A config of this test alone: the tests share one server."""
    return f"{what}-{next(_names)}"


def options(server: Server, **overrides: Any) -> Options:
    values: dict[str, Any] = {
        "url": server.url,
        "token": server.server_token,
        "environment": ENVIRONMENT,
        "reconnect_initial": 0.05,
        "reconnect_max": 0.5,
        "start_timeout": 10.0,
        "track_flush_interval": 0.05,
        "heartbeat_interval": 0.5,
    }
    return Options(**(values | overrides))


async def eventually(condition: Callable[[], object], what: str, seconds: float = 20.0) -> None:
    """`wait_for` on the event loop the async client runs on: it must keep turning meanwhile."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await anyio.sleep(0.02)


def test_local_evaluation_gives_the_servers_answers(server: Server) -> None:
    """The SDK evaluates with its own copy of the targeting engine; the server with its own."""
    name = config_name("balance")
    release(server, name, {"hp": 100, "speed": 1.0}, "1.0.0", create=True)
    set_rules(
        server,
        name,
        [
            {"id": "vip-hp", "segment": "vip", "override": {"hp": 150}},
            {"id": "eu-ios", "condition": {"region": "EU-WEST", "platform": "ios"}, "override": {"speed": 1.2}},
            {"id": "half", "rollout": {"percentage": 50}, "value": {"hp": 110, "speed": 0.9}},
        ],
    )
    contexts: list[dict[str, Any]] = [
        {"playerId": f"p{i}", "region": "EU-WEST" if i % 3 else "NA-WEST", "platform": "ios" if i % 2 else "pc"}
        | ({"attributes": {"totalSpend": 1000}} if i % 5 == 0 else {})
        for i in range(60)
    ]
    with Client(options(server)) as hs, httpx.Client(base_url=server.url + "/api/v1") as http:
        assert hs.ready
        latest = revision(server)
        wait_for(lambda: hs.revision is not None and hs.revision >= latest, "every change in the client's snapshot")
        reasons = set()
        for context in contexts:
            r = http.post(
                "/evaluate",
                params={"environment": ENVIRONMENT},
                headers={"Authorization": f"Bearer {server.server_token}"},
                json=context,
            )
            assert r.status_code == 200, r.text
            answer = r.json()["configs"][name]
            local = hs.evaluate(name, context)
            assert local is not None
            assert (local.value, local.version, local.reason, local.rule_id) == (
                answer["value"],
                answer["version"],
                answer["reason"],
                answer.get("ruleId"),
            )
            reasons.add((local.reason, local.rule_id))
        assert reasons == {("default", None), ("segment", "vip-hp"), ("rule", "eu-ios"), ("rule", "half")}


def test_a_change_reaches_the_game_server_over_the_stream(server: Server) -> None:
    name = config_name("shop")
    release(server, name, {"price": 10}, "1.0.0", create=True)
    seen: list[tuple[str, int, str]] = []
    with Client(options(server)) as hs:
        wait_for(lambda: hs.config(name) == {"price": 10}, "the first version")
        hs.on_change(name, lambda changed, revision: seen.append((changed, revision, threading.current_thread().name)))
        with hs.session() as match:
            release(server, name, {"price": 12}, "1.0.1", create=False)
            set_rules(server, name, [{"id": "ios", "condition": {"platform": "ios"}, "override": {"price": 9}}])
            wait_for(lambda: hs.config(name, {"platform": "ios"}) == {"price": 9}, "the change over the stream")
            assert hs.config(name) == {"price": 12}
            assert match.config(name, {"platform": "ios"}) == {"price": 10}  # a match keeps its snapshot
        wait_for(lambda: seen and seen[-1][1] == hs.revision, "the listener")
        assert {(changed, thread) for changed, _, thread in seen} == {(name, "hotswap-sdk")}


@pytest.mark.anyio
async def test_an_async_game_server_registers_and_tracks_samples_under_its_arm(server: Server) -> None:
    name = config_name("tuning")
    release(server, name, {"hp": 100}, "1.0.0", create=True)
    with server.operator() as http:
        r = http.post(f"/configs/{name}/versions", json={"configData": {"hp": 200}, "version": "2.0.0"})
        assert r.status_code == 201, r.text
    fleet = {"server_id": "gs-live-1", "region": "EU-WEST", "game": "arena", "build": "1.0", "register": True}
    async with AsyncClient(options(server, **fleet)) as hs:
        with server.operator() as http:
            await eventually(lambda: http.get("/servers/gs-live-1").status_code == 200, "the registration")
            r = http.post("/deployments", json={"configName": name, "strategy": "Canary", "unitKind": "players"})
            assert r.status_code == 201, r.text
            deployment = r.json()["id"]
        players = [f"p{i}" for i in range(100)]

        def rolled_out() -> bool:
            found = hs.evaluate(name, {"playerId": players[0]})
            return found is not None and found.deployment_id == deployment

        await eventually(rolled_out, "the deployment in the client's snapshot")
        arms: dict[str, list[str]] = {"canary": [], "baseline": []}
        for player in players:
            found = hs.evaluate(name, {"playerId": player})
            assert found is not None
            assert found.arm is not None
            assert found.value == ({"hp": 200} if found.arm == "canary" else {"hp": 100})
            arms[found.arm].append(player)
            hs.track("session_start", context={"playerId": player})
            hs.track("session_end", 600.0 if found.arm == "canary" else 300.0, {"playerId": player})
        assert arms["canary"]
        assert arms["baseline"]

        def reported() -> dict[str, Any]:
            with server.operator() as http:
                r = http.get(f"/deployments/{deployment}/metrics")
                assert r.status_code == 200, r.text
                found: dict[str, Any] = r.json()["arms"]
                return found

        def all_stored() -> bool:
            return all(reported().get(arm, {}).get("sessions") == len(arms[arm]) for arm in arms)

        await eventually(all_stored, "every sample stored")
        assert hs.dropped_samples == 0
    final = reported()
    for arm, members in arms.items():
        assert final[arm]["players"] == len(members)
        assert final[arm]["avgSessionDurationSeconds"] == (600.0 if arm == "canary" else 300.0)


def test_the_openfeature_provider_resolves_flags_from_the_client(server: Server) -> None:
    from openfeature import api  # the `openfeature` extra
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import Reason

    from hotswap.sdk.openfeature import HotSwapProvider

    name = config_name("hero")
    release(server, name, {"hp": 100, "name": "Knight"}, "1.0.0", create=True)
    set_rules(server, name, [{"id": "eu-hp", "condition": {"region": "EU-WEST"}, "override": {"hp": 90}}])
    with Client(options(server)) as hs:
        latest = revision(server)
        wait_for(lambda: hs.revision is not None and hs.revision >= latest, "every change in the client's snapshot")
        try:
            api.set_provider_and_wait(HotSwapProvider(hs))
            flags = api.get_client()
            eu = flags.get_integer_details(f"{name}:hp", 0, EvaluationContext("p1", {"region": "EU-WEST"}))
            assert (eu.value, eu.reason, eu.variant) == (90, Reason.TARGETING_MATCH, "eu-hp")
            assert flags.get_string_value(f"{name}:name", "?", EvaluationContext("p1")) == "Knight"
            assert flags.get_integer_value(f"{name}:missing", 7) == 7
        finally:
            api.shutdown()
