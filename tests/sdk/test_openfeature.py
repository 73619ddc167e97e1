"""The OpenFeature provider: flags resolved through the OpenFeature API over a real SDK client,
with HotSwap's reasons as OpenFeature reasons, variants and metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode, ProviderNotReadyError
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus
from openfeature.track import TrackingEventDetails

from hotswap.sdk import AsyncClient, Client, Context, Options
from hotswap.sdk.openfeature import HotSwapProvider, to_context
from tests.analysis.support import running
from tests.delivery.test_api import release, set_rules
from tests.helpers import Headers, wait_until
from tests.sdk.support import FlakyTransport, options
from tests.sdk.test_state import document

HERO = {"hp": 100, "speed": 1.5, "name": "Knight", "tags": ["melee", "tank"]}


def snapshot_document(revision: int = 7) -> dict[str, Any]:
    """Three configs: `balance` with a condition rule, `shop` with a segment rule, `tutorial` in a
    rollout whose canary is the player `p-canary` alone."""
    doc = document(
        revision,
        balance={"hero": HERO, "pvp": True, "note": None},
        shop={"discount": 0},
        tutorial={"hints": False},
    )
    doc["segments"] = {"vip": {"condition": {"totalSpend": {"$gte": 100}}}}
    doc["configs"]["balance"]["rules"] = [
        {"id": "eu-hp", "condition": {"region": "EU-WEST"}, "override": {"hero": {"hp": 90}}}
    ]
    doc["configs"]["shop"]["rules"] = [{"id": "vip-deal", "segment": "vip", "value": {"discount": 25}}]
    doc["rollouts"] = [
        {
            "config": "tutorial",
            "id": "dep_1",
            "step": 1,
            "version": "2.0.0",
            "value": {"hints": True},
            "seed": "dep_1",
            "hashAttribute": "playerId",
            "exposure": [{"percentage": 100, "units": ["p-canary"]}],
        }
    ]
    return doc


class SnapshotServer(httpx.AsyncBaseTransport):
    """Answers the snapshot poll with `document`, or 503 while there is none."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document = document

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.document is None:
            return httpx.Response(503, json={"status": 503, "title": "unavailable"})
        return httpx.Response(200, content=orjson.dumps(self.document), headers={"content-type": "application/json"})


def local_options(**overrides: Any) -> Options:
    """A polling client of a server that is down, serving the bootstrap document."""
    values: dict[str, Any] = {
        "url": "http://unused",
        "token": "t",
        "environment": "Staging",
        "streaming": False,
        "bootstrap": snapshot_document(),
        "transport": SnapshotServer(),
        "track_flush_interval": 3600.0,  # the test reads the queue itself
    }
    return Options(**(values | overrides))


@pytest.fixture
def openfeature_api() -> Iterator[None]:
    """OpenFeature's API is process-wide: leave it as it was found."""
    yield
    api.shutdown()


@pytest.fixture
async def hs() -> AsyncIterator[AsyncClient]:
    async with AsyncClient(local_options(server_id="gs-1", register=False)) as client:
        assert client.ready
        yield client


@pytest.fixture
def flags(hs: AsyncClient, openfeature_api: None) -> OpenFeatureClient:
    api.set_provider_and_wait(HotSwapProvider(hs))
    return api.get_client()


# -- values, reasons, variants ---------------------------------------------------------------


async def test_each_type_resolves_from_a_config_or_a_path_in_it(flags: OpenFeatureClient) -> None:
    assert api.get_provider_metadata().name == "HotSwap"
    assert flags.get_boolean_value("balance:pvp", False) is True
    assert flags.get_string_value("balance:hero.name", "") == "Knight"
    assert flags.get_integer_value("balance:hero.hp", 0) == 100
    assert flags.get_float_value("balance:hero.speed", 0.0) == 1.5
    whole = flags.get_float_details("balance:hero.hp", 0.0)  # an integer is a number too
    assert (whole.value, whole.error_code) == (100.0, None)
    assert isinstance(whole.value, float)
    assert flags.get_object_value("balance", {}) == {"hero": HERO, "pvp": True, "note": None}
    assert flags.get_object_value("balance:hero.tags", []) == ["melee", "tank"]
    assert flags.get_string_value("balance:hero.tags.1", "") == "tank"

    details = flags.get_integer_details("balance:hero.hp", 0)
    assert (details.reason, details.variant, details.error_code) == (Reason.DEFAULT, "default", None)
    assert details.flag_metadata == {"config": "balance", "revision": 7, "version": "1.0.0"}
    assert await flags.get_integer_details_async("balance:hero.hp", 0) == details


def test_a_sync_client_serves_the_same_flags(openfeature_api: None) -> None:
    with Client(local_options()) as hs:
        api.set_provider_and_wait(HotSwapProvider(hs))
        canary = api.get_client().get_boolean_details("tutorial:hints", False, EvaluationContext("p-canary"))
        assert (canary.value, canary.reason, canary.variant) == (True, Reason.SPLIT, "canary")


async def test_a_rule_or_a_segment_is_a_targeting_match_named_by_its_rule(flags: OpenFeatureClient) -> None:
    eu = flags.get_integer_details("balance:hero.hp", 0, EvaluationContext("p1", {"region": "EU-WEST"}))
    assert (eu.value, eu.reason, eu.variant) == (90, Reason.TARGETING_MATCH, "eu-hp")
    assert eu.flag_metadata == {"config": "balance", "revision": 7, "version": "1.0.0", "ruleId": "eu-hp"}
    assert flags.get_integer_value("balance:hero.speed", 0, EvaluationContext("p1", {"region": "EU-WEST"})) == 0

    vip = flags.get_object_details("shop", {}, EvaluationContext("whale", {"totalSpend": 250}))
    assert (vip.value, vip.reason, vip.variant) == ({"discount": 25}, Reason.TARGETING_MATCH, "vip-deal")
    assert vip.flag_metadata["segment"] == "vip"
    regular = flags.get_integer_details("shop:discount", -1, EvaluationContext("minnow", {"totalSpend": 5}))
    assert (regular.value, regular.reason, regular.variant) == (0, Reason.DEFAULT, "default")


async def test_a_rollout_is_a_split_between_its_canary_and_its_baseline(flags: OpenFeatureClient) -> None:
    canary = flags.get_boolean_details("tutorial:hints", False, EvaluationContext("p-canary"))
    assert (canary.value, canary.reason, canary.variant) == (True, Reason.SPLIT, "canary")
    assert canary.flag_metadata == {
        "config": "tutorial",
        "revision": 7,
        "version": "2.0.0",
        "deploymentId": "dep_1",
        "arm": "canary",
    }
    baseline = flags.get_boolean_details("tutorial:hints", True, EvaluationContext("p-other"))
    assert (baseline.value, baseline.reason, baseline.variant) == (False, Reason.SPLIT, "baseline")
    assert baseline.flag_metadata["version"] == "1.0.0"
    assert baseline.flag_metadata["arm"] == "baseline"


# -- errors ------------------------------------------------------------------------------------


async def test_a_missing_config_or_path_is_flag_not_found_with_the_default(flags: OpenFeatureClient) -> None:
    for key in ("economy", "economy:gold", "balance:hero.mana", "balance:hero.tags.5", "balance:hero.hp.deep"):
        details = flags.get_integer_details(key, 42)
        assert (details.value, details.reason, details.error_code) == (42, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND), key
    assert flags.get_integer_details("economy", 42).flag_metadata == {"config": "economy", "revision": 7}
    assert flags.get_integer_details("balance:hero.mana", 42).flag_metadata["version"] == "1.0.0"


async def test_a_value_of_another_type_is_a_type_mismatch_with_the_default(flags: OpenFeatureClient) -> None:
    mismatches = [
        flags.get_boolean_details("balance:hero.hp", False),
        flags.get_integer_details("balance:hero.speed", 7),  # 1.5 is no integer
        flags.get_integer_details("balance:pvp", 7),  # nor is true
        flags.get_float_details("balance:pvp", 7.0),
        flags.get_string_details("balance:hero.hp", "x"),
        flags.get_string_details("balance:note", "x"),  # null is no value of any type
        flags.get_object_details("balance:hero.name", {"d": 1}),
    ]
    for details in mismatches:
        assert details.error_code == ErrorCode.TYPE_MISMATCH, details
        assert details.reason == Reason.ERROR
    assert [d.value for d in mismatches] == [False, 7, 7, 7.0, "x", "x", {"d": 1}]
    assert mismatches[1].error_message == "'balance:hero.speed' is a number, not an integer"


# -- the evaluation context --------------------------------------------------------------------


def test_the_evaluation_context_becomes_a_hotswap_context() -> None:
    since = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    context = EvaluationContext(
        "p1",
        {"serverId": "gs-9", "region": "EU-WEST", "platform": "ios", "level": 12, "since": since, "tags": ["a"]},
    )
    assert to_context(context) == Context(
        player_id="p1",
        server_id="gs-9",
        region="EU-WEST",
        platform="ios",
        attributes={"level": 12, "since": "2026-06-01T12:00:00+00:00", "tags": ["a"]},
    )
    assert to_context(None) is None
    assert to_context(EvaluationContext()) is None  # the server's own context
    assert to_context(EvaluationContext("", {"level": 1})) == Context(attributes={"level": 1})


async def test_a_context_without_a_region_is_served_as_in_this_servers_region(openfeature_api: None) -> None:
    async with AsyncClient(local_options(server_id="gs-eu-1", region="EU-WEST", register=False)) as eu_server:
        api.set_provider_and_wait(HotSwapProvider(eu_server))
        flags = api.get_client()
        assert flags.get_integer_value("balance:hero.hp", 0, EvaluationContext("p1")) == 90
        assert flags.get_integer_value("balance:hero.hp", 0) == 90  # no context: the server's own
        assert flags.get_integer_value("balance:hero.hp", 0, EvaluationContext("p1", {"region": "NA-WEST"})) == 100


# -- lifecycle and events ----------------------------------------------------------------------


async def test_a_provider_over_a_client_without_a_snapshot_is_ready_when_one_arrives(openfeature_api: None) -> None:
    down = SnapshotServer()
    events: list[EventDetails] = []
    api.add_handler(ProviderEvent.PROVIDER_READY, events.append)
    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, events.append)
    overrides = {"bootstrap": None, "transport": down, "poll_interval": 0.01, "start_timeout": 0.0}
    async with AsyncClient(local_options(**overrides)) as hs:
        assert not hs.ready
        with pytest.raises(ProviderNotReadyError):
            api.set_provider_and_wait(HotSwapProvider(hs))
        flags = api.get_client()
        assert flags.get_provider_status() == ProviderStatus.ERROR
        waiting = flags.get_boolean_details("balance:pvp", False)
        assert (waiting.value, waiting.reason, waiting.error_code) == (
            False,
            Reason.ERROR,
            ErrorCode.PROVIDER_NOT_READY,
        )

        down.document = snapshot_document(7)
        await wait_until(lambda: flags.get_provider_status() == ProviderStatus.READY, "the provider to be ready")
        assert flags.get_boolean_value("balance:pvp", False) is True
        await wait_until(lambda: any(e.flags_changed == ["tutorial"] for e in events), "the first changes")

        events.clear()
        changed = snapshot_document(8)
        changed["configs"]["shop"]["value"] = {"discount": 10}
        down.document = changed
        await wait_until(lambda: events, "a configuration change")
        await wait_until(lambda: hs.revision == 8, "revision 8")
        assert [(e.flags_changed, e.metadata) for e in events] == [(["shop"], {"revision": 8})]
        assert flags.get_integer_value("shop:discount", 0) == 10


async def test_tracking_goes_through_the_client_under_the_contexts_arm(
    hs: AsyncClient, flags: OpenFeatureClient
) -> None:
    flags.track("session_end", EvaluationContext("p-canary"), TrackingEventDetails(300.0, {"config": "tutorial"}))
    flags.track("session_start", EvaluationContext("p-other", {"config": "shop"}))
    batch = hs._core.tracker.take()
    assert [{k: v for k, v in s.items() if k != "at"} for s in batch] == [
        {
            "serverId": "gs-1",
            "metric": "session_end",
            "playerId": "p-canary",
            "value": 300.0,
            "deploymentId": "dep_1",
            "arm": "canary",
        },
        {
            "serverId": "gs-1",
            "metric": "session_start",
            "playerId": "p-other",
            "count": 1,
            "deploymentId": "dep_1",
            "arm": "baseline",
        },
    ]


async def test_an_event_attribute_tags_the_sample_with_that_live_event(
    hs: AsyncClient, flags: OpenFeatureClient, caplog: pytest.LogCaptureFixture
) -> None:
    flags.track("purchase", EvaluationContext("p-other"), TrackingEventDetails(4.99, {"event": "summer"}))
    flags.track("purchase", EvaluationContext("p-other"), TrackingEventDetails(4.99, {"event": 7}))
    (sample,) = hs._core.tracker.take()
    assert (sample["playerId"], sample["value"], sample["eventId"]) == ("p-other", 4.99, "summer")
    assert hs.dropped_samples == 1  # a bad event is dropped with a warning, not sent untagged
    assert "7 is not a live event id" in caplog.text


def test_the_sdk_imports_without_openfeature_and_the_provider_without_a_server_framework() -> None:
    code = (
        "import sys, json, hotswap.sdk\n"
        "before = 'openfeature' in sys.modules\n"
        "import hotswap.sdk.openfeature\n"
        "print(json.dumps([before, sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'fastapi', 'sqlalchemy', 'redis', 'starlette', 'pydantic', 'msgspec', 'asyncpg'}"
        " or m.startswith(('hotswap.configs', 'hotswap.delivery', 'hotswap.settings', 'hotswap.api')))]))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)  # noqa: S603
    assert json.loads(done.stdout) == [False, []]


# -- against the app ---------------------------------------------------------------------------


async def test_the_apps_rules_and_rollouts_show_their_reasons_and_variants(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers, openfeature_api: None
) -> None:
    deployment = (await running(client, op, server))["id"]  # balance: 1.0.0 {"hp": 100}, canary 2.0.0 {"hp": 200}
    await release(client, op, "shop", {"discount": 0})
    await set_rules(client, op, "shop", [{"id": "vip-deal", "segment": "vip", "value": {"discount": 25}}])
    async with AsyncClient(options(transport, server, server_id="na-1", region="NA-WEST", register=False)) as hs:
        await wait_until(lambda: hs.config("shop") is not None, "the shop config")
        api.set_provider_and_wait(HotSwapProvider(hs))
        flags = api.get_client()

        vip = flags.get_integer_details("shop:discount", -1, EvaluationContext("whale", {"totalSpend": 250}))
        assert (vip.value, vip.reason, vip.variant) == (25, Reason.TARGETING_MATCH, "vip-deal")
        assert vip.flag_metadata["segment"] == "vip"
        assert vip.flag_metadata["revision"] == hs.revision

        arms: dict[str, set[int]] = {}
        for i in range(300):
            hp = flags.get_integer_details("balance:hp", 0, EvaluationContext(f"p{i}"))
            assert hp.reason == Reason.SPLIT
            assert hp.flag_metadata["deploymentId"] == deployment
            assert hp.variant is not None
            arms.setdefault(hp.variant, set()).add(hp.value)
        assert arms == {"canary": {200}, "baseline": {100}}
