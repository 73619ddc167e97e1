"""Time from a rollback request to the new snapshot being live in the API process.

Target: p99 under 200 ms over 50 rollbacks, with 10,000 registered game servers and
50 configs (a rollback must be live everywhere within 10 s end to end).

What it does: builds a store through the real services (10,000 servers in five regions, 50
Staging configs each with a live 1.0.0 and a 2.0.0), then 50 times: starts a Canary deployment
of one config's 2.0.0 (players, 30% first), and measures, in process through the real app (httpx
over ASGI), from sending `POST /api/v1/deployments/{id}/rollback` to the moment the snapshot the
API process holds has the revision that rollback made (no rollout left for that config). Prints
p50, p99 and max, and the same for the request alone.

    .venv/bin/python bench/rollback.py [--rollbacks 50] [--servers 10000] [--database-url postgresql+asyncpg://...]

With --database-url the figures are for that database (its tables are emptied first: use a
scratch database).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._store import empty_but_seeds, percentile

from hotswap.api import create_app
from hotswap.auth.model import SYSTEM, Role
from hotswap.configs.service import ProfileDraft
from hotswap.container import build_container
from hotswap.core.environments import Environment
from hotswap.fleet.tables import game_servers
from hotswap.settings import Settings
from hotswap.storage import migrate
from hotswap.targeting.snapshot import CompiledSnapshot

REGIONS = ["NA-WEST", "NA-EAST", "EU-WEST", "EU-EAST", "APAC"]


async def main(rollbacks: int, servers: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        settings = Settings(database_url=url, rate_limit_enabled=False, bootstrap_admin=False, worker=False)
        container = build_container(settings)
        async with container.engine.begin() as conn:  # a scratch database: start empty but for seeded rows
            await empty_but_seeds(conn)
        now = datetime.now(UTC)
        async with container.engine.begin() as conn:
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
            for i in range(rollbacks):
                name = f"config-{i:02d}"
                await container.configs.create_profile(
                    uow, SYSTEM, ProfileDraft(name=name, environment=Environment.STAGING, config_type="GameBalance")
                )
                for version, hp in (("1.0.0", 100), ("2.0.0", 200)):
                    await container.configs.create_version(
                        uow, SYSTEM, name, data={"hp": hp, "i": i}, version=version, description=None
                    )
                await container.releases.request_release(uow, SYSTEM, name, version="1.0.0", comment=None)
            issued = await container.auth.issue_token(uow, SYSTEM, subject="bench", role=Role.OPERATOR)
            await uow.commit()
        app = create_app(settings, container=container)
        headers = {"Authorization": f"Bearer {issued.token}"}
        transport = httpx.ASGITransport(app=app)
        live: list[float] = []
        went_live: dict[int, float] = {}  # revision -> when this process swapped it in

        def swapped_in(snapshot: CompiledSnapshot) -> None:
            went_live.setdefault(snapshot.revision, time.perf_counter())

        container.snapshots.on_new(swapped_in)
        requests: list[float] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await client.get("/api/v1/deployments", headers=headers)  # warm the app
            for i in range(rollbacks):
                r = await client.post(
                    "/api/v1/deployments",
                    headers=headers,
                    json={"configName": f"config-{i:02d}", "strategy": "Canary", "unitKind": "players",
                          "canaryPercentage": 30},
                )  # fmt: skip
                if r.status_code != 201:
                    raise SystemExit(f"deploy: HTTP {r.status_code} {r.text}")
                deployment_id = r.json()["id"]
                start = time.perf_counter()
                r = await client.post(f"/api/v1/deployments/{deployment_id}/rollback", headers=headers, json={})
                requests.append(time.perf_counter() - start)
                if r.status_code != 200:
                    raise SystemExit(f"rollback: HTTP {r.status_code} {r.text}")
                wanted = r.json()["log"][-1]["snapshotRevision"]
                if wanted not in went_live:
                    raise SystemExit(f"revision {wanted} is not live in this process after the rollback returned")
                live.append(went_live[wanted] - start)
                snapshot = await container.snapshots.get(Environment.STAGING)
                if any(ro["id"] == deployment_id for ro in snapshot.document["rollouts"]):
                    raise SystemExit("the rolled back deployment is still in the live snapshot")
        await container.aclose()
        store = url.split(":", 1)[0]
        print(f"store: {store}; {servers:,} registered servers, {rollbacks} configs, {rollbacks} rollbacks, in process")
        for label, samples in (("rollback request", requests), ("request -> snapshot live", live)):
            ms = [s * 1000 for s in samples]
            print(
                f"{label:<26} p50 {statistics.median(ms):7.2f} ms   p99 {percentile(ms, 99):7.2f} ms"
                f"   max {max(ms):7.2f} ms"
            )
        p99 = percentile([s * 1000 for s in live], 99)
        print(f"target p99 < 200 ms: {'ok' if p99 < 200 else 'MISSED'} ({p99:.1f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollbacks", type=int, default=50)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.rollbacks, args.servers, args.database_url))
