"""Named target servers (`targetInstances`) over HTTP: a deployment is judged on the ones it can
reach (registered, and inside its target regions), refused when it reaches none, and warns about
the others in its detail and in the list alike, judged again at each read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotswap.container import Container
from tests.helpers import CountRows, Headers, fields, problem
from tests.rollouts.support import config_with_two_versions, deploy, get, register_servers


@pytest.fixture
def fleet_reads(container: Container) -> Iterator[list[str]]:
    """The SELECTs on the game servers' table that the app runs, as they run."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "game_servers" in statement:
            seen.append(statement)

    sa.event.listen(container.engine.sync_engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(container.engine.sync_engine, "before_cursor_execute", record)


async def listed(client: httpx.AsyncClient, op: Headers, **params: Any) -> dict[str, dict[str, Any]]:
    r = await client.get("/api/v1/deployments", headers=op, params=params)
    assert r.status_code == 200, r.text
    return {d["id"]: d for d in r.json()["items"]}


def codes(deployment: dict[str, Any]) -> dict[str, list[str]]:
    return {w["code"]: w["instances"] for w in deployment["warnings"]}


async def test_targets_registered_only_outside_the_target_regions_are_refused_saying_so(
    client: httpx.AsyncClient, op: Headers, server: Headers, count_rows: CountRows
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, {"gs-eu-1": "EU-WEST", "gs-eu-2": "eu-west", "gs-na-1": "NA-WEST"})
    body: dict[str, Any] = {
        "configName": "balance",
        "strategy": "Canary",
        "targetInstances": ["gs-eu-1", "gs-eu-2"],
        "targetRegions": ["us-west"],
    }
    for params in ({}, {"dryRun": "true"}):
        found = problem(await client.post("/api/v1/deployments", headers=op, params=params, json=body), 422)
        assert fields(found) == ["body.targetInstances"]
        assert found["unregisteredInstances"] == []
        assert found["instancesOutsideRegions"] == {"gs-eu-1": "EU-WEST", "gs-eu-2": "EU-WEST"}
        message = found["errors"][0]["message"]
        assert "gs-eu-1 in EU-WEST, gs-eu-2 in EU-WEST are registered outside the target regions (NA-WEST)" in message
        assert "not registered" not in message
    assert await count_rows("deployments") == 0
    # Inside the regions it goes ahead, and a step counts the server.
    created = await deploy(client, op, **(body | {"targetInstances": ["gs-na-1"]}))
    assert (created["steps"][-1]["servers"], created["warnings"]) == (1, [])


async def test_targets_some_unregistered_and_the_rest_outside_the_regions_are_refused_with_each_reason(
    client: httpx.AsyncClient, op: Headers, server: Headers, count_rows: CountRows
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, {"gs-eu-1": "EU-WEST"})
    body: dict[str, Any] = {
        "configName": "balance",
        "strategy": "Rolling",
        "batchSize": 1,
        "targetInstances": ["typo-1", "gs-eu-1"],
        "targetRegions": ["NA-WEST", "NA-EAST"],
    }
    for params in ({}, {"dryRun": "true"}):
        found = problem(await client.post("/api/v1/deployments", headers=op, params=params, json=body), 422)
        assert fields(found) == ["body.targetInstances"]
        assert (found["unregisteredInstances"], found["instancesOutsideRegions"]) == (
            ["typo-1"],
            {"gs-eu-1": "EU-WEST"},
        )
        message = found["errors"][0]["message"]
        assert "gs-eu-1 in EU-WEST is registered outside the target regions (NA-EAST, NA-WEST)" in message
        assert "typo-1 is not registered (POST /api/v1/servers)" in message
    assert await count_rows("deployments") == 0


async def test_targets_outside_the_regions_are_a_warning_when_some_are_reachable(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, {"gs-na-1": "NA-WEST", "gs-eu-1": "EU-WEST"})
    body: dict[str, Any] = {
        "configName": "balance",
        "strategy": "Canary",
        "targetInstances": ["gs-na-1", "gs-eu-1", "typo-1"],
        "targetRegions": ["NA-WEST"],
    }
    r = await client.post("/api/v1/deployments", headers=op, params={"dryRun": "true"}, json=body)
    assert r.status_code == 200, r.text
    assert codes(r.json()) == {"unregistered-instances": ["typo-1"], "instances-outside-regions": ["gs-eu-1"]}
    created = await deploy(client, op, **body)
    unregistered, outside = created["warnings"]
    assert unregistered["message"].startswith("1 of the 3 targetInstances is not a registered game server")
    assert (outside["code"], outside["field"], outside["instances"]) == (
        "instances-outside-regions",
        "targetInstances",
        ["gs-eu-1"],
    )
    assert outside["message"] == (
        "1 of the 3 targetInstances is registered outside the target regions (NA-WEST), "
        "so no step exposes it: gs-eu-1 in EU-WEST"
    )
    assert [s["servers"] for s in created["steps"]][-1] == 1  # gs-na-1 alone
    # Judged at each read: the server moves into the region, the other registers.
    await register_servers(client, server, {"typo-1": "NA-WEST"})
    r = await client.post(
        "/api/v1/servers", headers=server, json={"id": "gs-eu-1", "game": "arena", "region": "NA-WEST", "build": "1.0"}
    )
    assert r.status_code == 200, r.text
    assert (await get(client, op, created["id"]))["warnings"] == []
    assert (await listed(client, op))[created["id"]]["warnings"] == []


async def test_a_geographic_deployment_over_every_region_reaches_servers_in_any_of_them(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, {"gs-na-1": "NA-WEST", "gs-eu-1": "EU-WEST"})
    created = await deploy(
        client, op, configName="balance", strategy="Geographic", targetInstances=["gs-na-1", "gs-eu-1"]
    )
    assert created["warnings"] == []
    assert created["steps"][-1]["servers"] == 2


async def test_the_list_shows_the_warnings_the_detail_shows_from_one_fleet_read(
    client: httpx.AsyncClient, op: Headers, server: Headers, fleet_reads: list[str]
) -> None:
    await register_servers(client, server, {"gs-na-1": "NA-WEST", "gs-eu-1": "EU-WEST"})
    bodies: dict[str, dict[str, Any]] = {
        "unknown": {"strategy": "Canary", "targetInstances": ["gs-na-1", "typo-1"]},
        "outside": {"strategy": "Direct", "targetInstances": ["gs-na-1", "gs-eu-1"], "targetRegions": ["NA-WEST"]},
        "fine": {"strategy": "Canary", "targetInstances": ["gs-na-1", "gs-eu-1"]},
        "players": {"strategy": "Canary", "unitKind": "players", "targetInstances": ["p-1"]},
    }
    ids = {}
    for name, body in bodies.items():
        await config_with_two_versions(client, op, name)
        ids[name] = (await deploy(client, op, configName=name, **body))["id"]
    fleet_reads.clear()
    page = await listed(client, op)
    assert len(fleet_reads) == 1  # one read of the fleet for the whole page, not one per deployment
    assert {name: codes(page[i]) for name, i in ids.items()} == {
        "unknown": {"unregistered-instances": ["typo-1"]},
        "outside": {"instances-outside-regions": ["gs-eu-1"]},
        "fine": {},
        "players": {},
    }
    for deployment_id in ids.values():
        assert page[deployment_id]["warnings"] == (await get(client, op, deployment_id))["warnings"]
    # A page of deployments that name no server reads no fleet.
    fleet_reads.clear()
    assert list(await listed(client, op, config="players")) == [ids["players"]]
    assert fleet_reads == []
