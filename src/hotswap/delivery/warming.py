"""Warming every API process's caches at an operator's request (`POST /api/v1/admin/cache/warm`):
after a restore, a failover or a bulk import, or when a replica's memory is in doubt.

Each process holds two caches of its own: every environment's compiled snapshot, and the stored
player profiles that the player query reads. A warm-up rebuilds each snapshot from the store,
whatever revision is held (nothing in memory is trusted), and refills the profile cache with the
players seen most recently: in the process that was asked, then, through the change bus, in
every other one (`{"kind": "warm"}`; the message names the process that sent it, which has
warmed already). The answer says what the asked process did, and how many processes the bus
reached when it can tell (Redis can; PostgreSQL's NOTIFY cannot).

Before it rebuilds, the asked process moves every environment's stored revision past the one it
holds and the one stored, in one short transaction with the audit record. After a restore the
store's revisions are behind the ones served: without it the rebuilt snapshot would carry a
revision the processes, their stream clients and their periodic checks already hold, and be
ignored. With it, every process and every stream client moves forward to what the store holds.
A process that holds a revision higher still (it had heard of changes the asked one had not)
moves the store past its own when the bus asks it to rebuild (`SnapshotService.reload`).

The rebuilds and the profile read run in no write transaction: on SQLite a write transaction
holds every other writer back, for as long as the compiles and the bulk read take.

Refilled profiles expire like any cached profile (`PlayerService.cache_max_age`, 30 s): a write to
a player drops its profile in every process over the bus, and a lost bus message is made good
only by that expiry, so a warmed profile is kept no longer. The warm-up spares the store the
burst of misses when every player comes back at once (after a failover), not the misses after.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.core.clock import Clock
from hotswap.core.environments import Environment
from hotswap.core.errors import FieldError, InvalidInput
from hotswap.core.ids import new_id
from hotswap.delivery.bus import ChangeBus
from hotswap.delivery.service import SnapshotService
from hotswap.observability.prometheus import Metrics
from hotswap.players.service import PlayerService
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)
DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=30)
KIND = "warm"


@dataclass(frozen=True, slots=True)
class WarmRequest:
    window: timedelta = DEFAULT_WINDOW  # players seen within it are loaded
    limit: int | None = None  # at most this many (None: as many as the cache holds)


@dataclass(frozen=True, slots=True)
class Rebuilt:
    environment: Environment
    revision: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Warmed:
    snapshots: list[Rebuilt]
    seconds: float  # rebuilding every snapshot
    players: int  # profiles put in the cache
    since: datetime
    window: timedelta
    limit: int
    expires_in: float  # seconds the profiles stay cached (unless a write drops one sooner)


class CacheWarmer:
    def __init__(
        self,
        snapshots: SnapshotService,
        changes: SnapshotChanges,
        players: PlayerService,
        bus: ChangeBus,
        uows: UnitOfWorkFactory,
        audit: AuditLog,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.snapshots = snapshots
        self.changes = changes
        self.players = players
        self.bus = bus
        self.uows = uows
        self.audit = audit
        self.metrics = metrics
        self.clock = clock
        self.origin = new_id("proc")  # this process, on the bus
        bus.subscribe(self._on_message)

    async def warm(self, actor: Principal, request: WarmRequest, *, request_id: str | None = None) -> Warmed:
        """Warm this process's caches; after it, `notify` asks the other processes to do the same.
        The warm-up opens its own transactions (an entry point, as a worker job is): one short
        one moves the revisions forward and records the audit, committed before the slow part,
        which holds none."""
        limit = self._limit(request.limit)
        if not timedelta(0) < request.window <= MAX_WINDOW:
            raise InvalidInput(
                "The warm-up's window is out of range.",
                errors=[FieldError("body.window", f"more than 0 and at most {MAX_WINDOW.days} days (P30D)")],
            )
        async with self.uows(request_id) as uow:
            held = {env: self._held(env) for env in Environment}
            revisions = await self.changes.advance(uow, held)
            await self.audit.record(
                uow,
                actor,
                "cache.warm",
                target_type="cache",
                target_id="snapshots+players",
                summary="asked every replica to rebuild its snapshots from the store ("
                + ", ".join(f"{env.value} r{revisions[env]}" for env in Environment if env in revisions)
                + f") and to refill its player profiles (seen in the last {request.window.total_seconds() / 3600:g} h)",
                details={
                    "revisions": {env.value: revision for env, revision in revisions.items()},
                    "held": {env.value: revision for env, revision in held.items()},
                    "windowSeconds": request.window.total_seconds(),
                    "limit": limit,
                },
            )
            await uow.commit()
        warmed = await self._warm_here(request.window, limit)
        self.metrics.cache_warms.labels("request").inc()
        log.info(
            "caches warmed",
            extra={"players": warmed.players, "revisions": {r.environment.value: r.revision for r in warmed.snapshots}},
        )
        return warmed

    async def notify(self, warmed: Warmed) -> int | None:
        """Ask every other process to warm its own caches; how many processes the bus reached
        (this one included), or None when it cannot tell."""
        message = {
            "kind": KIND,
            "origin": self.origin,
            "windowSeconds": warmed.window.total_seconds(),
            "limit": warmed.limit,
        }
        return await self.bus.publish(message)

    def _limit(self, limit: int | None) -> int:
        capacity = self.players.cache_capacity
        if limit is None:
            return capacity
        if not 0 < limit <= capacity:
            raise InvalidInput(
                "The warm-up's limit is out of range.",
                errors=[FieldError("body.limit", f"1 to {capacity} (what the player cache holds)")],
            )
        return limit

    async def _warm_here(self, window: timedelta, limit: int) -> Warmed:
        rebuilt = []
        started = time.perf_counter()
        for env in Environment:
            began = time.perf_counter()
            compiled = await self.snapshots.reload(env, self._advance)
            rebuilt.append(Rebuilt(env, compiled.revision, time.perf_counter() - began))
        seconds = time.perf_counter() - started
        since = self.clock.now() - window
        players = await self.players.warm(self.uows, since=since, limit=limit)
        return Warmed(rebuilt, seconds, players, since, window, limit, self.players.cache_max_age)

    def _held(self, environment: Environment) -> int:
        snapshot = self.snapshots.peek(environment)
        return snapshot.revision if snapshot is not None else 0

    async def _advance(self, environment: Environment, past: int) -> int:
        """Move the environment's stored revision past `past`, in a short transaction of its own."""
        async with self.uows() as uow:
            revisions = await self.changes.advance(uow, {environment: past})
            await uow.commit()
        return revisions[environment]

    async def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("kind") != KIND or message.get("origin") == self.origin:
            return
        try:
            window = timedelta(seconds=float(message["windowSeconds"]))
            limit = min(int(message["limit"]), self.players.cache_capacity)
        except (KeyError, TypeError, ValueError, OverflowError):
            log.warning("change bus: ignored a malformed warm message", extra={"bus_message": message})
            return
        if not timedelta(0) < window <= MAX_WINDOW or limit < 1:
            log.warning("change bus: ignored a warm message out of range", extra={"bus_message": message})
            return
        try:
            warmed = await self._warm_here(window, limit)
        except Exception:  # the store is away: the periodic check and the next misses catch up
            log.warning("a cache warm-up asked by another replica failed", exc_info=True)
            return
        self.metrics.cache_warms.labels("bus").inc()
        log.info(
            "caches warmed at another replica's request",
            extra={"players": warmed.players, "revisions": {r.environment.value: r.revision for r in warmed.snapshots}},
        )
