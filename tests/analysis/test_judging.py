"""The canary judge over HTTP: samples reported by game servers move a running deployment.

A crash regression rolls it back (by the worker, the reason in words); a warning pauses it and
fires the webhooks; too little data holds a step, then pauses it; a healthy canary goes on.
Every look's verdict is stored with its numbers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from tests.analysis.support import metrics_of, running, sample, send
from tests.helpers import Headers, fields, problem
from tests.rollouts.support import get

ONLY_CRASH = {"metrics": [{"metric": m, "enabled": False} for m in ("churn", "complaint", "engagement")]}


def sessions(dep: str, arm: str, started: int, crashed: int, minutes: float = 20.0) -> list[dict[str, Any]]:
    """`started` sessions, `crashed` of them crashing, lasting about `minutes` each (some spread)."""
    seconds = minutes * 60
    return [
        sample(dep, arm, "session_start", count=started),
        *([sample(dep, arm, "crash", count=crashed)] if crashed else []),
        sample(dep, arm, "session_end", value=seconds * 0.8, count=started // 2),
        sample(dep, arm, "session_end", value=seconds * 1.2, count=started - started // 2),
    ]


async def _look(container: Container, clock: ManualClock, by: timedelta = timedelta(seconds=2)) -> None:
    clock.advance(by)
    await container.worker.run_due()


async def test_a_crash_regression_rolls_the_canary_back_with_the_reason(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    dep = (await running(client, op, server, analysis=ONLY_CRASH))["id"]
    r = await send(client, server, sessions(dep, "canary", 2000, 200) + sessions(dep, "baseline", 2000, 40))
    assert r.status_code == 200, r.text
    await _look(container, clock)  # the batch made it due: judged at once, mid-hold
    done = await get(client, op, dep)
    assert done["status"] == "RolledBack"
    last = done["log"][-1]
    assert (last["action"], last["actor"]) == ("rollback", "worker")
    assert last["reason"].startswith("crash rate 10.0% on canary vs 2.0% on baseline")
    assert "roll back" in last["reason"]
    verdicts = (await client.get(f"/api/v1/deployments/{dep}/verdicts", headers=op)).json()["items"]
    assert verdicts[0]["outcome"] == "Failed"
    crash = next(m for m in verdicts[0]["detail"]["metrics"] if m["metric"] == "crash")
    assert (crash["canary"], crash["baseline"], crash["outcome"]) == (0.1, 0.02, "Failed")
    assert crash["low"] > 0  # the whole interval is above zero
    found = await metrics_of(client, op, dep)  # the endpoint shows what was judged on, crash included
    assert found["outcome"] == "Failed"
    assert next(m for m in found["metrics"] if m["metric"] == "crash")["outcome"] == "Failed"
    registry = container.metrics.registry
    assert registry.get_sample_value("hotswap_judge_verdicts_total", {"outcome": "Failed"}) == 1
    assert registry.get_sample_value("hotswap_metric_samples_total", {"outcome": "accepted"}) == 8
    assert registry.get_sample_value("hotswap_rollbacks_total", {"strategy": "Canary", "trigger": "judge"}) == 1


async def test_crashes_without_sessions_are_no_crash_rate_and_roll_nothing_back(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    dep = (await running(client, op, server, analysis=ONLY_CRASH))["id"]
    batch = [sample(dep, "canary", "crash", count=100), *sessions(dep, "baseline", 2000, 40)]
    assert (await send(client, server, batch)).status_code == 200
    await _look(container, clock)
    assert (await get(client, op, dep))["status"] == "Running"
    found = await metrics_of(client, op, dep)
    canary = found["arms"]["canary"]
    assert (canary["crashes"], canary["sessions"], canary["crashRate"]) == (100, 0, None)
    assert found["arms"]["baseline"]["crashRate"] == 0.02
    crash = next(m for m in found["metrics"] if m["metric"] == "crash")
    assert (crash["outcome"], crash["reason"], crash["canary"]) == ("Pending", "too_few_samples", None)
    assert found["outcome"] == "Pending"


async def test_a_shorter_session_on_canary_pauses_it_and_fires_the_webhook(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock, auth: Any
) -> None:
    admin = await auth("admin", "ada", ttl=timedelta(days=2))
    hook_body = {"url": "https://ops.example.com/h", "events": ["*"]}
    hook = await client.post("/api/v1/webhooks", headers=admin, json=hook_body)
    assert hook.status_code == 201, hook.text
    dep = (await running(client, op, server, analysis=ONLY_CRASH))["id"]
    batch = sessions(dep, "canary", 3000, 60, minutes=16) + sessions(dep, "baseline", 3000, 60, minutes=20)
    assert (await send(client, server, batch)).status_code == 200
    await _look(container, clock)
    paused = await get(client, op, dep)
    assert paused["status"] == "Paused"
    assert paused["log"][-1]["actor"] == "worker"
    assert "session duration" in paused["log"][-1]["reason"]
    deliveries = (await client.get(f"/api/v1/webhooks/{hook.json()['id']}/deliveries", headers=admin)).json()
    assert "deployment.pause" in {d["event"] for d in deliveries["items"]}
    # A person resumes: the warning is theirs to overrule, so the judge no longer pauses this step.
    assert (await client.post(f"/api/v1/deployments/{dep}/resume", headers=op)).status_code == 200
    await _look(container, clock, timedelta(minutes=31))
    assert (await get(client, op, dep))["step"] == 1


async def test_too_little_data_holds_the_step_then_pauses_it(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    dep = (await running(client, op, server, analysis=ONLY_CRASH))["id"]
    for _ in range(10):  # 50 minutes, past the 30-minute hold: not enough sessions to judge
        few = sessions(dep, "canary", 10, 0) + sessions(dep, "baseline", 10, 0)
        assert (await send(client, server, few)).is_success
        await _look(container, clock, timedelta(minutes=5))
    held = await get(client, op, dep)
    assert (held["status"], held["step"]) == ("Running", 0)
    holds = [e for e in held["log"] if e["action"] == "hold"]  # said once, when the step's time was up
    assert [(h["actor"], h["toStep"], h["toStatus"]) for h in holds] == [("worker", 0, "Running")]
    assert holds[0]["reason"].startswith("keep waiting: not enough data yet for crash")
    assert (await metrics_of(client, op, dep))["outcome"] == "Pending"
    await send(client, server, sessions(dep, "canary", 10, 0) + sessions(dep, "baseline", 10, 0))
    await _look(container, clock, timedelta(minutes=11))  # 61 minutes: past twice the hold
    paused = await get(client, op, dep)
    assert paused["status"] == "Paused"
    assert paused["log"][-1]["reason"].startswith("too little data to judge step 0")


async def test_a_healthy_canary_goes_through_every_step(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    dep = (await running(client, op, server, analysis=ONLY_CRASH))["id"]
    for _ in range(40):  # servers report every 5 minutes
        batch = sessions(dep, "canary", 500, 10) + sessions(dep, "baseline", 500, 10)
        assert (await send(client, server, batch)).status_code == 200
        await _look(container, clock, timedelta(minutes=5))
        if (await get(client, op, dep))["status"] != "Running":
            break
    done = await get(client, op, dep)
    assert done["status"] == "Succeeded", [e["reason"] for e in done["log"]]
    assert [e["action"] for e in done["log"]][-1] == "complete"
    found = await metrics_of(client, op, dep)
    assert found["outcome"] == "Successful"
    outcomes = {m["metric"]: m["outcome"] for m in found["metrics"]}
    assert outcomes == {"crash": "Successful", "session_duration": "Successful"}


async def test_without_any_sample_the_steps_are_plain_timers_unless_metrics_are_required(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    dep = (await running(client, op, server))["id"]
    await _look(container, clock, timedelta(minutes=31))
    assert (await get(client, op, dep))["step"] == 1
    assert (await metrics_of(client, op, dep))["judged"] is False
    assert (await client.get(f"/api/v1/deployments/{dep}/verdicts", headers=op)).json()["items"] == []


async def test_required_metrics_that_never_come_pause_the_deployment(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    dep = (await running(client, op, server, analysis={"requireMetrics": True}))["id"]
    await _look(container, clock, timedelta(minutes=10))
    assert ((await get(client, op, dep))["status"], (await get(client, op, dep))["step"]) == ("Running", 0)
    await _look(container, clock, timedelta(minutes=6))  # missing past the 15-minute limit: the source is failing
    paused = await get(client, op, dep)
    assert paused["status"] == "Paused"
    assert "no canary data" in paused["log"][-1]["reason"]


async def test_a_bad_policy_is_422_naming_the_field(client: httpx.AsyncClient, op: Headers, server: Headers) -> None:
    from tests.rollouts.support import config_with_two_versions

    await config_with_two_versions(client, op, "balance")
    body = {"configName": "balance", "strategy": "Canary"}
    cases = {
        "body.analysis.metrics[0].critical": {"metrics": [{"metric": "crash", "critical": "high"}]},
        "body.analysis.alpha": {"alpha": 2},
        "body.analysis.colour": {"colour": "red"},
        "body.analysis.requireMetrics": {"requireMetrics": "yes"},
    }
    for field, analysis in cases.items():
        r = await client.post("/api/v1/deployments", headers=op, json=body | {"analysis": analysis})
        assert fields(problem(r, 422)) == [field], r.text
