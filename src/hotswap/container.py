"""The composition root: builds engines, clients and services once, from settings."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hotswap.analysis.judge import MetricsJudge
from hotswap.analysis.service import AnalysisService
from hotswap.analysis.signals import SamplesIngested
from hotswap.approvals.service import ApprovalService
from hotswap.audit.service import AuditLog
from hotswap.auth.service import Authenticator, AuthService
from hotswap.auth.signals import TokensRevoked
from hotswap.auth.tokens import TokenCodec
from hotswap.configs.releases import RELEASE_SUBJECT as RELEASE_APPROVALS
from hotswap.configs.releases import ReleaseService
from hotswap.configs.rollouts import ConfigRollouts
from hotswap.configs.service import ConfigService
from hotswap.configs.targeting_rules import TargetingService
from hotswap.core.clock import Clock, SystemClock
from hotswap.core.signals import AFTER_COMMIT, IN_TRANSACTION, Signals
from hotswap.delivery.bus import ChangeBus, create_bus
from hotswap.delivery.service import SnapshotService
from hotswap.delivery.stream import StreamHub
from hotswap.delivery.warming import CacheWarmer
from hotswap.event_templates.service import TemplateService
from hotswap.events.engagement import Engagement, known_events
from hotswap.events.model import KIND as EVENT
from hotswap.events.reads import EventReads
from hotswap.events.rollouts import EventRollouts
from hotswap.events.scheduler import EventScheduler
from hotswap.events.service import EventService
from hotswap.events.signals import EventStartMoved, EventTimersSet
from hotswap.events.targets import region_changed, region_deleting, segment_deleting
from hotswap.fleet.service import FleetService
from hotswap.fleet.signals import RegionChanged, RegionDeleting
from hotswap.observability.prometheus import Metrics
from hotswap.players.service import PlayerService
from hotswap.players.signals import PlayerErased, PlayerWritten
from hotswap.rollouts.changes import SUBJECT as DEPLOYMENT_APPROVALS
from hotswap.rollouts.leases import AdvisoryLeases, Leases, LocalLeases, RedisLeases
from hotswap.rollouts.service import DeploymentService
from hotswap.rollouts.signals import DeploymentChanged, DeploymentsDue
from hotswap.rollouts.worker import RolloutWorker
from hotswap.segments.service import SegmentService
from hotswap.segments.signals import SegmentDeleting
from hotswap.settings import Settings
from hotswap.storage.engine import create_engine
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork, UnitOfWorkFactory
from hotswap.web.ratelimit import RateLimiter
from hotswap.webhooks.dispatcher import WebhookDispatcher
from hotswap.webhooks.egress import GuardedBackend, system_resolver
from hotswap.webhooks.service import WebhookService
from hotswap.webhooks.signals import DeliveriesQueued


@dataclass
class Container:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    uow: UnitOfWorkFactory
    metrics: Metrics
    signals: Signals[UnitOfWork]
    codec: TokenCodec
    authenticator: Authenticator
    audit: AuditLog
    auth: AuthService
    approvals: ApprovalService
    configs: ConfigService
    releases: ReleaseService
    targeting: TargetingService
    snapshot_changes: SnapshotChanges
    bus: ChangeBus
    snapshots: SnapshotService
    streams: StreamHub
    segments: SegmentService
    players: PlayerService
    fleet: FleetService
    deployments: DeploymentService
    analysis: AnalysisService
    worker: RolloutWorker
    webhooks: WebhookService
    dispatcher: WebhookDispatcher
    templates: TemplateService
    events: EventService
    event_reads: EventReads
    engagement: Engagement
    event_scheduler: EventScheduler
    warmer: CacheWarmer
    rate_limiter: RateLimiter | None = None

    def services(self) -> dict[type, object]:
        """Everything the container built, by type: what routes ask for (`web.deps.service`)."""
        found: dict[type, object] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is not None and type(value) not in found:
                found[type(value)] = value
        return found

    async def start(self) -> None:
        """Background work of a serving process: the change bus, the snapshots' periodic check,
        and the rollout worker, webhook dispatcher and event scheduler (unless HOTSWAP_WORKER=false:
        `hotswap worker` runs them apart)."""
        await self.snapshots.start()
        if self.settings.worker:
            self.start_workers()

    def start_workers(self) -> None:
        self.worker.start()
        self.dispatcher.start()
        self.event_scheduler.start()

    async def aclose(self) -> None:
        self.streams.shutdown()
        await self.worker.stop()
        await self.dispatcher.stop()
        await self.event_scheduler.stop()
        await self.snapshots.aclose()
        if self.rate_limiter is not None:
            close = getattr(self.rate_limiter.storage, "aclose", None)
            if close is not None:
                await close()
        await self.engine.dispose()


def build_container(settings: Settings, *, clock: Clock | None = None, engine: AsyncEngine | None = None) -> Container:
    clock = clock or SystemClock()
    engine = engine or create_engine(settings.database_url, echo=settings.database_echo)
    metrics = Metrics()
    codec = TokenCodec(settings.jwt_secret.get_secret_value(), settings.jwt_algorithm, settings.jwt_issuer, clock)
    audit = AuditLog()
    signals: Signals[UnitOfWork] = Signals()
    bus = create_bus(settings.redis_url, settings.database_url)
    snapshots = SnapshotService(engine, bus, metrics, check_interval=settings.snapshot_check_seconds)
    snapshot_changes = SnapshotChanges(announce=snapshots.committed)
    authenticator = Authenticator(codec, engine, clock)
    auth = AuthService(
        codec,
        audit,
        signals,
        token_ttl=timedelta(seconds=settings.token_ttl_seconds),
        server_token_ttl=timedelta(seconds=settings.server_token_ttl_seconds),
    )
    _wire_revocations(signals, authenticator, bus)
    players = PlayerService(audit, signals)
    _wire_player_cache(signals, players, bus)
    segments = SegmentService(audit, snapshot_changes, signals, players)
    approvals = ApprovalService(audit, metrics)
    fleet = FleetService(
        audit, snapshot_changes, signals, heartbeat_timeout=timedelta(seconds=settings.server_heartbeat_timeout_seconds)
    )
    # Every snapshot carries the region alias map, so a rollout's region grants match any alias.
    snapshots.add_part("regions", fleet.snapshot_regions)
    snapshots.add_part("segments", segments.snapshot_segments)
    deployments = DeploymentService(audit, approvals, snapshot_changes, signals, fleet, metrics)
    approvals.register(DEPLOYMENT_APPROVALS, deployments)
    releases = ReleaseService(audit, approvals, metrics, snapshot_changes, deployments)
    approvals.register(RELEASE_APPROVALS, releases)
    config_rollouts = ConfigRollouts(releases, deployments)
    deployments.register_subject(config_rollouts)  # a deployment rolls out a config version...
    snapshots.add_part("rollouts", config_rollouts.snapshot_rollouts)
    configs = ConfigService(audit, metrics, snapshot_changes, deployments)
    snapshots.add_part("configs", configs.snapshot_configs)
    targeting = TargetingService(audit, snapshot_changes, segments)
    # A segment that a config's rules or a planned live event target is not deleted.
    signals.connect(SegmentDeleting, targeting.segment_deleting, phase=IN_TRANSACTION)
    signals.connect(SegmentDeleting, segment_deleting, phase=IN_TRANSACTION)
    analysis = AnalysisService(
        fleet,
        deployments,
        signals,
        metrics,
        churn_horizon=timedelta(seconds=settings.churn_horizon_seconds),
        known_events=known_events,
    )
    deployments.use_judge(MetricsJudge(analysis))  # each step judged on its metrics
    uow = UnitOfWorkFactory(
        engine, clock, on_hook_failure=lambda hook: metrics.after_commit_failures.labels(hook).inc()
    )
    worker = RolloutWorker(
        deployments, uow, _leases(settings, engine), clock, poll_seconds=settings.worker_poll_seconds
    )
    # A change (a batch of samples, a step, an event's early start) that makes deployments due now.
    signals.connect(DeploymentsDue, lambda _: worker.wake(), phase=AFTER_COMMIT)
    # Deployment changes queue webhook deliveries in their own transaction (an outbox).
    allow_private = settings.webhook_allow_private_networks
    webhooks = WebhookService(audit, signals, allow_private_networks=allow_private)
    signals.connect(DeploymentChanged, webhooks.deployment_changed, phase=IN_TRANSACTION)
    dispatcher = WebhookDispatcher(
        uow,
        clock,
        egress=GuardedBackend(system_resolver, allow_private=allow_private),
        metrics=metrics,
        poll_seconds=settings.worker_poll_seconds,
    )
    signals.connect(DeliveriesQueued, lambda _: dispatcher.wake(), phase=AFTER_COMMIT)
    templates = TemplateService(audit)
    events = EventService(audit, snapshot_changes, fleet, segments, templates, signals)
    deployments.register_subject(EventRollouts(events))  # ...or a live event, to players
    signals.connect(EventStartMoved, functools.partial(_follow_start, deployments), phase=IN_TRANSACTION)
    engagement = Engagement(analysis)
    signals.connect(SamplesIngested, engagement.record_participation, phase=IN_TRANSACTION)
    # A player's erasure reaches every slice that keeps its id, in the order metric ingestion
    # writes them (activity and units, then event participation): no deadlock with a batch.
    signals.connect(PlayerErased, analysis.forget_player, phase=IN_TRANSACTION)
    signals.connect(PlayerErased, engagement.forget_participant, phase=IN_TRANSACTION)
    # A region's planned events follow its clock, and keep it from being deleted.
    signals.connect(RegionChanged, functools.partial(region_changed, events), phase=IN_TRANSACTION)
    signals.connect(RegionDeleting, region_deleting, phase=IN_TRANSACTION)
    event_reads = EventReads(fleet, deployments)
    snapshots.add_part("events", event_reads.snapshot_events)
    event_scheduler = EventScheduler(
        events,
        audit,
        uow,
        clock,
        metrics,
        poll_seconds=settings.worker_poll_seconds,
        retry_seconds=settings.event_retry_seconds,
    )
    _wire_event_timers(signals, event_scheduler, bus)
    rate_limiter = (
        RateLimiter.create(
            settings.redis_url, per_token=settings.rate_limit_per_token, per_address=settings.rate_limit_per_address
        )
        if settings.rate_limit_enabled
        else None
    )
    return Container(
        settings=settings,
        clock=clock,
        engine=engine,
        uow=uow,
        metrics=metrics,
        signals=signals,
        codec=codec,
        authenticator=authenticator,
        audit=audit,
        auth=auth,
        approvals=approvals,
        configs=configs,
        releases=releases,
        targeting=targeting,
        snapshot_changes=snapshot_changes,
        bus=bus,
        snapshots=snapshots,
        streams=StreamHub(
            snapshots, metrics, heartbeat_seconds=settings.stream_heartbeat_seconds, backlog=settings.stream_backlog
        ),
        segments=segments,
        players=players,
        fleet=fleet,
        deployments=deployments,
        analysis=analysis,
        worker=worker,
        webhooks=webhooks,
        dispatcher=dispatcher,
        templates=templates,
        events=events,
        event_reads=event_reads,
        engagement=engagement,
        event_scheduler=event_scheduler,
        # An operator's warm-up rebuilds the snapshots and refills the player cache in every process.
        warmer=CacheWarmer(snapshots, snapshot_changes, players, bus, uow, audit, metrics, clock),
        rate_limiter=rate_limiter,
    )


def _leases(settings: Settings, engine: AsyncEngine) -> Leases:
    """Who may advance a deployment: a Redis lease with a fencing token when Redis is set, else
    PostgreSQL's advisory locks, else (SQLite, one process) an in-process lock."""
    if settings.redis_url:
        from redis.asyncio import Redis

        return RedisLeases(Redis.from_url(settings.redis_url))
    if engine.dialect.name == "postgresql":
        return AdvisoryLeases()
    return LocalLeases()


def _wire_revocations(signals: Signals[UnitOfWork], authenticator: Authenticator, bus: ChangeBus) -> None:
    """A revocation empties the valid-token cache here at once, and in every other process by bus."""

    async def revoked(_: TokensRevoked) -> None:
        authenticator.forget_all()
        await bus.publish({"kind": "auth"})

    async def on_message(message: dict[str, Any]) -> None:
        if message.get("kind") == "auth":
            authenticator.forget_all()

    signals.connect(TokensRevoked, revoked, phase=AFTER_COMMIT)
    bus.subscribe(on_message)


async def _follow_start(deployments: DeploymentService, uow: UnitOfWork, moved: EventStartMoved) -> None:
    """An event's deployment waiting for its start follows it (rollouts does not know events)."""
    await deployments.follow_start(
        uow, EVENT, moved.environment, moved.event_id, moved.old_start, moved.new_start, moved.actor
    )


def _wire_event_timers(signals: Signals[UnitOfWork], scheduler: EventScheduler, bus: ChangeBus) -> None:
    """New timers wake the scheduler here and, by bus, in a worker process apart: an event
    starting in half a second is not left to the next poll."""

    async def scheduled(_: EventTimersSet) -> None:
        scheduler.wake()
        await bus.publish({"kind": "event-timers"})

    async def on_message(message: dict[str, Any]) -> None:
        if message.get("kind") == "event-timers":
            scheduler.wake()

    signals.connect(EventTimersSet, scheduled, phase=AFTER_COMMIT)
    bus.subscribe(on_message)


def _wire_player_cache(signals: Signals[UnitOfWork], players: PlayerService, bus: ChangeBus) -> None:
    """A player write drops the cached profile here (the service does that) and, by bus, elsewhere;
    a bus that subscribed again drops them all."""

    async def written(signal: PlayerWritten) -> None:
        await bus.publish({"kind": "player", "id": signal.player_id})

    async def on_message(message: dict[str, Any]) -> None:
        if message.get("kind") == "player" and isinstance(message.get("id"), str):
            players.invalidate(message["id"])
        elif message.get("kind") == "resync":  # the bus was away: writes elsewhere may have gone unheard
            players.forget_all()

    signals.connect(PlayerWritten, written, phase=AFTER_COMMIT)
    bus.subscribe(on_message)
