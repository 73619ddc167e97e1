"""Metric ingestion: samples per second accepted in batches of 500, and the API's p99 latency for
other requests under that load.

What it does: in a temporary SQLite store (or --database-url), registers 100 game servers, makes
a config with a running Canary deployment over players, then serves the app as `hotswap serve`
does (granian, one worker) and:
1. the most samples/s it accepts (wrk POSTing `POST /api/v1/metrics`, 500 samples a batch: a
   realistic mix of sessions, crashes, session lengths, FPS, latency and engagement for 500
   players, both arms, 8 connections);
2. `POST /api/v1/evaluate` at about 200/s alone, then while the batches run flat out: p50/p99
   and the ratio.

Needs wrk (`make bench-tools`).

    .venv/bin/python bench/ingest.py [--duration 10] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._store import scratch_tokens
from bench.heartbeats import EVALUATE_LUA, _delay, _figures, _wrk
from bench.player_query import SECRET, Served

from hotswap.api import create_app
from hotswap.container import build_container
from hotswap.settings import Settings

BATCH = 500
BODIES = 16  # distinct batches wrk cycles through (distinct players in each)
SERVERS = 100

INGEST_LUA = """
local bodies = {}
%(bodies)s
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "/api/v1/metrics", nil, bodies[i])
end
"""


def _batch(deployment_id: str, n: int, rnd: random.Random) -> str:
    samples: list[dict[str, Any]] = []
    for k in range(BATCH):
        player = f"p{n}-{k}"
        arm = "canary" if rnd.random() < 0.1 else "baseline"
        server = f"gs-{rnd.randrange(SERVERS):03d}"
        kind = k % 5
        base: dict[str, Any] = {"serverId": server, "deploymentId": deployment_id, "arm": arm, "playerId": player}
        if kind == 0:
            samples.append(base | {"metric": "session_start"})
        elif kind == 1:
            samples.append(base | {"metric": "session_end", "value": round(rnd.lognormvariate(7, 0.6), 1)})
        elif kind == 2:
            samples.append(base | {"metric": "fps", "value": round(rnd.gauss(60, 8), 1)})
        elif kind == 3:
            samples.append(base | {"metric": "network_latency", "value": round(rnd.lognormvariate(3.5, 0.4), 1)})
        else:
            samples.append(base | {"metric": "crash" if rnd.random() < 0.1 else "engagement_score", "value": 0.5})
            if samples[-1]["metric"] == "crash":
                del samples[-1]["value"]
    return json.dumps({"samples": samples}, separators=(",", ":"))


async def seed(url: str) -> tuple[str, list[str]]:
    settings = Settings(database_url=url, jwt_secret=SECRET, bootstrap_admin=False, worker=False)
    container = build_container(settings)
    try:
        admin, fleet = await scratch_tokens(container)
        app = create_app(settings, container=container)
        h = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            for i in range(SERVERS):
                body = {"id": f"gs-{i:03d}", "game": "arena", "region": "NA-WEST", "build": "1.0"}
                (await client.post("/api/v1/servers", headers=h, json=body)).raise_for_status()
            (
                await client.post("/api/v1/configs", headers=h, json={"name": "balance", "environment": "Staging"})
            ).raise_for_status()
            for version in ("1.0.0", "2.0.0"):
                version_body = {"configData": {"hp": 100}, "version": version}
                (await client.post("/api/v1/configs/balance/versions", headers=h, json=version_body)).raise_for_status()
            (
                await client.post("/api/v1/configs/balance/releases", headers=h, json={"version": "1.0.0"})
            ).raise_for_status()
            deploy: dict[str, Any] = {
                "configName": "balance",
                "strategy": "Canary",
                "unitKind": "players",
                "evaluationPeriod": "PT24H",
            }
            created = await client.post("/api/v1/deployments", headers=h, json=deploy)
            created.raise_for_status()
        rnd = random.Random(7)
        bodies = [_batch(created.json()["id"], n, rnd) for n in range(BODIES)]
        return fleet, bodies
    finally:
        await container.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench-tools` (Debian package wrk)")
    from hotswap.storage import migrate

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        token, bodies = asyncio.run(seed(url))
        lua_bodies = "\n".join(f"bodies[{i + 1}] = [==[{b}]==]" for i, b in enumerate(bodies))
        ingest = Path(tmp, "ingest.lua")
        ingest.write_text(INGEST_LUA % {"bodies": lua_bodies, "token": token})
        evaluate = Path(tmp, "evaluate.lua")
        evaluate.write_text(EVALUATE_LUA % {"token": token, "delay": _delay(20)})
        env = {
            "HOTSWAP_DATABASE_URL": url,
            "HOTSWAP_JWT_SECRET": SECRET,
            "HOTSWAP_BOOTSTRAP_ADMIN": "false",
            "HOTSWAP_LOG_LEVEL": "WARNING",
            "HOTSWAP_MAX_BODY_BYTES": str(4 * 1024 * 1024),
        }
        served = Served("granian", "bench._asgi_targets:hotswap_app", env)
        try:
            d = args.duration
            alone = _figures(_wrk(served.url, evaluate, d, 4))
            most = _figures(_wrk(served.url, ingest, d, 8))
            load = _wrk(served.url, ingest, d, 8)
            under = _figures(_wrk(served.url, evaluate, d, 4))
            loaded = _figures(load)
        finally:
            served.stop()
    store = url.split(":", 1)[0]
    size = sum(len(b) for b in bodies) / len(bodies) / 1024
    print(f"store: {store}; granian, one worker; batches of {BATCH} samples ({size:.0f} KB); {args.duration} s per run")
    print(f"samples accepted, flat out (8 connections): {most[0] * BATCH:9,.0f}/s  ({most[0]:.1f} batches/s, "
          f"p50 {most[1]:.0f} ms, p99 {most[2]:.0f} ms a batch)")  # fmt: skip
    print(f"  while evaluate runs beside it:             {loaded[0] * BATCH:9,.0f}/s")
    print(f"POST /api/v1/evaluate alone:          {alone[0]:6.0f}/s  p50 {alone[1]:6.2f} ms  p99 {alone[2]:6.2f} ms")
    print(f"POST /api/v1/evaluate under ingestion: {under[0]:5.0f}/s  p50 {under[1]:6.2f} ms  p99 {under[2]:6.2f} ms")
    print(f"  p99 under ingestion / alone: {under[2] / alone[2]:.2f}")


if __name__ == "__main__":
    main()
