"""Figures for the config management API, in process (httpx over ASGI, SQLite in a temp dir).

Prints requests/s and latency percentiles for the admin routes, and each one's cost relative to
`GET /health` measured in the same run (the fixed price of the app: middleware, auth-free route).
No target is set for these admin routes yet; the figures are for the record.

    .venv/bin/python bench/configs_api.py [--requests 400] [--database-url postgresql+asyncpg://...]

With --database-url the figures are for that database (its tables are emptied first: use a
scratch database).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from hotswap.api import create_app
from hotswap.auth.model import SYSTEM, Role
from hotswap.container import build_container
from hotswap.settings import Settings
from hotswap.storage import migrate
from hotswap.tables import metadata


async def measure(name: str, n: int, call: Callable[[int], Awaitable[httpx.Response]]) -> float:
    samples: list[float] = []
    for i in range(n):
        start = time.perf_counter()
        response = await call(i)
        samples.append(time.perf_counter() - start)
        if response.status_code >= 400:
            raise SystemExit(f"{name}: HTTP {response.status_code} {response.text}")
    samples.sort()
    total = sum(samples)
    p50 = statistics.median(samples) * 1000
    p95 = samples[int(len(samples) * 0.95) - 1] * 1000
    print(f"{name:<40} {n / total:8.0f} req/s   p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")
    return total / n


async def main(n: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        print(f"store: {url.split(':', 1)[0]}, {n} sequential requests per route, in process")
        settings = Settings(database_url=url, rate_limit_enabled=False, bootstrap_admin=False)
        container = build_container(settings)
        async with container.engine.begin() as conn:  # a scratch database: start empty
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
        app = create_app(settings, container=container)
        async with container.uow() as uow:
            issued = await container.auth.issue_token(uow, SYSTEM, subject="bench", role=Role.ADMIN)
            await uow.commit()
        headers = {"Authorization": f"Bearer {issued.token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as c:
            await c.post("/api/v1/configs", json={"name": "bench.dev", "environment": "Development"})
            data = {f"key{i}": {"value": i, "tags": ["a", "b"]} for i in range(50)}
            base = await measure("GET /health (baseline)", n, lambda i: c.get("/health"))
            rows = [
                ("GET /api/v1/configs/{name}", lambda i: c.get("/api/v1/configs/bench.dev")),
                (
                    "POST /api/v1/configs/{name}/versions",
                    lambda i: c.post(
                        "/api/v1/configs/bench.dev/versions",
                        json={"configData": {**data, "n": i}, "version": f"1.0.{i}"},
                    ),
                ),
                (
                    "GET /api/v1/configs/{name}/versions/{v}",
                    lambda i: c.get(f"/api/v1/configs/bench.dev/versions/1.0.{i}"),
                ),
                (
                    "GET /api/v1/configs/{name}/diff",
                    lambda i: c.get("/api/v1/configs/bench.dev/diff?from=1.0.0&to=1.0.1"),
                ),
            ]
            for name, call in rows:
                mean = await measure(name, n, call)
                print(f"{'':<40} {mean / base:8.1f} x the baseline's cost per request")
        await container.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.database_url))
