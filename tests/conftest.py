"""Test harness.

The suite runs on SQLite by default. With HOTSWAP_TEST_DATABASE_URL (and HOTSWAP_TEST_REDIS_URL)
it runs the same tests against PostgreSQL (and Redis); with HOTSWAP_TEST_REQUIRE_SERVICES=1 an
unreachable service fails the run instead of skipping.

The schema comes from the migrations, once per run. Each test then starts from empty tables: we
empty them rather than wrap each test in a rolled-back transaction because the API tests go
through the real app, which opens its own transactions, and some tests run requests concurrently.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import hypothesis
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hotswap.api import create_app
from hotswap.auth.model import Principal, Role
from hotswap.container import Container, build_container
from hotswap.core.clock import ManualClock
from hotswap.core.environments import Environment
from hotswap.fleet.model import DEFAULT_REGIONS
from hotswap.fleet.tables import regions
from hotswap.segments.model import BUILTIN_SEGMENTS
from hotswap.segments.tables import segments
from hotswap.settings import Settings
from hotswap.storage import migrate
from hotswap.storage.engine import create_engine
from hotswap.storage.revisions import snapshot_revisions
from hotswap.tables import metadata

# No timing in the suite: hypothesis' per-example deadline and its "generation is slow" check
# depend on the machine's load, so both are off; the number of examples stays the default.
hypothesis.settings.register_profile("hotswap", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("hotswap")

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECRET = "test-secret-0123456789-0123456789-abcdef"
REQUIRE_SERVICES = os.environ.get("HOTSWAP_TEST_REQUIRE_SERVICES") == "1"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Every `async def test_*` runs on anyio: mark it before anyio's own collection hook looks."""
    is_test = isinstance(collector, pytest.Module | pytest.Class) and collector.funcnamefilter(name)
    if is_test and inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _reset_database(url: str) -> None:
    """Drop whatever a previous run left, so the migrations start from an empty database."""

    async def drop() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(sa.text("CREATE SCHEMA public"))
        finally:
            await engine.dispose()

    asyncio.run(drop())


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("HOTSWAP_TEST_DATABASE_URL")
    if not url:
        path = Path(tmp_path_factory.mktemp("db")) / "hotswap-test.db"
        url = f"sqlite+aiosqlite:///{path}"
    elif make_url(url).get_backend_name() == "postgresql":
        try:
            _reset_database(url)
        except Exception as exc:
            if REQUIRE_SERVICES:
                pytest.fail(f"PostgreSQL at {url} is required and unreachable: {exc}", pytrace=False)
            pytest.skip(f"PostgreSQL unreachable: {exc}")
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    url = os.environ.get("HOTSWAP_TEST_REDIS_URL")
    if not url:
        return None
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except Exception as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"Redis at {url} is required and unreachable: {exc}", pytrace=False)
        pytest.skip(f"Redis unreachable: {exc}")
    return url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        jwt_secret=SECRET,
        rate_limit_per_token="100000/minute",
        rate_limit_per_address="100000/minute",
    )


async def _empty_tables(container: Container) -> None:
    async with container.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in metadata.sorted_tables)
            await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
        # What migration 0004 inserts: each test starts as a freshly migrated store does.
        now = container.clock.now()
        await conn.execute(
            snapshot_revisions.insert(),
            [{"environment": env.value, "revision": 1, "changed_at": now} for env in Environment],
        )
        builtin = [{**s, "builtin": True, "created_at": now, "created_by": "system"} for s in BUILTIN_SEGMENTS]
        await conn.execute(segments.insert(), [{**s, "updated_at": now, "updated_by": "system"} for s in builtin])
        # What migration 0005 inserts.
        system = {"created_at": now, "created_by": "system", "updated_at": now, "updated_by": "system"}
        await conn.execute(regions.insert(), [{**r, **system} for r in DEFAULT_REGIONS])


@pytest.fixture
async def container(settings: Settings, clock: ManualClock) -> AsyncIterator[Container]:
    c = build_container(settings, clock=clock)
    await _empty_tables(c)
    if c.rate_limiter is not None:
        await c.rate_limiter.reset()
    try:
        yield c
    finally:
        await c.aclose()


@pytest.fixture
def app(container: Container) -> object:
    return create_app(container.settings, container=container)


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://hotswap.test") as c:
        yield c


@pytest.fixture
def auth(container: Container) -> Callable[..., Awaitable[dict[str, str]]]:
    """`await auth("operator", "olivia")` -> Authorization headers for a fresh token."""

    async def make(role: str = "admin", subject: str | None = None, ttl: timedelta | None = None) -> dict[str, str]:
        r = Role(role)
        async with container.uow() as uow:
            issued = await container.auth.issue_token(
                uow, Principal("test-setup", Role.ADMIN, "-"), subject=subject or f"{r.value}-user", role=r, ttl=ttl
            )
            await uow.commit()
        return {"Authorization": f"Bearer {issued.token}"}

    return make


@pytest.fixture
async def op(auth: Callable[..., Awaitable[dict[str, str]]]) -> dict[str, str]:
    """An operator's headers (olivia), valid long enough for tests that move the clock."""
    return await auth("operator", "olivia", ttl=timedelta(days=60))


@pytest.fixture
async def server(auth: Callable[..., Awaitable[dict[str, str]]]) -> dict[str, str]:
    """A game server's headers (the `server` role), valid long enough for tests that move the clock."""
    return await auth("server", "gs-eu-1", ttl=timedelta(days=60))


@pytest.fixture
def count_rows(container: Container) -> Callable[[str], Awaitable[int]]:
    async def count(table: str) -> int:
        async with container.engine.connect() as conn:
            return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())

    return count
