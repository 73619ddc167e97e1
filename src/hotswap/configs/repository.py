"""Queries for profiles, versions and releases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.configs.model import Profile, Release, ReleaseKind, ReleaseStatus, Version, rules_name_segment
from hotswap.configs.tables import config_profiles, config_releases, config_versions
from hotswap.core.environments import Environment


def _profile(row: Any) -> Profile:
    d = dict(row._mapping)
    d["environment"] = Environment(d["environment"])
    return Profile(**d)


# An arbitrary constant naming the advisory lock on the config hierarchy.
HIERARCHY_LOCK_KEY = 0x_C0F1_6000


def _version(row: Any) -> Version:
    d = dict(row._mapping)
    d["effective"] = d.pop("effective_data")
    return Version(**d)


def _release(row: Any) -> Release:
    d = dict(row._mapping)
    d["kind"] = ReleaseKind(d["kind"])
    d["status"] = ReleaseStatus(d["status"])
    return Release(**d)


class ConfigRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def lock_hierarchy(self) -> None:
        """Serialize changes to the parent/child graph (re-parenting, creating a child, archiving)
        until the transaction ends. Row locks are not enough: two re-parentings that each lock
        only their own row can together close a cycle. SQLite needs nothing: its writers are
        already serialized by BEGIN IMMEDIATE. Taken before any row lock, so it cannot deadlock."""
        if self.conn.dialect.name == "postgresql":
            await self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(HIERARCHY_LOCK_KEY)))

    # -- profiles
    async def add_profile(self, values: dict[str, Any]) -> None:
        await self.conn.execute(config_profiles.insert().values(**values))

    async def get_profile(self, name: str, *, for_update: bool = False) -> Profile | None:
        query = sa.select(config_profiles).where(config_profiles.c.name == name)
        if for_update:
            # All writers to one profile (versions, releases, edits) queue on its row.
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else _profile(row)

    async def get_profile_by_id(self, profile_id: str) -> Profile | None:
        row = (await self.conn.execute(sa.select(config_profiles).where(config_profiles.c.id == profile_id))).first()
        return None if row is None else _profile(row)

    async def update_profile(self, profile_id: str, values: dict[str, Any]) -> None:
        await self.conn.execute(
            config_profiles.update()
            .where(config_profiles.c.id == profile_id)
            .values(**values, revision=config_profiles.c.revision + 1)
        )

    async def list_profiles(
        self,
        *,
        environment: Environment | None,
        game_id: str | None,
        config_type: str | None,
        include_archived: bool,
        game_only: bool = False,
        after_name: str | None,
        limit: int,
    ) -> list[Profile]:
        t = config_profiles
        query = sa.select(t).order_by(t.c.name).limit(limit)
        if environment is not None:
            query = query.where(t.c.environment == environment.value)
        if game_id is not None:
            query = query.where(t.c.game_id == game_id)
        elif game_only:
            query = query.where(t.c.game_id.is_not(None))
        if config_type is not None:
            query = query.where(t.c.config_type == config_type)
        if not include_archived:
            query = query.where(t.c.archived_at.is_(None))
        if after_name is not None:
            query = query.where(t.c.name > after_name)
        return [_profile(r) for r in (await self.conn.execute(query)).all()]

    async def has_active_children(self, profile_id: str) -> bool:
        t = config_profiles
        query = sa.select(t.c.id).where(t.c.parent_id == profile_id, t.c.archived_at.is_(None)).limit(1)
        return (await self.conn.execute(query)).first() is not None

    # -- versions
    async def add_version(self, values: dict[str, Any]) -> None:
        await self.conn.execute(config_versions.insert().values(**values))

    async def next_seq(self, profile_id: str) -> int:
        query = sa.select(sa.func.coalesce(sa.func.max(config_versions.c.seq), 0)).where(
            config_versions.c.profile_id == profile_id
        )
        return int((await self.conn.execute(query)).scalar_one()) + 1

    async def get_version(self, profile_id: str, version: str) -> Version | None:
        query = sa.select(config_versions).where(
            config_versions.c.profile_id == profile_id, config_versions.c.version == version
        )
        row = (await self.conn.execute(query)).first()
        return None if row is None else _version(row)

    async def get_version_by_id(self, version_id: str) -> Version | None:
        row = (await self.conn.execute(sa.select(config_versions).where(config_versions.c.id == version_id))).first()
        return None if row is None else _version(row)

    async def latest_version(self, profile_id: str) -> Version | None:
        query = (
            sa.select(config_versions)
            .where(config_versions.c.profile_id == profile_id)
            .order_by(config_versions.c.seq.desc())
            .limit(1)
        )
        row = (await self.conn.execute(query)).first()
        return None if row is None else _version(row)

    async def list_versions(self, profile_id: str, *, before_seq: int | None, limit: int) -> list[Version]:
        query = (
            sa.select(config_versions)
            .where(config_versions.c.profile_id == profile_id)
            .order_by(config_versions.c.seq.desc())
            .limit(limit)
        )
        if before_seq is not None:
            query = query.where(config_versions.c.seq < before_seq)
        return [_version(r) for r in (await self.conn.execute(query)).all()]

    async def version_labels(self, version_ids: set[str]) -> dict[str, str]:
        if not version_ids:
            return {}
        query = sa.select(config_versions.c.id, config_versions.c.version).where(config_versions.c.id.in_(version_ids))
        return {r.id: r.version for r in (await self.conn.execute(query)).all()}

    # -- releases
    async def add_release(self, release: Release) -> None:
        await self.conn.execute(config_releases.insert().values(**_release_values(release)))

    async def get_release(self, release_id: str) -> Release | None:
        row = (await self.conn.execute(sa.select(config_releases).where(config_releases.c.id == release_id))).first()
        return None if row is None else _release(row)

    async def pending_release(self, profile_id: str) -> Release | None:
        query = sa.select(config_releases).where(
            config_releases.c.profile_id == profile_id,
            config_releases.c.status == ReleaseStatus.PENDING_APPROVAL.value,
        )
        row = (await self.conn.execute(query)).first()
        return None if row is None else _release(row)

    async def save_release(self, release: Release) -> None:
        values = _release_values(release)
        del values["id"]
        await self.conn.execute(config_releases.update().where(config_releases.c.id == release.id).values(**values))

    async def list_releases(self, profile_id: str, *, limit: int) -> list[Release]:
        query = (
            sa.select(config_releases)
            .where(config_releases.c.profile_id == profile_id)
            .order_by(config_releases.c.requested_at.desc(), config_releases.c.id.desc())
            .limit(limit)
        )
        return [_release(r) for r in (await self.conn.execute(query)).all()]

    async def live_configs(self, environment: Environment) -> dict[str, dict[str, Any]]:
        """The snapshot's `configs` part: each active config of the environment with a live
        version, by name: its value, version, rules, type and game."""
        p, v = config_profiles.c, config_versions.c
        live = await self.conn.execute(
            sa.select(p.name, p.config_type, p.game_id, p.targeting, v.id, v.version, v.effective_data)
            .join(config_versions, v.id == p.live_version_id)
            .where(p.environment == environment.value, p.archived_at.is_(None))
            .order_by(p.name)
        )
        return {
            r.name: {
                "gameId": r.game_id,
                "rules": r.targeting or [],
                "type": r.config_type,
                "value": r.effective_data,
                "version": r.version,
                "versionId": r.id,
            }
            for r in live
        }

    async def served_versions(self, version_ids: set[str]) -> dict[str, tuple[str, Any, Any]]:
        """For each version: its label, its effective data and its config's targeting rules."""
        if not version_ids:
            return {}
        p, v = config_profiles.c, config_versions.c
        rows = await self.conn.execute(
            sa.select(v.id, v.version, v.effective_data, p.targeting)
            .join(config_profiles, p.id == v.profile_id)
            .where(v.id.in_(sorted(version_ids)))
        )
        return {r.id: (r.version, r.effective_data, r.targeting) for r in rows}

    async def configs_naming(self, segment_id: str) -> list[str]:
        """Names of the active configs whose targeting rules name the segment. PostgreSQL narrows
        the rows with jsonb containment; the rules are checked here either way."""
        t = config_profiles
        query = (
            sa.select(t.c.name, t.c.targeting)
            .where(t.c.archived_at.is_(None), t.c.targeting.is_not(None))
            .order_by(t.c.name)
        )
        if self.conn.dialect.name == "postgresql":
            query = query.where(sa.type_coerce(t.c.targeting, JSONB).contains([{"segment": segment_id}]))
        rows = (await self.conn.execute(query)).all()
        return [row.name for row in rows if rules_name_segment(row.targeting, segment_id)]


def _release_values(r: Release) -> dict[str, Any]:
    return {
        "id": r.id,
        "profile_id": r.profile_id,
        "version_id": r.version_id,
        "previous_version_id": r.previous_version_id,
        "kind": r.kind.value,
        "status": r.status.value,
        "comment": r.comment,
        "requested_by": r.requested_by,
        "requested_at": r.requested_at,
        "decided_at": r.decided_at,
        "approval_id": r.approval_id,
    }
