"""Player profiles: what game servers report about players, and a cache for the hot paths.

Writes from game servers (attributes, sessions, purchases) are not audited: they arrive at the
rate players play, would bury the trail of human changes, and carry no operator decision. Only
an erasure is audited (who erased which player, never what was stored); it erases the rows other
slices keep under the player's id too: they hear `PlayerErased` in its transaction. Each use case
runs in the caller's unit of work and never commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.core.errors import Conflict, NotFound
from hotswap.core.signals import Signals
from hotswap.players import model as m
from hotswap.players.cache import LoadingCache
from hotswap.players.repository import PlayerRepository
from hotswap.players.signals import PlayerErased, PlayerWritten
from hotswap.storage.uow import UnitOfWork, UnitOfWorkFactory

DEFAULT_CACHE_ENTRIES = 50_000
_ATTEMPTS = 3  # a concurrent first report can win the insert; the loser then updates, once


@dataclass(frozen=True, slots=True)
class Activity:
    """A PATCH: attributes merged key by key (a null removes one), a session, a purchase."""

    attributes: dict[str, Any] | None = None
    session: bool = False
    purchase: float | None = None


@dataclass(frozen=True, slots=True)
class Written:
    profile: m.PlayerProfile
    created: bool


class PlayerService:
    def __init__(
        self, audit: AuditLog, signals: Signals[UnitOfWork], *, cache_entries: int = DEFAULT_CACHE_ENTRIES
    ) -> None:
        self.audit = audit
        self.signals = signals
        self._cache: LoadingCache[m.PlayerProfile] = LoadingCache(cache_entries)

    # -- cache ------------------------------------------------------------------------------

    async def cached_profile(self, uows: UnitOfWorkFactory, player_id: str) -> m.PlayerProfile | None:
        """The stored profile (None for an unknown player), from memory when it can be. A miss
        reads the store in a read-only unit of work of its own."""

        async def load() -> m.PlayerProfile | None:
            async with uows(read_only=True) as uow:
                return await PlayerRepository(uow.conn).get(player_id)

        return await self._cache.get(player_id, load)

    @property
    def cache_capacity(self) -> int:
        return self._cache.max_entries

    @property
    def cache_max_age(self) -> float:
        """Seconds a cached profile is kept at most: the bound on a profile made stale by a write
        in another process whose bus message was lost."""
        return self._cache.max_age

    async def warm(self, uows: UnitOfWorkFactory, *, since: datetime, limit: int) -> int:
        """Fill the cache with the profiles of the players seen since `since` (at most `limit`,
        the most recent first), read in one read-only unit of work of its own; how many were put.
        A player written while they are read is left out: its next query reads it afresh."""

        async def load() -> list[tuple[str, m.PlayerProfile | None]]:
            async with uows(read_only=True) as uow:
                found = await PlayerRepository(uow.conn).recently_active(since=since, limit=limit)
            return [(profile.id, profile) for profile in found]

        return await self._cache.fill(load)

    def invalidate(self, player_id: str) -> None:
        """Forget a player's cached profile (e.g. when another replica announces a write)."""
        self._cache.invalidate(player_id)

    def forget_all(self) -> None:
        """Forget every cached profile (e.g. after the change bus was away: writes elsewhere may
        have gone unheard)."""
        self._cache.clear()

    async def _after_write(self, uow: UnitOfWork, player_id: str) -> None:
        uow.after_commit(lambda: self._cache.invalidate(player_id))
        await self.signals.send(uow, PlayerWritten(player_id))

    # -- use cases --------------------------------------------------------------------------

    async def get(self, uow: UnitOfWork, player_id: str) -> m.PlayerProfile:
        profile = await PlayerRepository(uow.conn).get(player_id)
        if profile is None:
            raise NotFound(f"No player {player_id!r}.")
        return profile

    async def put(self, uow: UnitOfWork, player_id: str, attributes: dict[str, Any]) -> Written:
        """Create the player with these attributes, or replace its attributes."""
        m.check_attributes(attributes, "body.attributes")
        stored = m.replaced_attributes(attributes)
        m.check_attribute_set(stored, "body.attributes")
        repo = PlayerRepository(uow.conn)
        now = uow.clock.now()
        for _ in range(_ATTEMPTS):
            if await repo.update(player_id, now=now, attributes=stored):
                return await self._written(uow, repo, player_id, created=False)
            if await self._try_insert(uow, repo, player_id, stored):
                return await self._written(uow, repo, player_id, created=True)
        raise Conflict(f"Player {player_id!r} is being changed by other requests; retry.")

    async def record(self, uow: UnitOfWork, player_id: str, activity: Activity) -> Written:
        """Apply a PATCH. A player seen for the first time is created (game servers report the
        players they see); its first session or purchase then counts."""
        if activity.attributes is not None:
            m.check_attributes(activity.attributes, "body.attributes")
        if activity.purchase is not None:
            m.check_purchase(activity.purchase, "body.purchase")
        repo = PlayerRepository(uow.conn)
        now = uow.clock.now()
        for _ in range(_ATTEMPTS):
            if activity.attributes is None:
                changed = await repo.update(player_id, now=now, session=activity.session, spend=activity.purchase)
            else:
                # The merge reads the stored attributes: the row lock keeps a concurrent merge
                # from being lost (SQLite's writers are serialized anyway).
                current = await repo.get(player_id, for_update=True)
                changed = current is not None
                if current is not None:
                    merged = m.merged_attributes(current.attributes, activity.attributes)
                    m.check_attribute_set(merged, "body.attributes")
                    await repo.update(
                        player_id, now=now, attributes=merged, session=activity.session, spend=activity.purchase
                    )
            if changed:
                return await self._written(uow, repo, player_id, created=False)
            initial = m.merged_attributes({}, activity.attributes or {})
            m.check_attribute_set(initial, "body.attributes")
            if await self._try_insert(
                uow, repo, player_id, initial, sessions=int(activity.session), spend=activity.purchase or 0.0
            ):
                return await self._written(uow, repo, player_id, created=True)
        raise Conflict(f"Player {player_id!r} is being changed by other requests; retry.")

    async def delete(self, uow: UnitOfWork, actor: Principal, player_id: str) -> None:
        """Erase everything stored about the player: its profile and what other slices keep
        under its id (`PlayerErased`), in the caller's unit of work, so all of it or none. A player
        only seen through metrics has no profile, and is erased all the same; NotFound when
        nothing at all is stored. The audit names the player, not its data."""
        profile = await PlayerRepository(uow.conn).delete(player_id)
        elsewhere = sum(await self.signals.send(uow, PlayerErased(player_id)))
        if not profile and not elsewhere:
            raise NotFound(f"No player {player_id!r}.")
        await self.audit.record(
            uow, actor, "player.delete", target_type="player", target_id=player_id, summary="erased the player's data"
        )
        await self._after_write(uow, player_id)

    async def scan(self, uow: UnitOfWork, *, limit: int, batch: int = 500) -> AsyncIterator[list[m.PlayerProfile]]:
        """Up to `limit` stored players in id order, a batch at a time (for segment previews)."""
        repo = PlayerRepository(uow.conn)
        after: str | None = None
        left = limit
        while left > 0:
            rows = await repo.scan(after_id=after, limit=min(batch, left))
            if not rows:
                return
            yield rows
            left -= len(rows)
            after = rows[-1].id

    # -- helpers ----------------------------------------------------------------------------

    async def _try_insert(
        self,
        uow: UnitOfWork,
        repo: PlayerRepository,
        player_id: str,
        attributes: dict[str, Any],
        *,
        sessions: int = 0,
        spend: float = 0.0,
    ) -> bool:
        """Insert a new player; False when a concurrent request inserted it first. In a savepoint,
        so on PostgreSQL the unique violation does not abort the whole transaction."""
        try:
            async with uow.conn.begin_nested():
                await repo.insert(player_id, attributes, now=uow.clock.now(), sessions=sessions, spend=spend)
        except IntegrityError:
            return False
        return True

    async def _written(self, uow: UnitOfWork, repo: PlayerRepository, player_id: str, *, created: bool) -> Written:
        await self._after_write(uow, player_id)
        profile = await repo.get(player_id)
        assert profile is not None
        return Written(profile, created)
