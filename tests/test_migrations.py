"""The Alembic migrations and the SQLAlchemy tables describe the same schema, on both stores."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from hotswap.storage import migrate
from hotswap.storage.engine import create_engine
from hotswap.tables import metadata


def _differences(url: str, target: sa.MetaData = metadata) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:

                def compare(sync_conn: Connection) -> list[Any]:
                    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                    return list(compare_metadata(context, target))

                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _table_names(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrated_database_matches_the_tables(database_url: str) -> None:
    # `database_url` is the session database, migrated to head: SQLite, or PostgreSQL in CI.
    assert _differences(database_url) == []


def test_every_table_is_created_by_the_migrations(database_url: str) -> None:
    assert {t.name for t in metadata.sorted_tables} <= _table_names(database_url)


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    migrate.upgrade(url)
    from alembic import command

    command.downgrade(migrate.alembic_config(url), "base")
    assert _table_names(url) <= {"alembic_version"}
    migrate.upgrade(url)
    assert _differences(url) == []


def test_the_migration_history_is_linear() -> None:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(str(migrate.MIGRATIONS_DIR)).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"


def test_a_model_change_without_a_migration_is_caught(tmp_path: Path) -> None:
    """The comparison is not vacuous: a column the migrations lack shows up as a difference."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'drift.db'}"
    migrate.upgrade(url)
    drifted = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["config_profiles"].append_column(sa.Column("drift_probe", sa.Integer, nullable=True))
    diffs = _differences(url, drifted)
    assert [(d[0], d[3].name) for d in diffs] == [("add_column", "drift_probe")]


def test_0002_gives_existing_versions_their_own_data_as_effective_data(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'upgrade.db'}"
    migrate.upgrade(url, "0001")

    async def run(statement: str) -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(sa.text(statement))
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    asyncio.run(
        run(
            "INSERT INTO config_profiles (id, name, environment, created_at, created_by, updated_at, updated_by,"
            " revision) VALUES ('cfg_1', 'svc', 'Development', '2026-01-01T00:00:00+00:00', 'a',"
            " '2026-01-01T00:00:00+00:00', 'a', 1)"
        )
    )
    asyncio.run(
        run(
            "INSERT INTO config_versions (id, profile_id, version, seq, data, checksum, author, created_at)"
            " VALUES ('ver_1', 'cfg_1', '1.0.0', 1, '{\"a\": 1}', 'sha256:x', 'a', '2026-01-01T00:00:00+00:00')"
        )
    )
    migrate.upgrade(url)
    rows = asyncio.run(run("SELECT effective_data, parent_version_id FROM config_versions"))
    assert [(json.loads(r[0]), r[1]) for r in rows] == [({"a": 1}, None)]


def test_a_fresh_store_holds_exactly_the_builtin_segments(tmp_path: Path) -> None:
    """Migration 0004 writes the built-in segments out rather than importing them: this keeps the
    copy in `segments.model` (what the tests' fresh stores get) from drifting away from it."""
    from hotswap.segments.model import BUILTIN_SEGMENTS

    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(url)

    async def run() -> list[dict[str, Any]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                query = sa.text(
                    "SELECT id, name, description, condition, builtin, created_by FROM segments ORDER BY id"
                )
                return [dict(r._mapping) for r in (await conn.execute(query)).all()]
        finally:
            await engine.dispose()

    stored = asyncio.run(run())
    expected = sorted(BUILTIN_SEGMENTS, key=lambda s: s["id"])
    assert [{k: row[k] for k in ("id", "name", "description")} for row in stored] == [
        {k: s[k] for k in ("id", "name", "description")} for s in expected
    ]
    assert [json.loads(row["condition"]) for row in stored] == [s["condition"] for s in expected]
    assert {(row["builtin"], row["created_by"]) for row in stored} == {(1, "system")}
