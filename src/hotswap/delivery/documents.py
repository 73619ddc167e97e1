"""Reading an environment's snapshot document from the store, consistently.

Contents and revision are read in one transaction that sees a single point in time (a
REPEATABLE READ transaction on PostgreSQL; SQLite's WAL read transactions already do), so a
document labelled revision N holds exactly what the store held at revision N.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotswap.configs.tables import config_profiles, config_versions
from hotswap.core.environments import Environment
from hotswap.segments.tables import segments
from hotswap.storage import revisions
from hotswap.storage.uow import READ_ONLY

# A later slice adds a part of the document (rollouts in progress, live events): given the
# open connection and the environment, it returns that part's JSON value.
PartLoader = Callable[[AsyncConnection, Environment], Awaitable[Any]]


async def current_revisions(engine: AsyncEngine) -> dict[Environment, int]:
    async with engine.connect() as conn:
        await conn.execution_options(**READ_ONLY)
        return await revisions.current_revisions(conn)


async def load_document(
    engine: AsyncEngine, environment: Environment, parts: dict[str, PartLoader] | None = None
) -> dict[str, Any]:
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        else:
            await conn.execution_options(**READ_ONLY)
        async with conn.begin():
            return await _read(conn, environment, parts or {})


async def _read(conn: AsyncConnection, env: Environment, parts: dict[str, PartLoader]) -> dict[str, Any]:
    revision, changed_at = await revisions.revision_at(conn, env)
    p, v = config_profiles.c, config_versions.c
    live = await conn.execute(
        sa.select(p.name, p.config_type, p.game_id, p.targeting, v.id, v.version, v.effective_data)
        .join(config_versions, v.id == p.live_version_id)
        .where(p.environment == env.value, p.archived_at.is_(None))
        .order_by(p.name)
    )
    configs = {
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
    s = segments.c
    named = await conn.execute(sa.select(s.id, s.name, s.condition).order_by(s.id))
    document: dict[str, Any] = {
        "changedAt": changed_at.isoformat().replace("+00:00", "Z") if changed_at else None,
        "configs": configs,
        "environment": env.value,
        "events": [],
        "revision": revision,
        "rollouts": [],
        "segments": {r.id: {"condition": r.condition, "name": r.name} for r in named},
    }
    for key, loader in parts.items():
        document[key] = await loader(conn, env)
    return document
