"""Time from the metric batch that tips the judge's verdict to the rollback snapshot being live.

Target: p99 under 1 s.

What it does: in process, through the real app (httpx over ASGI) with the rollout worker running
as in `hotswap serve` (its own task, woken by commits, polling every second), 30 times: starts a
Canary deployment over players judged on crashes, reports a healthy batch (both arms crash 2%
of their sessions: the judge says continue), then the batch that tips it (the canary crashes 10%
of 2,000 sessions), and measures from sending that batch to the moment the API process holds the
snapshot revision the rollback made. Prints p50, p99 and max, and the batch request alone.

    .venv/bin/python bench/rollback_latency.py [--rollouts 30] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._store import in_process, percentile

from hotswap.targeting.snapshot import CompiledSnapshot

ONLY_CRASH = {"metrics": [{"metric": m, "enabled": False} for m in ("churn", "complaint", "engagement")]}


def _sessions(deployment_id: str, arm: str, started: int, crashed: int) -> list[dict[str, Any]]:
    base = {"serverId": "gs-0", "deploymentId": deployment_id, "arm": arm}
    return [
        base | {"metric": "session_start", "count": started},
        base | {"metric": "crash", "count": crashed},
        base | {"metric": "session_end", "value": 900.0, "count": started // 2},
        base | {"metric": "session_end", "value": 1500.0, "count": started - started // 2},
    ]


async def main(rollouts: int, database_url: str | None) -> None:
    async with in_process(database_url) as (url, container, client, h):
        went_live: dict[int, float] = {}

        def swapped_in(snapshot: CompiledSnapshot) -> None:
            went_live.setdefault(snapshot.revision, time.perf_counter())

        container.snapshots.on_new(swapped_in)
        live: list[float] = []
        requests: list[float] = []
        server = {"id": "gs-0", "game": "arena", "region": "NA-WEST", "build": "1.0"}
        (await client.post("/api/v1/servers", headers=h, json=server)).raise_for_status()
        for i in range(rollouts):
            name = f"config-{i:02d}"
            (
                await client.post("/api/v1/configs", headers=h, json={"name": name, "environment": "Staging"})
            ).raise_for_status()
            for version in ("1.0.0", "2.0.0"):
                version_body = {"configData": {"hp": 100, "i": i}, "version": version}
                (await client.post(f"/api/v1/configs/{name}/versions", headers=h, json=version_body)).raise_for_status()
            (
                await client.post(f"/api/v1/configs/{name}/releases", headers=h, json={"version": "1.0.0"})
            ).raise_for_status()
            body: dict[str, Any] = {
                "configName": name,
                "strategy": "Canary",
                "unitKind": "players",
                "analysis": ONLY_CRASH,
            }
            created = await client.post("/api/v1/deployments", headers=h, json=body)
            created.raise_for_status()
            dep = created.json()["id"]
            healthy = _sessions(dep, "canary", 2000, 40) + _sessions(dep, "baseline", 2000, 40)
            (await client.post("/api/v1/metrics", headers=h, json={"samples": healthy})).raise_for_status()
            await asyncio.sleep(1.2)  # the worker judges it (continue) and looks again in a minute
            status = (await client.get(f"/api/v1/deployments/{dep}", headers=h)).json()["status"]
            if status != "Running":
                raise SystemExit(f"the healthy batch left the deployment {status}")
            tipping = _sessions(dep, "canary", 2000, 200)
            start = time.perf_counter()
            r = await client.post("/api/v1/metrics", headers=h, json={"samples": tipping})
            requests.append(time.perf_counter() - start)
            r.raise_for_status()
            deadline = start + 10
            while time.perf_counter() < deadline:
                done = (await client.get(f"/api/v1/deployments/{dep}", headers=h)).json()
                revision = done["log"][-1]["snapshotRevision"]
                if done["status"] == "RolledBack" and revision in went_live:
                    live.append(went_live[revision] - start)
                    break
                await asyncio.sleep(0.005)
            else:
                raise SystemExit(f"deployment {dep} was not rolled back within 10 s")
    store = url.split(":", 1)[0]
    print(f"store: {store}; {rollouts} rollouts, in process, the worker running as in `hotswap serve`")
    for label, samples in (("tipping batch request", requests), ("batch -> rollback live", live)):
        ms = [s * 1000 for s in samples]
        p50, p99 = statistics.median(ms), percentile(ms, 99)
        print(f"{label:<24} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   max {max(ms):7.1f} ms")
    p99 = percentile([s * 1000 for s in live], 99)
    print(f"target p99 < 1 s: {'met' if p99 < 1000 else 'MISSED'} ({p99:.0f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.rollouts, args.database_url))
