"""`POST /api/v1/admin/cache/warm` over HTTP against the real app: every snapshot rebuilt from the
store, the profiles of the players seen recently put in the player query's cache, here and (by
the change bus) in every other process; admins only, audited, counted, bad input named.

Whether the player query answers from the cache is seen through `x-player-known`: a profile
deleted in the store behind the service's back (no invalidation) is still known to the query
exactly when it was cached."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.configs.tables import config_profiles, config_versions
from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.core.environments import Environment
from hotswap.delivery.bus import PostgresBus
from hotswap.players.tables import players
from hotswap.storage.revisions import snapshot_revisions
from tests.delivery.test_api import release, snapshot
from tests.delivery.test_stream import events, next_event
from tests.helpers import Auth, Headers, fields, problem, wait_until
from tests.streaming import StreamingASGITransport

WARM = "/api/v1/admin/cache/warm"
ENVIRONMENTS = [env.value for env in Environment]
WAIT = 10  # seconds: a deadline for what must not be held back, never a sleep


@pytest.fixture
async def admin(auth: Auth) -> Headers:
    return await auth("admin", "ada", ttl=timedelta(days=30))


@pytest.fixture
async def streaming(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = StreamingASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hotswap.test") as c:
        yield c
    await transport.aclose()


@pytest.fixture(autouse=True)
def _later(clock: ManualClock, admin: Headers, server: Headers) -> None:
    """Ten days after the tokens were issued: players can have played in the days before now."""
    clock.advance(timedelta(days=10))


async def seen(client: httpx.AsyncClient, server: Headers, clock: ManualClock, player_id: str, ago: timedelta) -> None:
    """The player played `ago` before the clock's now."""
    now = clock.now()
    clock.set(now - ago)
    r = await client.patch(f"/api/v1/players/{player_id}", headers=server, json={"session": True})
    assert r.status_code in (200, 201), r.text
    clock.set(now)


async def erased_behind_the_back(container: Container, *player_ids: str) -> None:
    async with container.engine.begin() as conn:
        await conn.execute(players.delete().where(players.c.id.in_(player_ids)))


async def known(client: httpx.AsyncClient, server: Headers, player_id: str) -> bool:
    r = await client.get(f"/api/v1/players/{player_id}/configs", params={"environment": "Staging"}, headers=server)
    assert r.status_code == 200, r.text
    return r.headers["x-player-known"] == "true"


def compiles(container: Container) -> dict[str, float]:
    """How many snapshot builds each environment has had in this process."""
    return {
        s.labels["environment"]: s.value
        for metric in container.metrics.snapshot_compile.collect()
        for s in metric.samples
        if s.name.endswith("_count")
    }


def warms(container: Container, origin: str) -> float:
    value: float = container.metrics.cache_warms.labels(origin)._value.get()
    return value


async def stored_revision(container: Container, environment: str) -> int:
    async with container.engine.connect() as conn:
        query = sa.select(snapshot_revisions.c.revision).where(snapshot_revisions.c.environment == environment)
        return int((await conn.execute(query)).scalar_one())


async def restored(container: Container, name: str, version: str, revision: int) -> None:
    """The store as a backup had it, written behind the services' back (nothing announced): the
    config's live version back to `version`, the Staging revision back to `revision`."""
    async with container.engine.begin() as conn:
        profile = await conn.scalar(sa.select(config_profiles.c.id).where(config_profiles.c.name == name))
        live = await conn.scalar(
            sa.select(config_versions.c.id).where(
                config_versions.c.profile_id == profile, config_versions.c.version == version
            )
        )
        await conn.execute(config_profiles.update().where(config_profiles.c.id == profile).values(live_version_id=live))
        await conn.execute(
            snapshot_revisions.update().where(snapshot_revisions.c.environment == "Staging").values(revision=revision)
        )


def rebuilt(body: dict[str, Any]) -> dict[str, int]:
    """Each environment's revision in a warm-up's answer."""
    return {e["environment"]: e["revision"] for e in body["snapshot"]["environments"]}


async def served(client: httpx.AsyncClient, server: Headers) -> dict[str, int]:
    return {env: (await snapshot(client, server, env))["revision"] for env in ENVIRONMENTS}


async def test_a_warm_up_rebuilds_every_snapshot_and_caches_the_players_seen_recently(
    client: httpx.AsyncClient, admin: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await container.bus.start()  # this process listens on the bus, as a serving one does
    await seen(client, server, clock, "recent", timedelta(hours=1))
    await seen(client, server, clock, "yesterday", timedelta(hours=23))
    await seen(client, server, clock, "last-week", timedelta(days=7))
    held = await served(client, server)
    before = compiles(container)
    r = await client.post(WARM, headers=admin)  # as the runbook sends it: no body
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    environments = body["snapshot"]["environments"]
    assert [e["environment"] for e in environments] == ENVIRONMENTS
    assert all(e["compiledInMs"] >= 0 for e in environments)
    # Rebuilt once each, under a new revision (nothing had changed: one past the one held), which
    # is what every process now serves and the store holds.
    assert rebuilt(body) == {env: revision + 1 for env, revision in held.items()}
    assert await served(client, server) == rebuilt(body)
    assert {env: await stored_revision(container, env) for env in ENVIRONMENTS} == rebuilt(body)
    # (A bus that just subscribed has the store checked too, which may build the new revision first.)
    assert all(compiles(container)[env] > count for env, count in before.items())
    profiles = body["playerProfiles"]
    assert (profiles["warmed"], profiles["window"], profiles["windowSeconds"]) == (2, "P1D", 86400)
    assert profiles["since"] == (clock.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert profiles["limit"] == container.players.cache_capacity
    assert profiles["expiresInSeconds"] == container.players.cache_max_age == 30
    assert body["replicasNotified"] == (None if isinstance(container.bus, PostgresBus) else 1)
    await erased_behind_the_back(container, "recent", "yesterday", "last-week")
    assert [await known(client, server, p) for p in ("recent", "yesterday", "last-week")] == [True, True, False]
    audit = (await client.get("/api/v1/audit", params={"action": "cache.warm"}, headers=admin)).json()["items"]
    assert [(a["actor"], a["targetType"]) for a in audit] == [("ada", "cache")]
    assert (
        "(Development r{Development}, Staging r{Staging}, Production r{Production})".format(**rebuilt(body))
        in (audit[0]["summary"])
    )
    assert warms(container, "request") == 1
    assert warms(container, "bus") == 0  # its own message is not warmed twice


async def test_window_and_limit_choose_the_most_recent_players(
    client: httpx.AsyncClient, admin: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    for hours, player_id in ((1, "a"), (2, "b"), (3, "c"), (30, "d")):
        await seen(client, server, clock, player_id, timedelta(hours=hours))
    r = await client.post(WARM, headers=admin, json={"window": "PT48H", "limit": 2})
    assert r.status_code == 200, r.text
    assert r.json()["playerProfiles"]["warmed"] == 2
    await erased_behind_the_back(container, "a", "b", "c", "d")
    assert [await known(client, server, p) for p in "abcd"] == [True, True, False, False]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"window": "PT0S"}, "body.window"),
        ({"window": "-PT1H"}, "body.window"),
        ({"window": "P31D"}, "body.window"),
        ({"window": "soon"}, "body.window"),
        ({"window": True}, "body.window"),  # not one second
        ({"window": "3600"}, "body.window"),  # seconds are a number; text is ISO 8601
        ({"window": "1 day, 2:00:00"}, "body.window"),
        ({"window": None}, "body.window"),
        ({"window": [3600]}, "body.window"),
        ({"window": 1e300}, "body.window"),
        ({"limit": 0}, "body.limit"),
        ({"limit": 10**9}, "body.limit"),
        ({"limit": "many"}, "body.limit"),
        ({"limit": "5"}, "body.limit"),
        ({"limit": True}, "body.limit"),
        ({"limit": 2.5}, "body.limit"),
        ({"players": True}, "body.players"),
    ],
)
async def test_bad_input_is_named_and_warms_nothing(
    client: httpx.AsyncClient, admin: Headers, container: Container, body: dict[str, Any], field: str
) -> None:
    found = problem(await client.post(WARM, headers=admin, json=body), 422)
    assert fields(found) == [field]
    assert warms(container, "request") == 0
    audit = (await client.get("/api/v1/audit", params={"action": "cache.warm"}, headers=admin)).json()["items"]
    assert audit == []


@pytest.mark.parametrize(("window", "seconds"), [(3600, 3600), (90.5, 90.5), ("PT1H", 3600), ("P2D", 172800)])
async def test_a_window_is_an_iso_8601_duration_or_a_number_of_seconds(
    client: httpx.AsyncClient, admin: Headers, window: Any, seconds: float
) -> None:
    r = await client.post(WARM, headers=admin, json={"window": window})
    assert r.status_code == 200, r.text
    assert r.json()["playerProfiles"]["windowSeconds"] == seconds


async def test_after_a_restore_the_warm_up_serves_the_store_under_a_revision_past_the_one_held(
    client: httpx.AsyncClient,
    streaming: httpx.AsyncClient,
    admin: Headers,
    op: Headers,
    server: Headers,
    container: Container,
) -> None:
    await release(client, op, "balance", {"hp": 100})
    backup = await stored_revision(container, "Staging")
    await release(client, op, "balance", {"hp": 120}, version="1.1.0", create=False)
    held = await snapshot(client, server)
    assert held["configs"]["balance"]["value"] == {"hp": 120}
    async with streaming.stream("GET", "/api/v1/stream?environment=Staging", headers=server) as response:
        stream = events(response)
        assert (await next_event(stream)).id == held["revision"]
        await restored(container, "balance", "1.0.0", backup)  # the store goes back: revision and contents
        r = await client.post(WARM, headers=admin)
        assert r.status_code == 200, r.text
        assert rebuilt(r.json())["Staging"] == held["revision"] + 1
        now = await snapshot(client, server)
        assert (now["revision"], now["configs"]["balance"]["value"]) == (held["revision"] + 1, {"hp": 100})
        # A stream client holding the revision from before the restore is moved to what the store holds.
        change = await next_event(stream)
        assert change.id == now["revision"]
    assert await stored_revision(container, "Staging") == now["revision"]
    # The periodic check follows the store again: another process's change (its message lost) is seen.
    async with container.engine.begin() as conn:
        await conn.execute(snapshot_revisions.update().values(revision=snapshot_revisions.c.revision + 1))
    await container.snapshots.check()
    assert (await snapshot(client, server))["revision"] == now["revision"] + 1


@pytest.mark.parametrize("restored_to", ["an older revision", "the revision held"])
async def test_a_replica_asked_over_the_bus_moves_the_store_past_a_revision_it_holds(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, restored_to: str
) -> None:
    """Another replica warmed: this one holds a revision the store went behind (it had heard of
    changes the asking one had not), or holds other contents under the stored revision."""
    await container.bus.start()
    announced: list[dict[str, Any]] = []

    async def heard(message: dict[str, Any]) -> None:
        if message.get("kind") == "snapshot":
            announced.append(message)

    container.bus.subscribe(heard)
    await release(client, op, "balance", {"hp": 100})
    backup = await stored_revision(container, "Staging")
    await release(client, op, "balance", {"hp": 120}, version="1.1.0", create=False)
    held = await snapshot(client, server)
    await restored(container, "balance", "1.0.0", backup if restored_to == "an older revision" else held["revision"])
    announced.clear()
    await container.bus.publish({"kind": "warm", "origin": "proc_other", "windowSeconds": 3600, "limit": 10})
    await wait_until(lambda: warms(container, "bus") == 1, "the warm-up asked on the bus")
    now = await snapshot(client, server)
    assert (now["revision"], now["configs"]["balance"]["value"]) == (held["revision"] + 1, {"hp": 100})
    assert await stored_revision(container, "Staging") == now["revision"]
    # Announced, for the replicas that held the same.
    await wait_until(lambda: announced, "the announcement")
    assert announced == [{"kind": "snapshot", "environment": "Staging", "revision": now["revision"]}]


async def test_warm_ups_and_a_write_at_once_leave_every_replica_at_the_stored_revisions(
    client: httpx.AsyncClient, admin: Headers, op: Headers, server: Headers, container: Container
) -> None:
    await release(client, op, "balance", {"hp": 100})
    held = await served(client, server)
    first, second, _ = await asyncio.gather(
        client.post(WARM, headers=admin),
        client.post(WARM, headers=admin),
        release(client, op, "balance", {"hp": 120}, version="1.1.0", create=False),
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    for answer in (first, second):
        assert all(rebuilt(answer.json())[env] > held[env] for env in ENVIRONMENTS)
    # Each warm-up moved every revision one past the other's, and the write one more in Staging.
    now = await served(client, server)
    assert now == {env: held[env] + (3 if env == "Staging" else 2) for env in ENVIRONMENTS}
    assert {env: await stored_revision(container, env) for env in ENVIRONMENTS} == now
    assert (await snapshot(client, server))["configs"]["balance"]["value"] == {"hp": 120}
    audit = (await client.get("/api/v1/audit", params={"action": "cache.warm"}, headers=admin)).json()["items"]
    assert len(audit) == 2


class Pause:
    """Holds a warm-up at one point until released, and says when it got there."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.released = asyncio.Event()

    async def __call__(self) -> None:
        self.reached.set()
        await self.released.wait()


def pause_in_snapshot_build(container: Container, monkeypatch: pytest.MonkeyPatch, pause: Pause) -> None:
    """Staging's document read waits (as a big snapshot's would take long), once a warm-up asks."""
    armed = False

    async def part(_: AsyncConnection, env: Environment) -> None:
        if armed and env is Environment.STAGING:
            await pause()

    container.snapshots.add_part("pause", part)
    reload = container.snapshots.reload

    async def reloading(*args: Any, **kwargs: Any) -> Any:
        nonlocal armed
        armed = True
        return await reload(*args, **kwargs)

    monkeypatch.setattr(container.snapshots, "reload", reloading)


def pause_in_profile_read(container: Container, monkeypatch: pytest.MonkeyPatch, pause: Pause) -> None:
    """The bulk read of recent players waits (as a big player table's would take long)."""
    warm = container.players.warm

    async def paused(*args: Any, **kwargs: Any) -> int:
        await pause()
        return await warm(*args, **kwargs)

    monkeypatch.setattr(container.players, "warm", paused)


@pytest.mark.parametrize("pause_at", [pause_in_snapshot_build, pause_in_profile_read])
async def test_writes_go_on_while_a_warm_up_compiles_and_reads(
    client: httpx.AsyncClient,
    admin: Headers,
    op: Headers,
    server: Headers,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    pause_at: Callable[[Container, pytest.MonkeyPatch, Pause], None],
) -> None:
    """On SQLite a write transaction holds every other writer back: the warm-up must hold none
    while it compiles and reads."""
    pause = Pause()
    pause_at(container, monkeypatch, pause)
    warming = asyncio.ensure_future(client.post(WARM, headers=admin))
    try:
        with anyio.fail_after(WAIT):
            await pause.reached.wait()
        with anyio.fail_after(WAIT):  # would wait for the whole warm-up if it held the write lock
            r = await client.patch("/api/v1/players/p-1", headers=server, json={"session": True})
            assert r.status_code == 201, r.text
            # A config write in an environment the warm-up is not rebuilding at the moment.
            await release(client, op, "shop", {"price": 10}, environment="Development")
        assert not warming.done()
    finally:
        pause.released.set()
        r = await warming
    assert r.status_code == 200, r.text
    assert await served(client, server) == {env: await stored_revision(container, env) for env in ENVIRONMENTS}


@pytest.mark.parametrize("role", ["operator", "approver", "viewer", "server"])
async def test_only_an_admin_may_warm(client: httpx.AsyncClient, auth: Auth, container: Container, role: str) -> None:
    problem(await client.post(WARM, headers=await auth(role)), 403)
    assert warms(container, "request") == 0


async def test_another_replicas_request_warms_this_process_too(
    client: httpx.AsyncClient, server: Headers, container: Container, clock: ManualClock
) -> None:
    await container.bus.start()
    await seen(client, server, clock, "recent", timedelta(hours=1))
    for env in ("Development", "Staging", "Production"):
        await client.get("/api/v1/snapshot", params={"environment": env}, headers=server)
    before = compiles(container)
    held = await served(client, server)
    # Malformed or out-of-range requests are ignored; so is this process's own.
    for message in (
        {"kind": "warm", "origin": "proc_other", "windowSeconds": "nan", "limit": 10},
        {"kind": "warm", "origin": "proc_other", "windowSeconds": 3600},
        {"kind": "warm", "origin": "proc_other", "windowSeconds": -1, "limit": 10},
        {"kind": "warm", "origin": container.warmer.origin, "windowSeconds": 3600, "limit": 10},
    ):
        await container.bus.publish(message)
    await container.bus.publish({"kind": "warm", "origin": "proc_other", "windowSeconds": 7200, "limit": 10})
    await wait_until(lambda: warms(container, "bus") == 1, "the warm-up asked on the bus")
    assert compiles(container) == {env: count + 1 for env, count in before.items()}
    # Rebuilt at the revisions held: the store held the same, nothing to move past.
    assert await served(client, server) == held
    assert {env: await stored_revision(container, env) for env in ENVIRONMENTS} == held
    assert warms(container, "bus") == 1
    await erased_behind_the_back(container, "recent")
    assert await known(client, server, "recent")


async def test_the_route_is_in_the_api_description(app: Any) -> None:
    operation = app.openapi()["paths"][WARM]["post"]
    assert "operations" in operation["tags"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/WarmRead")
