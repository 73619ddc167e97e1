"""The rollout worker is crash-safe and exclusive: stopped between any two steps (or failing in
the middle of one) it resumes exactly, and two workers on one store never apply a step twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hotswap.container import Container, build_container
from hotswap.core.clock import ManualClock
from hotswap.rollouts.leases import AdvisoryLeases, LocalLeases, RedisLeases
from hotswap.rollouts.service import MAX_FAILURES
from hotswap.rollouts.worker import RETRY_AFTER, RolloutWorker
from hotswap.settings import Settings
from tests.helpers import Headers
from tests.rollouts.support import config_with_two_versions, deploy, get, register_servers, served

CANARY: dict[str, Any] = {"strategy": "Canary", "unitKind": "players"}
GEOGRAPHIC: dict[str, Any] = {"strategy": "Geographic", "evaluationPeriod": "PT1H"}


def _steps(log: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
    return [(e["action"], e["toStep"]) for e in log if e["action"] != "create"]


@pytest.mark.parametrize("body", [CANARY, GEOGRAPHIC], ids=["canary", "geographic"])
async def test_stopping_the_worker_between_every_pair_of_steps_loses_and_repeats_nothing(
    client: httpx.AsyncClient,
    op: Headers,
    server: Headers,
    container: Container,
    clock: ManualClock,
    body: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, {"a": "NA-WEST", "b": "EU-WEST", "c": "APAC"})
    created = await deploy(client, op, configName="balance", **body)
    steps = len(created["steps"])
    real_mark = container.snapshot_changes.mark_changed
    for _ in range(steps + 1):
        clock.advance(timedelta(hours=2))
        before = await get(client, op, created["id"])

        async def crash(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("the worker's process dies mid-step")

        # A worker that dies inside the step's transaction leaves the stored state as it was...
        monkeypatch.setattr(container.snapshot_changes, "mark_changed", crash)
        assert await RolloutWorker(container.deployments, container.uow, LocalLeases(), clock).run_due() == 0
        monkeypatch.setattr(container.snapshot_changes, "mark_changed", real_mark)
        after_crash = await get(client, op, created["id"])
        assert (after_crash["status"], after_crash["step"], after_crash["log"]) == (
            before["status"], before["step"], before["log"],
        )  # fmt: skip
        # ...and a new worker, started afterwards (past the failed one's retry delay), does the step once.
        clock.advance(RETRY_AFTER)
        await RolloutWorker(container.deployments, container.uow, LocalLeases(), clock).run_due()
        if (await get(client, op, created["id"]))["status"] == "Succeeded":
            break
    done = await get(client, op, created["id"])
    assert done["status"] == "Succeeded"
    assert _steps(done["log"]) == [*(("advance", i) for i in range(steps)), ("complete", steps - 1)]


async def test_two_workers_on_one_store_apply_each_step_once(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock, settings: Settings
) -> None:
    names = [f"cfg-{i}" for i in range(4)]
    ids = []
    for name in names:
        await config_with_two_versions(client, op, name)
        ids.append((await deploy(client, op, configName=name, **CANARY))["id"])
    other = build_container(settings, clock=clock)  # a second process: its own engine and leases
    try:
        for _ in range(8):
            clock.advance(timedelta(minutes=31))
            await asyncio.gather(container.worker.run_due(), other.worker.run_due(), container.worker.run_due())
    finally:
        await other.aclose()
    for deployment_id in ids:
        done = await get(client, op, deployment_id)
        assert done["status"] == "Succeeded"
        assert _steps(done["log"]) == [("advance", 0), ("advance", 1), ("advance", 2), ("advance", 3), ("complete", 3)]


async def test_two_workers_with_advisory_locks_apply_each_step_once(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock, settings: Settings
) -> None:
    """PostgreSQL without Redis: the workers' lease is a transaction-scoped advisory lock."""
    if container.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    names = [f"adv-{i}" for i in range(3)]
    ids = []
    for name in names:
        await config_with_two_versions(client, op, name)
        ids.append((await deploy(client, op, configName=name, **CANARY))["id"])
    other = build_container(settings.model_copy(update={"redis_url": None}), clock=clock)
    workers = [
        RolloutWorker(container.deployments, container.uow, AdvisoryLeases(), clock),
        RolloutWorker(other.deployments, other.uow, AdvisoryLeases(), clock),
    ]
    try:
        for _ in range(8):
            clock.advance(timedelta(minutes=31))
            await asyncio.gather(*(w.run_due() for w in workers), workers[0].run_due())
    finally:
        await other.aclose()
    for deployment_id in ids:
        done = await get(client, op, deployment_id)
        assert _steps(done["log"]) == [("advance", 0), ("advance", 1), ("advance", 2), ("advance", 3), ("complete", 3)]


async def test_a_held_advisory_lock_makes_the_other_worker_skip(container: Container) -> None:
    if container.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    leases = AdvisoryLeases()
    async with container.uow() as first, container.uow() as second:
        assert await leases.acquire(first, "dep_x") is not None
        assert await leases.acquire(second, "dep_x") is None
        assert await leases.acquire(second, "dep_y") is not None
    async with container.uow() as third:  # the first transaction ended: the lock went with it
        assert await leases.acquire(third, "dep_x") is not None


async def test_a_deployment_that_cannot_move_does_not_hold_up_the_others(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await config_with_two_versions(client, op, "stuck")
    await config_with_two_versions(client, op, "fine")
    stuck = await deploy(client, op, configName="stuck", **CANARY)
    fine = await deploy(client, op, configName="fine", **CANARY)
    real_judge = container.deployments.judge.judge

    async def judge(uow: Any, deployment: Any, step: int) -> Any:
        if deployment.id == stuck["id"]:
            raise RuntimeError("the metrics source is down")
        return await real_judge(uow, deployment, step)

    monkeypatch.setattr(container.deployments.judge, "judge", judge)
    clock.advance(timedelta(minutes=31))
    await container.worker.run_due()
    assert (await get(client, op, fine["id"]))["step"] == 1
    held = await get(client, op, stuck["id"])
    assert held["step"] == 0
    assert held["dueAt"] == (clock.now() + RETRY_AFTER).isoformat().replace("+00:00", "Z")  # no spinning on it


async def test_a_deployment_that_keeps_failing_to_advance_fails_and_withdraws_its_exposure(
    client: httpx.AsyncClient,
    op: Headers,
    server: Headers,
    container: Container,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await config_with_two_versions(client, op, "balance")
    created = await deploy(client, op, configName="balance", strategy="Canary", unitKind="players")
    answers = {f"p{i}": await served(client, server, "balance", playerId=f"p{i}") for i in range(100)}
    canary = next(p for p, a in answers.items() if a is not None and a["version"] == "2.0.0")
    real_judge = container.deployments.judge.judge
    down = True

    async def judge(uow: Any, deployment: Any, step: int) -> Any:
        if down:
            raise RuntimeError("the metrics source is down")
        return await real_judge(uow, deployment, step)

    monkeypatch.setattr(container.deployments.judge, "judge", judge)
    clock.advance(timedelta(minutes=31))
    for attempt in range(1, MAX_FAILURES):
        await container.worker.run_due()
        assert (await get(client, op, created["id"]))["status"] == "Running", attempt
        clock.advance(RETRY_AFTER)
    down = False  # a success in between starts the count again
    await container.worker.run_due()
    down = True
    assert (await get(client, op, created["id"]))["step"] == 1
    clock.advance(timedelta(minutes=31))
    for _ in range(MAX_FAILURES):
        await container.worker.run_due()
        clock.advance(RETRY_AFTER)
    failed = await get(client, op, created["id"])
    assert failed["status"] == "Failed"
    assert failed["dueAt"] is None
    last = failed["log"][-1]
    assert (last["action"], last["actor"], last["toStatus"]) == ("fail", "worker", "Failed")
    assert f"{MAX_FAILURES} times in a row" in last["reason"]
    assert "RuntimeError: the metrics source is down" in last["reason"]
    assert (await served(client, server, "balance", playerId=canary))["version"] == "1.0.0"  # type: ignore[index]
    assert await container.worker.run_due() == 0  # nothing left to do for it


async def test_a_redis_that_lost_the_fencing_counter_heals(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock
) -> None:
    leases = container.worker.leases
    if not isinstance(leases, RedisLeases):
        pytest.skip("fencing tokens are the Redis lease's")
    await config_with_two_versions(client, op, "balance")
    created = await deploy(client, op, configName="balance", **CANARY)
    for _ in range(2):
        clock.advance(timedelta(minutes=31))
        await container.worker.run_due()
    assert (await get(client, op, created["id"]))["step"] == 2
    await leases.redis.delete(leases.prefix + created["id"] + ":fence")  # a restart without persistence
    clock.advance(timedelta(minutes=31))
    await container.worker.run_due()  # a token below the row's: refused, and the counter raised
    assert (await get(client, op, created["id"]))["step"] == 2
    await container.worker.run_due()
    assert (await get(client, op, created["id"]))["step"] == 3
