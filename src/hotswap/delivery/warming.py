"""Warming every API process's caches at an operator's request (`POST /api/v1/admin/cache/warm`):
after a spike of cache misses, or when a replica's memory is in doubt.

Each process holds two caches of its own: every environment's compiled snapshot, and the stored
player profiles that the player query reads. A warm-up rebuilds each snapshot from the store
(even at the revision held, so nothing in memory is trusted) and refills the profile cache with
the players seen most recently: in the process that was asked, then, through the change bus,
in every other one (`{"kind": "warm"}`; the message names the process that sent it, which has
warmed already). The answer says what the asked process did, and how many processes the bus
reached when it can tell (Redis can; PostgreSQL's NOTIFY cannot).
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
from hotswap.storage.uow import UnitOfWork, UnitOfWorkFactory

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


class CacheWarmer:
    def __init__(
        self,
        snapshots: SnapshotService,
        players: PlayerService,
        bus: ChangeBus,
        uows: UnitOfWorkFactory,
        audit: AuditLog,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.snapshots = snapshots
        self.players = players
        self.bus = bus
        self.uows = uows
        self.audit = audit
        self.metrics = metrics
        self.clock = clock
        self.origin = new_id("proc")  # this process, on the bus
        bus.subscribe(self._on_message)

    async def warm(self, uow: UnitOfWork, actor: Principal, request: WarmRequest) -> Warmed:
        """Warm this process's caches and audit it (in `uow`); after the commit, `notify` asks
        the other processes to do the same."""
        limit = self._limit(request.limit)
        if not timedelta(0) < request.window <= MAX_WINDOW:
            raise InvalidInput(
                "The warm-up's window is out of range.",
                errors=[FieldError("body.window", f"more than 0 and at most {MAX_WINDOW.days} days (P30D)")],
            )
        warmed = await self._warm_here(request.window, limit)
        revisions = ", ".join(f"{r.environment.value} r{r.revision}" for r in warmed.snapshots)
        await self.audit.record(
            uow,
            actor,
            "cache.warm",
            target_type="cache",
            target_id="snapshots+players",
            summary=f"rebuilt the snapshots ({revisions}) and refilled {warmed.players} player profiles "
            f"(seen in the last {request.window.total_seconds() / 3600:g} h) in every replica",
            details={"windowSeconds": request.window.total_seconds(), "limit": limit, "players": warmed.players},
        )
        uow.after_commit(self.metrics.cache_warms.labels("request").inc)
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
            compiled = await self.snapshots.refresh(env, force=True)
            rebuilt.append(Rebuilt(env, compiled.revision, time.perf_counter() - began))
        seconds = time.perf_counter() - started
        since = self.clock.now() - window
        players = await self.players.warm(self.uows, since=since, limit=limit)
        return Warmed(rebuilt, seconds, players, since, window, limit)

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
