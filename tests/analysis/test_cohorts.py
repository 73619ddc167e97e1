"""The judge's checks that count units: churn among players active before the deployment, the
sample ratio of the current step, and server health compared server by server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from tests.analysis.support import metrics_of, running, sample, send
from tests.helpers import Headers
from tests.rollouts.support import config_with_two_versions, deploy, get, register_servers

ONLY = "churn", "crash", "complaint", "session_duration", "engagement", "server_error_rate", "server_tick_rate"


def only(metric: str, **settings: Any) -> dict[str, Any]:
    """A policy judging `metric` alone (with `settings`), every other built-in metric off."""
    off = [{"metric": m, "enabled": False} for m in ONLY if m != metric]
    return {"metrics": [*off, {"metric": metric, **settings}]}


async def _tick(container: Container, clock: ManualClock, minutes: float) -> None:
    clock.advance(timedelta(minutes=minutes))
    await container.worker.run_due()


async def test_players_who_played_before_and_stopped_coming_back_are_churn(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    container.analysis.churn_horizon = timedelta(minutes=30)
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, {"na-1": "NA-WEST"})
    regulars = [f"r{i}" for i in range(400)]
    activity = [{"serverId": "na-1", "metric": "session_start", "playerId": p} for p in regulars]
    assert (await send(client, server, activity)).status_code == 200  # before any deployment: activity only
    clock.advance(timedelta(hours=1))
    dep = (await deploy(client, op, configName="balance", strategy="Canary", unitKind="players", canaryPercentage=50,
                        analysis=only("churn", minSamples=100)))["id"]  # fmt: skip
    canary, baseline = regulars[:200], regulars[200:]
    newcomers = [f"n{i}" for i in range(50)]  # never seen before: not in the cohort
    await _tick(container, clock, 1)
    first = [sample(dep, "canary", "session_start", playerId=p) for p in canary + newcomers]
    first += [sample(dep, "baseline", "session_start", playerId=p) for p in baseline]
    assert (await send(client, server, first)).status_code == 200
    await _tick(container, clock, 39)  # 40 minutes in: half the canary and a tenth of the baseline stay away
    back = [sample(dep, "canary", "session_start", playerId=p) for p in canary[:100]]
    back += [sample(dep, "baseline", "session_start", playerId=p) for p in baseline[:180]]
    assert (await send(client, server, back)).status_code == 200
    assert (await get(client, op, dep))["status"] == "Running"  # nobody has been away for the horizon yet
    await _tick(container, clock, 12)  # 52 minutes: the first sessions are a horizon behind
    arms = (await metrics_of(client, op, dep))["arms"]
    assert (arms["canary"]["playerChurnRate"], arms["baseline"]["playerChurnRate"]) == (0.5, 0.1)
    assert arms["canary"]["players"] == 250
    done = await get(client, op, dep)
    assert done["status"] == "RolledBack"
    assert done["reason"].startswith("churn rate 50.0% on canary vs 10.0% on baseline")


async def test_a_canary_with_far_more_players_than_its_share_is_paused(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    dep = (await running(client, op, server, analysis=only("crash", minSamples=100)))["id"]  # 10% of players
    batch = [sample(dep, "canary" if i % 2 else "baseline", "session_start", playerId=f"p{i}") for i in range(1000)]
    assert (await send(client, server, batch)).status_code == 200
    await _tick(container, clock, 0.1)
    paused = await get(client, op, dep)
    assert paused["status"] == "Paused", await metrics_of(client, op, dep)
    assert paused["log"][-1]["reason"].startswith("sample-ratio mismatch: canary has 500 of 1,000 units (50")
    ratio = (await metrics_of(client, op, dep))["sampleRatio"]
    assert (ratio["canaryUnits"], ratio["baselineUnits"], ratio["expectedShare"], ratio["mismatch"]) == (
        500, 500, 0.1, True,
    )  # fmt: skip


async def test_a_handful_of_units_is_no_sample_ratio_mismatch(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    dep = (await running(client, op, server, analysis=only("crash", minSamples=100)))["id"]  # 10% of players
    batch = [sample(dep, "canary" if i < 3 else "baseline", "session_start", playerId=f"p{i}") for i in range(4)]
    assert (await send(client, server, batch)).status_code == 200
    await _tick(container, clock, 0.1)
    assert (await get(client, op, dep))["status"] == "Running"
    assert (await metrics_of(client, op, dep))["sampleRatio"] is None  # 4 units: not checked


async def test_a_server_deployment_compares_server_health_server_by_server(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await config_with_two_versions(client, op, "balance")
    fleet = {f"gs-{i}": "NA-WEST" for i in range(16)}
    await register_servers(client, server, fleet)
    dep = (await deploy(client, op, configName="balance", strategy="Canary", unitKind="servers", canaryPercentage=50,
                        analysis=only("server_tick_rate")))["id"]  # fmt: skip
    canary = [f"gs-{i}" for i in range(6)]
    batch = [
        sample(dep, "canary" if s in canary else "baseline", "server_tick_rate", serverId=s, value=tick)
        for s in fleet
        for tick in ((40.0, 42.0) if s in canary else (60.0, 59.0))
    ]
    assert (await send(client, server, batch)).status_code == 200
    await _tick(container, clock, 0.1)
    found = await metrics_of(client, op, dep)
    tick = next(m for m in found["metrics"] if m["metric"] == "server_tick_rate")
    assert (tick["canarySamples"], tick["baselineSamples"]) == (6, 10)
    assert (tick["canary"], tick["baseline"]) == (41.0, 59.5)  # medians of the servers' means
    done = await get(client, op, dep)
    assert done["status"] == "RolledBack"
    assert "server tick rate" in done["reason"]


async def test_player_deployments_do_not_judge_server_health(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    dep = (await running(client, op, server))["id"]
    names = {m["metric"] for m in (await metrics_of(client, op, dep))["metrics"]}
    assert names == {"crash", "churn", "complaint", "session_duration", "engagement"}
