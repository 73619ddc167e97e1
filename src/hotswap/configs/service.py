"""Config profiles, versions and game configs: each use case runs inside the caller's unit of work
and never commits. Releases (what is live, and approvals) are in `releases.py`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.configs import lookups, payloads
from hotswap.configs import model as m
from hotswap.configs.model import KIND
from hotswap.configs.repository import ConfigRepository
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, FieldError, InvalidInput
from hotswap.core.ids import new_id
from hotswap.core.jsonutil import JSONObject, checksum
from hotswap.core.pagination import Page, check_limit, cursor_int, cursor_str, encode_cursor
from hotswap.observability.prometheus import Metrics
from hotswap.rollouts.service import DeploymentService
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class ProfileDraft:
    name: str
    environment: Environment
    service_type: str | None = None
    schema_version: str | None = None
    json_schema: JSONObject | None = None
    game_id: str | None = None
    config_type: str | None = None
    parent: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class VersionView:
    profile: m.Profile
    version: m.Version


async def _resolve_parent(repo: ConfigRepository, name: str, child_id: str | None) -> m.Profile:
    """The parent a config may inherit from: it exists, is active (archiving refuses active
    children, so an archived config never gains one), and closes no cycle or too deep a chain."""
    parent = await lookups.require_profile(repo, name, field="body.parent")
    if parent.archived:
        raise InvalidInput(
            f"Config {parent.name!r} is archived.", errors=[FieldError("body.parent", "config is archived")]
        )
    m.check_parent_chain(child_id, [parent.id, *await lookups.ancestor_ids(repo, parent)])
    return parent


def _effective_and_checked(
    base: m.Version | None, payload: JSONObject, schema: Any, field: str
) -> tuple[JSONObject, str]:
    """A new version's effective data (its parent's with its own over it), checked against the
    config's schema, and its own data's checksum: the CPU-heavy part of a version write."""
    effective = m.effective_data([base.effective if base else {}, payload])
    payloads.validate_against_schema(schema, effective, field)
    return effective, checksum(payload)


class ConfigService:
    def __init__(
        self, audit: AuditLog, metrics: Metrics, snapshots: SnapshotChanges, deployments: DeploymentService
    ) -> None:
        self.audit = audit
        self.metrics = metrics
        self.snapshots = snapshots
        self.deployments = deployments  # a config being rolled out is changed only by its deployment

    async def snapshot_configs(self, conn: AsyncConnection, environment: Environment) -> dict[str, Any]:
        """The snapshot's `configs` part (a `delivery.documents.PartLoader`), read in the snapshot's
        own transaction."""
        return await ConfigRepository(conn).live_configs(environment)

    # -- profiles -------------------------------------------------------------------------

    async def create_profile(self, uow: UnitOfWork, actor: Principal, draft: ProfileDraft) -> m.Profile:
        repo = ConfigRepository(uow.conn)
        if draft.parent is not None:
            await repo.lock_hierarchy()
        if await repo.get_profile(draft.name) is not None:
            raise Conflict(f"A config named {draft.name!r} already exists.")
        if draft.json_schema is not None:
            payloads.check_json_schema(draft.json_schema, "body.jsonSchema")
        parent_id = None if draft.parent is None else (await _resolve_parent(repo, draft.parent, None)).id
        now = uow.clock.now()
        profile_id = new_id("cfg")
        try:
            await repo.add_profile(
                {
                    "id": profile_id,
                    "name": draft.name,
                    "environment": draft.environment.value,
                    "service_type": draft.service_type,
                    "schema_version": draft.schema_version,
                    "json_schema": draft.json_schema,
                    "game_id": draft.game_id,
                    "config_type": draft.config_type,
                    "parent_id": parent_id,
                    "description": draft.description,
                    "created_at": now,
                    "created_by": actor.subject,
                    "updated_at": now,
                    "updated_by": actor.subject,
                    "revision": 1,
                }
            )
        except IntegrityError as exc:  # a concurrent create of the same name won the race
            raise Conflict(f"A config named {draft.name!r} already exists.") from exc
        await self.audit.record(
            uow,
            actor,
            "config.create",
            target_type="config",
            target_id=draft.name,
            summary=f"created {draft.environment.value} config {draft.name!r}",
            after_ref=profile_id,
        )
        profile = await repo.get_profile(draft.name)
        assert profile is not None
        return profile

    async def get_profile(self, uow: UnitOfWork, name: str) -> m.Profile:
        return await lookups.require_profile(ConfigRepository(uow.conn), name)

    async def parent_name(self, uow: UnitOfWork, profile: m.Profile) -> str | None:
        if profile.parent_id is None:
            return None
        parent = await ConfigRepository(uow.conn).get_profile_by_id(profile.parent_id)
        return None if parent is None else parent.name

    async def live_version_label(self, uow: UnitOfWork, profile: m.Profile) -> str | None:
        if profile.live_version_id is None:
            return None
        labels = await ConfigRepository(uow.conn).version_labels({profile.live_version_id})
        return labels.get(profile.live_version_id)

    async def list_profiles(
        self,
        uow: UnitOfWork,
        *,
        environment: Environment | None = None,
        game_id: str | None = None,
        config_type: str | None = None,
        include_archived: bool = False,
        game_only: bool = False,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[m.Profile]:
        check_limit(limit)
        after = None
        if cursor is not None:
            after = cursor_str(cursor, "name")
        rows = await ConfigRepository(uow.conn).list_profiles(
            environment=environment,
            game_id=game_id,
            config_type=config_type,
            include_archived=include_archived,
            game_only=game_only,
            after_name=after,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor({"name": rows[-1].name}) if more and rows else None)

    async def update_profile(
        self,
        uow: UnitOfWork,
        actor: Principal,
        name: str,
        changes: dict[str, Any],
        *,
        expected_revision: int | None = None,
    ) -> m.Profile:
        """Edit metadata. The environment is fixed at creation: moving a config into or out of
        Production would sidestep the approval rule. With `expected_revision` (If-Match), the
        edit applies only to that revision, so two editors cannot silently overwrite each other."""
        repo = ConfigRepository(uow.conn)
        if "parent" in changes:
            await repo.lock_hierarchy()
        profile = await lookups.require_profile(repo, name, for_update=True)
        m.check_revision(profile, expected_revision)
        profile.ensure_active()
        values: dict[str, Any] = {}
        for key in ("service_type", "schema_version", "game_id", "config_type", "description"):
            if key in changes:
                values[key] = changes[key]
        if "json_schema" in changes:
            if changes["json_schema"] is not None:
                payloads.check_json_schema(changes["json_schema"], "body.jsonSchema")
            values["json_schema"] = changes["json_schema"]
        if "parent" in changes:
            if changes["parent"] is None:
                values["parent_id"] = None
            else:
                values["parent_id"] = (await _resolve_parent(repo, changes["parent"], profile.id)).id
        if not values:
            return profile
        changed = list(values)
        values["updated_at"] = uow.clock.now()
        values["updated_by"] = actor.subject
        await repo.update_profile(profile.id, values)
        await self.audit.record(
            uow,
            actor,
            "config.update",
            target_type="config",
            target_id=name,
            summary=f"updated {', '.join(sorted(changed))} of {name!r}",
            before_ref=f"revision:{profile.revision}",
            after_ref=f"revision:{profile.revision + 1}",
        )
        if profile.live_version_id is not None:  # its type and game are part of the snapshot
            await self.snapshots.mark_changed(uow, [profile.environment])
        updated = await repo.get_profile(name)
        assert updated is not None
        return updated

    async def archive_profile(
        self, uow: UnitOfWork, actor: Principal, name: str, *, expected_revision: int | None = None
    ) -> m.Profile:
        repo = ConfigRepository(uow.conn)
        await repo.lock_hierarchy()  # no child may appear under it while it is being archived
        profile = await lookups.require_profile(repo, name, for_update=True)
        m.check_revision(profile, expected_revision)
        if profile.archived:
            return profile  # archiving twice is a no-op: clients may retry
        if await repo.has_active_children(profile.id):
            raise Conflict(f"{name!r} is the parent of configs that are not archived.")
        pending = await repo.pending_release(profile.id)
        if pending is not None:
            raise Conflict(f"{name!r} has release {pending.id} waiting for approval.")
        await self.deployments.ensure_idle(uow, profile.environment, KIND, profile.name, "archive")
        now = uow.clock.now()
        await repo.update_profile(profile.id, {"archived_at": now, "updated_at": now, "updated_by": actor.subject})
        await self.audit.record(
            uow, actor, "config.archive", target_type="config", target_id=name, summary=f"archived {name!r}"
        )
        if profile.live_version_id is not None:  # an archived config leaves the snapshot
            await self.snapshots.mark_changed(uow, [profile.environment])
        archived = await repo.get_profile(name)
        assert archived is not None
        return archived

    # -- versions -------------------------------------------------------------------------

    async def create_version(
        self,
        uow: UnitOfWork,
        actor: Principal,
        name: str,
        *,
        data: str | JSONObject,
        version: str,
        description: str | None,
        field_prefix: str = "body",
    ) -> VersionView:
        payloads.parse_semver(version, f"{field_prefix}.version")
        data_field = f"{field_prefix}.configData" if field_prefix == "body" else field_prefix
        # Config data may be a megabyte: checked on a worker thread, as its schema check below,
        # so that other requests do not wait for it.
        payload = await asyncio.to_thread(payloads.parse_config_data, data, data_field)
        repo = ConfigRepository(uow.conn)
        profile = await lookups.require_profile(repo, name, for_update=True)
        profile.ensure_active()
        if await repo.get_version(profile.id, version) is not None:
            raise Conflict(f"{name!r} already has a version {version}; versions are immutable.")
        # The parent's content is pinned into the version now: a later change to the parent
        # reaches this config only through a new version of it (and, in Production, an approval).
        chain = await lookups.ancestors(repo, profile)
        base = await lookups.contributing_version(repo, chain[-1]) if chain else None
        schema = m.effective_schema([*[p.json_schema for p in chain], profile.json_schema])
        effective, digest = await asyncio.to_thread(_effective_and_checked, base, payload, schema, data_field)
        version_id = new_id("ver")
        try:
            await repo.add_version(
                {
                    "id": version_id,
                    "profile_id": profile.id,
                    "version": version,
                    "seq": await repo.next_seq(profile.id),
                    "data": payload,
                    "effective_data": effective,
                    "parent_version_id": base.id if base else None,
                    "checksum": digest,
                    "description": description,
                    "author": actor.subject,
                    "created_at": uow.clock.now(),
                }
            )
        except IntegrityError as exc:
            raise Conflict(f"{name!r} already has a version {version}; versions are immutable.") from exc
        await self.audit.record(
            uow,
            actor,
            "config.version.create",
            target_type="config",
            target_id=name,
            summary=f"added version {version} to {name!r}",
            after_ref=version_id,
            details={"checksum": digest},
        )
        env = profile.environment.value
        uow.after_commit(lambda: self.metrics.config_versions_created.labels(env).inc())
        stored = await repo.get_version(profile.id, version)
        assert stored is not None
        return VersionView(profile, stored)

    async def get_version(self, uow: UnitOfWork, name: str, version: str) -> VersionView:
        repo = ConfigRepository(uow.conn)
        profile = await lookups.require_profile(repo, name)
        stored = await lookups.require_version(repo, profile, version)
        return VersionView(profile, stored)

    async def list_versions(
        self, uow: UnitOfWork, name: str, *, cursor: str | None = None, limit: int = 100
    ) -> Page[m.Version]:
        check_limit(limit)
        before = None
        if cursor is not None:
            before = cursor_int(cursor, "seq")
        repo = ConfigRepository(uow.conn)
        profile = await lookups.require_profile(repo, name)
        rows = await repo.list_versions(profile.id, before_seq=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor({"seq": rows[-1].seq}) if more and rows else None)

    async def diff(
        self, uow: UnitOfWork, name: str, from_version: str, to_version: str
    ) -> tuple[m.Diff, m.Version, m.Version]:
        repo = ConfigRepository(uow.conn)
        profile = await lookups.require_profile(repo, name)
        old = await lookups.require_version(repo, profile, from_version, field="query.from")
        new = await lookups.require_version(repo, profile, to_version, field="query.to")
        result = m.diff(old.effective, new.effective)
        return result, old, new

    # -- game configs: a profile and a version in one request ------------------------------------------------------

    async def put_game_config(
        self,
        uow: UnitOfWork,
        actor: Principal,
        *,
        name: str,
        game_id: str,
        config_type: str,
        configuration: str | JSONObject,
        version: str,
        environment: Environment | None,
        description: str | None,
    ) -> VersionView:
        """A game config is a profile plus its first or next version, in one request."""
        repo = ConfigRepository(uow.conn)
        existing = await repo.get_profile(name)
        if existing is None:
            # Validate the payload before creating anything, so a bad body writes nothing.
            payloads.parse_semver(version, "body.version")
            payloads.parse_config_data(configuration, "body.configuration")
            draft = ProfileDraft(
                name=name,
                environment=environment or Environment.PRODUCTION,
                game_id=game_id,
                config_type=config_type,
            )
            try:
                # A savepoint: if another request creates the same game config first, this
                # one appends its version to it instead of failing (PostgreSQL would otherwise
                # abort the whole transaction on the unique-name violation).
                async with uow.conn.begin_nested():
                    await self.create_profile(uow, actor, draft)
            except Conflict:
                existing = await repo.get_profile(name)
                if existing is None:
                    raise
        if existing is not None:
            if existing.game_id != game_id:
                raise Conflict(f"{name!r} already exists for game {existing.game_id!r}.")
            if existing.config_type != config_type:
                raise Conflict(f"{name!r} is a {existing.config_type} config, not {config_type}.")
            if environment is not None and existing.environment is not environment:
                raise Conflict(f"{name!r} is a {existing.environment.value} config, not {environment.value}.")
        return await self.create_version(
            uow,
            actor,
            name,
            data=configuration,
            version=version,
            description=description,
            field_prefix="body.configuration",
        )

    async def list_game_configs(
        self, uow: UnitOfWork, *, game_id: str | None, cursor: str | None, limit: int
    ) -> Page[tuple[m.Profile, m.Version]]:
        """Game configs (profiles with a game id) with their newest version."""
        repo = ConfigRepository(uow.conn)
        page = await self.list_profiles(uow, game_id=game_id, game_only=True, cursor=cursor, limit=limit)
        items = []
        for profile in page.items:
            latest = await repo.latest_version(profile.id)
            if latest is not None:
                items.append((profile, latest))
        return Page(items, page.next_cursor)
