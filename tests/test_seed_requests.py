"""The product documents' quick-start and runbook requests, sent as written (bodies copied here
as data), in each document's order, over HTTP against the real app, with the answers a user
would expect. Where a request cannot work as written, the test asserts the clear error and says
why, then sends what the error says to send.

The clock is set to a day in December 2026: the documents' events were planned for 2025, so
they have ended, as they would have for anyone trying the documents today.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hotswap.core.clock import ManualClock
from tests.helpers import Auth, Headers, fields, problem

TODAY = datetime(2026, 12, 7, 12, tzinfo=UTC)

# -- the live-event platform's quick start --------------------------------------------------

SUMMER_FESTIVAL = {
    "name": "summer-fest-2025",
    "displayName": "Summer Festival 2025",
    "eventType": "SeasonalPromotion",
    "startTime": "2025-06-21T00:00:00Z",
    "endTime": "2025-07-21T23:59:59Z",
    "configuration": {"rewards": {"dailyLoginBonus": 100, "questMultiplier": 2.0}},
}
SUMMER_FESTIVAL_CANARY = {
    "eventId": "summer-fest-2025",
    "regions": ["us-east"],
    "rolloutStrategy": "Canary",
    "targetPlayerPercentage": 10,
}

# -- the game configuration quick start -----------------------------------------------------

RIFLE_BALANCE_PATCH = {
    "name": "weapon-balance-patch-2.1",
    "gameId": "battle-royale",
    "configType": "GameBalance",
    "configuration": '{"weapons":{"rifle":{"damage":45,"fireRate":600}}}',
    "version": "2.1.0",
}
RIFLE_BALANCE_CANARY = {
    "configName": "weapon-balance-patch-2.1",
    "strategy": "Canary",
    "targetRegions": ["NA-WEST", "NA-EAST"],
    "canaryPercentage": 10,
    "evaluationPeriod": "PT30M",
}

# -- the operations guide: set-up check and runbooks ----------------------------------------

TEST_EVENT = {
    "eventId": "test-event",
    "displayName": "Test Event",
    "startTime": "2025-12-01T00:00:00Z",
    "endTime": "2025-12-31T23:59:59Z",
    "configuration": {"rewards": {"dailyLoginBonus": 100}},
}
FIXED_START = {"startTime": "2025-12-01T12:00:00Z"}
ROLLBACK = {"reason": "Participation rate dropped 25%"}

# -- the configuration manager's quick start ------------------------------------------------

PAYMENT_PROFILE = {
    "name": "payment-service.production",
    "environment": "Production",
    "serviceType": "Microservice",
    "schemaVersion": "1.0",
}
PAYMENT_FIRST_VERSION = {
    "configData": '{"maxRetries":3,"timeout":"30s","apiKey":"***"}',
    "version": "1.0.0",
    "description": "Initial production configuration",
}
PAYMENT_CANARY: dict[str, Any] = {
    "configName": "payment-service.production",
    "configVersion": "1.0.0",
    "strategy": "Canary",
    "targetInstances": ["payment-svc-1", "payment-svc-2", "payment-svc-3"],
    "canaryPercentage": 10,
    "healthCheckEnabled": True,
}


@pytest.fixture(autouse=True)
def _today(clock: ManualClock) -> None:
    clock.set(TODAY)


@pytest.fixture
async def admin(auth: Auth, _today: None) -> Headers:
    return await auth("admin", "ada", ttl=timedelta(days=30))


@pytest.fixture
async def op(auth: Auth, _today: None) -> Headers:
    return await auth("operator", "olivia", ttl=timedelta(days=30))


@pytest.fixture
async def server(auth: Auth, _today: None) -> Headers:
    return await auth("server", "gs-1", ttl=timedelta(days=30))


async def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_live_event_quick_start(client: httpx.AsyncClient, op: Headers) -> None:
    # 1. Create a live event. Its window (summer 2025) has ended: the answer says so and what to
    # do, rather than scheduling an event that would never run.
    refused = problem(await client.post("/api/v1/events", headers=op, json=SUMMER_FESTIVAL), 422)
    assert fields(refused) == ["body.endTime"]
    assert "2025-07-21T23:59:59Z, before now" in refused["detail"]
    assert '"recordPast": true' in refused["detail"]
    recorded = await ok(
        await client.post("/api/v1/events", headers=op, json=SUMMER_FESTIVAL | {"recordPast": True}), 201
    )
    assert (recorded["eventId"], recorded["status"], recorded["allowedActions"]) == (
        "summer-fest-2025",
        "Expired",
        ["archive"],
    )
    assert recorded["configuration"] == SUMMER_FESTIVAL["configuration"]
    assert recorded == await ok(await client.get("/api/v1/events/summer-fest-2025", headers=op))
    # 2. Deploy it to a region. An event that has ended has no players left to roll out to: a
    # conflict naming its status.
    conflict = problem(await client.post("/api/v1/deployments", headers=op, json=SUMMER_FESTIVAL_CANARY), 409)
    assert conflict["eventStatus"] == "Expired"
    assert "only a Scheduled, Active or Paused event can be rolled out" in conflict["detail"]
    # 3. Its engagement: nobody took part in an event that never ran.
    metrics = await ok(await client.get("/api/v1/events/summer-fest-2025/metrics", headers=op))
    assert (metrics["participants"], metrics["revenue"]) == (0, 0)


async def test_the_game_configuration_quick_start(client: httpx.AsyncClient, op: Headers) -> None:
    # 1. Create a game configuration (in Production, where game configs live by default).
    created = await ok(await client.post("/api/v1/game-configs", headers=op, json=RIFLE_BALANCE_PATCH), 201)
    assert created["version"] == "2.1.0"
    # 2. Deploy it to servers with the canary strategy: Production waits for an approval.
    deployment = await ok(await client.post("/api/v1/deployments", headers=op, json=RIFLE_BALANCE_CANARY), 201)
    assert (deployment["status"], deployment["configVersion"]) == ("PendingApproval", "2.1.0")
    assert deployment["approvalId"] is not None
    assert deployment["steps"][0]["name"] == "canary 10%"
    assert deployment["steps"][0]["holdSeconds"] == 1800
    # 3. Its player metrics, per arm: nothing reported yet, so the judge waits.
    metrics = await ok(await client.get(f"/api/v1/deployments/{deployment['id']}/metrics", headers=op))
    assert (metrics["deploymentId"], metrics["outcome"]) == (deployment["id"], "Pending")
    assert {"canary", "baseline"} <= metrics["arms"].keys()
    # The canary arm's summary at the top level: no sessions yet, so no rates and no durations.
    summary = {k: metrics[k] for k in ("playerChurnRate", "avgSessionDuration", "playerComplaints", "engagement")}
    assert summary == {"playerChurnRate": None, "avgSessionDuration": None, "playerComplaints": 0, "engagement": None}


async def test_the_operations_guide_requests(
    client: httpx.AsyncClient, admin: Headers, op: Headers, server: Headers
) -> None:
    # Verify the set-up: the health check, then a test event, planned for December 2025: over.
    assert await ok(await client.get("/health")) == {"status": "ok"}
    refused = problem(await client.post("/api/v1/events", headers=admin, json=TEST_EVENT), 422)
    assert fields(refused) == ["body.endTime"]
    recorded = await ok(await client.post("/api/v1/events", headers=admin, json=TEST_EVENT | {"recordPast": True}), 201)
    assert recorded["status"] == "Expired"

    # A scheduled activation that failed: the event the first runbook is about, still Scheduled.
    failing = {
        "eventId": "failing-event",
        "displayName": "Failing Event",
        "startTime": "2026-12-08T00:00:00Z",
        "endTime": "2027-01-07T00:00:00Z",
        "configuration": {},
    }
    await ok(await client.post("/api/v1/events", headers=admin, json=failing), 201)
    activated = await ok(await client.post("/api/v1/events/failing-event/activate", headers=admin))
    assert (activated["status"], activated["startTime"]) == ("Active", "2026-12-07T12:00:00Z")
    fixed = await ok(await client.put("/api/v1/events/failing-event", headers=admin, json=FIXED_START))
    # A live event's window opened when it was activated: an earlier start changes nothing served.
    assert (fixed["status"], fixed["version"]) == ("Active", 2)
    assert fixed == await ok(await client.get("/api/v1/events/failing-event", headers=admin))

    # The second runbook, on an event being rolled out whose participation dropped.
    event_123 = {
        "eventId": "event-123",
        "displayName": "Event 123",
        "environment": "Staging",
        "startTime": "2026-12-07T00:00:00Z",
        "endTime": "2026-12-14T00:00:00Z",
        "configuration": {},
    }
    assert (await ok(await client.post("/api/v1/events", headers=op, json=event_123), 201))["status"] == "Active"
    rollout = {"eventId": "event-123", "rolloutStrategy": "Canary", "targetPlayerPercentage": 10}
    deployment = await ok(await client.post("/api/v1/deployments", headers=op, json=rollout), 201)
    assert deployment["status"] == "Running"
    # Deployment ids are made by the server (`dep_...`): the runbook's `deploy-123` stands for one.
    missing = problem(await client.get("/api/v1/deployments/deploy-123", headers=op), 404)
    assert "deploy-123" in missing["detail"]
    deployment_url = f"/api/v1/deployments/{deployment['id']}"
    assert (await ok(await client.get(deployment_url, headers=op)))["status"] == "Running"
    engagement = await ok(await client.get("/api/v1/events/event-123/metrics", headers=op))
    assert engagement["participants"] == 0
    problem(await client.post("/api/v1/deployments/deploy-123/rollback", headers=admin, json=ROLLBACK), 404)
    rolled_back = await ok(await client.post(f"{deployment_url}/rollback", headers=admin, json=ROLLBACK))
    assert (rolled_back["status"], rolled_back["reason"]) == ("RolledBack", ROLLBACK["reason"])
    assert (await ok(await client.get(deployment_url, headers=op)))["status"] == "RolledBack"

    # The third runbook: warm the caches.
    warmed = await ok(await client.post("/api/v1/admin/cache/warm", headers=admin))
    assert [e["environment"] for e in warmed["snapshot"]["environments"]] == ["Development", "Staging", "Production"]
    assert warmed["playerProfiles"]["window"] == "P1D"


async def test_the_configuration_manager_quick_start(client: httpx.AsyncClient, op: Headers, server: Headers) -> None:
    # 1. Create a configuration profile; 2. upload its data.
    profile = await ok(await client.post("/api/v1/configs", headers=op, json=PAYMENT_PROFILE), 201)
    assert (profile["name"], profile["environment"]) == ("payment-service.production", "Production")
    url = "/api/v1/configs/payment-service.production/versions"
    version = await ok(await client.post(url, headers=op, json=PAYMENT_FIRST_VERSION), 201)
    assert version["version"] == "1.0.0"
    # 3. Deploy it with the canary strategy to three instances the fleet has never seen: refused,
    # naming them, rather than a deployment that would reach none of them.
    refused = problem(await client.post("/api/v1/deployments", headers=op, json=PAYMENT_CANARY), 422)
    assert fields(refused) == ["body.targetInstances"]
    assert refused["unregisteredInstances"] == PAYMENT_CANARY["targetInstances"]
    # Once the instances register, the same request is accepted (and waits for an approval).
    for instance in PAYMENT_CANARY["targetInstances"]:
        body = {"id": instance, "game": "payments", "region": "NA-EAST", "build": "1.0.0"}
        await ok(await client.post("/api/v1/servers", headers=server, json=body), 201)
    deployment = await ok(await client.post("/api/v1/deployments", headers=op, json=PAYMENT_CANARY), 201)
    assert (deployment["status"], deployment["configVersion"], deployment["warnings"]) == (
        "PendingApproval",
        "1.0.0",
        [],
    )
