"""Reading an environment's snapshot document from the store, consistently.

Contents and revision are read in one transaction that sees a single point in time (a
REPEATABLE READ transaction on PostgreSQL; SQLite's WAL read transactions already do), so a
document labelled revision N holds exactly what the store held at revision N. The slices that
own what a snapshot serves each give their part (`PartLoader`: the configs slice its live
configs and rollouts, segments, regions, live events), registered by the composition root; this
module reads no slice's tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotswap.core.environments import Environment
from hotswap.storage import revisions
from hotswap.storage.uow import READ_ONLY

# A slice's part of the document (live configs, rollouts in progress, live events...): given the
# snapshot's open connection and the environment, it returns that part's JSON value.
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
    document: dict[str, Any] = {
        "changedAt": changed_at.isoformat().replace("+00:00", "Z") if changed_at else None,
        "configs": {},
        "environment": env.value,
        "events": [],
        "revision": revision,
        "rollouts": [],
        "segments": {},
    }
    for key, loader in parts.items():
        document[key] = await loader(conn, env)
    return document
