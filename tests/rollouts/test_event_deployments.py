"""Live events rolled out through deployments, over HTTP against the real app: the summer event's request
as written, the canary's steps widening who sees the event in the snapshot, success, a rollback
(by a person or by the judge) taking the event off the air and pausing it, and bad requests.
The worker and the events scheduler are driven by the injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from tests.analysis.support import sample, send
from tests.helpers import Auth, CountRows, Headers, fields, problem
from tests.rollouts.support import deploy, get, register_servers

SUMMER_EVENT = {
    "name": "summer-fest-2025",
    "displayName": "Summer Festival 2025",
    "eventType": "SeasonalPromotion",
    "startTime": "2025-06-21T00:00:00Z",
    "endTime": "2025-07-21T23:59:59Z",
    "configuration": {"rewards": {"dailyLoginBonus": 100, "questMultiplier": 2.0}},
}
SUMMER_DEPLOYMENT: dict[str, Any] = {
    "eventId": "summer-fest-2025",
    "regions": ["us-east"],
    "rolloutStrategy": "Canary",
    "targetPlayerPercentage": 10,
}
STEP = timedelta(minutes=30)  # the default evaluation period: each canary step's hold
ONLY_CRASH = {"metrics": [{"metric": m, "enabled": False} for m in ("churn", "complaint", "engagement")]}


@pytest.fixture(autouse=True)
def _seed_time(clock: ManualClock) -> None:
    clock.set(clock.now().replace(year=2025))  # the summer event lies ahead (2025-06-21)


@pytest.fixture
async def op(auth: Auth, _seed_time: None) -> Headers:
    return await auth("operator", "olivia", ttl=timedelta(days=800))


@pytest.fixture
async def approver(auth: Auth, _seed_time: None) -> Headers:
    return await auth("approver", "amir", ttl=timedelta(days=800))


@pytest.fixture
async def server(auth: Auth, _seed_time: None) -> Headers:
    return await auth("server", "gs-1", ttl=timedelta(days=800))


async def live_event(
    client: httpx.AsyncClient, op: Headers, environment: str = "Staging", *, activate: bool = True, **extra: Any
) -> dict[str, Any]:
    """The summer event in `environment`, activated by an operator unless `activate` is false."""
    r = await client.post("/api/v1/events", headers=op, json=SUMMER_EVENT | {"environment": environment} | extra)
    assert r.status_code == 201, r.text
    if activate:
        r = await client.post(f"/api/v1/events/{r.json()['eventId']}/activate", headers=op)
        assert r.status_code == 200, r.text
    created: dict[str, Any] = r.json()
    return created


async def snapshot(client: httpx.AsyncClient, headers: Headers, environment: str = "Staging") -> dict[str, Any]:
    r = await client.get("/api/v1/snapshot", params={"environment": environment}, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def exposure(client: httpx.AsyncClient, headers: Headers, environment: str = "Staging") -> Any:
    """The snapshot's `exposure` of the summer event (which must be served: Active, open window)."""
    [entry] = [e for e in (await snapshot(client, headers, environment))["events"] if e["id"] == "summer-fest-2025"]
    return entry["exposure"]


async def players_seeing(
    client: httpx.AsyncClient, headers: Headers, region: str, environment: str = "Staging", players: int = 200
) -> int:
    """How many of `players` players in `region` are served the summer event."""
    seeing = 0
    for i in range(players):
        r = await client.get(
            f"/api/v1/players/p{i}/events", params={"environment": environment, "region": region}, headers=headers
        )
        assert r.status_code == 200, r.text
        seeing += any(e["id"] == "summer-fest-2025" for e in r.json()["events"])
    return seeing


async def event_status(client: httpx.AsyncClient, op: Headers, event_id: str = "summer-fest-2025") -> str:
    r = await client.get(f"/api/v1/events/{event_id}", headers=op)
    assert r.status_code == 200, r.text
    status: str = r.json()["status"]
    return status


async def look(container: Container, clock: ManualClock, by: timedelta = STEP) -> None:
    clock.advance(by)
    await container.worker.run_due()


async def test_the_summer_event_request_as_written(
    client: httpx.AsyncClient, op: Headers, approver: Headers, server: Headers
) -> None:
    await live_event(client, op, "Production")
    assert await exposure(client, server, "Production") is None  # never deployed: everyone
    created = await deploy(client, op, **SUMMER_DEPLOYMENT)
    assert created["status"] == "PendingApproval"  # the event is in Production
    assert (created["subjectKind"], created["eventId"], created["eventVersion"]) == ("event", "summer-fest-2025", 1)
    assert (created["configName"], created["configVersion"]) == (None, None)
    assert (created["environment"], created["unitKind"], created["strategy"]) == ("Production", "players", "Canary")
    assert [s["name"] for s in created["steps"]] == ["canary 10%", "canary 30%", "canary 50%", "canary 100%"]
    # Active already: served as before while its deployment waits for an approval.
    assert await exposure(client, server, "Production") is None
    assert await players_seeing(client, server, "EU-WEST", "Production") == 200
    r = await client.post(f"/api/v1/approvals/{created['approvalId']}/approve", headers=approver)
    assert r.status_code == 200, r.text
    running = await get(client, op, created["id"])
    assert (running["status"], running["step"]) == ("Running", 0)
    assert running["exposure"] == [{"percentage": 10.0, "regions": ["NA-EAST"], "segment": None, "units": None}]
    document = await snapshot(client, server, "Production")
    assert document["revision"] == running["log"][-1]["snapshotRevision"]
    [entry] = document["events"]
    assert entry["exposure"] == [{"percentage": 10.0, "regions": ["NA-EAST"]}]  # us-east is NA-EAST's alias
    assert entry["seed"] == "summer-fest-2025"
    assert 0 < await players_seeing(client, server, "us-east", "Production") < 60
    assert await players_seeing(client, server, "EU-WEST", "Production") == 0


async def test_each_step_widens_who_sees_the_event_until_everyone(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await live_event(client, op)
    created = await deploy(client, op, eventId="summer-fest-2025", rolloutStrategy="Canary", targetPlayerPercentage=10)
    assert (created["status"], created["step"]) == ("Running", 0)  # outside Production it starts at once
    seen, revisions, players = [], [], []
    for _ in range(6):
        document = await snapshot(client, server)
        seen.append(document["events"][0]["exposure"])
        revisions.append(document["revision"])
        players.append(await players_seeing(client, server, "EU-WEST"))
        await look(container, clock)
        if (await get(client, op, created["id"]))["status"] != "Running":
            break
    assert seen == [[{"percentage": p}] for p in (10.0, 30.0, 50.0, 100.0)]
    assert revisions == sorted(set(revisions))  # each step is a new snapshot revision
    assert players == sorted(players)  # a player who sees the event keeps seeing it
    assert 0 < players[0] < 60
    assert players[-1] == 200
    done = await get(client, op, created["id"])
    assert done["status"] == "Succeeded"
    assert [(e["action"], e["toStep"]) for e in done["log"]] == [
        ("create", None), ("advance", 0), ("advance", 1), ("advance", 2), ("advance", 3), ("complete", 3),
    ]  # fmt: skip
    assert await exposure(client, server) is None  # everyone
    assert await event_status(client, op) == "Active"


async def test_pausing_keeps_the_exposure_and_a_success_in_some_regions_keeps_holding_them(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await live_event(client, op)
    created = await deploy(client, op, **SUMMER_DEPLOYMENT)
    url = f"/api/v1/deployments/{created['id']}"
    assert (await client.post(url + "/pause", headers=op)).json()["status"] == "Paused"
    await look(container, clock, timedelta(hours=3))
    assert await exposure(client, server) == [{"percentage": 10.0, "regions": ["NA-EAST"]}]
    promoted = (await client.post(url + "/promote", headers=op, params={"to": 100})).json()
    assert (promoted["status"], promoted["step"]) == ("Running", 3)
    assert await exposure(client, server) == [{"percentage": 100.0, "regions": ["NA-EAST"]}]
    finished = (await client.post(url + "/promote", headers=op)).json()
    assert finished["status"] == "Succeeded"
    # Only NA-EAST was targeted: its players keep the event, nobody else gets it.
    assert await exposure(client, server) == [{"percentage": 100.0, "regions": ["NA-EAST"]}]
    # A later deployment over everyone replaces that, and its success serves everyone.
    clock.advance(timedelta(seconds=1))
    everyone = await deploy(client, op, eventId="summer-fest-2025", strategy="Direct")
    assert await exposure(client, server) == [{"percentage": 100.0}]
    await look(container, clock)
    assert (await get(client, op, everyone["id"]))["status"] == "Succeeded"
    assert await exposure(client, server) is None


async def test_a_rollback_takes_the_event_off_the_air_and_pauses_it(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock, auth: Auth
) -> None:
    admin = await auth("admin", "ada", ttl=timedelta(days=800))
    hook_body = {"url": "https://hooks.example.com/x", "events": ["*"]}
    hook = await client.post("/api/v1/webhooks", headers=admin, json=hook_body)
    assert hook.status_code == 201, hook.text
    await live_event(client, op)
    created = await deploy(client, op, **SUMMER_DEPLOYMENT)
    url = f"/api/v1/deployments/{created['id']}"
    before = (await snapshot(client, server))["revision"]
    rolled = await client.post(url + "/rollback", headers=op, json={"reason": "players report a broken quest"})
    assert rolled.status_code == 200, rolled.text
    assert (rolled.json()["status"], rolled.json()["exposure"]) == ("RolledBack", [])
    assert await event_status(client, op) == "Paused"
    document = await snapshot(client, server)
    assert document["events"] == []  # paused: not served at all
    assert document["revision"] == before + 1  # the rollback and the pause: one revision
    history = (await client.get("/api/v1/events/summer-fest-2025/history", headers=op)).json()
    assert [(h["action"], h["toStatus"], h["actor"]) for h in history if h["kind"] == "transition"][-1] == (
        "pause",
        "Paused",
        "olivia",
    )
    deliveries = (await client.get(f"/api/v1/webhooks/{hook.json()['id']}/deliveries", headers=admin)).json()
    payload = next(d["payload"] for d in deliveries["items"] if d["event"] == "deployment.rollback")
    assert (payload["eventId"], payload["config"], payload["version"]) == ("summer-fest-2025", None, "1")
    # Resumed by hand, the event is served as before the deployment (to everyone), and a new
    # deployment takes over its exposure again.
    assert (await client.post("/api/v1/events/summer-fest-2025/resume", headers=op)).status_code == 200
    assert await exposure(client, server) is None
    clock.advance(timedelta(seconds=1))
    await deploy(client, op, **SUMMER_DEPLOYMENT)
    assert await exposure(client, server) == [{"percentage": 10.0, "regions": ["NA-EAST"]}]


async def test_the_judge_rolls_a_crashing_event_back_and_pauses_it(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await register_servers(client, server, {"na-1": "NA-EAST"})
    await live_event(client, op)
    dep = (await deploy(client, op, **SUMMER_DEPLOYMENT, analysis=ONLY_CRASH))["id"]
    batch = [
        *(sample(dep, "canary", m, count=c) for m, c in (("session_start", 2000), ("crash", 200))),
        *(sample(dep, "baseline", m, count=c) for m, c in (("session_start", 2000), ("crash", 40))),
    ]
    r = await send(client, server, batch)
    assert r.status_code == 200, r.text
    await look(container, clock, timedelta(seconds=2))  # the batch made it due: judged at once
    done = await get(client, op, dep)
    assert done["status"] == "RolledBack"
    assert (done["log"][-1]["action"], done["log"][-1]["actor"]) == ("rollback", "worker")
    assert await event_status(client, op) == "Paused"
    history = (await client.get("/api/v1/events/summer-fest-2025/history", headers=op)).json()
    assert (history[-1]["action"], history[-1]["actor"]) == ("pause", "worker")


async def test_a_cancel_after_exposing_players_pauses_the_event(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await live_event(client, op)
    created = await deploy(client, op, **SUMMER_DEPLOYMENT)
    assert created["step"] == 0
    cancelled = await client.post(f"/api/v1/deployments/{created['id']}/cancel", headers=op)
    assert cancelled.json()["status"] == "Cancelled"
    assert await event_status(client, op) == "Paused"
    assert (await client.post("/api/v1/events/summer-fest-2025/resume", headers=op)).status_code == 200
    assert await exposure(client, server) is None  # the cancelled deployment no longer decides


async def test_a_scheduled_event_is_rolled_out_from_its_start(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await live_event(client, op, activate=False)
    created = await deploy(client, op, **SUMMER_DEPLOYMENT)
    assert (created["status"], created["step"]) == ("Running", -1)
    assert created["steps"][0]["plannedAt"] == "2025-06-21T00:00:00Z"
    await look(container, clock, timedelta(days=1))
    assert (await get(client, op, created["id"]))["step"] == -1  # nobody can see the event yet
    clock.set(datetime(2025, 6, 21, tzinfo=UTC))  # the event's start: the scheduler opens it, the worker starts
    await container.event_scheduler.run_due()
    await container.worker.run_due()
    assert await event_status(client, op) == "Active"
    assert (await get(client, op, created["id"]))["step"] == 0
    assert await exposure(client, server) == [{"percentage": 10.0, "regions": ["NA-EAST"]}]


async def test_one_open_deployment_per_event(client: httpx.AsyncClient, op: Headers) -> None:
    await live_event(client, op)
    first = await deploy(client, op, **SUMMER_DEPLOYMENT)
    body = problem(await client.post("/api/v1/deployments", headers=op, json=SUMMER_DEPLOYMENT), 409)
    assert body["deploymentId"] == first["id"]


@pytest.mark.parametrize("action", ["cancel", "expire"])
async def test_an_ended_event_cannot_be_deployed(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock, count_rows: CountRows, action: str
) -> None:
    if action == "cancel":
        await live_event(client, op, activate=False)
        assert (await client.post("/api/v1/events/summer-fest-2025/cancel", headers=op)).status_code == 200
        expected = "Cancelled"
    else:
        await live_event(client, op)
        clock.set(clock.now().replace(month=7, day=22))
        await container.event_scheduler.run_due()
        expected = "Expired"
    assert await event_status(client, op) == expected
    body = problem(await client.post("/api/v1/deployments", headers=op, json=SUMMER_DEPLOYMENT), 409)
    assert body["eventStatus"] == expected
    assert await count_rows("deployments") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (SUMMER_DEPLOYMENT | {"eventId": "winter-fest"}, "body.eventId"),
        (SUMMER_DEPLOYMENT | {"environment": "Production"}, "body.environment"),
        (SUMMER_DEPLOYMENT | {"environment": "Moon"}, "body.environment"),
        (SUMMER_DEPLOYMENT | {"unitKind": "servers"}, "body.unitKind"),
        (SUMMER_DEPLOYMENT | {"regions": ["MARS"]}, "body.regions.0"),
        (SUMMER_DEPLOYMENT | {"targetPlayerPercentage": 0}, "body.targetPlayerPercentage"),
    ],
)
async def test_bad_event_deployments_name_the_failing_field(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, body: dict[str, Any], field: str
) -> None:
    await live_event(client, op)
    found = problem(await client.post("/api/v1/deployments", headers=op, json=body), 422)
    assert field in fields(found), found
    assert await count_rows("deployments") == 0


async def test_a_dry_run_plans_the_event_and_stores_nothing(
    client: httpx.AsyncClient, op: Headers, server: Headers, count_rows: CountRows
) -> None:
    await live_event(client, op)
    r = await client.post("/api/v1/deployments", headers=op, params={"dryRun": "true"}, json=SUMMER_DEPLOYMENT)
    assert r.status_code == 200, r.text
    assert r.json()["dryRun"] is True
    assert await count_rows("deployments") == 0
    assert await exposure(client, server) is None


@pytest.mark.parametrize("start", ["2025-06-25T00:00:00Z", "2025-06-20T00:00:00Z"])
async def test_a_deployment_waiting_for_its_event_follows_a_moved_start(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock, start: str
) -> None:
    await live_event(client, op, activate=False)
    created = await deploy(client, op, **SUMMER_DEPLOYMENT)
    r = await client.put("/api/v1/events/summer-fest-2025", headers=op, json={"startTime": start})
    assert r.status_code == 200, r.text
    moved = await get(client, op, created["id"])
    assert (moved["status"], moved["step"]) == ("Running", -1)
    assert moved["steps"][0]["plannedAt"] == start
    assert (moved["log"][-1]["action"], moved["log"][-1]["actor"]) == ("reschedule", "olivia")
    for at in sorted([datetime(2025, 6, 21, tzinfo=UTC), datetime.fromisoformat(start)]):
        clock.set(at)
        await container.event_scheduler.run_due()
        await container.worker.run_due()
        started = at >= datetime.fromisoformat(start)  # at the new start, not the old one
        assert await event_status(client, op) == ("Active" if started else "Scheduled")
        assert (await get(client, op, created["id"]))["step"] == (0 if started else -1)
        if started:
            break
    assert await exposure(client, server) == [{"percentage": 10.0, "regions": ["NA-EAST"]}]


async def test_an_early_activation_starts_the_waiting_deployment(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container
) -> None:
    await live_event(client, op, activate=False)
    created = await deploy(client, op, **SUMMER_DEPLOYMENT)
    assert (await client.post("/api/v1/events/summer-fest-2025/activate", headers=op)).status_code == 200
    assert await exposure(client, server) == []  # live, but its deployment has not started yet
    await container.worker.run_due()  # due at once: no waiting for the old start (2025-06-21)
    running = await get(client, op, created["id"])
    assert running["step"] == 0
    assert [e["action"] for e in running["log"]] == ["create", "reschedule", "advance"]
    assert await exposure(client, server) == [{"percentage": 10.0, "regions": ["NA-EAST"]}]


async def test_a_start_move_leaves_a_deployment_that_has_started_alone(
    client: httpx.AsyncClient, op: Headers, container: Container
) -> None:
    await live_event(client, op, activate=False)
    created = await deploy(client, op, **SUMMER_DEPLOYMENT)
    promoted = await client.post(f"/api/v1/deployments/{created['id']}/promote", headers=op)
    assert (promoted.status_code, promoted.json()["step"]) == (200, 0), promoted.text
    r = await client.put("/api/v1/events/summer-fest-2025", headers=op, json={"startTime": "2025-06-25T00:00:00Z"})
    assert r.status_code == 200, r.text
    after = await get(client, op, created["id"])
    assert after["step"] == 0
    assert "reschedule" not in [e["action"] for e in after["log"]]


async def test_a_paused_event_resumed_while_its_deployment_waits_is_served_as_before(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await live_event(client, op, "Production")
    assert (await client.post("/api/v1/events/summer-fest-2025/pause", headers=op)).status_code == 200
    created = await deploy(client, op, **SUMMER_DEPLOYMENT)
    assert created["status"] == "PendingApproval"
    assert (await client.post("/api/v1/events/summer-fest-2025/resume", headers=op)).status_code == 200
    assert await exposure(client, server, "Production") is None  # everyone, as before the deployment
