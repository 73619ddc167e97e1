"""What a person sees: a live view of the rollout in the terminal (steps, both arms' metrics, the
judge's verdicts, the decision log), or plain lines for CI and logs, and a summary at the end.
Both are `OnFrame` callbacks for `run.simulate`; the pacing to the scenario's speed lives here,
in the terminal's side, so that the run itself never sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hotswap.simulator.run import Frame, SimulationResult, decisions
from hotswap.simulator.scenario import Scenario

STYLE = {
    "Succeeded": "bold green",
    "RolledBack": "bold red",
    "Failed": "bold red",
    "Paused": "bold yellow",
    "Running": "bold cyan",
    "Cancelled": "yellow",
    "Successful": "green",
    "Pending": "dim",
    "Inconclusive": "yellow",
    "Error": "yellow",
}


def clock(delta: timedelta) -> str:
    """+1:05 (hours:minutes since the deployment started); -0:12 while warming up."""
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60}:{minutes % 60:02d}"


def _rate(value: Any) -> str:
    return "–" if value is None else f"{float(value) * 100:.2f}%"


def _number(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{float(value):,.{digits}f}"


def _styled(text: str | None) -> Text:
    return Text(text or "–", style=STYLE.get(text or "", ""))


class Pacer:
    """Sleeps so that `speed` simulated seconds pass per real second (None: no pacing)."""

    def __init__(self, speed: float | None, tick: timedelta) -> None:
        self.interval = tick.total_seconds() / speed if speed else 0.0
        self.last = time.monotonic()

    async def wait(self) -> None:
        if self.interval > 0:
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - self.last)))
        self.last = time.monotonic()


# -- the live view --------------------------------------------------------------------------------


def header(frame: Frame) -> Panel:
    r, s = frame.record, frame.scenario
    status = Text("warming up", style="dim") if r.status is None else _styled(r.status)
    line = Text.assemble(
        f"{r.at:%H:%M} ({clock(r.elapsed)})  ",
        status,
        f"  step {r.step} ({r.percentage:g}%)" if r.step is not None and r.step >= 0 else "",
        f"  ·  {r.online:,} players online, {r.canary_online:,} on {s.config.new_version}",
        f"  ·  {r.samples:,} samples",
    )
    return Panel(Group(Text(s.description or s.name, style="italic"), line), title=f"hotswap simulate {s.name}")


def steps_table(deployment: Mapping[str, Any]) -> Table:
    table = Table(title="Steps", expand=True)
    for column in ("#", "step", "exposure", "started", "state"):
        table.add_column(column)
    current, status = int(deployment["step"]), str(deployment["status"])
    for step in deployment.get("steps") or []:
        i = int(step["index"])
        exposure = ", ".join(f"{g['percentage']:g}%" for g in step.get("exposure") or [])
        started = str(step.get("startedAt") or "")[11:16] if i <= current else ""
        if i < current or (i == current and status == "Succeeded"):
            state = Text("✓ done", style="green")
        elif i == current and status in ("RolledBack", "Failed", "Cancelled"):
            state = Text(f"✗ {status}", style=STYLE.get(status, ""))
        elif i == current:
            state = Text(f"▶ {status}", style=STYLE.get(status, ""))
        else:
            state = Text("· waiting", style="dim")
        table.add_row(str(i), str(step.get("name", "")), exposure, started, state)
    return table


def arms_table(metrics: Mapping[str, Any]) -> Table:
    table = Table(title="Arms", expand=True)
    columns = ("arm", "players", "sessions", "crash rate", "churn", "complaints", "avg session", "engagement")
    for column in (*columns, "fps p50", "latency p50"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    for arm in ("canary", "baseline"):
        a = metrics.get("arms", {}).get(arm) or {}
        fps, latency = a.get("fps") or {}, a.get("networkLatency") or {}
        seconds = a.get("avgSessionDurationSeconds")
        minutes = None if seconds is None else float(seconds) / 60
        table.add_row(
            arm, f"{a.get('players', 0):,}", f"{a.get('sessions', 0):,}", _rate(a.get("crashRate")),
            _rate(a.get("playerChurnRate")), f"{a.get('playerComplaints', 0):,}",
            "–" if minutes is None else f"{minutes:.1f} min", _number(a.get("engagement")),
            _number(fps.get("p50")), _number(latency.get("p50")),
        )  # fmt: skip
    return table


def verdicts_table(metrics: Mapping[str, Any], title: str | None = None) -> Table:
    table = Table(title=title or f"Judge: {metrics.get('explanation', '')}", expand=True)
    table.add_column("metric")
    table.add_column("verdict")
    table.add_column("why", ratio=1)
    for m in metrics.get("metrics") or []:
        outcome = str(m.get("outcome"))
        table.add_row(str(m.get("metric")), Text(outcome, style=STYLE.get(outcome, "")), str(m.get("explanation")))
    return table


def log_table(deployment: Mapping[str, Any], last: int = 5) -> Table:
    table = Table(title="Decisions", expand=True)
    for column in ("at", "who", "what", "why"):
        table.add_column(column, ratio=1 if column == "why" else None)
    for d in decisions(deployment)[-last:]:
        step = f" → step {d.to_step}" if d.action == "advance" else ""
        table.add_row(f"{d.at:%H:%M}", d.actor, f"{d.action}{step}", d.reason or "")
    return table


def render(frame: Frame) -> RenderableType:
    parts: list[RenderableType] = [header(frame)]
    if frame.deployment is not None:
        parts.append(steps_table(frame.deployment))
    if frame.metrics:
        parts += [arms_table(frame.metrics), verdicts_table(frame.metrics)]
    if frame.deployment is not None:
        parts.append(log_table(frame.deployment))
    return Group(*parts)


class LiveView:
    """The Rich live view; use as a context manager around the run, with `on_frame` as its callback."""

    def __init__(self, console: Console, scenario: Scenario, speed: float | None) -> None:
        self.live = Live(console=console, refresh_per_second=8, transient=False)
        self.pacer = Pacer(speed, scenario.tick)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    async def on_frame(self, frame: Frame) -> None:
        self.live.update(render(frame), refresh=True)
        await self.pacer.wait()


# -- plain lines ----------------------------------------------------------------------------------


class PlainLog:
    """One line per thing that happened: the deployment, each decision, each change of the judge's look."""

    def __init__(self, console: Console, scenario: Scenario, speed: float | None = None) -> None:
        self.console, self.scenario = console, scenario
        self.pacer = Pacer(speed, scenario.tick)
        self.decisions = 0
        self.outcome: str | None = None
        self.started = False

    def say(self, frame: Frame, text: str, at: datetime | None = None) -> None:
        """A line stamped with the simulated time (`at`, or the frame's) and the time since the deployment."""
        r = frame.record
        at = at or r.at
        self.console.print(f"{at:%H:%M} ({clock(r.elapsed - (r.at - at))}) {text}", highlight=False)

    async def on_frame(self, frame: Frame) -> None:
        s, r = self.scenario, frame.record
        if not self.started:
            self.started = True
            players, servers = s.players.count, sum(s.fleet.servers.values())
            line = f"warming up: {players:,} players on {servers} servers, {s.config.live_version} live"
            self.say(frame, line, r.at - s.tick)
        if frame.deployment is not None:
            found = decisions(frame.deployment)
            for d in found[self.decisions :]:
                step = f" step {d.to_step}" if d.to_step is not None and d.to_step >= 0 else ""
                why = f": {d.reason}" if d.reason else ""
                self.say(frame, f"{d.actor} {d.action}{step} → {d.to_status}{why}", d.at)
            self.decisions = len(found)
        if r.outcome is not None and r.outcome != self.outcome:
            self.outcome = r.outcome
            self.say(frame, f"judge: {r.outcome} ({r.explanation})")
        await self.pacer.wait()


# -- the summary ----------------------------------------------------------------------------------


def summary(result: SimulationResult, real: float) -> RenderableType:
    table = Table(title=f"Summary: {result.scenario}", show_header=False, expand=False)
    table.add_column(style="bold")
    table.add_column()
    steps = [f"{p:g}%" for p in _exposures(result.deployment)]
    table.add_row("deployment", f"{result.deployment_id} ({' → '.join(steps)})")
    table.add_row("final status", _styled(result.status))
    table.add_row("exposure reached", f"{result.reached:g}% (ended on step {result.step}, {result.percentage:g}%)")
    rollback = result.rollback
    if rollback is not None:
        table.add_row("rolled back by", f"{rollback.actor} at {rollback.at:%H:%M}")
        table.add_row("why", rollback.reason or "–")
    elif result.reason:
        table.add_row("why", result.reason)
    table.add_row("simulated", f"{clock(result.simulated)} after the deployment, {len(result.history)} ticks")
    table.add_row("real time", f"{real:.1f} s")
    table.add_row("samples sent", f"{result.samples:,}")
    if result.expectation is not None:
        e = result.expectation
        wanted = e.status + (f" ({e.reason!r} in the reason)" if e.reason else "")
        met = result.met_expectation
        table.add_row("expected", Text(f"{wanted}: {'met' if met else 'NOT met'}", style="green" if met else "red"))
    parts: list[RenderableType] = [table]
    if result.metrics:
        parts.append(arms_table(result.metrics))
    last = result.last_verdict
    if last is not None:
        # The stored verdict is what the last decision was taken on (see the report on the
        # per-metric verdicts of GET .../metrics before the churn horizon).
        title = f"Judge's last verdict, step {last['step']} at {str(last['at'])[11:16]}: {last['explanation']}"
        parts.append(verdicts_table(last.get("detail") or {}, title))
    elif result.metrics:
        parts.append(verdicts_table(result.metrics))
    return Group(*parts)


def _exposures(deployment: Mapping[str, Any]) -> Sequence[float]:
    return [
        max((float(g.get("percentage", 0)) for g in step.get("exposure") or []), default=0.0)
        for step in deployment.get("steps") or []
    ]
