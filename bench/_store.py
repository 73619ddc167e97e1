"""What several benches share: a scratch store emptied but for what the migrations seed, with
tokens to drive it; the app running in process on such a store; and a percentile of a list of
timings."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.auth.model import SYSTEM, Role
from hotswap.tables import metadata

if TYPE_CHECKING:
    from hotswap.container import Container

SEEDED = ("regions", "segments", "snapshot_revisions")  # rows the migrations insert


async def empty_but_seeds(conn: AsyncConnection) -> None:
    """Delete every row of a scratch database except the migrations' seeds (use a scratch database)."""
    for table in reversed(metadata.sorted_tables):
        if table.name not in SEEDED:
            await conn.execute(table.delete())


async def scratch_tokens(container: Container) -> tuple[str, str]:
    """Empty the container's scratch store (but for the rows the migrations seed); an admin token and a server
    (game fleet) token for it, valid a day."""
    async with container.engine.begin() as conn:
        await empty_but_seeds(conn)
    async with container.uow() as uow:
        day = timedelta(days=1)
        admin = await container.auth.issue_token(uow, SYSTEM, subject="bench", role=Role.ADMIN, ttl=day)
        fleet = await container.auth.issue_token(uow, SYSTEM, subject="bench-fleet", role=Role.SERVER, ttl=day)
        await uow.commit()
    return admin.token, fleet.token


@contextlib.asynccontextmanager
async def in_process(
    database_url: str | None,
) -> AsyncIterator[tuple[str, Container, httpx.AsyncClient, dict[str, str]]]:
    """A migrated scratch store (a temporary SQLite file unless `database_url` is given), the app
    with its worker and scheduler running in process as in `hotswap serve`, an httpx client over
    ASGI, and an admin's headers. Yields the store's URL too; closes everything after."""
    from hotswap.api import create_app
    from hotswap.container import build_container
    from hotswap.settings import Settings
    from hotswap.storage import migrate

    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        settings = Settings(database_url=url, rate_limit_enabled=False, bootstrap_admin=False, worker=True)
        container = build_container(settings)
        admin, _ = await scratch_tokens(container)
        await container.start()
        try:
            app = create_app(settings, container=container)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
                yield url, container, client, {"Authorization": f"Bearer {admin}"}
        finally:
            await container.aclose()


def percentile(samples: list[float], p: float) -> float:
    """The nearest-rank `p`th percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]
