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
from hotswap.rollouts.leases import AdvisoryLeases, LocalLeases
from hotswap.rollouts.worker import RolloutWorker
from hotswap.settings import Settings
from tests.helpers import Headers
from tests.rollouts.support import config_with_two_versions, deploy, get, register_servers

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
        with pytest.raises(RuntimeError):
            await RolloutWorker(container.deployments, container.uow, LocalLeases(), clock).run_due()
        monkeypatch.setattr(container.snapshot_changes, "mark_changed", real_mark)
        after_crash = await get(client, op, created["id"])
        assert (after_crash["status"], after_crash["step"], after_crash["log"]) == (
            before["status"], before["step"], before["log"],
        )  # fmt: skip
        # ...and a new worker, started afterwards, does the step once.
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
