"""Reads: local evaluation gives the server's answers; paths into values; contexts; sessions
that keep a match on the snapshot it started with."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hotswap.sdk import AsyncClient, Context, Evaluation
from hotswap.sdk.session import lookup, to_context
from tests.delivery.test_api import evaluate, release, set_rules
from tests.helpers import Headers, wait_until
from tests.sdk.support import FlakyTransport, options

ECONOMY = {"rewards": {"daily": [{"gold": 10}, {"gold": 25, "gems": [1, 2]}]}, "tax": 0.1, "note": None}


async def test_local_evaluation_gives_the_servers_answers(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"discount": 0})
    await set_rules(client, op, "shop", [{"id": "vip-deal", "segment": "vip", "value": {"discount": 25}}])
    await release(client, op, "balance", {"hp": 100})
    await set_rules(
        client,
        op,
        "balance",
        [
            {"id": "eu-ios", "condition": {"region": "eu", "platform": "ios"}, "override": {"hp": 90}},
            {"id": "half", "rollout": {"percentage": 50}, "override": {"hp": 110}},
        ],
    )
    contexts: list[dict[str, Any]] = [
        {"playerId": f"p{i}", "region": "eu" if i % 3 else "na", "platform": "ios" if i % 2 else "pc"}
        | ({"attributes": {"totalSpend": 250}} if i % 4 == 0 else {})
        for i in range(40)
    ]
    async with AsyncClient(options(transport, server)) as hs:
        reasons = set()
        for context in contexts:
            served = (await evaluate(client, server, context))["configs"]
            for name in ("shop", "balance"):
                local = hs.evaluate(name, context)
                assert local is not None
                assert hs.config(name, context) == served[name]["value"]
                assert (local.value, local.version, local.reason) == (
                    served[name]["value"],
                    served[name]["version"],
                    served[name]["reason"],
                )
                assert (local.rule_id, local.segment) == (served[name].get("ruleId"), served[name].get("segment"))
                reasons.add(local.reason)
        assert reasons == {"default", "rule", "segment"}
        assert hs.config("missing", contexts[0]) is None
        assert hs.evaluate("missing") is None
        assert hs.active_events({"playerId": "p1"}) == []


def test_values_are_found_by_dotted_path() -> None:
    assert lookup(ECONOMY, "rewards.daily.1.gold") == 25
    assert lookup(ECONOMY, "rewards.daily.1.gems.0") == 1
    assert lookup(ECONOMY, "tax") == 0.1
    assert lookup(ECONOMY, "note", default=5) is None  # present and null is not missing
    assert lookup(ECONOMY, "") is ECONOMY
    for missing in ("rewards.weekly", "rewards.daily.7.gold", "rewards.daily.first", "tax.rate", "rewards.daily.-1"):
        assert lookup(ECONOMY, missing, default="dflt") == "dflt"


def test_a_context_is_a_context_a_mapping_or_this_server() -> None:
    server = Context(server_id="gs-1", region="EU-WEST")
    assert to_context(None, server) is server
    player = to_context({"playerId": "p1", "platform": "ios", "attributes": {"level": 3}}, server)
    assert player == Context("p1", "gs-1", "EU-WEST", "ios", {"level": 3})
    own = Context(player_id="p2", server_id="gs-9", region="NA-WEST")
    assert to_context(own, server) is own
    assert to_context(Context(player_id="p3"), server) == Context("p3", "gs-1", "EU-WEST")
    assert to_context({"playerId": "p4"}, Context()) == Context("p4")
    with pytest.raises(TypeError):
        to_context("p1", server)  # type: ignore[arg-type]


async def test_a_session_keeps_its_snapshot_while_a_new_revision_arrives(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers
) -> None:
    await release(client, op, "economy", ECONOMY)
    async with AsyncClient(options(transport, server)) as hs:
        with hs.session() as match:
            started = match.revision
            assert match.value("economy", "rewards.daily.0.gold") == 10
            changed = {**ECONOMY, "rewards": {"daily": [{"gold": 99}]}}
            await release(client, op, "economy", changed, version="1.1.0", create=False)
            await wait_until(lambda: hs.value("economy", "rewards.daily.0.gold") == 99, "the new revision")
            assert match.revision == started
            assert match.value("economy", "rewards.daily.0.gold") == 10
            assert match.config("economy") == ECONOMY
            found = match.evaluate("economy", {"playerId": "p1"})
            assert isinstance(found, Evaluation)
            assert (found.version, found.revision) == ("1.0.0", started)
            assert match.active_events() == []
        with hs.session() as next_match:
            assert next_match.revision == hs.revision
            assert next_match.value("economy", "rewards.daily.0.gold") == 99


async def test_a_client_without_a_snapshot_answers_nothing_and_the_defaults(
    transport: FlakyTransport, server: Headers
) -> None:
    transport.down = True
    hs = AsyncClient(options(transport, server, start_timeout=0))
    assert (hs.ready, hs.revision) == (False, None)
    await hs.start()
    assert (hs.ready, hs.revision) == (False, None)
    assert hs.config("shop") is None
    assert hs.value("shop", "price", default=3) == 3
    assert hs.evaluate("shop") is None
    assert hs.active_events() == []
    with hs.session() as match:
        assert (match.revision, match.config("shop"), match.value("shop", "a", 1)) == (None, None, 1)
    await hs.aclose()
