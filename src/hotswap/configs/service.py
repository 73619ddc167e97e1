"""Config use cases: each runs inside the caller's unit of work and never commits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from hotswap.approvals.model import Approval, ApprovalStatus
from hotswap.approvals.service import ApprovalService
from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.configs import model as m
from hotswap.configs.repository import ConfigRepository
from hotswap.core.errors import Conflict, FieldError, InvalidInput, NotFound
from hotswap.core.ids import new_id
from hotswap.core.jsonutil import JSONObject, checksum
from hotswap.core.pagination import Page, check_limit, decode_cursor, encode_cursor, invalid_cursor
from hotswap.observability.metrics import Metrics
from hotswap.storage.uow import UnitOfWork

RELEASE_SUBJECT = "config_release"


@dataclass(frozen=True, slots=True)
class ProfileDraft:
    name: str
    environment: m.Environment
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
    effective: JSONObject


@dataclass(frozen=True, slots=True)
class ReleaseView:
    profile: m.Profile
    release: m.Release
    version: str
    previous_version: str | None


class ConfigService:
    def __init__(self, audit: AuditLog, approvals: ApprovalService, metrics: Metrics) -> None:
        self.audit = audit
        self.approvals = approvals
        self.metrics = metrics
        approvals.register(RELEASE_SUBJECT, self)

    # -- profiles -------------------------------------------------------------------------

    async def create_profile(self, uow: UnitOfWork, actor: Principal, draft: ProfileDraft) -> m.Profile:
        repo = ConfigRepository(uow.conn)
        if await repo.get_profile(draft.name) is not None:
            raise Conflict(f"A config named {draft.name!r} already exists.")
        if draft.json_schema is not None:
            m.check_json_schema(draft.json_schema, "body.jsonSchema")
        parent_id = None
        if draft.parent is not None:
            parent = await self._require_profile(repo, draft.parent, field="body.parent")
            m.check_parent_chain(None, await self._ancestor_ids(repo, parent))
            parent_id = parent.id
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
        return await self._require_profile(ConfigRepository(uow.conn), name)

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
        environment: m.Environment | None = None,
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
            after = decode_cursor(cursor).get("name")
            if not isinstance(after, str):
                raise invalid_cursor()
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

    async def update_profile(self, uow: UnitOfWork, actor: Principal, name: str, changes: dict[str, Any]) -> m.Profile:
        """Edit metadata. The environment is fixed at creation: moving a config into or out of
        Production would sidestep the approval rule."""
        repo = ConfigRepository(uow.conn)
        profile = await self._require_profile(repo, name, for_update=True)
        profile.ensure_active()
        values: dict[str, Any] = {}
        for key in ("service_type", "schema_version", "game_id", "config_type", "description"):
            if key in changes:
                values[key] = changes[key]
        if "json_schema" in changes:
            if changes["json_schema"] is not None:
                m.check_json_schema(changes["json_schema"], "body.jsonSchema")
            values["json_schema"] = changes["json_schema"]
        if "parent" in changes:
            if changes["parent"] is None:
                values["parent_id"] = None
            else:
                parent = await self._require_profile(repo, changes["parent"], field="body.parent")
                m.check_parent_chain(profile.id, [parent.id, *await self._ancestor_ids(repo, parent)])
                values["parent_id"] = parent.id
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
        updated = await repo.get_profile(name)
        assert updated is not None
        return updated

    async def archive_profile(self, uow: UnitOfWork, actor: Principal, name: str) -> m.Profile:
        repo = ConfigRepository(uow.conn)
        profile = await self._require_profile(repo, name, for_update=True)
        if profile.archived:
            return profile  # archiving twice is a no-op: clients may retry
        if await repo.has_active_children(profile.id):
            raise Conflict(f"{name!r} is the parent of configs that are not archived.")
        pending = await repo.pending_release(profile.id)
        if pending is not None:
            raise Conflict(f"{name!r} has release {pending.id} waiting for approval.")
        now = uow.clock.now()
        await repo.update_profile(profile.id, {"archived_at": now, "updated_at": now, "updated_by": actor.subject})
        await self.audit.record(
            uow, actor, "config.archive", target_type="config", target_id=name, summary=f"archived {name!r}"
        )
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
        m.parse_semver(version, f"{field_prefix}.version")
        data_field = f"{field_prefix}.configData" if field_prefix == "body" else field_prefix
        payload = m.parse_config_data(data, data_field)
        repo = ConfigRepository(uow.conn)
        profile = await self._require_profile(repo, name, for_update=True)
        profile.ensure_active()
        if await repo.get_version(profile.id, version) is not None:
            raise Conflict(f"{name!r} already has a version {version}; versions are immutable.")
        chain = await self._ancestors(repo, profile)
        base = [await self._current_data(repo, p) for p in chain]
        effective = m.effective_data([*base, payload])
        schema = m.effective_schema([*[p.json_schema for p in chain], profile.json_schema])
        m.validate_against_schema(schema, effective, data_field)
        version_id = new_id("ver")
        try:
            await repo.add_version(
                {
                    "id": version_id,
                    "profile_id": profile.id,
                    "version": version,
                    "seq": await repo.next_seq(profile.id),
                    "data": payload,
                    "checksum": checksum(payload),
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
            details={"checksum": checksum(payload)},
        )
        env = profile.environment.value
        uow.after_commit(lambda: self.metrics.config_versions_created.labels(env).inc())
        stored = await repo.get_version(profile.id, version)
        assert stored is not None
        return VersionView(profile, stored, effective)

    async def get_version(self, uow: UnitOfWork, name: str, version: str) -> VersionView:
        repo = ConfigRepository(uow.conn)
        profile = await self._require_profile(repo, name)
        stored = await self._require_version(repo, profile, version)
        return VersionView(profile, stored, await self._effective(repo, profile, stored))

    async def list_versions(
        self, uow: UnitOfWork, name: str, *, cursor: str | None = None, limit: int = 100
    ) -> Page[m.Version]:
        check_limit(limit)
        before = None
        if cursor is not None:
            before = decode_cursor(cursor).get("seq")
            if not isinstance(before, int):
                raise invalid_cursor()
        repo = ConfigRepository(uow.conn)
        profile = await self._require_profile(repo, name)
        rows = await repo.list_versions(profile.id, before_seq=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor({"seq": rows[-1].seq}) if more and rows else None)

    async def diff(
        self, uow: UnitOfWork, name: str, from_version: str, to_version: str
    ) -> tuple[m.Diff, m.Version, m.Version]:
        repo = ConfigRepository(uow.conn)
        profile = await self._require_profile(repo, name)
        old = await self._require_version(repo, profile, from_version, field="query.from")
        new = await self._require_version(repo, profile, to_version, field="query.to")
        result = m.diff(await self._effective(repo, profile, old), await self._effective(repo, profile, new))
        return result, old, new

    # -- releases -------------------------------------------------------------------------

    async def request_release(
        self,
        uow: UnitOfWork,
        actor: Principal,
        name: str,
        *,
        version: str,
        comment: str | None,
        kind: m.ReleaseKind = m.ReleaseKind.RELEASE,
    ) -> ReleaseView:
        """Make a version live: at once outside Production, after approval in Production."""
        repo = ConfigRepository(uow.conn)
        profile = await self._require_profile(repo, name, for_update=True)
        field_name = "body.version" if kind is m.ReleaseKind.RELEASE else "body.toVersion"
        target = await self._require_version(repo, profile, version, field=field_name)
        m.check_releasable(profile, target, await repo.pending_release(profile.id))
        if kind is m.ReleaseKind.REVERT:
            live = await repo.get_version_by_id(profile.live_version_id) if profile.live_version_id else None
            m.check_revert_target(profile, target, live)
        now = uow.clock.now()
        release = m.Release(
            id=new_id("rel"),
            profile_id=profile.id,
            version_id=target.id,
            previous_version_id=profile.live_version_id,
            kind=kind,
            status=m.ReleaseStatus.PENDING_APPROVAL,
            comment=comment,
            requested_by=actor.subject,
            requested_at=now,
            decided_at=None,
            approval_id=None,
        )
        verb = "revert" if kind is m.ReleaseKind.REVERT else "release"
        if profile.environment.needs_approval:
            approval = await self.approvals.request(
                uow,
                actor,
                subject_type=RELEASE_SUBJECT,
                subject_id=release.id,
                environment=profile.environment.value,
                summary=f"{verb} of {name!r} to version {version}",
            )
            release = dataclasses.replace(release, approval_id=approval.id)
            await repo.add_release(release)
            await self.audit.record(
                uow,
                actor,
                f"config.{verb}.request",
                target_type="config",
                target_id=name,
                summary=f"requested {verb} of {name!r} to {version} (approval {approval.id})",
                after_ref=release.id,
            )
        else:
            await repo.add_release(release)
            release = await self._apply(uow, actor, profile, release)
        return await self._release_view(repo, profile, release)

    async def revert(
        self, uow: UnitOfWork, actor: Principal, name: str, *, to_version: str, comment: str | None
    ) -> ReleaseView:
        return await self.request_release(
            uow, actor, name, version=to_version, comment=comment, kind=m.ReleaseKind.REVERT
        )

    async def cancel_release(self, uow: UnitOfWork, actor: Principal, name: str, release_id: str) -> ReleaseView:
        repo = ConfigRepository(uow.conn)
        profile = await self._require_profile(repo, name, for_update=True)
        release = await repo.get_release(release_id)
        if release is None or release.profile_id != profile.id:
            raise NotFound(f"{name!r} has no release {release_id!r}.")
        cancelled = m.cancel_release(release, at=uow.clock.now())
        await repo.save_release(cancelled)
        await self.approvals.cancel_for_subject(uow, actor, RELEASE_SUBJECT, release.id, "release cancelled")
        await self.audit.record(
            uow,
            actor,
            "config.release.cancel",
            target_type="config",
            target_id=name,
            summary=f"cancelled release {release_id} of {name!r}",
            after_ref=release_id,
        )
        return await self._release_view(repo, profile, cancelled)

    async def list_releases(self, uow: UnitOfWork, name: str, *, limit: int = 100) -> list[ReleaseView]:
        check_limit(limit)
        repo = ConfigRepository(uow.conn)
        profile = await self._require_profile(repo, name)
        releases = await repo.list_releases(profile.id, limit=limit)
        labels = await repo.version_labels(
            {r.version_id for r in releases} | {r.previous_version_id for r in releases if r.previous_version_id}
        )
        return [
            ReleaseView(profile, r, labels[r.version_id], labels.get(r.previous_version_id or "")) for r in releases
        ]

    async def on_approval_decided(self, uow: UnitOfWork, approval: Approval, actor: Principal) -> None:
        repo = ConfigRepository(uow.conn)
        release = await repo.get_release(approval.subject_id)
        if release is None:
            raise NotFound(f"The release behind approval {approval.id} no longer exists.")
        profile = await repo.get_profile_by_id(release.profile_id)
        assert profile is not None
        profile = await self._require_profile(repo, profile.name, for_update=True)
        if approval.status is ApprovalStatus.APPROVED:
            profile.ensure_active()
            await self._apply(uow, actor, profile, release)
        else:
            rejected = m.settle_release(release, approved=False, at=uow.clock.now())
            await repo.save_release(rejected)
            env = profile.environment.value
            uow.after_commit(lambda: self.metrics.config_releases.labels(env, "rejected").inc())

    async def _apply(self, uow: UnitOfWork, actor: Principal, profile: m.Profile, release: m.Release) -> m.Release:
        repo = ConfigRepository(uow.conn)
        now = uow.clock.now()
        # The previous version is whatever is live at the moment of applying, not of asking.
        applied = dataclasses.replace(
            m.settle_release(release, approved=True, at=now), previous_version_id=profile.live_version_id
        )
        await repo.save_release(applied)
        await repo.update_profile(
            profile.id, {"live_version_id": release.version_id, "updated_at": now, "updated_by": actor.subject}
        )
        ids = {release.version_id} | ({profile.live_version_id} if profile.live_version_id else set())
        labels = await repo.version_labels(ids)
        verb = "revert" if release.kind is m.ReleaseKind.REVERT else "release"
        await self.audit.record(
            uow,
            actor,
            f"config.{verb}.apply",
            target_type="config",
            target_id=profile.name,
            summary=f"{profile.name!r} is live at {labels[release.version_id]}"
            + (f" (was {labels[profile.live_version_id]})" if profile.live_version_id else ""),
            before_ref=profile.live_version_id,
            after_ref=release.version_id,
        )
        env = profile.environment.value
        uow.after_commit(lambda: self.metrics.config_releases.labels(env, "applied").inc())
        return applied

    # -- game configs (seed 001) ----------------------------------------------------------

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
        environment: m.Environment,
        description: str | None,
    ) -> VersionView:
        """A game config is a profile plus its first or next version, in one request."""
        repo = ConfigRepository(uow.conn)
        existing = await repo.get_profile(name)
        if existing is None:
            # Validate the payload before creating anything, so a bad body writes nothing.
            m.parse_semver(version, "body.version")
            m.parse_config_data(configuration, "body.configuration")
            await self.create_profile(
                uow,
                actor,
                ProfileDraft(name=name, environment=environment, game_id=game_id, config_type=config_type),
            )
        else:
            if existing.game_id != game_id:
                raise Conflict(f"{name!r} already exists for game {existing.game_id!r}.")
            if existing.config_type != config_type:
                raise Conflict(f"{name!r} is a {existing.config_type} config, not {config_type}.")
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

    # -- helpers --------------------------------------------------------------------------

    async def _require_profile(
        self, repo: ConfigRepository, name: str, *, for_update: bool = False, field: str | None = None
    ) -> m.Profile:
        profile = await repo.get_profile(name, for_update=for_update)
        if profile is None:
            if field is not None:
                raise InvalidInput(f"No config named {name!r}.", errors=[FieldError(field, "no such config")])
            raise NotFound(f"No config named {name!r}.")
        return profile

    async def _require_version(
        self, repo: ConfigRepository, profile: m.Profile, version: str, *, field: str | None = None
    ) -> m.Version:
        stored = await repo.get_version(profile.id, version)
        if stored is None:
            if field is not None and field.startswith("query"):
                raise NotFound(
                    f"{profile.name!r} has no version {version}.", errors=[FieldError(field, "no such version")]
                )
            if field is not None:
                raise InvalidInput(
                    f"{profile.name!r} has no version {version}.", errors=[FieldError(field, "no such version")]
                )
            raise NotFound(f"{profile.name!r} has no version {version}.")
        return stored

    async def _ancestors(self, repo: ConfigRepository, profile: m.Profile) -> list[m.Profile]:
        """Ancestors ordered root first."""
        chain: list[m.Profile] = []
        current = profile
        while current.parent_id is not None and len(chain) < m.MAX_INHERITANCE_DEPTH:
            parent = await repo.get_profile_by_id(current.parent_id)
            if parent is None:
                break
            chain.append(parent)
            current = parent
        return list(reversed(chain))

    async def _ancestor_ids(self, repo: ConfigRepository, profile: m.Profile) -> list[str]:
        return [p.id for p in await self._ancestors(repo, profile)]

    async def _current_data(self, repo: ConfigRepository, profile: m.Profile) -> JSONObject:
        """What a profile contributes to its children: its live version, else its newest one."""
        version = (
            await repo.get_version_by_id(profile.live_version_id)
            if profile.live_version_id
            else await repo.latest_version(profile.id)
        )
        return {} if version is None else version.data

    async def _effective(self, repo: ConfigRepository, profile: m.Profile, version: m.Version) -> JSONObject:
        chain = await self._ancestors(repo, profile)
        return m.effective_data([*[await self._current_data(repo, p) for p in chain], version.data])

    async def _release_view(self, repo: ConfigRepository, profile: m.Profile, release: m.Release) -> ReleaseView:
        ids = {release.version_id} | ({release.previous_version_id} if release.previous_version_id else set())
        labels = await repo.version_labels(ids)
        previous = labels.get(release.previous_version_id) if release.previous_version_id else None
        return ReleaseView(profile, release, labels[release.version_id], previous)
