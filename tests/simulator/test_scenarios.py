"""The shipped scenarios end to end, as written: the embedded app on a fresh store, its clock moved
tick by tick and its rollout worker run after each tick (no sleeping), the default judge."""

from __future__ import annotations

import itertools
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from hotswap.container import build_container
from hotswap.settings import Settings
from hotswap.simulator import SimulationResult, embedded, load_scenario, simulate
from hotswap.simulator.console import embedded_settings
from hotswap.storage import migrate


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated store, copied for each run (the migrations run once)."""
    path = tmp_path_factory.mktemp("simulator") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def store(template: Path, tmp_path: Path) -> str:
    path = tmp_path / "hotswap.db"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


async def run(name: str, store: str) -> SimulationResult:
    scenario = load_scenario(name)
    settings = Settings(**embedded_settings(scenario, store))
    lifetime = scenario.warm_up + scenario.limit + timedelta(hours=1)
    async with embedded(lambda clock: build_container(settings, clock=clock), scenario.start, lifetime) as (api, clock):
        return await simulate(scenario, api, clock)


def assert_driven_by_the_clock(result: SimulationResult) -> None:
    """Every tick moved the manual clock by exactly one tick, and the deployment's own times are
    the simulated ones (it was created when the warm-up ended, on the scenario's calendar)."""
    scenario = load_scenario(result.scenario)
    times = [r.at for r in result.history]
    assert all(later - earlier == scenario.tick for earlier, later in itertools.pairwise(times))
    assert result.log[0].action == "create"
    assert result.log[0].at == scenario.start + scenario.warm_up
    assert times[-1] == scenario.start + scenario.warm_up + result.simulated


def steps_by_the_worker(result: SimulationResult) -> list[int]:
    return [d.to_step for d in result.log if d.action == "advance" and d.actor == "worker" and d.to_step is not None]


async def test_a_healthy_balance_patch_is_promoted_to_everyone(store: str) -> None:
    result = await run("healthy-balance-patch", store)
    assert result.status == "Succeeded", result.log
    assert (result.reached, result.percentage) == (100.0, 100.0)
    assert steps_by_the_worker(result) == [0, 1, 2, 3]  # 10, 30, 50, 100%: each step on the judge's word
    assert result.rollback is None
    assert not [d for d in result.log if d.action == "pause"]
    last = result.last_verdict
    assert last is not None
    assert last["outcome"] == "Successful"
    assert {m["metric"]: m["outcome"] for m in last["detail"]["metrics"]} == dict.fromkeys(
        ("crash", "churn", "complaint", "session_duration", "engagement"), "Successful"
    )
    assert result.met_expectation is True
    assert_driven_by_the_clock(result)
    assert result.simulated >= timedelta(minutes=90)  # four steps of which three hold 30 min


async def test_a_crashy_balance_patch_is_rolled_back_by_the_worker_for_its_crash_rate(store: str) -> None:
    result = await run("crashy-balance-patch", store)
    assert result.status == "RolledBack", result.log
    rollback = result.rollback
    assert rollback is not None
    assert rollback.actor == "worker"
    assert rollback.reason is not None
    assert rollback.reason.startswith("crash rate")
    assert "above the critical +10%" in rollback.reason
    assert result.reached < 100.0
    last = result.last_verdict  # what the rollback was decided on
    assert last is not None
    assert (last["outcome"], last["detail"]["action"]) == ("Failed", "rollback")
    crash = result.verdict_of("crash")
    assert crash is not None
    assert crash["outcome"] == "Failed"
    assert crash["canary"] > 1.5 * crash["baseline"]
    assert result.met_expectation is True
    assert_driven_by_the_clock(result)


async def test_slow_burn_churn_is_rolled_back_once_the_churn_horizon_has_passed(store: str) -> None:
    result = await run("slow-burn-churn", store)
    assert result.status == "RolledBack", result.log
    rollback = result.rollback
    assert rollback is not None
    assert rollback.actor == "worker"
    assert rollback.reason is not None
    assert rollback.reason.startswith("churn rate")
    # Nobody can have churned before the horizon: the judge waits that long, then sees it.
    created = result.log[0].at
    assert rollback.at - created >= timedelta(minutes=30)
    churn, crash = result.verdict_of("churn"), result.verdict_of("crash")
    assert churn is not None
    assert crash is not None
    assert churn["outcome"] == "Failed"
    assert churn["change"] > 0.05  # past the critical +5% (relative)
    assert crash["outcome"] == "Successful"  # nothing else is wrong with it
    assert result.met_expectation is True
    assert_driven_by_the_clock(result)


async def test_a_noisy_but_healthy_patch_is_not_rolled_back(store: str) -> None:
    result = await run("noisy-but-healthy", store)
    assert result.status == "Succeeded", result.log
    assert result.rollback is None
    assert not [d for d in result.log if d.action in ("pause", "rollback")]
    assert result.reached == 100.0
    assert steps_by_the_worker(result) == [0, 1, 2]  # 20, 50, 100%
    assert result.met_expectation is True
    assert_driven_by_the_clock(result)
