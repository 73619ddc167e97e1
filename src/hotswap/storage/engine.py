"""Async engines for PostgreSQL (asyncpg) and SQLite (aiosqlite), and the database URLs they take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hotswap.core.jsonutil import lenient_loads, storable_dumps

ACCEPTED_URLS = "sqlite+aiosqlite:///path/to/hotswap.db or postgresql+asyncpg://user:password@host:5432/dbname"
# Each store HotSwap runs on, by the names its URLs use, with the async driver it runs on. A URL
# that names no driver (`sqlite:///x.db`, `postgresql://...`, `postgres://...` as hosting
# providers hand them out) gets that driver; one that names another driver is refused, since
# only these two are installed.
_STORES = {
    "sqlite": ("sqlite", "aiosqlite"),
    "postgresql": ("postgresql", "asyncpg"),
    "postgres": ("postgresql", "asyncpg"),
}


def shown(url: URL | str) -> str:
    """A URL fit for a message or a log line: its password hidden."""
    try:
        return (url if isinstance(url, URL) else make_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def normalize_database_url(raw: str) -> str:
    """The URL an engine is built from, or a `ValueError` saying which forms are accepted."""
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        given = f" ({raw.strip()!r})" if "@" not in raw else ""  # echoed only if it cannot hold a password
        raise ValueError(f"not a database URL{given}; use {ACCEPTED_URLS}") from None
    name, _, driver = url.drivername.partition("+")
    if name not in _STORES:
        raise ValueError(f"{name!r} is not supported: HotSwap runs on SQLite or PostgreSQL; use {ACCEPTED_URLS}")
    store, async_driver = _STORES[name]
    if driver not in ("", async_driver):
        raise ValueError(
            f"the {driver!r} driver is not installed: HotSwap reaches {store} with {async_driver}; use {ACCEPTED_URLS}"
        )
    # Only the scheme is rewritten: the rest stays as written (rendering the parsed URL again
    # would escape parts of it, `:memory:` among them).
    text = raw.strip()
    text = f"{store}+{async_driver}{text[text.index('://') :]}"
    if store == "postgresql" and "sslmode" in url.query and "ssl" not in url.query:
        # libpq's name for it, in most URLs a provider hands out; asyncpg takes the same values as `ssl`.
        ssl = make_url(text).difference_update_query(["sslmode"]).update_query_dict({"ssl": url.query["sslmode"]})
        text = ssl.render_as_string(hide_password=False)
    return text


def sqlite_path(url: str) -> Path | None:
    """The file an SQLite URL names; None for PostgreSQL, an in-memory database or a `file:` URI."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("uri") == "true":
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


# How JSON columns are written and read on both stores: refusing what a store could not give
# back (see `storable_dumps`), and reading large documents at C speed.
_JSON_CODEC: dict[str, Any] = {"json_serializer": storable_dumps, "json_deserializer": lenient_loads}


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    return create_async_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        json_serializer=storable_dumps,
        json_deserializer=lenient_loads,
    )


def _sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    # No directory is made here: only `hotswap migrate` creates a database (see storage.migrate),
    # so a command run in the wrong directory does not leave an empty one behind.
    engine = create_async_engine(
        url, echo=echo, connect_args={"timeout": 30}, json_serializer=storable_dumps, json_deserializer=lenient_loads
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so we can issue BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # SQLite allows one writer. A deferred transaction that reads and then writes can fail
        # with SQLITE_BUSY when another writer got in between; taking the write lock up front
        # makes concurrent writers queue (busy_timeout) instead, which is what a
        # read-check-write use case needs to be correct under two requests at once.
        # Transactions marked read-only (storage.uow.READ_ONLY) need no lock: plain BEGIN.
        read_only = connection.get_execution_options().get("hotswap_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
