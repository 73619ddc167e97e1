"""Scenarios: YAML files that say who plays, on which servers, how each arm behaves, and what is
deployed how. `load_scenario` reads one by name (from the repository's `scenarios/`) or by path;
every mistake is a `ScenarioError` naming the file and the field (`players.count: must be ≥ 1`),
and unknown keys are refused so that a typo is not silently ignored.

Behaviour is per session or per player (see `ArmBehaviour`); the canary arm lists only what
differs from the baseline. Durations are seconds or `90s`, `30m`, `2h`, `1d`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# src/hotswap/simulator/scenario.py -> the repository root holds scenarios/
SCENARIO_DIRS = (Path(__file__).resolve().parents[3] / "scenarios", Path.cwd() / "scenarios")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_START = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)


class ScenarioError(ValueError):
    """A scenario that cannot be found or read; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class ArmBehaviour:
    """How players behave on one arm. Probabilities are per session unless said otherwise."""

    crash: float = 0.02  # a session crashes (and ends early)
    churn: float = 0.03  # per player: their first session under the deployment is their last
    complaint: float = 0.0003  # a session ends with a complaint
    session_minutes: float = 12.0  # median planned session length (log-normal)
    engagement: float = 60.0  # mean engagement score of a session
    engagement_sd: float = 12.0
    purchase: float = 0.05  # a session has a purchase
    purchase_amount: float = 4.99  # its mean amount
    fps: float = 60.0
    fps_sd: float = 5.0
    latency_ms: float = 45.0
    latency_sd: float = 10.0


@dataclass(frozen=True, slots=True)
class Noise:
    """Variance that is the same on both arms: it makes the judge's job harder, not the canary worse."""

    players: float = 0.0  # sigma of a per-player log-normal factor on crash and complaint odds
    servers: float = 0.0  # sigma of a per-server log-normal factor on crash odds, fps and latency
    sessions: float = 0.45  # sigma of the log of session lengths
    traffic: float = 0.0  # amplitude (0..0.9) of a wave on break lengths: busy and quiet hours
    traffic_period: timedelta = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class Players:
    count: int = 6000
    new_per_hour: float = 0.0  # newcomers (never churn-eligible: they did not play before)
    break_minutes: float = 3.0  # mean break between two sessions (exponential)
    max_session_minutes: float = 25.0
    max_break_minutes: float = 4.0


@dataclass(frozen=True, slots=True)
class Fleet:
    game: str = "arena"
    build: str = "1.0.0"
    servers: Mapping[str, int] = field(default_factory=lambda: {"NA-WEST": 2, "EU-WEST": 2})  # region -> servers


@dataclass(frozen=True, slots=True)
class ConfigPlan:
    name: str = "balance"
    environment: str = "Staging"
    live_version: str = "1.0.0"
    live_data: Mapping[str, Any] = field(default_factory=dict)
    new_version: str = "2.0.0"
    new_data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Expectation:
    status: str  # the deployment's final status
    reason: str | None = None  # words the rollback or pause reason contains


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    seed: int = 1
    start: datetime = _START
    tick: timedelta = timedelta(minutes=1)
    speed: float = 300.0  # simulated seconds per real second in the live view
    warm_up: timedelta = timedelta(minutes=30)
    limit: timedelta = timedelta(hours=4)  # simulated time after the deployment starts
    churn_horizon: timedelta = timedelta(minutes=30)
    config: ConfigPlan = field(default_factory=ConfigPlan)
    fleet: Fleet = field(default_factory=Fleet)
    players: Players = field(default_factory=Players)
    baseline: ArmBehaviour = field(default_factory=ArmBehaviour)
    canary: ArmBehaviour = field(default_factory=ArmBehaviour)
    noise: Noise = field(default_factory=Noise)
    deployment: Mapping[str, Any] = field(default_factory=dict)  # the request body, less the config
    expect: Expectation | None = None
    source: Path | None = None

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with `factor` times the players (and newcomers)."""
        if not 0 < factor <= 100:
            raise ScenarioError(f"{self.name}: scale must be in (0, 100], got {factor}")
        players = replace(
            self.players,
            count=max(1, round(self.players.count * factor)),
            new_per_hour=self.players.new_per_hour * factor,
        )
        return replace(self, players=players)


def available() -> list[str]:
    """The scenario names found in the scenarios directories."""
    return sorted({p.stem for d in SCENARIO_DIRS if d.is_dir() for p in d.glob("*.yaml")})


def find(name_or_path: str | Path) -> Path:
    """A scenario's file: a path to a YAML file, or a name in `scenarios/`."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
        if path.is_file():
            return path
        raise ScenarioError(f"no scenario file at {path}")
    for directory in SCENARIO_DIRS:
        candidate = directory / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    names = ", ".join(available()) or f"none (looked in {', '.join(str(d) for d in SCENARIO_DIRS)})"
    raise ScenarioError(f"no scenario named {str(name_or_path)!r}; available: {names}")


def load_scenario(name_or_path: str | Path) -> Scenario:
    path = find(name_or_path)
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - PyYAML comes with uvicorn[standard]
        raise ScenarioError("reading scenarios needs PyYAML: pip install pyyaml") from exc
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return replace(parse_scenario(doc, default_name=path.stem), source=path)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc


def parse_scenario(doc: Any, *, default_name: str = "scenario") -> Scenario:
    """A scenario from its parsed YAML document; ScenarioError naming the field."""
    top = _Fields(doc, "")
    base = ArmBehaviour()
    behaviour = top.section("behaviour")
    baseline = _behaviour(behaviour.section("baseline"), base)
    canary = _behaviour(behaviour.section("canary"), baseline)
    behaviour.done()
    scenario = Scenario(
        name=top.text("name", default_name),
        description=top.text("description", ""),
        seed=int(top.number("seed", 1, low=0, whole=True)),
        start=top.instant("start", _START),
        tick=top.duration("tick", timedelta(minutes=1)),
        speed=top.number("speed", 300.0, low=0.001),
        warm_up=top.duration("warmUp", timedelta(minutes=30)),
        limit=top.duration("limit", timedelta(hours=4)),
        churn_horizon=top.duration("churnHorizon", timedelta(minutes=30)),
        config=_config(top.section("config")),
        fleet=_fleet(top.section("fleet")),
        players=_players(top.section("players")),
        baseline=baseline,
        canary=canary,
        noise=_noise(top.section("noise")),
        deployment=_deployment(top.section("deployment")),
        expect=_expect(top.section("expect", required=False)),
    )
    top.done()
    _check(scenario)
    return scenario


def parse_duration(value: Any, where: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ScenarioError(f"{where}: expected a duration such as 90s, 30m or 2h")
    match = _DURATION.match(str(value).strip().lower())
    if not match:
        raise ScenarioError(f"{where}: expected a duration such as 90s, 30m or 2h, got {value!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ScenarioError(f"{where}: must be longer than zero")
    return timedelta(seconds=seconds)


class _Fields:
    """One mapping of the document, read key by key; `done` refuses the keys nobody read."""

    def __init__(self, doc: Any, path: str, *, present: bool = True) -> None:
        if doc is None:
            doc = {}
        if not isinstance(doc, Mapping):
            raise ScenarioError(f"{path or 'the scenario'}: expected a mapping, got {type(doc).__name__}")
        self.doc, self.path, self.present, self.read = doc, path, present, set[str]()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str) -> Any:
        self.read.add(key)
        return self.doc.get(key)

    def section(self, key: str, *, required: bool = True) -> _Fields:
        value = self.get(key)
        return _Fields(value, self.where(key), present=value is not None or required)

    def text(self, key: str, default: str) -> str:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool) or not str(value).strip():
            raise ScenarioError(f"{self.where(key)}: expected some text")
        return str(value)

    def number(
        self, key: str, default: float, *, low: float = 0.0, high: float = math.inf, whole: bool = False
    ) -> float:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ScenarioError(f"{self.where(key)}: expected a number, got {value!r}")
        if whole and value != int(value):
            raise ScenarioError(f"{self.where(key)}: expected a whole number, got {value!r}")
        if not low <= value <= high:
            bounds = f"between {_show(low)} and {_show(high)}" if math.isfinite(high) else f"at least {_show(low)}"
            raise ScenarioError(f"{self.where(key)}: must be {bounds}, got {value!r}")
        return float(value)

    def duration(self, key: str, default: timedelta) -> timedelta:
        value = self.get(key)
        return default if value is None else parse_duration(value, self.where(key))

    def instant(self, key: str, default: datetime) -> datetime:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ScenarioError(f"{self.where(key)}: expected an ISO 8601 instant") from None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ScenarioError(f"{self.where(key)}: expected an ISO 8601 instant with a time zone (Z for UTC)")
        return value.astimezone(UTC)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ScenarioError(f"{self.where(key)}: expected a mapping")
        return {str(k): v for k, v in value.items()}

    def done(self) -> None:
        unknown = sorted(str(k) for k in self.doc if k not in self.read)
        if unknown:
            raise ScenarioError(f"{self.where(unknown[0])}: unknown field")


def _show(bound: float) -> str:
    return f"{bound:,.0f}" if float(bound).is_integer() else f"{bound:g}"


def _behaviour(f: _Fields, base: ArmBehaviour) -> ArmBehaviour:
    def mean_sd(key: str, mean: float, sd: float) -> tuple[float, float]:
        """`key: 60` (the mean) or `key: {mean: 60, sd: 5}`."""
        if not isinstance(f.get(key), Mapping):
            return f.number(key, mean), sd
        inner = f.section(key)
        out = inner.number("mean", mean), inner.number("sd", sd)
        inner.done()
        return out

    engagement = mean_sd("engagement", base.engagement, base.engagement_sd)
    fps = mean_sd("fps", base.fps, base.fps_sd)
    latency = mean_sd("latencyMs", base.latency_ms, base.latency_sd)
    purchase = f.section("purchase", required=False)
    found = ArmBehaviour(
        crash=f.number("crash", base.crash, high=0.9),
        churn=f.number("churn", base.churn, high=1.0),
        complaint=f.number("complaint", base.complaint, high=1.0),
        session_minutes=f.number("sessionMinutes", base.session_minutes, low=0.5),
        engagement=engagement[0],
        engagement_sd=engagement[1],
        purchase=purchase.number("rate", base.purchase, high=1.0),
        purchase_amount=purchase.number("amount", base.purchase_amount),
        fps=fps[0],
        fps_sd=fps[1],
        latency_ms=latency[0],
        latency_sd=latency[1],
    )
    purchase.done()
    f.done()
    return found


def _config(f: _Fields) -> ConfigPlan:
    live, new = f.section("from"), f.section("to")
    plan = ConfigPlan(
        name=f.text("name", "balance"),
        environment=f.text("environment", "Staging"),
        live_version=live.text("version", "1.0.0"),
        live_data=live.mapping("data"),
        new_version=new.text("version", "2.0.0"),
        new_data=new.mapping("data"),
    )
    live.done()
    new.done()
    f.done()
    if plan.live_version == plan.new_version:
        raise ScenarioError("config.to.version: must differ from config.from.version")
    return plan


def _fleet(f: _Fields) -> Fleet:
    servers = f.mapping("servers") or {"NA-WEST": 2, "EU-WEST": 2}
    for region, count in servers.items():
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 200:
            raise ScenarioError(f"fleet.servers.{region}: expected a number of servers from 1 to 200")
    fleet = Fleet(game=f.text("game", "arena"), build=f.text("build", "1.0.0"), servers=servers)
    f.done()
    return fleet


def _players(f: _Fields) -> Players:
    players = Players(
        count=int(f.number("count", 6000, low=1, high=1_000_000, whole=True)),
        new_per_hour=f.number("newPerHour", 0.0),
        break_minutes=f.number("breakMinutes", 3.0, low=0.1),
        max_session_minutes=f.number("maxSessionMinutes", 25.0, low=1),
        max_break_minutes=f.number("maxBreakMinutes", 4.0, low=0.1),
    )
    f.done()
    return players


def _noise(f: _Fields) -> Noise:
    noise = Noise(
        players=f.number("players", 0.0, high=2.0),
        servers=f.number("servers", 0.0, high=2.0),
        sessions=f.number("sessions", 0.45, high=2.0),
        traffic=f.number("traffic", 0.0, high=0.9),
        traffic_period=f.duration("trafficPeriod", timedelta(hours=2)),
    )
    f.done()
    return noise


def _deployment(f: _Fields) -> dict[str, Any]:
    body = {str(k): v for k, v in f.doc.items()}
    f.read.update(f.doc)
    for key in ("configName", "configVersion", "eventId"):
        if key in body:
            raise ScenarioError(f"deployment.{key}: set by the simulator (the config comes from `config`)")
    return body


def _expect(f: _Fields) -> Expectation | None:
    if not f.present:
        return None
    status = f.text("status", "")
    statuses = ("Succeeded", "RolledBack", "Paused", "Running", "Failed", "Cancelled")
    if status not in statuses:
        raise ScenarioError(f"expect.status: expected one of {', '.join(statuses)}")
    reason = f.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ScenarioError("expect.reason: expected some text")
    f.done()
    return Expectation(status, reason)


def _check(s: Scenario) -> None:
    """What would make a run meaningless, said before it starts."""
    longest_gap = timedelta(minutes=max(s.players.max_session_minutes, s.players.max_break_minutes))
    if longest_gap >= s.churn_horizon:
        raise ScenarioError(
            f"churnHorizon: {s.churn_horizon} is not longer than the longest session or break "
            f"({longest_gap}): players who keep playing would count as churned"
        )
    if s.tick > timedelta(minutes=5):
        raise ScenarioError("tick: at most 5m (the judge calls a metric stale after 15 minutes without samples)")
    for arm, behaviour in (("baseline", s.baseline), ("canary", s.canary)):
        if behaviour.session_minutes > s.players.max_session_minutes:
            raise ScenarioError(f"behaviour.{arm}.sessionMinutes: longer than players.maxSessionMinutes")
