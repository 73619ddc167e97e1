"""The run: set up the config and the fleet, warm the players up, deploy, then tick until the
deployment ends or the scenario's time limit. Usable without a terminal: `simulate` returns a
`SimulationResult`, and `on_frame` (the live view, or nothing) sees each tick.

Each tick lets the time pass, then does what a fleet does: the servers pick up a new snapshot
(its revision is what they apply), the players' sessions run on the version the snapshot
serves them (canary when it is the new one), every server heartbeats and reports its samples,
and the rollout worker does what is due. Then the deployment and its metrics are read back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from hotswap.simulator import reports
from hotswap.simulator.client import Api, SimulationError, TimeSource
from hotswap.simulator.model import Bools, Ints, Population, Server, Tick
from hotswap.simulator.scenario import Expectation, Scenario
from hotswap.targeting.snapshot import CompiledSnapshot, Context, compile_snapshot

TERMINAL = frozenset({"Succeeded", "RolledBack", "Failed", "Cancelled"})
ARM_NUMBERS = (
    "players",
    "sessions",
    "crashRate",
    "playerChurnRate",
    "playerComplaints",
    "avgSessionDurationSeconds",
)


@dataclass(frozen=True, slots=True)
class Decision:
    """One entry of the deployment's decision log."""

    at: datetime
    actor: str
    action: str
    to_status: str
    from_step: int | None
    to_step: int | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class TickRecord:
    """The state after one tick. `elapsed` counts from the deployment's start (negative before)."""

    at: datetime
    elapsed: timedelta
    status: str | None  # None while warming up
    step: int | None
    percentage: float
    outcome: str | None  # the judge's look: Successful, Pending, Inconclusive, Error or Failed
    explanation: str | None
    online: int
    canary_online: int
    sessions: int
    crashes: int
    churned: int
    samples: int
    arms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Frame:
    """What a view draws after a tick: the record, and the deployment and metrics as read."""

    scenario: Scenario
    record: TickRecord
    deployment: Mapping[str, Any] | None
    metrics: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class SimulationResult:
    scenario: str
    deployment_id: str
    status: str
    step: int
    percentage: float  # the exposure of the step it ended on
    reached: float  # the highest exposure it reached
    reason: str | None  # why it ended (a rollback's or failure's reason)
    log: tuple[Decision, ...]
    history: tuple[TickRecord, ...]
    metrics: Mapping[str, Any]  # the last GET .../metrics: the judge's look as of the end
    deployment: Mapping[str, Any]
    verdicts: tuple[Mapping[str, Any], ...]  # the judge's stored verdicts, newest first
    simulated: timedelta  # from the deployment's start to the end of the run
    samples: int
    expectation: Expectation | None = None

    @property
    def rollback(self) -> Decision | None:
        return next((d for d in reversed(self.log) if d.action == "rollback"), None)

    @property
    def last_verdict(self) -> Mapping[str, Any] | None:
        """The judge's last stored verdict (what the last decision was taken on)."""
        return self.verdicts[0] if self.verdicts else None

    def verdict_of(self, metric: str) -> Mapping[str, Any] | None:
        """One metric's verdict in the last stored verdict."""
        last = self.last_verdict
        found = (last or {}).get("detail", {}).get("metrics") or []
        return next((m for m in found if m.get("metric") == metric), None)

    @property
    def met_expectation(self) -> bool | None:
        """Whether the run ended as the scenario expects (None: it expects nothing)."""
        e = self.expectation
        if e is None:
            return None
        why = self.reason or next((d.reason for d in reversed(self.log) if d.reason), None) or ""
        return self.status == e.status and (e.reason is None or e.reason.lower() in why.lower())


OnFrame = Callable[[Frame], Awaitable[None]]


class Served:
    """Which version each player is served: the snapshot, fetched when it changes and evaluated
    here as the SDK does, remembered per player and server until the next revision."""

    def __init__(
        self, api: Api, scenario: Scenario, config: str, servers: list[Server], player_ids: reports.PlayerIds
    ) -> None:
        self.api, self.config = api, config
        self.environment = scenario.config.environment
        self.new_version = scenario.config.new_version
        self.servers, self.player_ids = servers, player_ids
        self.compiled: CompiledSnapshot | None = None
        self.etag: str | None = None
        self.revision: int | None = None
        self.at: datetime | None = None
        self._memo: dict[tuple[int, int], bool] = {}

    async def refresh(self, now: datetime) -> None:
        self.at = now
        document, self.etag = await self.api.snapshot(self.environment, self.etag)
        if document is not None:
            self.compiled = compile_snapshot(document)
            self.revision = int(document["revision"])
            self._memo.clear()

    def arm_of(self, players: Ints, servers: Ints) -> Bools:
        out = np.zeros(players.size, dtype=np.bool_)
        if self.compiled is None or self.at is None:
            return out
        for i, (p, s) in enumerate(zip(players.tolist(), servers.tolist(), strict=True)):
            canary = self._memo.get((p, s))
            if canary is None:
                server = self.servers[s]
                context = Context(player_id=self.player_ids[p], server_id=server.id, region=server.region)
                served = self.compiled.evaluate(context, self.at)["configs"].get(self.config)
                canary = self._memo[(p, s)] = served is not None and served.get("version") == self.new_version
            out[i] = canary
        return out


class Simulation:
    def __init__(self, scenario: Scenario, api: Api, time: TimeSource, *, seed: int | None, run_id: str) -> None:
        self.scenario, self.api, self.time = scenario, api, time
        self.config = f"{scenario.config.name}-{run_id}" if run_id else scenario.config.name
        self.servers = fleet_of(scenario, run_id)
        self.seed = scenario.seed if seed is None else seed
        self.rng = np.random.default_rng(self.seed)
        self.population = Population(scenario, self.servers, self.rng)
        self.player_ids = reports.PlayerIds(f"{run_id}-" if run_id else "")
        self.served = Served(api, scenario, self.config, self.population.servers, self.player_ids)
        self.clock = 0.0  # simulated seconds since the start
        self.deployed_at: float | None = None
        self.samples = 0
        self.history: list[TickRecord] = []

    async def set_up(self) -> None:
        c, api = self.scenario.config, self.api
        await api.create_config(self.config, c.environment)
        await api.add_version(self.config, c.live_version, dict(c.live_data))
        await api.release(self.config, c.live_version)
        await api.add_version(self.config, c.new_version, dict(c.new_data))
        for server in self.population.servers:
            await api.register(server.id, self.scenario.fleet.game, server.region, self.scenario.fleet.build)

    async def deploy(self) -> dict[str, Any]:
        # The units are hashed with a seed of the run's own, not the new deployment's random id:
        # the same seed puts the same servers and players in the canary, so a run is repeatable.
        body = (
            {"hashSeed": f"sim-{self.seed}"[:80]}
            | dict(self.scenario.deployment)
            | {
                "configName": self.config,
                "configVersion": self.scenario.config.new_version,
            }
        )
        found = await self.api.deploy(body)
        self.deployed_at = self.clock
        self.population.deployment_started()
        await self.time.settle()
        return found

    async def tick(self, deployment_id: str | None, server_units: bool) -> Tick:
        step = self.scenario.tick.total_seconds()
        await self.time.tick(self.scenario.tick)
        t0, self.clock = self.clock, self.clock + step
        await self.served.refresh(self.time.now())
        tick = self.population.advance(t0, self.clock, self.served.arm_of)
        items = reports.samples(tick, self.population, self.player_ids, deployment_id, server_units=server_units)
        revision = self.served.revision
        await self.api.heartbeats(reports.heartbeats(tick, self.population, self.scenario.config.environment, revision))
        for batch in reports.batches(items):
            self.samples += await self.api.report(batch)
        await self.time.settle()
        return tick

    def record(self, tick: Tick, deployment: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None) -> TickRecord:
        started = self.deployed_at if self.deployed_at is not None else self.scenario.warm_up.total_seconds()
        arms = metrics.get("arms", {}) if metrics else {}
        record = TickRecord(
            at=self.time.now(),
            elapsed=timedelta(seconds=self.clock - started),
            status=deployment["status"] if deployment else None,
            step=deployment["step"] if deployment else None,
            percentage=percentage(deployment) if deployment else 0.0,
            outcome=metrics.get("outcome") if metrics and metrics.get("judged") else None,
            explanation=metrics.get("explanation") if metrics and metrics.get("judged") else None,
            online=int(tick.online.sum()),
            canary_online=int(tick.online[:, 1].sum()),
            sessions=int(tick.started.player.size),
            crashes=int(np.count_nonzero(tick.ended.crashed)),
            churned=tick.churned,
            samples=self.samples,
            arms={arm: {k: numbers.get(k) for k in ARM_NUMBERS} for arm, numbers in arms.items()},
        )
        self.history.append(record)
        return record


async def simulate(
    scenario: Scenario,
    api: Api,
    time: TimeSource,
    *,
    seed: int | None = None,
    run_id: str = "",
    on_frame: OnFrame | None = None,
) -> SimulationResult:
    """Run `scenario` against the HotSwap that `api` reaches, with time passing by `time`.
    `run_id` prefixes every name the run creates (for a shared, remote server)."""
    sim = Simulation(scenario, api, time, seed=seed, run_id=run_id)
    await sim.set_up()
    warm_up = scenario.warm_up.total_seconds()
    while sim.clock < warm_up:
        tick = await sim.tick(None, server_units=False)
        record = sim.record(tick, None, None)
        if on_frame is not None:
            await on_frame(Frame(scenario, record, None, None))
    created = await sim.deploy()
    deployment_id = str(created["id"])
    server_units = created.get("unitKind") == "servers"
    deployment: dict[str, Any] = await api.deployment(deployment_id)
    if deployment["status"] == "PendingApproval":
        await api.cancel(deployment_id)
        raise SimulationError(
            f"deployment {deployment_id} waits for an approval (it was cancelled): "
            f"simulate in an environment without approvals, such as Staging"
        )
    metrics: dict[str, Any] = {}
    reached = percentage(deployment)
    limit = scenario.limit.total_seconds()
    assert sim.deployed_at is not None
    while deployment["status"] not in TERMINAL and sim.clock - sim.deployed_at < limit:
        tick = await sim.tick(deployment_id, server_units)
        deployment = await api.deployment(deployment_id)
        metrics = await api.metrics(deployment_id)
        reached = max(reached, percentage(deployment))
        record = sim.record(tick, deployment, metrics)
        if on_frame is not None:
            await on_frame(Frame(scenario, record, deployment, metrics))
    return SimulationResult(
        scenario=scenario.name,
        deployment_id=deployment_id,
        status=str(deployment["status"]),
        step=int(deployment["step"]),
        percentage=percentage(deployment),
        reached=reached,
        reason=deployment.get("reason"),
        log=tuple(decisions(deployment)),
        history=tuple(sim.history),
        metrics=metrics,
        deployment=deployment,
        verdicts=tuple(await api.verdicts(deployment_id)),
        simulated=timedelta(seconds=sim.clock - sim.deployed_at),
        samples=sim.samples,
        expectation=scenario.expect,
    )


def fleet_of(scenario: Scenario, run_id: str = "") -> list[Server]:
    """The game servers a run registers (named after the run, if it has an id)."""
    prefix = f"{run_id}-" if run_id else ""
    return [
        Server(f"{prefix}gs-{region.lower()}-{i + 1}", region)
        for region, count in scenario.fleet.servers.items()
        for i in range(count)
    ]


def percentage(deployment: Mapping[str, Any]) -> float:
    """The share of units the current step exposes (0 before the first step)."""
    step = int(deployment.get("step", -1))
    steps = deployment.get("steps") or []
    if not 0 <= step < len(steps):
        return 0.0
    return max((float(g.get("percentage", 0)) for g in steps[step].get("exposure") or []), default=0.0)


def decisions(deployment: Mapping[str, Any]) -> list[Decision]:
    return [
        Decision(
            at=datetime.fromisoformat(str(e["at"]).replace("Z", "+00:00")),
            actor=str(e.get("actor")),
            action=str(e.get("action")),
            to_status=str(e.get("toStatus")),
            from_step=e.get("fromStep"),
            to_step=e.get("toStep"),
            reason=e.get("reason"),
        )
        for e in deployment.get("log") or []
    ]
