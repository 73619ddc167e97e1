"""Lag from each live event's scheduled start to the snapshot revision that makes it live.

Target: p99 under 1 s (a live event must be live within 5 s of its start).

What it does: in process, through the real app (httpx over ASGI) with the event scheduler
running as in `hotswap serve` (its own task, sleeping until the earliest stored timer, woken by
commits), creates `--events` mini events (exempt from the concurrency rules) whose starts are
spread evenly over `--spread` seconds, beginning a few seconds after the last is created. Every
snapshot the API process swaps in is looked at: an event's lag is from its scheduled start to
the moment the process holds the first revision that serves it ("held"), and to that revision's
commit (`changedAt`, "committed"). Prints p50, p99 and max of both, on the system clock.

    .venv/bin/python bench/event_activation.py [--events 200] [--spread 60] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._store import in_process, percentile

from hotswap.targeting.snapshot import CompiledSnapshot

LEAD = 3.0  # seconds between the last create and the first start


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _figures(lags: list[float]) -> str:
    ms = [lag * 1000 for lag in lags]
    return f"p50 {percentile(ms, 50):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms   max {max(ms):7.1f} ms"


async def main(events: int, spread: float, database_url: str | None) -> None:
    async with in_process(database_url) as (url, container, client, h):
        held_at: dict[str, float] = {}  # event id -> wall time its first serving revision was held
        committed: dict[str, datetime] = {}
        all_live = asyncio.Event()

        def swapped_in(snapshot: CompiledSnapshot) -> None:
            now = time.time()
            changed = snapshot.document.get("changedAt")
            for entry in snapshot.document.get("events", []):
                if entry["id"] not in held_at:
                    held_at[entry["id"]] = now
                    if changed:
                        committed[entry["id"]] = _instant(changed)
            if len(held_at) >= events:
                all_live.set()

        container.snapshots.on_new(swapped_in)
        starts: dict[str, datetime] = {}
        create_times: list[float] = []
        budget = 0.05 * events + 2.0  # generous time to create them all
        first = datetime.now(UTC) + timedelta(seconds=budget + LEAD)
        for i in range(events):
            start = first + timedelta(seconds=spread * i / max(1, events - 1))
            body = {
                "eventId": f"bench-{i:04d}",
                "displayName": f"Bench {i}",
                "eventClass": "mini",
                "startTime": start.isoformat(),
                "endTime": (start + timedelta(hours=1)).isoformat(),
                "configuration": {"i": i},
            }
            began = time.perf_counter()
            (await client.post("/api/v1/events", headers=h, json=body)).raise_for_status()
            create_times.append(time.perf_counter() - began)
            starts[body["eventId"]] = start
        if datetime.now(UTC) >= first:
            raise SystemExit("creating the events took longer than planned; the lags would be meaningless")
        wait = (first - datetime.now(UTC)).total_seconds() + spread + 10
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_live.wait(), timeout=wait)
    missing = sorted(starts.keys() - held_at.keys())
    held = [held_at[e] - starts[e].timestamp() for e in starts if e in held_at]
    commits = [(committed[e] - starts[e]).total_seconds() for e in starts if e in committed]
    print(
        f"store: {url.split(':', 1)[0]}; {events} mini events, starts spread over {spread:.0f} s; scheduler in process"
    )
    print(f"creating an event (POST /api/v1/events): {_figures(create_times)}")
    print(f"start -> revision committed:            {_figures(commits)}")
    print(f"start -> revision held by the API:      {_figures(held)}   (target p99 < 1 s)")
    print(f"snapshot revisions for {events} activations: {len({committed[e] for e in committed})} distinct commits")
    if missing:
        print(f"NOT LIVE within the wait: {len(missing)} ({', '.join(missing[:5])}...)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.spread, args.database_url))
