"""Propagation: from the commit of a change to its receipt by every connected SDK client.

What it does: a scratch store (SQLite unless --database-url) with a few live configs in Staging;
the app served as `hotswap serve` does (granian, one worker), plus a bare Server-Sent Events
fan-out under the same server (`bench/_asgi_targets.py: fanout_app`). For each client count:
1. ours: client processes, each running its share of `hotswap.sdk.AsyncClient`s streaming
   Staging. Each change is a targeting edit through the API (one commit, one new revision);
   its latency for one client runs from the revision's `changedAt` (stamped in the committing
   transaction) to the moment that client's `on_change` fires (the revision swapped in and
   compiled, ready for game code).
2. bare: the same number of plain streaming connections, in as many processes, on
   `GET /bench/bare-stream`; each change is `POST /bench/bare-fire`, which stamps the instant
   and writes one fixed event to every open connection; latency runs from that instant to the
   line's arrival.
Changes go one at a time: the next once every client has the last. Figures are per delivery
(one change reaching one client): p50 / p99 / max, and the ratio of our p99 to the bare p99.

    .venv/bin/python bench/propagation.py [--clients 1000 5000] [--changes 20] [--processes 4]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The client processes import only the SDK; the server-side modules load in the driver.
CONFIGS = 5


def percentile(samples: list[float], p: float) -> float:
    from bench._store import percentile as nearest_rank

    return nearest_rank(samples, p)


async def seed(url: str) -> tuple[str, str]:
    """Live configs in Staging; an admin token and a server token."""
    from bench._store import scratch_tokens

    from hotswap.api import create_app
    from hotswap.container import build_container
    from hotswap.settings import Settings
    from hotswap.storage import migrate

    await asyncio.to_thread(migrate.upgrade, url)
    settings = Settings(database_url=url, rate_limit_enabled=False, bootstrap_admin=False, worker=False)
    container = build_container(settings)
    admin, server = await scratch_tokens(container)
    app = create_app(settings, container=container)
    h = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for i in range(CONFIGS):
            name = f"config-{i}"
            body = {"name": name, "environment": "Staging"}
            (await client.post("/api/v1/configs", headers=h, json=body)).raise_for_status()
            version = {"configData": {"hp": 100 + i, "speed": 1.5, "drops": [1, 2, 3]}, "version": "1.0.0"}
            (await client.post(f"/api/v1/configs/{name}/versions", headers=h, json=version)).raise_for_status()
            release = {"version": "1.0.0"}
            (await client.post(f"/api/v1/configs/{name}/releases", headers=h, json=release)).raise_for_status()
    await container.aclose()
    return admin, server


# -- client processes ---------------------------------------------------------------------------


async def run_ours(url: str, token: str, count: int) -> dict[int, list[float]]:
    from hotswap.sdk import AsyncClient, Options

    received: dict[int, list[float]] = {}
    clients = []
    started = False
    for _i in range(count):
        client = AsyncClient(Options(url=url, token=token, environment="Staging", start_timeout=120.0))
        seen: set[int] = set()

        def changed(name: str, revision: int, seen: set[int] = seen) -> None:
            if started and revision not in seen:  # once per client and revision, after the first
                seen.add(revision)
                received.setdefault(revision, []).append(time.time())
                if len(received[revision]) == count:
                    print(f"got {revision}", flush=True)

        client.on_change("*", changed)
        clients.append(client)
    await asyncio.gather(*(c.start() for c in clients))
    started = True
    _settle()
    print(f"ready {min(c.revision or 0 for c in clients)}", flush=True)
    await _stdin_closed()
    await asyncio.gather(*(c.aclose() for c in clients))
    return received


async def run_bare(url: str, count: int) -> dict[int, list[float]]:
    received: dict[int, list[float]] = {}
    connected = 0
    all_connected = asyncio.Event()
    limits = httpx.Limits(max_connections=count + 10)
    # No read timeout: a stream is silent between changes (the SDK's own idle timeout is 45 s).
    timeout = httpx.Timeout(10.0, read=None)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as http:

        async def one() -> None:
            nonlocal connected
            async with http.stream("GET", "/bench/bare-stream") as response:
                async for line in response.aiter_lines():
                    if line == ": connected":
                        connected += 1
                        if connected == count:
                            all_connected.set()
                    elif line.startswith("id: "):
                        seq = int(line[4:])
                        received.setdefault(seq, []).append(time.time())
                        if len(received[seq]) == count:
                            print(f"got {seq}", flush=True)

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        await all_connected.wait()
        _settle()
        print("ready 0", flush=True)
        await _stdin_closed()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return received


def _settle() -> None:
    """Both kinds of client process, once connected: what exists now is out of the cycle
    collector's sight. A thousand clients in one process are a large heap whose full collections
    would otherwise land in the middle of a delivery; a game server holds one client."""
    gc.collect()
    gc.freeze()


async def _stdin_closed() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def client_main(mode: str, url: str, token: str, count: int) -> None:
    import uvloop

    received = uvloop.run(run_ours(url, token, count) if mode == "ours" else run_bare(url, count))
    # The result (a few hundred KB at 5,000 clients) goes through a file: written to the pipe, a
    # line that long arrived cut short now and then, and the run was lost.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(received, out)
    print("result " + out.name, flush=True)


# -- the driver -------------------------------------------------------------------------------


class Fleet:
    """Client processes of one mode; each prints `ready`, `got N` lines, then its result (read
    by one thread per process into a queue: no line waits in a pipe's buffer unseen)."""

    def __init__(self, mode: str, url: str, token: str, clients: int, processes: int) -> None:
        shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
        self.processes = [
            subprocess.Popen(
                [sys.executable, __file__, "--client", mode, "--url", url, "--token", token, "--count", str(n)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in shares
            if n
        ]
        self.lines: list[queue.Queue[str]] = []
        for p in self.processes:
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=_pump, args=(p, lines), daemon=True).start()
            self.lines.append(lines)
        self.wait_for("ready", timeout=600)

    def wait_for(self, word: str, timeout: float = 120) -> None:
        """Until every process printed a line starting with `word`."""
        deadline = time.monotonic() + timeout
        for lines in self.lines:
            while True:
                try:
                    line = lines.get(timeout=max(0.001, deadline - time.monotonic()))
                except queue.Empty:
                    raise SystemExit(f"clients did not report {word!r} in {timeout} s") from None
                if not line:
                    raise SystemExit(f"a client process exited before {word!r}")
                if line.startswith(word):
                    break

    def results(self) -> dict[int, list[float]]:
        merged: dict[int, list[float]] = {}
        for p, lines in zip(self.processes, self.lines, strict=True):
            assert p.stdin is not None
            p.stdin.close()
            while line := lines.get(timeout=300):
                if line.startswith("result "):
                    path = Path(line[7:].strip())
                    for key, times in json.loads(path.read_text()).items():
                        merged.setdefault(int(key), []).extend(times)
                    path.unlink()
            p.wait(timeout=120)
        return merged


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put("")  # the process ended


def _changed_at(raw: str) -> float:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()


def measure_ours(url: str, admin: str, server: str, clients: int, changes: int, processes: int) -> list[float]:
    fleet = Fleet("ours", url, server, clients, processes)
    h = {"Authorization": f"Bearer {admin}"}
    committed: dict[int, float] = {}
    with httpx.Client(base_url=url, headers=h, timeout=60) as http:
        for k in range(changes):
            rules = [{"id": "tuned", "condition": {"level": {"gte": k}}, "override": {"hp": 200 + k}}]
            http.put("/api/v1/configs/config-0/targeting", json={"rules": rules}).raise_for_status()
            document = http.get("/api/v1/snapshot", params={"environment": "Staging"}).json()
            committed[document["revision"]] = _changed_at(document["changedAt"])
            fleet.wait_for("got")
    received = fleet.results()
    return [(t - committed[rev]) * 1000 for rev, times in received.items() if rev in committed for t in times]


def measure_bare(url: str, clients: int, changes: int, processes: int) -> list[float]:
    fleet = Fleet("bare", url, "-", clients, processes)
    fired: dict[int, float] = {}
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(changes):
            answer = http.post("/bench/bare-fire").json()
            fired[answer["seq"]] = answer["at"]
            fleet.wait_for("got")
    received = fleet.results()
    return [(t - fired[seq]) * 1000 for seq, times in received.items() if seq in fired for t in times]


def _figures(latencies: list[float]) -> str:
    return (
        f"p50 {percentile(latencies, 50):7.1f} ms   p99 {percentile(latencies, 99):7.1f} ms   "
        f"max {max(latencies):7.1f} ms   ({len(latencies):,} deliveries)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--processes", type=int, default=4, help="client processes per run")
    parser.add_argument("--database-url")
    parser.add_argument("--client", choices=["ours", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.client, args.url, args.token, args.count)
        return
    from bench.player_query import Served

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        admin, server = asyncio.run(seed(url))
        env = {
            "HOTSWAP_DATABASE_URL": url,
            "HOTSWAP_RATE_LIMIT_ENABLED": "false",
            "HOTSWAP_BOOTSTRAP_ADMIN": "false",
            "HOTSWAP_WORKER": "false",
            "HOTSWAP_LOG_LEVEL": "WARNING",
            # `hotswap serve` sets this from HOTSWAP_MAX_CONCURRENT_REQUESTS: each stream is a
            # request for as long as it is open.
            "GRANIAN_BACKPRESSURE": "16384",
        }
        served = Served("granian", "bench._asgi_targets:fanout_app", env)
        rows = []
        try:
            for clients in args.clients:
                ours = measure_ours(served.url, admin, server, clients, args.changes, args.processes)
                bare = measure_bare(served.url, clients, args.changes, args.processes)
                rows.append((clients, ours, bare))
        finally:
            served.stop()
    store = "PostgreSQL" if args.database_url else "SQLite"
    print(f"store: {store}; granian, one worker; {args.changes} changes; {args.processes} client processes")
    print(f"(this machine: {os.cpu_count()} cores shared by the server and every client process)")
    for clients, ours, bare in rows:
        ratio = percentile(ours, 99) / percentile(bare, 99)
        print(f"\n{clients:,} clients")
        print(f"  HotSwap SDK   {_figures(ours)}")
        print(f"  bare fan-out  {_figures(bare)}")
        print(f"  p99 ratio     {ratio:.2f}x (target <= 1.5x; p99 target < 100 ms at 1,000)")


if __name__ == "__main__":
    main()
