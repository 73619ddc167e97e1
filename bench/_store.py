"""What several benches share: a scratch store emptied but for what the migrations seed, and a
percentile of a list of timings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.tables import metadata

SEEDED = ("regions", "segments", "snapshot_revisions")  # rows the migrations insert


async def empty_but_seeds(conn: AsyncConnection) -> None:
    """Delete every row of a scratch database except the migrations' seeds (use a scratch database)."""
    for table in reversed(metadata.sorted_tables):
        if table.name not in SEEDED:
            await conn.execute(table.delete())


def percentile(samples: list[float], p: float) -> float:
    """The nearest-rank `p`th percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]
