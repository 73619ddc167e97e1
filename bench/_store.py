"""What several benches share: a scratch store emptied but for what the migrations seed, with
tokens to drive it, and a percentile of a list of timings."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

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
    """Empty the container's scratch store (but for the seeds); an admin token and a server
    (game fleet) token for it, valid a day."""
    async with container.engine.begin() as conn:
        await empty_but_seeds(conn)
    async with container.uow() as uow:
        day = timedelta(days=1)
        admin = await container.auth.issue_token(uow, SYSTEM, subject="bench", role=Role.ADMIN, ttl=day)
        fleet = await container.auth.issue_token(uow, SYSTEM, subject="bench-fleet", role=Role.SERVER, ttl=day)
        await uow.commit()
    return admin.token, fleet.token


def percentile(samples: list[float], p: float) -> float:
    """The nearest-rank `p`th percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]
