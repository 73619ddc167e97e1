"""Each strategy through its whole life over HTTP, with the worker and the injected clock:
who is served the new version at each step, gates that wait for a promote, and the end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from tests.helpers import Headers, problem
from tests.rollouts.support import config_with_two_versions, deploy, get, register_servers, served

FLEET = {f"na-{i}": "NA-WEST" for i in range(6)} | {f"eu-{i}": "EU-WEST" for i in range(6)}


async def _new_version_servers(client: httpx.AsyncClient, server: Headers) -> set[str]:
    found = set()
    for server_id in FLEET:
        answer = await served(client, server, "balance", serverId=server_id, region=FLEET[server_id])
        if answer is not None and answer["version"] == "2.0.0":
            found.add(server_id)
    return found


async def _tick(container: Container, clock: ManualClock, by: timedelta) -> None:
    clock.advance(by)
    await container.worker.run_due()


async def test_blue_green_previews_then_switches_when_promoted_and_finalizes(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, FLEET)
    created = await deploy(
        client, op, configName="balance", strategy="BlueGreen", previewUnits=["na-0", "eu-0"], evaluationPeriod="PT10M"
    )
    assert [s["name"] for s in created["steps"]] == ["preview", "switch"]
    assert await _new_version_servers(client, server) == {"na-0", "eu-0"}
    await _tick(container, clock, timedelta(minutes=11))
    assert await _new_version_servers(client, server) == set(FLEET)  # the switch: everyone at once
    await _tick(container, clock, timedelta(hours=3))
    waiting = await get(client, op, created["id"])
    assert (waiting["status"], waiting["step"]) == ("Running", 1)  # the old version stays ready until finalized
    r = await client.post(f"/api/v1/deployments/{created['id']}/promote", headers=op)
    assert r.json()["status"] == "Succeeded", r.text
    assert (await client.get("/api/v1/configs/balance", headers=op)).json()["liveVersion"] == "2.0.0"


async def test_blue_green_switches_back_at_once_on_rollback(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, FLEET)
    created = await deploy(client, op, configName="balance", strategy="BlueGreen", previewUnits=["na-0"])
    await client.post(f"/api/v1/deployments/{created['id']}/promote", headers=op)  # switch now
    assert await _new_version_servers(client, server) == set(FLEET)
    r = await client.post(f"/api/v1/deployments/{created['id']}/rollback", headers=op, json={"reason": "lag"})
    assert r.json()["status"] == "RolledBack"
    assert await _new_version_servers(client, server) == set()


async def test_rolling_batches_of_named_servers_grow_one_after_another(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, FLEET)
    created = await deploy(
        client, op, configName="balance", strategy="Rolling", targetInstances=list(FLEET), batchSize=4,
        batchWait="PT5M",
    )  # fmt: skip
    assert len(created["steps"]) == 3
    seen: list[set[str]] = [await _new_version_servers(client, server)]
    for _ in range(4):
        await _tick(container, clock, timedelta(minutes=6))
        seen.append(await _new_version_servers(client, server))
    assert [len(s) for s in seen[:3]] == [4, 8, 12]
    assert seen[0] <= seen[1] <= seen[2]
    assert (await get(client, op, created["id"]))["status"] == "Succeeded"


async def test_segmented_goes_cohort_by_cohort(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await config_with_two_versions(client, op, "balance")
    r = await client.post(
        "/api/v1/segments", headers=op, json={"id": "testers", "name": "Testers", "condition": {"tester": True}}
    )
    assert r.status_code == 201, r.text
    created = await deploy(
        client, op, configName="balance", strategy="Segmented", cohorts=["testers", "vip", "everyone"],
        evaluationPeriod="PT1H",
    )  # fmt: skip
    players: dict[str, dict[str, Any]] = {
        "tester": {"tester": True},
        "whale": {"totalSpend": 500},
        "anyone": {},
    }

    async def having() -> set[str]:
        found = set()
        for player, attributes in players.items():
            answer = await served(client, server, "balance", playerId=player, attributes=attributes)
            if answer is not None and answer["version"] == "2.0.0":
                found.add(player)
        return found

    assert await having() == {"tester"}
    await _tick(container, clock, timedelta(minutes=61))
    assert await having() == {"tester", "whale"}
    await _tick(container, clock, timedelta(minutes=61))
    assert await having() == {"tester", "whale", "anyone"}
    await _tick(container, clock, timedelta(minutes=61))
    assert (await get(client, op, created["id"]))["status"] == "Succeeded"


async def test_geographic_goes_region_by_region_and_can_be_cancelled(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, FLEET)
    created = await deploy(
        client, op, configName="balance", strategy="Geographic", targetRegions=["EU-WEST", "NA-WEST"]
    )
    assert await _new_version_servers(client, server) == {s for s in FLEET if s.startswith("na-")}
    await _tick(container, clock, timedelta(minutes=61))
    assert await _new_version_servers(client, server) == set(FLEET)
    shown = await get(client, op, created["id"])
    assert [(r["region"], r["state"]) for r in shown["regions"]] == [("NA-WEST", "done"), ("EU-WEST", "current")]
    r = await client.post(f"/api/v1/deployments/{created['id']}/cancel", headers=op, json={"reason": "event ended"})
    assert r.json()["status"] == "Cancelled"
    assert await _new_version_servers(client, server) == set()
    problem(await client.post(f"/api/v1/deployments/{created['id']}/promote", headers=op), 409)


async def test_a_manual_gate_waits_for_a_promote(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock
) -> None:
    await config_with_two_versions(client, op, "balance")
    created = await deploy(client, op, configName="balance", strategy="Canary", manualGates=[1])
    await _tick(container, clock, timedelta(minutes=31))
    assert (await get(client, op, created["id"]))["step"] == 1
    await _tick(container, clock, timedelta(hours=6))
    assert (await get(client, op, created["id"]))["step"] == 1  # the gate holds
    await client.post(f"/api/v1/deployments/{created['id']}/promote", headers=op)
    assert (await get(client, op, created["id"]))["step"] == 2


async def test_a_deployment_limited_to_some_regions_keeps_serving_them_after_success(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, FLEET)
    created = await deploy(client, op, configName="balance", strategy="Canary", targetRegions=["NA-WEST"])
    for _ in range(5):
        await _tick(container, clock, timedelta(minutes=31))
    done = await get(client, op, created["id"])
    assert done["status"] == "Succeeded"
    # Only its targets have the new version, and they keep it; the live version is unchanged.
    assert await _new_version_servers(client, server) == {s for s in FLEET if s.startswith("na-")}
    assert (await client.get("/api/v1/configs/balance", headers=op)).json()["liveVersion"] == "1.0.0"
    assert done["exposure"][0]["regions"] == ["NA-WEST"]
    # A later deployment that reaches everyone makes the version live and ends the held exposure.
    everyone = await deploy(client, op, configName="balance", strategy="Direct")
    assert (await get(client, op, everyone["id"]))["status"] == "Running"
    await _tick(container, clock, timedelta(seconds=1))
    assert (await get(client, op, everyone["id"]))["status"] == "Succeeded"
    assert (await client.get("/api/v1/configs/balance", headers=op)).json()["liveVersion"] == "2.0.0"
    snapshot = (await client.get("/api/v1/snapshot", params={"environment": "Staging"}, headers=server)).json()
    assert snapshot["rollouts"] == []
    assert (await get(client, op, created["id"]))["exposure"] == []
