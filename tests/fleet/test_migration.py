"""Migration 0005 writes the default regions out rather than importing them: this keeps the copy in
`fleet.model` (what the tests' fresh stores get, see conftest) from drifting away from it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hotswap.fleet.model import DEFAULT_REGIONS
from hotswap.storage import migrate
from hotswap.storage.engine import create_engine


def _rows(url: str, statement: str) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return [dict(r._mapping) for r in (await conn.execute(sa.text(statement))).all()]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_a_fresh_store_holds_exactly_the_default_regions(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(url)
    stored = _rows(
        url,
        "SELECT id, display_name, time_zone, rollout_order, aliases, created_by, updated_by, revision"
        " FROM regions ORDER BY rollout_order",
    )
    assert [{**row, "aliases": json.loads(row["aliases"])} for row in stored] == [
        {**region, "created_by": "system", "updated_by": "system", "revision": 1} for region in DEFAULT_REGIONS
    ]
    assert _rows(url, "SELECT count(*) AS n FROM game_servers") == [{"n": 0}]


def test_0005_goes_down_to_0004_and_up_again(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite+aiosqlite:///{tmp_path / 'down.db'}"
    migrate.upgrade(url)
    command.downgrade(migrate.alembic_config(url), "0004")
    tables = {r["name"] for r in _rows(url, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not tables & {"regions", "game_servers"}
    assert "segments" in tables
    migrate.upgrade(url)
    assert len(_rows(url, "SELECT id FROM regions")) == len(DEFAULT_REGIONS)
