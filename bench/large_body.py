"""How long other requests wait while a large body is written: `GET /health` latency alone, and
again while a client writes config versions of about 800 KB back to back (in process, one
event loop, as one replica serves them; SQLite in a temp dir unless --database-url).

    .venv/bin/python -m bench.large_body [--writes 10] [--database-url postgresql+asyncpg://...]

Prints the probe's p50 / p99 / max in both phases and the ratio of the maxima: what one large
write costs everyone else on the replica.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
import orjson
from bench._store import in_process, percentile


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
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    return f"p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   max {max(samples):7.2f} ms   n={len(samples)}"


async def main(writes: int, size: int, database_url: str | None) -> None:
    async with in_process(database_url) as (url, _container, c, admin):
        c.headers.update(admin | {"Content-Type": "application/json"})
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
