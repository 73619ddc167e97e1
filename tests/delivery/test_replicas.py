"""Several API processes on one PostgreSQL store: real `hotswap serve` replicas, kept current by
the change bus (Redis pub/sub, or LISTEN/NOTIFY without Redis).

These run only when the suite's store is PostgreSQL (SQLite is one process by design). The
replicas share the suite's test database: the `container` fixture empties its tables first, as
for any test, and every replica is stopped before the test ends (the next test empties the
tables again). The periodic revision check is off in the replicas, so only the bus can carry a
change from one to the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from hotswap.container import Container
from hotswap.sdk import AsyncClient, Options, Session
from hotswap.settings import Settings
from tests.delivery.replicas import (
    ENVIRONMENT,
    SECRET,
    WAIT,
    Replica,
    Replicas,
    StreamReader,
    Tokens,
    cli,
    free_port,
    release,
    served_snapshot,
)
from tests.delivery.test_warming import restored


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("several replicas need PostgreSQL (HOTSWAP_TEST_DATABASE_URL)")
    return database_url


@pytest.fixture
def replica_env(postgres_url: str, container: Container) -> dict[str, str]:
    """The environment of a replica without Redis (`container`: the tables are emptied)."""
    ours = {f"HOTSWAP_{name.upper()}" for name in Settings.model_fields}
    return {
        **{k: v for k, v in os.environ.items() if k.upper() not in ours},
        "HOTSWAP_ENV": "test",
        "HOTSWAP_DATABASE_URL": postgres_url,
        "HOTSWAP_JWT_SECRET": SECRET,
        "HOTSWAP_BOOTSTRAP_ADMIN": "false",
        "HOTSWAP_WORKER": "false",  # no rollout worker: these tests are about delivery
        "HOTSWAP_SNAPSHOT_CHECK_SECONDS": "0",  # only the bus may carry a change across
        "HOTSWAP_RATE_LIMIT_ENABLED": "false",
        "HOTSWAP_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def tokens(replica_env: dict[str, str]) -> Tokens:
    def token(role: str, subject: str) -> dict[str, str]:
        issued = cli("token", "create", "--role", role, "--subject", subject, env=replica_env)
        return {"Authorization": f"Bearer {issued}"}

    return Tokens(server=token("server", "gs-1"), operator=token("operator", "olivia"))


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    """`await replicas(env)` -> a started replica on a free port; all stopped after the test."""
    started: list[Replica] = []

    async def start(env: dict[str, str], server: str = "granian") -> Replica:
        port = free_port()
        replica = Replica(env, port, tmp_path / f"replica-{len(started)}-{port}.log", server)
        started.append(replica)
        await replica.start()
        return replica

    try:
        yield start
    finally:
        for replica in started:
            await replica.kill()


@pytest.fixture(params=["redis", "postgres"])
def bus_env(request: pytest.FixtureRequest, replica_env: dict[str, str], redis_url: str | None) -> dict[str, str]:
    """A replica's environment with each change bus: Redis pub/sub, or LISTEN/NOTIFY without Redis."""
    if request.param == "postgres":
        return replica_env
    if redis_url is None:
        pytest.skip("needs Redis (HOTSWAP_TEST_REDIS_URL)")
    return {**replica_env, "HOTSWAP_REDIS_URL": redis_url}


async def test_a_write_through_one_replica_reaches_a_stream_client_of_the_other(
    bus_env: dict[str, str], tokens: Tokens, replicas: Replicas
) -> None:
    writer, reader = await replicas(bus_env), await replicas(bus_env)
    async with StreamReader(reader.url, tokens.server) as stream:
        first = stream.revision
        assert first is not None
        await release(writer.url, tokens.operator, "balance", {"hp": 100}, "1.0.0", create=True)
        expected = await served_snapshot(writer.url, tokens.server)
        assert expected["revision"] > first
        await stream.wait_for_revision(expected["revision"])
        assert stream.document == expected
        # And again, now that the reader holds a revision a delta can start from.
        await release(writer.url, tokens.operator, "balance", {"hp": 120}, "1.1.0", create=False)
        expected = await served_snapshot(writer.url, tokens.server)
        await stream.wait_for_revision(expected["revision"])
        assert stream.document == expected
        assert stream.document["configs"]["balance"]["value"] == {"hp": 120}
        assert stream.revisions == sorted(set(stream.revisions))  # only forward
    assert await served_snapshot(reader.url, tokens.server) == expected


async def metric_line(url: str, headers: dict[str, str], line: str) -> None:
    """Wait (up to WAIT) until the replica's Prometheus text has this line."""
    deadline = asyncio.get_running_loop().time() + WAIT
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        while True:
            r = await client.get("/metrics")
            assert r.status_code == 200, r.text
            if line in r.text.splitlines():
                return
            assert asyncio.get_running_loop().time() < deadline, f"no {line!r} in:\n{r.text}"
            await asyncio.sleep(0.05)  # polling another process's state, not timing anything


async def test_a_warm_up_asked_of_one_replica_warms_every_replica(bus_env: dict[str, str], replicas: Replicas) -> None:
    asked, other = await replicas(bus_env), await replicas(bus_env)
    admin = {"Authorization": "Bearer " + cli("token", "create", "--role", "admin", "--subject", "ada", env=bus_env)}
    async with httpx.AsyncClient(base_url=asked.url, headers=admin, timeout=10) as client:
        r = await client.post("/api/v1/admin/cache/warm")
    assert r.status_code == 200, r.text
    # Redis counts the processes it reached (both replicas); NOTIFY cannot tell.
    assert r.json()["replicasNotified"] == (2 if "HOTSWAP_REDIS_URL" in bus_env else None)
    await metric_line(other.url, admin, 'hotswap_cache_warms_total{origin="bus"} 1.0')
    await metric_line(asked.url, admin, 'hotswap_cache_warms_total{origin="request"} 1.0')
    async with httpx.AsyncClient(base_url=asked.url, headers=admin, timeout=10) as client:
        assert 'hotswap_cache_warms_total{origin="bus"} 1.0' not in (await client.get("/metrics")).text


async def test_after_a_restore_a_warm_up_moves_every_replica_and_its_stream_clients_to_the_store(
    bus_env: dict[str, str], tokens: Tokens, replicas: Replicas, container: Container
) -> None:
    asked, other = await replicas(bus_env), await replicas(bus_env)
    admin = {"Authorization": "Bearer " + cli("token", "create", "--role", "admin", "--subject", "ada", env=bus_env)}
    await release(asked.url, tokens.operator, "balance", {"hp": 100}, "1.0.0", create=True)
    backup = (await served_snapshot(asked.url, tokens.server))["revision"]
    await release(asked.url, tokens.operator, "balance", {"hp": 120}, "1.1.0", create=False)
    held = await served_snapshot(asked.url, tokens.server)
    async with StreamReader(other.url, tokens.server) as stream:
        await stream.wait_for_revision(held["revision"])
        assert stream.document == held
        await restored(container, "balance", "1.0.0", backup)  # the store goes back, revision and contents
        async with httpx.AsyncClient(base_url=asked.url, headers=admin, timeout=10) as client:
            r = await client.post("/api/v1/admin/cache/warm")
        assert r.status_code == 200, r.text
        await stream.wait_for_revision(held["revision"] + 1)
        assert stream.document is not None
        assert (stream.document["revision"], stream.document["configs"]["balance"]["value"]) == (
            held["revision"] + 1,
            {"hp": 100},
        )
    assert await served_snapshot(other.url, tokens.server) == stream.document
    assert await served_snapshot(asked.url, tokens.server) == stream.document


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
async def test_a_replica_stops_promptly_on_sigterm_with_streams_open(
    server: str, replica_env: dict[str, str], tokens: Tokens, replicas: Replicas
) -> None:
    replica = await replicas(replica_env, server)
    readers = [StreamReader(replica.url, tokens.server) for _ in range(3)]
    async with contextlib.AsyncExitStack() as stack:
        for reader in readers:
            await stack.enter_async_context(reader)
        status = await replica.stop()
        # Each stream was ended by the server (its clients reconnect elsewhere at once).
        await asyncio.wait_for(asyncio.gather(*(r.ended.wait() for r in readers)), timeout=WAIT)
        assert [r.clean_end for r in readers] == [True] * len(readers)
    assert status in (0, -signal.SIGTERM), replica.output()  # uvicorn re-raises the signal it caught


# -- zero downtime ---------------------------------------------------------------------------


class Observer:
    """What one SDK client served, seen through its public reads after each swap."""

    def __init__(self, client: AsyncClient, names: list[str]) -> None:
        self.client = client
        self.names = names
        self.seen: list[tuple[int, dict[str, Any]]] = []  # (revision, every config's value) per swap
        self.changed = asyncio.Event()
        client.on_change("*", self._swapped)

    def _swapped(self, _name: str, _revision: int) -> None:
        with self.client.session() as s:  # the snapshot held now, whole
            self.seen.append((s.revision or 0, self.values(s)))
        self.changed.set()

    def values(self, reads: Session | AsyncClient) -> dict[str, Any]:
        return {name: value for name in self.names if (value := reads.config(name)) is not None}

    async def reach(self, revision: int) -> None:
        deadline = asyncio.get_running_loop().time() + WAIT
        while (self.client.revision or 0) < revision:
            self.changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"{self.client.options.url}: stuck at {self.client.revision}, not {revision}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)


def sdk_options(url: str, tokens: Tokens) -> Options:
    """A client that retries fast: the restart is over in seconds."""
    return Options(
        url=url,
        token=tokens.server["Authorization"].removeprefix("Bearer "),
        environment=ENVIRONMENT,
        reconnect_initial=0.05,
        reconnect_max=0.5,
        poll_interval=0.5,
        start_timeout=WAIT,
    )


def served_values(document: dict[str, Any]) -> dict[str, Any]:
    return {name: entry["value"] for name, entry in document["configs"].items()}


async def test_restarting_a_replica_loses_no_revision_and_serves_only_whole_snapshots(
    bus_env: dict[str, str], tokens: Tokens, replicas: Replicas
) -> None:
    steady, restarted = await replicas(bus_env), await replicas(bus_env)
    names = [f"c{i}" for i in range(8)]  # each write releases the next version of one, in turn
    served: dict[int, dict[str, Any]] = {}  # revision -> every config's value, as the server served it
    under_way, restarted_once = asyncio.Event(), asyncio.Event()

    async def write() -> int:
        """Through the steady replica, until the restart is over and a few more."""
        after_restart = 0
        while after_restart < 5:
            n = len(served)
            name, version = names[n % len(names)], f"1.0.{n // len(names)}"
            await release(steady.url, tokens.operator, name, {"n": n}, version, create=n < len(names))
            document = await served_snapshot(steady.url, tokens.server)
            served[document["revision"]] = served_values(document)
            after_restart += restarted_once.is_set()
            if n >= 2:
                under_way.set()
        return max(served)

    clients = [AsyncClient(sdk_options(r.url, tokens)) for r in [steady, restarted] * 3]
    observers = [Observer(c, names) for c in clients]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client)
            assert client.ready
        writer = asyncio.create_task(write())
        await asyncio.wait({writer, asyncio.ensure_future(under_way.wait())}, return_when=asyncio.FIRST_COMPLETED)
        assert not writer.done(), writer.result()  # it ends only after the restart (or raises)
        await restarted.stop()
        await restarted.start()
        restarted_once.set()
        final = await asyncio.wait_for(writer, timeout=60)
        for observer in observers:
            try:
                await observer.reach(final)
            except AssertionError as exc:
                seen = [revision for revision, _ in observer.seen][-20:]
                logs = f"steady:\n{steady.output()}\nrestarted:\n{restarted.output()}"
                raise AssertionError(f"{exc}; seen {seen}\n{logs}") from None
        for observer in observers:
            assert observer.client.revision == final
            assert observer.values(observer.client) == served[final]
            revisions = [revision for revision, _ in observer.seen]
            assert revisions == sorted(revisions), revisions  # only forward
            for revision, values in observer.seen:  # each swap: a whole snapshot the server served
                assert values == served.get(revision), (revision, values)
