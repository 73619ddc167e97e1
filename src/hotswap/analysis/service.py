"""Metric ingestion and the look at a deployment's metrics: from stored sums to `MetricData`.

`ingest` checks a batch item by item against the fleet, the deployments and the live events,
stores the good items' sums in the request's transaction (what event-tagged samples say of
participation goes to the events slice, by `SamplesIngested`), and makes the deployments it
touched due at once, so a worker (in any process) judges them within its poll interval rather
than at its next scheduled look: that is what bounds the time from the batch that tips a verdict
to the rollback.

`look` reads a deployment's sums and evaluates its policy (`verdicts.evaluate_look`), with these
these choices:
- Sums are cumulative since the deployment started: each look sees more data, which the
  sequential tests are made for.
- Player metrics (crash, churn, complaint, session duration, engagement) are judged for every
  deployment; the per-server metrics only when the units are servers (with players as units a
  server runs both arms, so its health belongs to neither).
- Churn needs a horizon to pass before anyone can have churned: until the deployment is that
  old, churn is shown but cannot hold the step.
- Once a step exposes everyone, no new baseline data can come: the baseline's last sums stand
  and are not called stale.
- The sample-ratio check counts the units first seen during the current step against that
  step's share, when the step's exposure is a plain percentage.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hotswap.analysis import ingest
from hotswap.analysis.policy import Kind, Policy, policy_from_json
from hotswap.analysis.repository import MetricsRepository, PlayerIds, Sums
from hotswap.analysis.signals import SamplesIngested
from hotswap.analysis.sketch import QuantileSketch
from hotswap.analysis.stats import Moments, Proportion
from hotswap.analysis.verdicts import Arm, LookVerdict, MetricData, MetricVerdict, UnitCounts, evaluate_look
from hotswap.core.errors import FieldError, InvalidInput
from hotswap.core.signals import Signals
from hotswap.fleet.service import FleetService
from hotswap.observability.prometheus import Metrics
from hotswap.players.signals import PlayerErased
from hotswap.rollouts import codec
from hotswap.rollouts.model import Plan, Row, UnitKind, covers_everyone
from hotswap.rollouts.service import DeploymentService
from hotswap.storage.uow import UnitOfWork

QUANTILES = (0.5, 0.9, 0.99)
SRM_MIN_UNITS = 100  # units first seen in the step before their split between arms is checked
# The analysis options a deployment may give next to the policy (`analysis` in its request).
OPTIONS = {"requireMetrics"}


@dataclass(frozen=True, slots=True)
class Ingested:
    accepted: list[int]
    errors: list[FieldError]
    outside_event: int = 0  # accepted samples tagged with a live event outside its window


@dataclass(frozen=True, slots=True)
class Look:
    """A look: the verdict over the metrics that may hold the step now, every metric's own
    verdict (churn included before its horizon), and the raw numbers per arm."""

    verdict: LookVerdict
    metrics: tuple[MetricVerdict, ...]
    reported: bool  # any sample at all for this deployment
    arms: dict[str, dict[str, Any]]


def analysis_options(spec: dict[str, Any]) -> tuple[Policy, bool]:
    """A deployment's policy and whether it requires metrics, from its stored spec."""
    doc = dict(spec.get("analysis") or {})
    require = bool(doc.pop("requireMetrics", False))
    return policy_from_json(doc or None), require


def check_analysis(doc: Any) -> None:
    """422 naming the field (`body.analysis.metrics[0].critical`) for a bad `analysis` object."""
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise InvalidInput("The analysis policy is invalid.", errors=[FieldError("body.analysis", "must be an object")])
    if "requireMetrics" in doc and not isinstance(doc["requireMetrics"], bool):
        raise InvalidInput(
            "The analysis policy is invalid.",
            errors=[FieldError("body.analysis.requireMetrics", "must be true or false")],
        )
    try:
        policy_from_json({k: v for k, v in doc.items() if k not in OPTIONS} or None)
    except ValueError as exc:
        where, _, message = str(exc).partition(": ")
        where = where.removeprefix("policy").lstrip(".")
        field = f"body.analysis.{where}" if where else "body.analysis"
        raise InvalidInput("The analysis policy is invalid.", errors=[FieldError(field, message or str(exc))]) from exc


# Which of these ids are live events, each with the windows in which its samples count (the
# events slice answers; metric samples may name one).
KnownEvents = Callable[[UnitOfWork, Sequence[str]], Awaitable[Mapping[str, Sequence[ingest.EventWindow]]]]


async def no_events(uow: UnitOfWork, ids: Sequence[str]) -> Mapping[str, Sequence[ingest.EventWindow]]:
    return {}


class AnalysisService:
    def __init__(
        self,
        fleet: FleetService,
        deployments: DeploymentService,
        signals: Signals[UnitOfWork],
        metrics: Metrics,
        *,
        churn_horizon: timedelta,
        known_events: KnownEvents = no_events,
    ) -> None:
        self.fleet = fleet
        self.deployments = deployments
        self.signals = signals
        self.metrics = metrics
        self.churn_horizon = churn_horizon
        self.known_events = known_events

    async def forget_player(self, uow: UnitOfWork, signal: PlayerErased) -> int:
        """A player's erasure, here: its activity and its units (see `MetricsRepository`)."""
        return await MetricsRepository(uow.conn).forget_player(signal.player_id)

    # -- ingestion --------------------------------------------------------------------------

    async def ingest(self, uow: UnitOfWork, items: Sequence[Any]) -> Ingested:
        now = uow.clock.now()
        servers = await self.fleet.server_regions(uow, _ids(items, "serverId"))
        started = await self.deployments.started_at(uow, _ids(items, "deploymentId"))
        aliases = await self.fleet.alias_map(uow)
        event_ids = _ids(items, "eventId", ingest.EVENT_ID)
        events = await self.known_events(uow, event_ids) if event_ids else {}
        known = ingest.Known(servers, frozenset(started), lambda name: aliases.get(name.lower()), events)
        good, errors = ingest.parse(items, known, now)
        if good:
            folded = ingest.fold([sample for _, sample in good])
            touched = sorted({s.deployment_id for _, s in good if s.deployment_id is not None})
            await MetricsRepository(uow.conn).store(folded, {d: started[d] for d in touched})
            if folded.participants:
                await self.signals.send(uow, SamplesIngested(folded.participants))
            await self.deployments.make_due(uow, touched)
        accepted, rejected = len(good), len(errors)
        outside = sum(1 for _, s in good if s.outside_event)

        def count() -> None:
            self.metrics.metric_samples.labels("accepted").inc(accepted)
            self.metrics.metric_samples.labels("rejected").inc(rejected)
            self.metrics.event_samples_outside_window.inc(outside)

        uow.after_commit(count)
        return Ingested([i for i, _ in good], errors, outside)

    async def active_players(
        self, uow: UnitOfWork, start: datetime, end: datetime, also: PlayerIds | None = None
    ) -> int:
        """How many players were seen in [start, end) (from their first and last sample), counting
        the players `also` selects (ids) among them, each once."""
        return await MetricsRepository(uow.conn).active_players(start, end, also)

    async def verdicts(self, uow: UnitOfWork, deployment_id: str, limit: int) -> list[Any]:
        """The judge's stored verdicts on a deployment, newest first."""
        return await MetricsRepository(uow.conn).verdicts(deployment_id, limit)

    # -- looking ----------------------------------------------------------------------------

    async def look(self, uow: UnitOfWork, row: Row) -> Look:
        now = uow.clock.now()
        policy, _ = analysis_options(row.spec)
        plan = codec.plan_from_json(row.plan)
        servers_are_units = UnitKind(row.unit_kind) is UnitKind.SERVERS
        repo = MetricsRepository(uow.conn)
        sums = await repo.sums(row.id)
        per_server = await repo.per_server(row.id) if servers_are_units else {}
        players = await repo.units(row.id, "player")
        churn = await repo.churn(row.id, now - self.churn_horizon)
        everyone = row.step >= 0 and covers_everyone(plan.exposure_at(row.step))
        data: dict[str, MetricData] = {}
        judged = []
        for metric in policy.metrics:
            if metric.kind is Kind.SERVER_RANK and not servers_are_units:
                continue
            pair: list[Arm] = []
            for arm in ingest.ARMS:
                value, last = _value(metric.metric, metric.kind, arm, sums, per_server, players, churn)
                if arm == "baseline" and everyone:
                    last = now if last is not None else None
                pair.append(Arm(value, last))
            data[metric.metric] = MetricData(pair[0], pair[1])
            if metric.metric == "churn" and now - row.created_at < self.churn_horizon:
                continue  # nobody can have churned yet: shown, not judged
            judged.append(metric.metric)
        units = await self._sample_ratio(repo, row, plan, servers_are_units)
        verdict = evaluate_look(policy.select(judged), data, now=now, started_at=row.created_at, units=units)
        # The metrics the look judged keep the verdicts it judged them on (their alpha is split
        # over the judged metrics only); the others (churn before its horizon) are shown as well.
        shown = evaluate_look(policy.select(list(data)), data, now=now, started_at=row.created_at)
        metrics = (*verdict.metrics, *(m for m in shown.metrics if m.metric not in judged))
        arms = await self._arms(repo, row.id, sums, players, churn)
        return Look(verdict, metrics, bool(sums or per_server), arms)

    async def _sample_ratio(self, repo: MetricsRepository, row: Row, plan: Plan, servers: bool) -> UnitCounts | None:
        if row.step < 0 or row.step_started_at is None:
            return None
        grants = plan.exposure_at(row.step)
        if len(grants) != 1 or grants[0].percentage >= 100:
            return None
        grant = grants[0]
        if grant.regions is not None or grant.segment is not None or grant.units is not None:
            return None  # the share of a restricted grant depends on who is where: not checked
        seen = await repo.units(row.id, "server" if servers else "player", since=row.step_started_at)
        canary, baseline = (seen[a].units if a in seen else 0 for a in ingest.ARMS)
        if canary + baseline < SRM_MIN_UNITS:
            return None  # a handful of units: any split is likely
        return UnitCounts(canary, baseline, grant.percentage / 100)

    async def _arms(
        self,
        repo: MetricsRepository,
        deployment_id: str,
        sums: dict[tuple[str, str], Sums],
        players: dict[str, Any],
        churn: dict[str, tuple[int, int]],
    ) -> dict[str, dict[str, Any]]:
        """Per arm: what a person watches (churn, session duration, complaints, engagement), the
        crash rate the judge holds against its gates, FPS and latency. A rate or a mean without
        its denominator (no sessions, no eligible players, no values) is None, never 0 or 100%."""
        sketches = await repo.sketches(deployment_id)
        out: dict[str, dict[str, Any]] = {}
        for arm in ingest.ARMS:
            crashes, sessions = _count(sums, arm, "crash"), _count(sums, arm, "session_start")
            churned, eligible = churn.get(arm, (0, 0))
            ends, engagement = sums.get((arm, "session_end")), sums.get((arm, "engagement_score"))
            unit = players.get(arm)
            duration = ends.total / ends.count if ends and ends.count else None
            out[arm] = {
                "players": unit.units if unit else 0,
                "sessions": sessions,
                "playerChurnRate": Proportion(churned, eligible).rate_or_none,
                # An ISO 8601 duration to the second for people, and the seconds for programs.
                "avgSessionDuration": None if duration is None else timedelta(seconds=round(duration)),
                "avgSessionDurationSeconds": duration,
                "playerComplaints": unit.complained if unit else 0,
                "engagement": engagement.total / engagement.count if engagement and engagement.count else None,
                "crashes": crashes,
                "crashRate": Proportion.observed(crashes, sessions).rate_or_none,
                "fps": _quantiles(sketches.get((arm, "fps"))),
                "networkLatency": _quantiles(sketches.get((arm, "network_latency"))),
            }
        return out


def _ids(items: Sequence[Any], key: str, pattern: re.Pattern[str] = ingest.ID) -> list[str]:
    """The well-formed ids under `key` in a batch (only those are looked up: a malformed one, a
    NUL byte say, is refused by `ingest.parse` and never reaches the store)."""
    found = (i.get(key) for i in items if isinstance(i, dict))
    return sorted({v for v in found if isinstance(v, str) and pattern.fullmatch(v)})


def _count(sums: dict[tuple[str, str], Sums], arm: str, metric: str) -> int:
    found = sums.get((arm, metric))
    return found.count if found else 0


def _last(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


def _value(
    metric: str,
    kind: Kind,
    arm: str,
    sums: dict[tuple[str, str], Sums],
    per_server: dict[tuple[str, str], tuple[list[float], datetime | None]],
    players: dict[str, Any],
    churn: dict[str, tuple[int, int]],
) -> tuple[Any, datetime | None]:
    """One arm's aggregate for a policy metric, in the form its kind is judged on, and its last sample."""
    unit = players.get(arm)
    if metric == "complaint":
        return Proportion(unit.complained, unit.units) if unit else Proportion(
            0, 0
        ), unit.last_seen_at if unit else None
    if metric == "churn":
        churned, eligible = churn.get(arm, (0, 0))
        return Proportion(churned, eligible), unit.last_seen_at if unit else None
    if kind is Kind.SERVER_RANK:
        values, last = per_server.get((arm, metric), ([], None))
        return tuple(values), last
    raw = {"session_duration": "session_end", "engagement": "engagement_score"}.get(metric, metric)
    found = sums.get((arm, raw))
    if kind is Kind.PROPORTION:  # events per session: crashes, or a custom counted metric
        sessions = sums.get((arm, "session_start"))
        events, trials = (found.count if found else 0), (sessions.count if sessions else 0)
        last = _last(found.last_at if found else None, sessions.last_at if sessions else None)
        return Proportion.observed(events, trials), last
    if found is None:
        return Moments(0, 0.0, 0.0), None
    if kind is Kind.LOG_MEAN:
        return Moments(found.log_count, found.log_total, found.log_total_sq), found.last_at
    return Moments(found.count, found.total, found.total_sq), found.last_at


def _quantiles(sketch: QuantileSketch | None) -> dict[str, float] | None:
    if sketch is None or sketch.count == 0:
        return None
    return {"mean": sketch.mean} | {f"p{round(q * 100)}": sketch.quantile(q) for q in QUANTILES}
