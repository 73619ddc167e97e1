"""`hotswap simulate`: the terminal's side of a run (the CLI's command is a thin wrapper over this).

Embedded (the default): a fresh SQLite store in a temporary directory and the app in this
process, on a manual clock that the run moves as fast as the machine allows; the live view
paces it to the scenario's `speed`. Remote (`--url`): a running server, in real time, with a
token that may both deploy and report (operator or admin); every name the run creates carries
a run id, and the run cancels its deployment and deregisters its servers when it ends early.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import typer
from rich.console import Console

from hotswap.simulator import client
from hotswap.simulator.client import Api, ContainerFactory, SimulationError, TimeSource
from hotswap.simulator.run import Frame, OnFrame, SimulationResult, fleet_of, simulate
from hotswap.simulator.scenario import Scenario, ScenarioError, load_scenario
from hotswap.simulator.view import LiveView, PlainLog, summary

EXPECTATION_NOT_MET = 1
CANNOT_RUN = 2


def load_or_exit(name_or_path: str, scale: float = 1.0, console: Console | None = None) -> Scenario:
    """The scenario, or a one-line error and exit code 2."""
    try:
        scenario = load_scenario(name_or_path)
        return scenario if scale == 1.0 else scenario.scaled(scale)
    except ScenarioError as exc:
        (console or Console(stderr=True)).print(f"[red]scenario error:[/red] {exc}", highlight=False)
        raise typer.Exit(CANNOT_RUN) from exc


def embedded_settings(scenario: Scenario, database_url: str) -> dict[str, Any]:
    """The settings of the embedded server, as keyword arguments for `Settings` (the composition
    root builds it). Everything is given, so nothing comes from the shell's HOTSWAP_* variables."""
    return {
        "env": "development",
        "database_url": database_url,
        "redis_url": None,
        "database_echo": False,
        "jwt_secret": secrets.token_urlsafe(48),
        "bootstrap_admin": False,
        "worker": False,  # the run moves the clock and runs the worker itself
        "snapshot_check_seconds": 0.0,
        "rate_limit_enabled": False,
        "churn_horizon_seconds": scenario.churn_horizon.total_seconds(),
        # a server heartbeats once a tick: healthy until it misses two
        "server_heartbeat_timeout_seconds": max(30.0, 2.5 * scenario.tick.total_seconds()),
        "log_level": "WARNING",
    }


def run_embedded(
    scenario: Scenario,
    make_container: ContainerFactory,
    *,
    speed: float | None = None,
    seed: int | None = None,
    live: bool = True,
    console: Console | None = None,
) -> int:
    """Run on the embedded server; the exit code (0, or 1 when the scenario's expectation is not met)."""
    lifetime = scenario.warm_up + scenario.limit + scenario.tick * 10

    async def go(on_frame: OnFrame) -> SimulationResult:
        async with client.embedded(make_container, scenario.start, lifetime) as (api, clock):
            return await simulate(scenario, api, clock, seed=seed, on_frame=on_frame)

    out = _console(console)
    live = live and out.is_terminal
    pace = speed if speed is not None else (scenario.speed if live else None)
    return _run(scenario, go, live=live, pace=pace, out=out)


def run_remote(
    scenario: Scenario,
    url: str,
    token: str | None,
    *,
    seed: int | None = None,
    live: bool = True,
    console: Console | None = None,
) -> int:
    """Run against a running server, in real time."""
    out = _console(console)
    if not token:
        out.print("[red]--url needs --token[/red]: an operator's or admin's token (hotswap token create ...)")
        return CANNOT_RUN
    run_id = f"sim{secrets.token_hex(3)}"
    minutes = (scenario.warm_up + scenario.limit).total_seconds() / 60
    out.print(
        f"remote run {run_id} against {url}: real time, up to {minutes:.0f} min; the server's own "
        f"HOTSWAP_CHURN_HORIZON_SECONDS applies (the scenario assumes {scenario.churn_horizon})",
        highlight=False,
    )

    async def go(on_frame: OnFrame) -> SimulationResult:
        async with client.remote(url, token) as (api, clock):
            return await _cleaning_up(scenario, api, clock, run_id, seed, on_frame)

    return _run(scenario, go, live=live and out.is_terminal, pace=None, out=out)


async def _cleaning_up(
    scenario: Scenario, api: Api, clock: TimeSource, run_id: str, seed: int | None, on_frame: OnFrame
) -> SimulationResult:
    """On a shared server, leave nothing running: an open deployment is cancelled, servers deregistered."""
    deployments: list[str] = []

    async def watch(frame: Frame) -> None:
        if frame.deployment is not None and not deployments:
            deployments.append(str(frame.deployment["id"]))
        await on_frame(frame)

    try:
        return await simulate(scenario, api, clock, seed=seed, run_id=run_id, on_frame=watch)
    finally:
        for deployment_id in deployments:
            await api.cancel(deployment_id)
        for server in fleet_of(scenario, run_id):
            await api.deregister(server.id)


def _console(console: Console | None) -> Console:
    # Logs and CI are not terminals: give the tables room rather than Rich's default 80 columns.
    return console or Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def _run(
    scenario: Scenario,
    go: Callable[[OnFrame], Coroutine[Any, Any, SimulationResult]],
    *,
    live: bool,
    pace: float | None,
    out: Console,
) -> int:
    """The run, shown live or as plain lines, then the summary. The callers ask for the live view
    only on a terminal: it redraws one frame in place, which a pipe or a file cannot do (Rich
    prints the last frame there instead, without a line break, then the summary repeats its
    tables), so anywhere else the run is plain lines and the final tables once."""
    started = time.perf_counter()
    try:
        if live:
            with LiveView(out, scenario, pace) as view:
                result = asyncio.run(go(view.on_frame))
        else:
            plain = PlainLog(out, scenario, pace)
            out.print(f"scenario {scenario.name}: {scenario.description}", highlight=False)
            result = asyncio.run(go(plain.on_frame))
    except SimulationError as exc:
        out.print(f"[red]simulation stopped:[/red] {exc}", highlight=False)
        return CANNOT_RUN
    out.print(summary(result, time.perf_counter() - started))
    return EXPECTATION_NOT_MET if result.met_expectation is False else 0
