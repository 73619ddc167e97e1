"""The fleet: regions and registered game servers. Each use case runs in the caller's unit of work
and never commits.

Region writes are audited and move every environment's snapshot on (the snapshot's `regions`
part maps each alias to its region). Game servers report themselves: the first registration and
a deregistration are audited; re-registrations and heartbeats are not (they arrive every few
seconds from every server and carry no operator decision), and a heartbeat is one UPDATE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, FieldError, InvalidInput, NotFound
from hotswap.core.pagination import Page, check_limit, cursor_str, encode_cursor
from hotswap.core.signals import Signals
from hotswap.fleet import model as m
from hotswap.fleet.repository import RegionRepository, ServerQuery, ServerRepository
from hotswap.fleet.signals import RegionChanged, RegionDeleting
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork

_ATTEMPTS = 3  # a concurrent first registration can win the insert; the loser then updates
_NAMED_SERVERS = 20  # how many servers a refused region delete names


@dataclass(frozen=True, slots=True)
class Registration:
    """What a game server declares about itself when it registers."""

    id: str
    game: str
    region: str  # an id or alias, any case
    build: str
    capacity: int = 0
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Registered:
    server: m.GameServer
    created: bool


@dataclass(frozen=True, slots=True)
class ServerFilter:
    region: str | None = None  # an id or alias, any case
    game: str | None = None
    environment: Environment | None = None
    healthy: bool | None = None


class FleetService:
    def __init__(
        self,
        audit: AuditLog,
        snapshots: SnapshotChanges,
        signals: Signals[UnitOfWork],
        *,
        heartbeat_timeout: timedelta,
    ) -> None:
        self.audit = audit
        self.snapshots = snapshots
        self.signals = signals
        self.heartbeat_timeout = heartbeat_timeout

    async def hold_regions(self, uow: UnitOfWork) -> None:
        """Keep the regions as they are until the transaction ends: a write that plans on their
        ids and time zones (a live event's windows) takes this before any row lock of its own."""
        await RegionRepository(uow.conn).lock_for_reading()

    def is_healthy(self, server: m.GameServer, now: datetime) -> bool:
        return server.healthy(now, self.heartbeat_timeout)

    # -- regions: reads ---------------------------------------------------------------------

    async def regions(self, uow: UnitOfWork) -> list[m.Region]:
        """Every region, in rollout order (then by id)."""
        return await RegionRepository(uow.conn).all()

    async def region(self, uow: UnitOfWork, raw: str) -> m.Region | None:
        """The region whose id or alias is `raw`, in any case."""
        return m.resolve_region(await self.regions(uow), raw)

    async def get_region(self, uow: UnitOfWork, raw: str) -> m.Region:
        region = await self.region(uow, raw)
        if region is None:
            raise NotFound(f"No region {raw[:100]!r}.")
        return region

    async def server_regions(self, uow: UnitOfWork, server_ids: Sequence[str]) -> dict[str, str]:
        """The region of each of these registered servers; unknown ids are absent."""
        return await ServerRepository(uow.conn).regions_of(server_ids)

    async def alias_map(self, uow: UnitOfWork) -> dict[str, str]:
        """Every lower-case region name (ids and aliases) -> canonical id."""
        return m.alias_map(await self.regions(uow))

    async def snapshot_regions(self, conn: AsyncConnection, environment: Environment) -> dict[str, str]:
        """The snapshot document's `regions` part (a `delivery.documents.PartLoader`): the alias map,
        read in the snapshot's own transaction."""
        return m.alias_map(await RegionRepository(conn).all())

    # -- regions: writes --------------------------------------------------------------------

    async def create_region(self, uow: UnitOfWork, actor: Principal, region_id: str, draft: m.RegionDraft) -> m.Region:
        aliases = m.check_draft(draft, region_id)
        canonical = m.canonical_id(region_id)
        repo = RegionRepository(uow.conn)
        await repo.lock_for_writing()
        m.check_names_free(await repo.all(), canonical, aliases, ignore=None)
        now = uow.clock.now()
        try:
            await repo.add(
                {
                    "id": canonical,
                    "display_name": draft.display_name,
                    "time_zone": draft.time_zone,
                    "rollout_order": draft.rollout_order,
                    "aliases": list(aliases),
                    "created_at": now,
                    "created_by": actor.subject,
                    "updated_at": now,
                    "updated_by": actor.subject,
                    "revision": 1,
                }
            )
        except IntegrityError as exc:  # a concurrent create of the same id won the race
            raise Conflict(f"A region {canonical!r} already exists.", extra={"region": canonical}) from exc
        await self.audit.record(
            uow,
            actor,
            "region.create",
            target_type="region",
            target_id=canonical,
            summary=f"created region {canonical!r}",
            after_ref="revision:1",
        )
        await self.snapshots.mark_changed(uow)
        return await self.get_region(uow, canonical)

    async def replace_region(
        self,
        uow: UnitOfWork,
        actor: Principal,
        raw: str,
        draft: m.RegionDraft,
        *,
        expected_revision: int | None = None,
    ) -> m.Region:
        aliases = m.check_draft(draft)
        repo = RegionRepository(uow.conn)
        await repo.lock_for_writing()
        existing = await repo.all()
        region = _require(existing, raw)
        m.check_revision(region, expected_revision)
        m.check_names_free(existing, region.id, aliases, ignore=region.id)
        changed = sorted(
            name
            for name, old, new in (
                ("displayName", region.display_name, draft.display_name),
                ("timeZone", region.time_zone, draft.time_zone),
                ("rolloutOrder", region.rollout_order, draft.rollout_order),
                ("aliases", region.aliases, aliases),
            )
            if old != new
        )
        if not changed:
            return region  # a PUT of what is stored changes nothing: no new revision
        after = replace(
            region,
            display_name=draft.display_name,
            time_zone=draft.time_zone,
            rollout_order=draft.rollout_order,
            aliases=aliases,
        )
        await repo.update(
            region.id,
            {
                "display_name": draft.display_name,
                "time_zone": draft.time_zone,
                "rollout_order": draft.rollout_order,
                "aliases": list(aliases),
                "updated_at": uow.clock.now(),
                "updated_by": actor.subject,
            },
        )
        await self.audit.record(
            uow,
            actor,
            "region.update",
            target_type="region",
            target_id=region.id,
            summary=f"updated {', '.join(changed)} of region {region.id!r}",
            before_ref=f"revision:{region.revision}",
            after_ref=f"revision:{region.revision + 1}",
        )
        await self.signals.send(uow, RegionChanged(actor, region, after))
        await self.snapshots.mark_changed(uow)
        return await self.get_region(uow, region.id)

    async def delete_region(
        self, uow: UnitOfWork, actor: Principal, raw: str, *, expected_revision: int | None = None
    ) -> None:
        repo = RegionRepository(uow.conn)
        await repo.lock_for_writing()
        region = _require(await repo.all(), raw)
        m.check_revision(region, expected_revision)
        count, sample = await ServerRepository(uow.conn).in_region(region.id, limit=_NAMED_SERVERS)
        in_use = Conflict(
            f"Region {region.id!r} has {count} registered game server(s); deregister them first.",
            extra={"servers": count, "serverIds": sample},
        )
        if count:
            raise in_use
        await self.signals.send(uow, RegionDeleting(actor, region))
        try:
            await repo.delete(region.id)
        except IntegrityError as exc:  # a server registered in it meanwhile (the foreign key)
            raise in_use from exc
        await self.audit.record(
            uow,
            actor,
            "region.delete",
            target_type="region",
            target_id=region.id,
            summary=f"deleted region {region.id!r}",
            before_ref=f"revision:{region.revision}",
        )
        await self.snapshots.mark_changed(uow)

    # -- game servers -----------------------------------------------------------------------

    async def register(self, uow: UnitOfWork, actor: Principal, registration: Registration) -> Registered:
        """Register a server (created) or update what it declares (not created). Either counts as
        a heartbeat. What it reported in heartbeats (players, health, applied revision) stays."""
        region = await self.region(uow, registration.region)
        if region is None:
            raise InvalidInput(
                f"Unknown region {registration.region[:100]!r}.",
                errors=[FieldError("body.region", "must be a region's id or alias (GET /api/v1/regions)")],
            )
        repo = ServerRepository(uow.conn)
        now = uow.clock.now()
        declared = {
            "game": registration.game,
            "region": region.id,
            "labels": registration.labels,
            "build": registration.build,
            "capacity": registration.capacity,
            "last_heartbeat_at": now,
        }
        initial = {
            **declared,
            "id": registration.id,
            "registered_at": now,
            "registered_by": actor.subject,
            "player_count": 0,
            "health": {},
            "environment": None,
            "applied_revision": None,
            "config_versions": {},
        }
        for _ in range(_ATTEMPTS):
            if await repo.update(registration.id, declared):
                return Registered(await self.server(uow, registration.id), created=False)
            try:
                # A savepoint: on PostgreSQL a unique violation must not abort the transaction.
                async with uow.conn.begin_nested():
                    await repo.insert(initial)
            except IntegrityError:
                continue  # registered at the same moment by another request: update it instead
            await self.audit.record(
                uow,
                actor,
                "server.register",
                target_type="server",
                target_id=registration.id,
                summary=f"registered game server {registration.id!r} ({registration.game}) in {region.id}",
            )
            return Registered(await self.server(uow, registration.id), created=True)
        raise Conflict(f"Game server {registration.id!r} is being changed by other requests; retry.")

    async def heartbeat(self, uow: UnitOfWork, server_id: str, beat: m.Heartbeat) -> datetime:
        """Record a heartbeat: one UPDATE, nothing read first. Returns its instant."""
        now = uow.clock.now()
        if not await ServerRepository(uow.conn).update(server_id, {**beat.changes(), "last_heartbeat_at": now}):
            raise no_server(server_id)
        return now

    async def server(self, uow: UnitOfWork, server_id: str) -> m.GameServer:
        server = await ServerRepository(uow.conn).get(server_id)
        if server is None:
            raise no_server(server_id)
        return server

    async def list_servers(
        self, uow: UnitOfWork, flt: ServerFilter, *, cursor: str | None = None, limit: int = 100
    ) -> Page[m.GameServer]:
        """A page of servers in id order; an unknown region in the filter is a 422."""
        check_limit(limit)
        region_id = None
        if flt.region is not None:
            region = await self.region(uow, flt.region)
            if region is None:
                raise InvalidInput(
                    f"Unknown region {flt.region[:100]!r}.",
                    errors=[FieldError("query.region", "must be a region's id or alias")],
                )
            region_id = region.id
        query = self._query(uow, region_id, flt.game, flt.environment, None, flt.healthy)
        after = None if cursor is None else cursor_str(cursor, "id")
        rows = await ServerRepository(uow.conn).page(query, after_id=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor({"id": rows[-1].id}) if more and rows else None)

    async def servers(
        self,
        uow: UnitOfWork,
        *,
        region: str | None = None,
        ids: Sequence[str] | None = None,
        healthy: bool | None = None,
        game: str | None = None,
        environment: Environment | None = None,
    ) -> list[m.GameServer]:
        """Every server matching all the conditions given, in id order, unpaginated (for planning
        a deployment over a whole fleet). `region` is an id or alias in any case; an unknown one
        has no servers. `healthy` is judged by the unit of work's clock."""
        region_id = None
        if region is not None:
            found = await self.region(uow, region)
            if found is None:
                return []
            region_id = found.id
        if ids is not None and not ids:
            return []
        query = self._query(uow, region_id, game, environment, ids, healthy)
        return await ServerRepository(uow.conn).select(query)

    async def applied_count(
        self, uow: UnitOfWork, server_ids: Sequence[str], environment: Environment, revision: int
    ) -> int:
        """How many of these servers report having applied `revision` (or a later one) of the
        environment's snapshot. Unknown ids count as not applied; repeated ids count once."""
        if not server_ids:
            return 0
        return await ServerRepository(uow.conn).count_applied(server_ids, environment, revision)

    async def deregister(self, uow: UnitOfWork, actor: Principal, server_id: str) -> None:
        if not await ServerRepository(uow.conn).delete(server_id):
            raise no_server(server_id)
        await self.audit.record(
            uow,
            actor,
            "server.deregister",
            target_type="server",
            target_id=server_id,
            summary=f"deregistered game server {server_id!r}",
        )

    def _query(
        self,
        uow: UnitOfWork,
        region: str | None,
        game: str | None,
        environment: Environment | None,
        ids: Sequence[str] | None,
        healthy: bool | None,
    ) -> ServerQuery:
        fresh_since = uow.clock.now() - self.heartbeat_timeout
        return ServerQuery(region, game, environment, ids, healthy, fresh_since)


def no_server(server_id: str) -> NotFound:
    return NotFound(f"No game server {server_id[:200]!r}; a server registers with POST /api/v1/servers.")


def _require(regions: Sequence[m.Region], raw: str) -> m.Region:
    region = m.resolve_region(regions, raw)
    if region is None:
        raise NotFound(f"No region {raw[:100]!r}.")
    return region
