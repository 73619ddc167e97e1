"""Deployments through HTTP against the real app: the documented requests, a canary's whole life
driven by the worker and the injected clock, the person's actions, and bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.core.pagination import encode_cursor
from tests.helpers import Auth, CountRows, Headers, fields, problem, token_as_spelled
from tests.rollouts.support import config_with_two_versions, deploy, get, register_servers, served

SERVERS = {f"gs-{i}": ("NA-WEST" if i % 2 else "EU-WEST") for i in range(40)}


@pytest.fixture
async def approver(auth: Auth) -> Headers:
    return await auth("approver", "amir", ttl=timedelta(days=60))


async def test_a_regional_canary_request_as_written(
    client: httpx.AsyncClient, op: Headers, server: Headers, approver: Headers
) -> None:
    body = {
        "name": "weapon-balance-patch-2.1",
        "gameId": "battle-royale",
        "configType": "GameBalance",
        "configuration": '{"weapons":{"rifle":{"damage":45,"fireRate":600}}}',
        "version": "2.1.0",
    }
    assert (await client.post("/api/v1/game-configs", headers=op, json=body)).status_code == 201
    await register_servers(client, server, {"na-1": "NA-WEST", "na-2": "us-east", "eu-1": "EU-WEST"})
    created = await deploy(
        client,
        op,
        configName="weapon-balance-patch-2.1",
        strategy="Canary",
        targetRegions=["NA-WEST", "NA-EAST"],
        canaryPercentage=10,
        evaluationPeriod="PT30M",
    )
    assert created["status"] == "PendingApproval"  # the config is in Production
    assert created["configVersion"] == "2.1.0"
    assert [s["name"] for s in created["steps"]][:1] == ["canary 10%"]
    assert [s["holdSeconds"] for s in created["steps"]][:3] == [1800, 1800, 1800]
    r = await client.post(f"/api/v1/approvals/{created['approvalId']}/approve", headers=approver)
    assert r.status_code == 200, r.text
    running = await get(client, op, created["id"])
    assert running["status"] == "Running"
    assert running["step"] == 0
    assert running["exposure"] == [
        {"percentage": 10.0, "regions": ["NA-EAST", "NA-WEST"], "segment": None, "units": None}
    ]
    assert [e["action"] for e in running["log"]] == ["create", "approve", "advance"]


async def test_a_canary_to_named_instances_request_as_written(
    client: httpx.AsyncClient, op: Headers, server: Headers, approver: Headers
) -> None:
    r = await client.post(
        "/api/v1/configs", headers=op, json={"name": "payment-service.production", "environment": "Production"}
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/configs/payment-service.production/versions",
        headers=op,
        json={
            "configData": '{"maxRetries":3,"timeout":"30s","apiKey":"***"}',
            "version": "1.0.0",
            "description": "Initial production configuration",
        },
    )
    assert r.status_code == 201, r.text
    instances = ["payment-svc-1", "payment-svc-2", "payment-svc-3"]
    await register_servers(client, server, dict.fromkeys(instances, "NA-EAST"))
    created = await deploy(
        client,
        op,
        configName="payment-service.production",
        configVersion="1.0.0",
        strategy="Canary",
        targetInstances=instances,
        canaryPercentage=10,
        healthCheckEnabled=True,
    )
    assert created["status"] == "PendingApproval"
    assert (
        await client.post(f"/api/v1/approvals/{created['approvalId']}/approve", headers=approver)
    ).status_code == 200
    running = await get(client, op, created["id"])
    first = running["exposure"][0]["units"]
    assert len(first) == 1  # 10% of three named servers is one
    # That server runs 1.0.0; the others are not served the config yet (it has no live version).
    for instance in instances:
        answer = await served(client, server, "payment-service.production", "Production", serverId=instance)
        if instance in first:
            assert answer is not None
            assert answer["version"] == "1.0.0"
            assert answer["rollout"]["arm"] == "canary"
        else:
            assert answer is None
    assert running["applied"] == {"targets": 1, "applied": 0, "revision": running["log"][-1]["snapshotRevision"]}


async def test_target_instances_none_of_which_is_registered_are_refused_naming_them(
    client: httpx.AsyncClient, op: Headers, server: Headers, count_rows: CountRows
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, {"gs-1": "NA-WEST"})
    body = {"configName": "balance", "strategy": "Canary", "targetInstances": ["pay-1", "pay-2"]}
    for params in ({}, {"dryRun": "true"}):
        found = problem(await client.post("/api/v1/deployments", headers=op, params=params, json=body), 422)
        assert fields(found) == ["body.targetInstances"]
        assert found["unregisteredInstances"] == ["pay-1", "pay-2"]
        message = found["errors"][0]["message"]
        assert "pay-1, pay-2" in message
        assert "POST /api/v1/servers" in message
    assert await count_rows("deployments") == 0
    # Player deployments name players, not game servers: nothing to look up in the fleet.
    players: dict[str, Any] = {
        "configName": "balance", "strategy": "Canary", "unitKind": "players", "targetInstances": ["p-1"]
    }  # fmt: skip
    assert (await deploy(client, op, **players))["warnings"] == []


async def test_unregistered_target_instances_are_a_warning_until_they_register(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, {"pay-2": "NA-WEST"})
    body: dict[str, Any] = {
        "configName": "balance",
        "strategy": "Canary",
        "targetInstances": ["pay-1", "pay-2", "pay-3"],
    }
    r = await client.post("/api/v1/deployments", headers=op, params={"dryRun": "true"}, json=body)
    assert [w["instances"] for w in r.json()["warnings"]] == [["pay-1", "pay-3"]]
    created = await deploy(client, op, **body)
    [warning] = created["warnings"]
    assert (warning["code"], warning["field"], warning["instances"]) == (
        "unregistered-instances",
        "targetInstances",
        ["pay-1", "pay-3"],
    )
    assert warning["message"].startswith("2 of the 3 targetInstances are not registered game servers")
    assert created["steps"][-1]["servers"] == 1  # of the three, only pay-2 is counted
    await register_servers(client, server, {"pay-1": "NA-WEST", "pay-3": "EU-WEST"})
    assert (await get(client, op, created["id"]))["warnings"] == []


async def test_a_canary_lives_its_whole_life_under_the_worker(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, SERVERS)
    created = await deploy(client, op, configName="balance", strategy="Canary", unitKind="players")
    assert created["status"] == "Running"
    assert created["step"] == 0  # outside Production it starts at once
    percentages = [s["exposure"][0]["percentage"] for s in created["steps"]]
    assert percentages == [10, 30, 50, 100]
    canary_counts = []
    for _ in range(10):
        answers = [await served(client, server, "balance", playerId=f"p{i}") for i in range(200)]
        canary_counts.append(sum(a is not None and a["version"] == "2.0.0" for a in answers))
        clock.advance(timedelta(minutes=30))
        await container.worker.run_due()
        if (await get(client, op, created["id"]))["status"] != "Running":
            break
    done = await get(client, op, created["id"])
    assert done["status"] == "Succeeded"
    assert [(e["action"], e["toStep"]) for e in done["log"]] == [
        ("create", None), ("advance", 0), ("advance", 1), ("advance", 2), ("advance", 3), ("complete", 3),
    ]  # fmt: skip
    assert canary_counts == sorted(canary_counts)  # exposure only grows
    assert 0 < canary_counts[0] < 60
    profile = (await client.get("/api/v1/configs/balance", headers=op)).json()
    assert profile["liveVersion"] == "2.0.0"
    answer = await served(client, server, "balance", playerId="p1")
    assert answer is not None
    assert (answer["version"], answer["reason"]) == ("2.0.0", "default")
    snapshot = (await client.get("/api/v1/snapshot", params={"environment": "Staging"}, headers=server)).json()
    assert snapshot["rollouts"] == []


async def test_pause_promote_and_rollback(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await config_with_two_versions(client, op, "balance")
    created = await deploy(client, op, configName="balance", strategy="Canary", unitKind="players")
    url = f"/api/v1/deployments/{created['id']}"
    paused = (await client.post(url + "/pause", headers=op)).json()
    assert paused["status"] == "Paused"
    clock.advance(timedelta(hours=5))
    await container.worker.run_due()
    assert (await get(client, op, created["id"]))["step"] == 0  # a paused deployment does not advance
    problem(await client.post(url + "/pause", headers=op), 409)
    promoted = (await client.post(url + "/promote", headers=op)).json()
    assert (promoted["status"], promoted["step"]) == ("Running", 1)
    everyone = (await client.post(url + "/promote", headers=op, params={"to": 100})).json()
    assert everyone["step"] == 3
    assert (await served(client, server, "balance", playerId="anyone"))["version"] == "2.0.0"  # type: ignore[index]
    rolled = await client.post(url + "/rollback", headers=op, json={"reason": "crash rate up"})
    assert rolled.status_code == 200, rolled.text
    assert (rolled.json()["status"], rolled.json()["reason"]) == ("RolledBack", "crash rate up")
    assert rolled.json()["exposure"] == []
    answer = await served(client, server, "balance", playerId="anyone")
    assert answer is not None
    assert (answer["version"], answer["reason"]) == ("1.0.0", "default")
    body = problem(await client.post(url + "/resume", headers=op), 409)
    assert body["currentStatus"] == "RolledBack"
    # Finished: a new deployment of the config may start.
    await deploy(client, op, configName="balance", strategy="Direct")


async def test_one_open_deployment_per_config(client: httpx.AsyncClient, op: Headers) -> None:
    await config_with_two_versions(client, op, "balance")
    first = await deploy(client, op, configName="balance", strategy="Canary")
    body = problem(
        await client.post("/api/v1/deployments", headers=op, json={"configName": "balance", "strategy": "Direct"}), 409
    )
    assert body["deploymentId"] == first["id"]


async def test_a_dry_run_returns_the_plan_and_stores_nothing(
    client: httpx.AsyncClient, op: Headers, server: Headers, count_rows: CountRows
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, SERVERS)
    r = await client.post(
        "/api/v1/deployments", headers=op, params={"dryRun": "true"},
        json={"configName": "balance", "strategy": "Geographic", "targetRegions": ["EU-WEST", "us-west"]},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["dryRun"] is True
    assert [s["region"] for s in plan["steps"]] == ["NA-WEST", "EU-WEST"]  # region order, not the request's
    assert [s["servers"] for s in plan["steps"]] == [20, 40]
    assert plan["steps"][0]["plannedAt"] is not None
    assert await count_rows("deployments") == 0
    assert await count_rows("deployment_log") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"configName": "balance", "strategy": "Sideways"}, "body.strategy"),
        ({"configName": "balance", "rolloutStrategy": "Sideways"}, "body.rolloutStrategy"),
        ({"configName": "balance"}, "body.strategy"),
        ({"configName": "nope", "strategy": "Direct"}, "body.configName"),
        ({"configName": "balance", "configVersion": "9.9.9", "strategy": "Direct"}, "body.configVersion"),
        ({"configName": "balance", "strategy": "Canary", "targetRegions": ["MARS"]}, "body.targetRegions.0"),
        ({"configName": "balance", "strategy": "Canary", "regions": ["MARS"]}, "body.regions.0"),
        ({"configName": "balance", "strategy": "Canary", "canaryPercentage": 0}, "body.canaryPercentage"),
        ({"configName": "balance", "strategy": "Canary", "evaluationPeriod": "soon"}, "body.evaluationPeriod"),
        ({"eventId": "summer-fest-2025", "regions": ["us-east"], "rolloutStrategy": "Canary"}, "body.eventId"),
        ({"configName": "balance", "eventId": "x", "strategy": "Direct"}, "body"),
        ({"configName": "balance", "strategy": "Direct", "surprise": 1}, "body.surprise"),
        ({"configName": "balance", "strategy": "Canary", "hashSeed": "no spaces"}, "body.hashSeed"),
        ({"configName": "balance", "strategy": "Canary", "hashSeed": "s" * 81}, "body.hashSeed"),
        ({"eventId": "fest", "rolloutStrategy": "Canary", "hashSeed": "s1"}, "body"),
    ],
)
async def test_bad_requests_name_the_failing_field(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, body: dict[str, object], field: str
) -> None:
    await config_with_two_versions(client, op, "balance")
    found = problem(await client.post("/api/v1/deployments", headers=op, json=body), 422)
    assert field in fields(found), found
    assert await count_rows("deployments") == 0


async def test_roles(client: httpx.AsyncClient, op: Headers, server: Headers, auth: Auth) -> None:
    await config_with_two_versions(client, op, "balance")
    viewer = await auth("viewer", "vic")
    problem(
        await client.post("/api/v1/deployments", headers=viewer, json={"configName": "balance", "strategy": "Direct"}),
        403,
    )
    problem(
        await client.post("/api/v1/deployments", headers=server, json={"configName": "balance", "strategy": "Direct"}),
        403,
    )
    created = await deploy(client, op, configName="balance", strategy="Canary")
    assert (await client.get(f"/api/v1/deployments/{created['id']}", headers=viewer)).status_code == 200
    listed = (await client.get("/api/v1/deployments", headers=viewer, params={"config": "balance"})).json()
    assert [d["id"] for d in listed["items"]] == [created["id"]]
    problem(await client.get("/api/v1/deployments/dep_missing", headers=viewer), 404)


async def test_each_change_queues_a_webhook_delivery(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    admin = await auth("admin", "ada")
    r = await client.post(
        "/api/v1/webhooks", headers=admin, json={"url": "https://hooks.example.com/x", "events": ["*"]}
    )
    assert r.status_code == 201, r.text
    hook = r.json()["id"]
    await config_with_two_versions(client, op, "balance")
    created = await deploy(client, op, configName="balance", strategy="Canary")
    await client.post(f"/api/v1/deployments/{created['id']}/rollback", headers=op, json={"reason": "no"})
    deliveries = (await client.get(f"/api/v1/webhooks/{hook}/deliveries", headers=admin)).json()["items"]
    assert sorted(d["event"] for d in deliveries) == ["deployment.advance", "deployment.create", "deployment.rollback"]


async def test_promoting_to_everyone_at_the_last_step_finishes(client: httpx.AsyncClient, op: Headers) -> None:
    await config_with_two_versions(client, op, "balance")
    created = await deploy(client, op, configName="balance", strategy="Canary")
    url = f"/api/v1/deployments/{created['id']}/promote"
    assert (await client.post(url, headers=op, params={"to": 100})).json()["step"] == 3
    done = await client.post(url, headers=op, params={"to": 100})
    assert done.json()["status"] == "Succeeded", done.text


async def test_a_cursor_without_a_time_zone_is_refused(client: httpx.AsyncClient, op: Headers) -> None:
    cursor = encode_cursor({"at": "2026-06-01T12:00:00", "id": "dep_x"})
    found = problem(await client.get("/api/v1/deployments", headers=op, params={"cursor": cursor}), 422)
    assert fields(found) == ["query.cursor"]


async def test_a_config_being_rolled_out_is_changed_only_through_its_deployment(
    client: httpx.AsyncClient, op: Headers
) -> None:
    await config_with_two_versions(client, op, "balance")
    created = await deploy(client, op, configName="balance", strategy="Canary")
    r = await client.post("/api/v1/configs/balance/releases", headers=op, json={"version": "2.0.0"})
    assert problem(r, 409)["deploymentId"] == created["id"]
    archived = await client.post("/api/v1/configs/balance/archive", headers=op)
    assert problem(archived, 409)["deploymentId"] == created["id"]
    await client.post(f"/api/v1/deployments/{created['id']}/cancel", headers=op)
    r = await client.post("/api/v1/configs/balance/releases", headers=op, json={"version": "2.0.0"})
    assert r.status_code == 201, r.text


async def test_nobody_decides_a_deployment_they_requested_or_wrote_under_another_spelling(
    client: httpx.AsyncClient, container: Container, op: Headers, auth: Auth, approver: Headers
) -> None:
    # The version was written by a token recorded before subjects were stored canonical ("Oscar");
    # the deployment is requested by "olivia". Neither may decide it, however spelled.
    oscar = await token_as_spelled(container, "operator", "Oscar")
    await config_with_two_versions(client, oscar, "prod-balance", environment="Production", live=False)
    created = await deploy(client, op, configName="prod-balance", configVersion="2.0.0", strategy="Direct")
    assert created["status"] == "PendingApproval"
    url = f"/api/v1/approvals/{created['approvalId']}"
    assert (await client.get(url, headers=approver)).json()["authors"] == ["Oscar"]
    for who, why in (("oscar", "wrote it"), ("OSCAR", "wrote it"), ("Olivia", "requested it")):
        for decision in ("approve", "reject"):
            refused = problem(await client.post(f"{url}/{decision}", headers=await auth("admin", who)), 403)
            assert why in refused["detail"]
    assert (await get(client, op, created["id"]))["status"] == "PendingApproval"
    r = await client.post(f"{url}/approve", headers=approver)
    assert r.status_code == 200, r.text


async def test_a_pending_release_blocks_a_deployment(client: httpx.AsyncClient, op: Headers) -> None:
    await config_with_two_versions(client, op, "prod-balance", environment="Production", live=False)
    r = await client.post("/api/v1/configs/prod-balance/releases", headers=op, json={"version": "1.0.0"})
    assert r.status_code == 201, r.text
    body = problem(
        await client.post("/api/v1/deployments", headers=op, json={"configName": "prod-balance", "strategy": "Direct"}),
        409,
    )
    assert body["pendingReleaseId"] == r.json()["id"]


async def test_a_hash_seed_exposes_the_same_players_again(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    """Without `hashSeed` each deployment hashes with its own id; with the same seed, a second
    deployment's canary holds exactly the players the first one's held."""
    await config_with_two_versions(client, op, "balance")
    players = [f"p{i}" for i in range(200)]

    async def canary(seed: str) -> set[str]:
        created = await deploy(client, op, configName="balance", strategy="Canary", unitKind="players", hashSeed=seed)
        assert created["hashSeed"] == seed
        answers = {p: await served(client, server, "balance", playerId=p) for p in players}
        r = await client.post(f"/api/v1/deployments/{created['id']}/cancel", headers=op, json={})
        assert r.status_code == 200, r.text
        return {p for p, a in answers.items() if a is not None and a["version"] == "2.0.0"}

    first = await canary("league-7")
    assert 0 < len(first) < 60
    assert await canary("league-7") == first
    assert await canary("league-8") != first
