"""The judge seam: what the worker does with each verdict, and the reason it logs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.rollouts.judge import CONTINUE, AlwaysContinue, Judge, Judgement
from hotswap.rollouts.model import Verdict
from tests.helpers import Headers
from tests.rollouts.support import config_with_two_versions, deploy, get


class Scripted:
    """A judge that says what the test tells it to, and remembers what it was asked."""

    def __init__(self) -> None:
        self.judgement = CONTINUE
        self.asked: list[tuple[str, int]] = []

    def check(self, analysis: Any) -> None:
        return None

    async def judge(self, uow: Any, deployment: Any, step_index: int) -> Judgement:
        self.asked.append((deployment.id, step_index))
        return self.judgement


@pytest.fixture
def scripted(container: Container) -> Scripted:
    judge = Scripted()
    container.deployments.use_judge(judge)
    return judge


CANARY: dict[str, Any] = {"configName": "balance", "strategy": "Canary", "unitKind": "players"}


async def test_always_continue_satisfies_the_protocol_and_says_continue() -> None:
    judge: Judge = AlwaysContinue()
    assert await judge.judge(None, None, 0) == Judgement(Verdict.CONTINUE)  # type: ignore[arg-type]


async def test_a_pause_verdict_pauses_mid_hold_with_the_judges_reason(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock, scripted: Scripted
) -> None:
    await config_with_two_versions(client, op, "balance")
    created = await deploy(client, op, **CANARY)
    clock.advance(timedelta(minutes=5))  # well inside step 0's 30-minute hold
    await container.worker.run_due()
    assert scripted.asked[-1] == (created["id"], 0)
    scripted.judgement = Judgement(Verdict.PAUSE, "session duration -12% on canary: above the warning -10%")
    clock.advance(timedelta(minutes=1))
    await container.worker.run_due()
    paused = await get(client, op, created["id"])
    assert (paused["status"], paused["step"]) == ("Paused", 0)
    last = paused["log"][-1]
    assert (last["action"], last["actor"], last["reason"]) == (
        "pause", "worker", "session duration -12% on canary: above the warning -10%",
    )  # fmt: skip
    clock.advance(timedelta(hours=2))  # paused: no step advances, and a second warning changes nothing
    await container.worker.run_due()
    assert len((await get(client, op, created["id"]))["log"]) == len(paused["log"])
    r = await client.post(f"/api/v1/deployments/{created['id']}/resume", headers=op)
    assert r.status_code == 200, r.text
    scripted.judgement = CONTINUE
    clock.advance(timedelta(minutes=1))
    await container.worker.run_due()
    assert (await get(client, op, created["id"]))["step"] == 1


async def test_a_hold_verdict_keeps_the_step_past_its_hold_without_pausing(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock, scripted: Scripted
) -> None:
    await config_with_two_versions(client, op, "balance")
    created = await deploy(client, op, **CANARY)
    scripted.judgement = Judgement(Verdict.HOLD)
    for _ in range(3):
        clock.advance(timedelta(minutes=31))
        await container.worker.run_due()
    held = await get(client, op, created["id"])
    assert (held["status"], held["step"]) == ("Running", 0)
    scripted.judgement = CONTINUE
    clock.advance(timedelta(minutes=1))
    await container.worker.run_due()
    assert (await get(client, op, created["id"]))["step"] == 1


async def test_a_rollback_verdict_rolls_back_a_paused_deployment_with_the_reason(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock, scripted: Scripted
) -> None:
    await config_with_two_versions(client, op, "balance")
    created = await deploy(client, op, **CANARY)
    r = await client.post(f"/api/v1/deployments/{created['id']}/pause", headers=op)
    assert r.status_code == 200, r.text
    scripted.judgement = Judgement(Verdict.ROLLBACK, "crash rate +60% on canary: above the critical +10%")
    clock.advance(timedelta(minutes=1))
    await container.worker.run_due()
    done = await get(client, op, created["id"])
    assert done["status"] == "RolledBack"
    assert done["reason"] == "crash rate +60% on canary: above the critical +10%"


async def test_with_health_checks_off_the_judge_is_never_asked(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock, scripted: Scripted
) -> None:
    await config_with_two_versions(client, op, "balance")
    scripted.judgement = Judgement(Verdict.ROLLBACK, "never used")
    created = await deploy(client, op, **CANARY, healthCheckEnabled=False)
    for _ in range(5):
        clock.advance(timedelta(minutes=31))
        await container.worker.run_due()
    assert (await get(client, op, created["id"]))["status"] == "Succeeded"
    assert scripted.asked == []
