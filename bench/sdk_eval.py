"""SDK local evaluation: reads per second, and memory per client, on a 50-config snapshot.

The snapshot is the one bench/player_query.py serves, built through the real services in a
scratch SQLite store: 50 configs (~1 KB each) and 20 segments; each config has a segment rule and
a two-attribute condition rule, every fifth a 30% percentage rule. Clients get its document (as
`GET /api/v1/snapshot` sends it) as their bootstrap and no server: reads never touch the network.

1. Reads per second on one `Client` (the sync client; `AsyncClient`'s reads are the same calls),
   over varied player contexts (player id, region, platform, country, level, spend), the config
   read cycling over the 50: `config`, `value` (a path two levels deep), `evaluate`, a session's
   `config`, and the OpenFeature provider's `get_integer_value` on the same path. Each first with
   every read a new player ("cold": the player's rollout hashes computed), then the same players
   again ("warm": the best of three passes). The engine alone (`CompiledSnapshot.evaluate`: all
   50 configs for a context) is printed beside them: a read evaluates the context against the
   whole snapshot.
2. Memory per client: N `AsyncClient`s started from the same bootstrap document (each holds its
   own parsed document and compiled snapshot), measured with tracemalloc and divided by N; then
   what one client adds while serving distinct players (its per-player rollout memo, bounded).

    .venv/bin/python bench/sdk_eval.py [--contexts 20000] [--clients 50] [--players 65536]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

if __package__ in (None, ""):  # run as a script (`python bench/sdk_eval.py`): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.player_query import SECRET, contexts, seed

from hotswap.container import build_container
from hotswap.core.environments import Environment
from hotswap.sdk import AsyncClient, Client, Options
from hotswap.sdk.openfeature import HotSwapProvider
from hotswap.settings import Settings
from hotswap.storage import migrate
from hotswap.targeting.snapshot import CompiledSnapshot, Context

PATH = "economy.goldPerMatch"  # in every config's value; a segment rule overrides it


async def snapshot_document(database_url: str) -> dict[str, Any]:
    """The Staging snapshot of player_query's store, as the SDK receives it."""
    await seed(database_url)
    settings = Settings(env="test", database_url=database_url, jwt_secret=SECRET, bootstrap_admin=False)
    container = build_container(settings)
    try:
        compiled = await container.snapshots.get(Environment.STAGING)
        document: dict[str, Any] = orjson.loads(compiled.body)
        return document
    finally:
        await container.aclose()


def _down(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


def options(document: dict[str, Any]) -> Options:
    """A client with no server (every poll answers 503, and polls are an hour apart)."""
    return Options(
        url="http://hotswap.invalid",
        token="bench",
        environment="Staging",
        streaming=False,
        poll_interval=3600.0,
        start_timeout=1.0,
        bootstrap=document,
        transport=httpx.MockTransport(_down),
    )


def rate(read: Callable[[str, Any], object], names: list[str], ctxs: list[Any]) -> float:
    n = len(names)
    start = time.perf_counter()
    for i, ctx in enumerate(ctxs):
        read(names[i % n], ctx)
    return len(ctxs) / (time.perf_counter() - start)


def reads_per_second(document: dict[str, Any], n: int) -> None:
    ctxs = contexts(n)
    names = sorted(document["configs"])
    openfeature_ctxs = [
        EvaluationContext(c["playerId"], {"region": c["region"], "platform": c["platform"], **c["attributes"]})
        for c in ctxs
    ]
    now = datetime.now(UTC)
    engine_ctxs = [
        Context(player_id=c["playerId"], region=c["region"], platform=c["platform"], attributes=c["attributes"])
        for c in ctxs
    ]

    def openfeature_read(client: Client) -> Callable[[str, Any], object]:
        api.set_provider_and_wait(HotSwapProvider(client))
        flags = api.get_client()
        return lambda name, ctx: flags.get_integer_value(f"{name}:{PATH}", 0, ctx)

    kinds: list[tuple[str, Callable[[Client], Callable[[str, Any], object]], list[Any]]] = [
        ("client.config(name, ctx)", lambda c: c.config, ctxs),
        (f'client.value(name, "{PATH}", 0, ctx)', lambda c: lambda name, ctx: c.value(name, PATH, 0, ctx), ctxs),
        ("client.evaluate(name, ctx)", lambda c: c.evaluate, ctxs),
        ("session.config(name, ctx)", lambda c: c.session().config, ctxs),
        ("openfeature get_integer_value", openfeature_read, openfeature_ctxs),
    ]
    print(f"{n:,} player contexts, reads cycling over the {len(names)} configs, one client per line\n")
    print(f"{'read':<52} {'cold reads/s':>13} {'warm reads/s':>13}")
    for label, make, inputs in kinds:
        with Client(options(document)) as client:
            read = make(client)
            cold = rate(read, names, inputs)
            warm = max(rate(read, names, inputs) for _ in range(3))
        print(f"{label:<52} {cold:13,.0f} {warm:13,.0f}")
    api.shutdown()
    snapshot = CompiledSnapshot(orjson.loads(orjson.dumps(document)))
    engine = rate(lambda _name, ctx: snapshot.evaluate(ctx, now), names, engine_ctxs)
    engine_warm = max(rate(lambda _name, ctx: snapshot.evaluate(ctx, now), names, engine_ctxs) for _ in range(3))
    label = f"engine: CompiledSnapshot.evaluate (all {len(names)})"
    print(f"{label:<52} {engine:13,.0f} {engine_warm:13,.0f}")


async def memory_per_client(document: dict[str, Any], clients: int, players: int) -> None:
    ctxs = contexts(players)
    body = orjson.dumps(document)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    snapshots = [CompiledSnapshot(orjson.loads(body)) for _ in range(clients)]
    gc.collect()
    per_snapshot = (tracemalloc.get_traced_memory()[0] - base) / clients
    del snapshots
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    held = []
    for _ in range(clients):
        client = AsyncClient(options(document))
        await client.start()
        assert client.ready
        held.append(client)
    gc.collect()
    per_client = (tracemalloc.get_traced_memory()[0] - base) / clients
    one = held[0]
    before = tracemalloc.get_traced_memory()[0]
    for i, ctx in enumerate(ctxs):
        one.config(f"config-{i % 50:02d}", ctx)
    gc.collect()
    served = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    for client in held:
        await client.aclose()
    print(
        f"\nmemory (tracemalloc): {clients} clients started from one bootstrap document ({len(body):,} bytes of JSON)"
    )
    lines = {
        "per client, started": per_client,
        "  of which its parsed document and compiled snapshot": per_snapshot,
        f"one client, added by reads for {players:,} distinct players": served,
    }
    for label, size in lines.items():
        print(f"  {label:<60} {size / 2**20:6.2f} MiB")
    print("  (the per-player rollout memo; it is cleared when it reaches 65,536 players per hash attribute)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contexts", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--players", type=int, default=65_536)  # the rollout memo's bound
    args = parser.parse_args()
    # The clients have no server by design (every poll is a 503): their warnings say only that.
    logging.getLogger("hotswap.sdk").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrate.upgrade(database_url)
        document = asyncio.run(snapshot_document(database_url))
    rules = sum(len(c.get("rules", [])) for c in document["configs"].values())
    print(
        f"snapshot: revision {document['revision']}, {len(document['configs'])} configs, {rules} rules,"
        f" {len(document['segments'])} segments"
    )
    reads_per_second(document, args.contexts)
    asyncio.run(memory_per_client(document, args.clients, args.players))


if __name__ == "__main__":
    main()
