"""Heartbeat ingestion: 10,000 game servers, one heartbeat each per 5 s (2,000/s), and the API's
p99 latency for other requests under that load.

What it does: registers 10,000 servers in a temporary SQLite store (or --database-url), serves
the app as `hotswap serve` does (granian, one worker), then:
1. the most heartbeats/s the server sustains (wrk, `PUT /api/v1/servers/{id}/heartbeat`, ids
   cycling over the fleet, 32 connections);
2. about the fleet's real pace (wrk paced by `delay()`: 48 connections, 20 ms apart) while a second wrk sends
   `POST /api/v1/evaluate` at about 200/s: that route's p50/p99, against the same route with no
   heartbeats (measured in the same run), and the ratio.

Needs wrk (`make bench-tools`).

    .venv/bin/python bench/heartbeats.py [--duration 10] [--servers 10000] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

if __package__ in (None, ""):  # run as a script (`python bench/heartbeats.py`): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._store import empty_but_seeds
from bench.player_query import SECRET, WRK, Served, _latency

from hotswap.auth.model import SYSTEM, Role
from hotswap.container import build_container
from hotswap.fleet.tables import game_servers
from hotswap.settings import Settings
from hotswap.storage import migrate

REGIONS = ["NA-WEST", "NA-EAST", "EU-WEST", "EU-EAST", "APAC"]

HEARTBEAT_LUA = """
local n = %(servers)d
local i = math.random(n)
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  i = i %% n + 1
  local body = '{"playerCount":' .. (i %% 64) .. ',"environment":"Staging","appliedRevision":1,"health":{"cpu":0.4}}'
  return wrk.format(nil, string.format("/api/v1/servers/gs-%%05d/heartbeat", i - 1), nil, body)
end
%(delay)s
"""

EVALUATE_LUA = """
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  i = i + 1
  return wrk.format(nil, "/api/v1/evaluate?environment=Staging", nil,
    '{"playerId":"p' .. i .. '","region":"eu-west","attributes":{"level":' .. (i %% 50) .. '}}')
end
%(delay)s
"""


def _delay(ms: float) -> str:
    return f"delay = function() return {ms} end" if ms > 0 else ""


async def seed(url: str, servers: int) -> str:
    settings = Settings(database_url=url, jwt_secret=SECRET, bootstrap_admin=False)
    container = build_container(settings)
    try:
        async with container.engine.begin() as conn:
            await empty_but_seeds(conn)
            now = datetime.now(UTC)
            await conn.execute(
                sa.insert(game_servers),
                [
                    {
                        "id": f"gs-{i:05d}", "game": "arena", "region": REGIONS[i % 5], "labels": {}, "build": "1.0",
                        "capacity": 100, "registered_at": now, "registered_by": "bench", "last_heartbeat_at": now,
                        "player_count": 0, "health": {}, "environment": None, "applied_revision": None,
                        "config_versions": {},
                    }
                    for i in range(servers)
                ],
            )  # fmt: skip
        async with container.uow() as uow:
            issued = await container.auth.issue_token(
                uow, SYSTEM, subject="bench-fleet", role=Role.SERVER, ttl=timedelta(days=1)
            )
            await uow.commit()
        return issued.token
    finally:
        await container.aclose()


def _wrk(url: str, script: Path, duration: int, connections: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [WRK, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _figures(process: subprocess.Popen[str]) -> tuple[float, float, float]:
    out, _ = process.communicate()
    if "Non-2xx" in out:
        raise SystemExit("wrk saw failed requests:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, _latency(out, "50%"), _latency(out, "99%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench-tools` (Debian package wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        token = asyncio.run(seed(url, args.servers))
        scripts = {}
        for name, template, delay in (
            ("max", HEARTBEAT_LUA, 0),
            ("paced", HEARTBEAT_LUA, 20),  # 48 connections, each one per (20 ms + latency): ~2,000/s
            ("evaluate", EVALUATE_LUA, 20),  # 4 connections x (1 per ~20 ms) ~ 200/s
        ):
            path = Path(tmp, f"{name}.lua")
            path.write_text(template % {"servers": args.servers, "token": token, "delay": _delay(delay)})
            scripts[name] = path
        env = {
            "HOTSWAP_DATABASE_URL": url,
            "HOTSWAP_JWT_SECRET": SECRET,
            "HOTSWAP_BOOTSTRAP_ADMIN": "false",
            "HOTSWAP_LOG_LEVEL": "WARNING",
        }
        served = Served("granian", "bench._asgi_targets:hotswap_app", env)
        try:
            d = args.duration
            alone = _figures(_wrk(served.url, scripts["evaluate"], d, 4))
            most = _figures(_wrk(served.url, scripts["max"], d, 32))
            beats = _wrk(served.url, scripts["paced"], d, 48)
            under = _figures(_wrk(served.url, scripts["evaluate"], d, 4))
            paced = _figures(beats)
        finally:
            served.stop()
    store = url.split(":", 1)[0]
    print(f"store: {store}; {args.servers:,} registered servers; granian, one worker; {args.duration} s per run")
    print(
        f"heartbeats, as fast as it goes (32 connections): {most[0]:8.0f}/s  p50 {most[1]:.2f} ms  p99 {most[2]:.2f} ms"
    )
    need = args.servers / 5
    print(f"  the fleet needs {need:,.0f}/s: {'ok' if most[0] >= need else 'MISSED'} ({most[0] / need:.1f}x)")
    print(f"heartbeats at the fleet's pace:                  {paced[0]:8.0f}/s  p99 {paced[2]:.2f} ms")
    print(f"POST /api/v1/evaluate alone:            {alone[0]:6.0f}/s  p50 {alone[1]:6.2f} ms  p99 {alone[2]:6.2f} ms")
    print(f"POST /api/v1/evaluate under heartbeats: {under[0]:6.0f}/s  p50 {under[1]:6.2f} ms  p99 {under[2]:6.2f} ms")
    print(f"  p99 under heartbeats / alone: {under[2] / alone[2]:.2f}")


if __name__ == "__main__":
    main()
