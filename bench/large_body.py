"""How long other requests wait while a large body is written: `GET /health` latency alone, and
again while a client writes config versions of about 800 KB back to back (in process, one
event loop, as one replica serves them; SQLite in a temp dir unless --database-url).

    .venv/bin/python bench/large_body.py [--writes 10] [--database-url postgresql+asyncpg://...]

Prints the probe's p50 / p99 / max in both phases and the ratio of the maxima: what one large
write costs everyone else on the replica.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from hotswap.api import create_app
from hotswap.auth.model import SYSTEM, Role
from hotswap.container import build_container
from hotswap.settings import Settings
from hotswap.storage import migrate
from hotswap.tables import metadata


def big_data(approx_bytes: int) -> dict[str, object]:
    item = {"id": "item-00000", "price": 12.5, "tags": ["rare", "event"], "stats": {"hp": 100, "atk": 7}}
    count = approx_bytes // len(orjson.dumps(item))
    return {"items": [{**item, "id": f"item-{i:05d}", "price": i * 0.5} for i in range(count)]}


async def probe(client: httpx.AsyncClient, stop: asyncio.Event) -> list[float]:
    """`GET /health` every 2 ms until `stop`; each one's wait in ms, counted from when it was
    due (the end of the pause before it), so that time the event loop spent blocked during the
    pause counts too (measuring from the send alone would miss exactly that)."""
    samples: list[float] = []
    while not stop.is_set():
        due = time.perf_counter() + 0.002
        await asyncio.sleep(0.002)
        r = await client.get("/health")
        samples.append((time.perf_counter() - due) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"/health answered {r.status_code}")
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    median = statistics.median(ordered)
    return f"p50 {median:7.2f} ms   p99 {p99:7.2f} ms   max {ordered[-1]:7.2f} ms   n={len(ordered)}"


async def main(writes: int, size: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        settings = Settings(database_url=url, rate_limit_enabled=False, bootstrap_admin=False)
        container = build_container(settings)
        async with container.engine.begin() as conn:  # a scratch database: start empty
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
        app = create_app(settings, container=container)
        async with container.uow() as uow:
            issued = await container.auth.issue_token(uow, SYSTEM, subject="bench", role=Role.ADMIN)
            await uow.commit()
        headers = {"Authorization": f"Bearer {issued.token}", "Content-Type": "application/json"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as c:
            await c.post("/api/v1/configs", json={"name": "bench.dev", "environment": "Development"})
            data = big_data(size)
            bodies = [orjson.dumps({"configData": {**data, "n": i}, "version": f"1.0.{i}"}) for i in range(writes)]
            print(f"store: {url.split(':', 1)[0]}; {writes} writes of {len(bodies[0]) / 1000:.0f} KB, in process")

            stop = asyncio.Event()
            alone = asyncio.create_task(probe(c, stop))
            await asyncio.sleep(1.0)
            stop.set()
            baseline = await alone

            stop = asyncio.Event()
            loaded = asyncio.create_task(probe(c, stop))
            write_ms: list[float] = []
            for body in bodies:
                started = time.perf_counter()
                r = await c.post("/api/v1/configs/bench.dev/versions", content=body)
                write_ms.append((time.perf_counter() - started) * 1000)
                if r.status_code != 201:
                    raise SystemExit(f"write answered {r.status_code}: {r.text[:300]}")
            stop.set()
            during = await loaded
        await container.aclose()
    print(f"GET /health alone:              {summary(baseline)}")
    print(f"GET /health during the writes:  {summary(during)}")
    print(f"each write:                      p50 {statistics.median(write_ms):7.1f} ms   max {max(write_ms):7.1f} ms")
    print(f"worst wait, during / alone:      {max(during) / max(baseline):7.1f} x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=10)
    parser.add_argument("--size", type=int, default=800_000, help="approximate body size in bytes")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.writes, args.size, args.database_url))
