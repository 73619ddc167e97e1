"""Requests per second of `POST /api/v1/evaluate`, against a bare ASGI route, in one run.

Target: evaluate serves at least 50% of the bare route's rate, with p99 under 10 ms at
64 connections, under the same HTTP server and worker count.

What it does:
1. Builds a realistic store in a temporary SQLite file through the real services: 20 segments,
   50 released configs (~1 KB each), each with targeting rules: a segment rule, a two-attribute
   condition rule, and on every fifth config a percentage rollout rule.
2. For each server (uvicorn with uvloop + httptools; granian with uvloop and its single-threaded
   runtime, as `hotswap serve` runs it), one worker each:
   serves the bare route (a fixed body of the same size as an evaluate answer) and then the
   HotSwap app, and loads each with wrk (64 connections, varied player contexts).
3. Prints requests/s, p50/p99 latency, and evaluate's rate as a share of the bare route's.
4. Compares the JSON libraries on the hot path's own work, in process: decoding the context
   (orjson vs msgspec) and producing the answer (our pre-encoded fragments vs encoding the
   evaluated dict with orjson or msgspec).

Needs wrk (Debian package `wrk`: `make bench-tools`) and the dev dependencies.

    .venv/bin/python bench/player_query.py [--duration 10] [--connections 64] [--servers uvicorn,granian] [--events 50]

With `--events 50` the snapshot also holds 50 active live events (some for a segment,
some in two regions, some with A/B variants): every evaluate answer then carries the events that
player is in, and the ratio to the bare route is the same measurement with events served.

With `--hostile-regex` it measures instead, in the same run and on each server, the player query
without and then with two more rules whose conditions backtrack catastrophically on a
backtracking engine, `{"nick": {"$regex": "^(a|a)*$"}}` and `^a*a*a*a*a*a*a*a*a*a*a*a*$`
(2^24 and C(35,11) steps per request there), every player's `nick` a 30-character near-miss
(24 a's, a b, and five digits of its own). Both runs send the same 20,000 bodies, each with its
own `level` too: more distinct attribute values than the snapshot remembers answers for, so every
request evaluates every predicate, in both runs. Prints both rates and their ratio; the bare
route and the JSON-library comparison are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import orjson

from hotswap.auth.model import SYSTEM, Role
from hotswap.configs.service import ProfileDraft
from hotswap.container import build_container
from hotswap.core.environments import Environment
from hotswap.events.schemas import EventCreate
from hotswap.segments.service import SegmentDraft
from hotswap.settings import Settings
from hotswap.storage import migrate
from hotswap.targeting.snapshot import Context

ROOT = Path(__file__).resolve().parents[1]
WRK = shutil.which("wrk") or "wrk"
SECRET = "bench-secret-0123456789-0123456789-0123456789"
COUNTRIES = ["US", "CA", "GB", "DE", "FR", "JP", "KR", "BR", "IN", "AU"]
PLATFORMS = ["ios", "android", "pc", "console"]
REGIONS = ["na-west", "na-east", "eu-west", "eu-east", "apac"]


def _config_data(i: int) -> dict[str, Any]:
    return {
        "enabled": True,
        "dropRate": round(0.05 + i / 1000, 4),
        "weapons": {f"w{j}": {"damage": 10 + j, "range": 5 * j, "cooldownMs": 250 + 10 * j} for j in range(8)},
        "economy": {"goldPerMatch": 100 + i, "gemPrice": 4.99, "bundles": [f"b{k}" for k in range(6)]},
        "matchmaking": {"maxPing": 120, "teamSize": 5, "skillSpread": 0.15},
    }


async def seed(database_url: str, events: int = 0) -> str:
    """The store behind the bench; returns a server token for it."""
    settings = Settings(env="test", database_url=database_url, jwt_secret=SECRET, bootstrap_admin=False)
    container = build_container(settings)
    try:
        async with container.uow() as uow:
            for i in range(20):
                condition = {"level": {"$gte": i * 5}, "country": {"$in": COUNTRIES[i % 5 : i % 5 + 3]}}
                await container.segments.create(
                    uow, SYSTEM, f"seg-{i}", SegmentDraft(name=f"Segment {i}", description=None, condition=condition)
                )
            for i in range(50):
                name = f"config-{i:02d}"
                await container.configs.create_profile(
                    uow, SYSTEM, ProfileDraft(name=name, environment=Environment.STAGING, config_type="GameBalance")
                )
                await container.configs.create_version(
                    uow, SYSTEM, name, data=_config_data(i), version="1.0.0", description=None
                )
            await uow.commit()
        for i in range(50):
            name = f"config-{i:02d}"
            async with container.uow() as uow:  # Staging: released at once, no approval
                await container.releases.request_release(uow, SYSTEM, name, version="1.0.0", comment=None)
                await uow.commit()
            async with container.uow() as uow:
                await container.targeting.set_rules(uow, SYSTEM, name, _rules(i))
                await uow.commit()
        await seed_events(container, events)
        async with container.uow() as uow:
            issued = await container.auth.issue_token(
                uow, SYSTEM, subject="bench-server", role=Role.SERVER, ttl=timedelta(days=1)
            )
            await uow.commit()
        return issued.token
    finally:
        await container.aclose()


def _rules(i: int) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"id": "vip", "segment": f"seg-{i % 20}", "override": {"economy": {"goldPerMatch": 500}}},
        {
            "id": "eu-mobile",
            "condition": {"region": {"$in": ["eu-west", "eu-east"]}, "platform": "ios"},
            "override": {"dropRate": 0.2},
        },
    ]
    if i % 5 == 0:
        rules.append({"id": "canary", "rollout": {"percentage": 30}, "override": {"enabled": False}})
    return rules


HOSTILE_RULES = [
    {"id": "hostile-alternation", "condition": {"nick": {"$regex": "^(a|a)*$"}}, "override": {"dropRate": 0.9}},
    {"id": "hostile-stars", "condition": {"nick": {"$regex": "^" + "a*" * 12 + "$"}}, "override": {"dropRate": 0.8}},
]


async def set_hostile_rules(database_url: str, hostile: bool) -> None:
    """config-00's own rules, after `HOSTILE_RULES` when `hostile`."""
    settings = Settings(env="test", database_url=database_url, jwt_secret=SECRET, bootstrap_admin=False)
    container = build_container(settings)
    try:
        async with container.uow() as uow:
            rules = [*HOSTILE_RULES, *_rules(0)] if hostile else _rules(0)
            await container.targeting.set_rules(uow, SYSTEM, "config-00", rules)
            await uow.commit()
    finally:
        await container.aclose()


async def seed_events(container: Any, count: int) -> None:
    """`count` live events in Staging, live now: every third for a segment, every fourth in two
    regions, every fifth with two variants (mini events: the concurrency rules do not apply)."""
    now = datetime.now(UTC)
    for i in range(count):
        body: dict[str, Any] = {
            "eventId": f"event-{i:02d}",
            "displayName": f"Event {i}",
            "eventType": ["Seasonal", "Gacha", "Competitive", "Cooperative"][i % 4],
            "eventClass": "mini",
            "environment": "Staging",
            "startTime": (now - timedelta(hours=1)).isoformat(),
            "endTime": (now + timedelta(days=1)).isoformat(),
            "configuration": {
                "rewards": {"coins": 100 + i, "multiplier": 1.5},
                "shop": [f"item-{k}" for k in range(5)],
            },
        }
        if i % 3 == 0:
            body["segment"] = f"seg-{i % 20}"
        if i % 4 == 0:
            body["regions"] = ["eu-west", "na-east"]
        if i % 5 == 0:
            body["variants"] = [
                {"name": "A", "weight": 50, "configuration": {"rewards": {"coins": 150}}},
                {"name": "B", "weight": 50},
            ]
        async with container.uow() as uow:  # its start has passed: it is Active once created
            await container.events.create(uow, SYSTEM, EventCreate.model_validate(body).command())
            await uow.commit()


def contexts(n: int) -> list[dict[str, Any]]:
    return [
        {
            "playerId": f"player-{i}",
            "region": REGIONS[i % 5],
            "platform": PLATFORMS[i % 4],
            "attributes": {"country": COUNTRIES[i % 10], "level": i % 90, "totalSpend": (i * 7) % 300},
        }
        for i in range(n)
    ]


def hostile_contexts(n: int) -> list[dict[str, Any]]:
    """As `contexts`, each with its own `level` and a near-miss `nick` of its own."""
    out = contexts(n)
    for i, context in enumerate(out):
        context["attributes"] |= {"level": i, "nick": "a" * 24 + f"b{i:05d}"}
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _command(server: str, target: str, port: int) -> list[str]:
    python = sys.executable
    if server == "uvicorn":
        return [
            python, "-m", "uvicorn", "--factory", target, "--port", str(port), "--workers", "1",
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    return [
        str(Path(python).parent / "granian"), "--interface", "asgi", "--factory", target, "--port", str(port),
        "--workers", "1", "--loop", "uvloop", "--runtime-mode", "st", "--no-ws", "--log-level", "warning",
        "--no-access-log",
    ]  # fmt: skip


class Served:
    def __init__(self, server: str, target: str, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            _command(server, target, self.port),
            cwd=ROOT,
            # This checkout's code, whatever is installed: a bench of an older commit (a worktree)
            # measures that commit's server.
            env={**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])},
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/health", timeout=1)
                return
            except httpx.TransportError:
                if self.process.poll() is not None:
                    raise SystemExit(f"{server} {target} exited with {self.process.returncode}") from None
                time.sleep(0.2)
        raise SystemExit(f"{server} {target} did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


WRK_SCRIPT = """
local bodies = {}
local n = 0
for line in io.lines("%(bodies)s") do n = n + 1; bodies[n] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  i = i %% n + 1
  return wrk.format(nil, "/api/v1/evaluate?environment=Staging", nil, bodies[i])
end
"""


def wrk(url: str, script: Path, duration: int, connections: int) -> tuple[float, float, float]:
    out = subprocess.run(
        [WRK, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out or "errors" in out.lower().replace("socket errors: connect 0, read 0, write 0, timeout 0", ""):
        raise SystemExit("wrk saw failed requests:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, _latency(out, "50%"), _latency(out, "99%")


def _latency(out: str, pct: str) -> float:
    value, unit = re.search(rf"{re.escape(pct)}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def json_libraries(bodies: list[bytes], snapshot: Any, n: int) -> None:
    print(f"\nJSON on the hot path, in process ({n:,} requests):")
    decoder = msgspec.json.Decoder()
    encoder = msgspec.json.Encoder()
    timings: dict[str, float] = {}
    for name, decode in (("orjson.loads", orjson.loads), ("msgspec decode", decoder.decode)):
        start = time.perf_counter()
        for i in range(n):
            decode(bodies[i % len(bodies)])
        timings[name] = (time.perf_counter() - start) / n * 1e6
    ctxs = [orjson.loads(b) for b in bodies[:1000]]
    at = snapshot_time = __import__("datetime").datetime.now(__import__("datetime").UTC)
    evaluated = [
        snapshot.evaluate(Context(c["playerId"], None, c["region"], c["platform"], c["attributes"]), at) for c in ctxs
    ]
    for name, encode in (
        ("orjson.dumps(dict)", orjson.dumps),
        ("msgspec encode(dict)", encoder.encode),
    ):
        start = time.perf_counter()
        for i in range(n):
            encode(evaluated[i % len(evaluated)])
        timings[name] = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for i in range(n):
        c = ctxs[i % len(ctxs)]
        snapshot.evaluate_json(Context(c["playerId"], None, c["region"], c["platform"], c["attributes"]), snapshot_time)
    timings["evaluate + pre-encoded fragments"] = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for i in range(n):
        c = ctxs[i % len(ctxs)]
        orjson.dumps(
            snapshot.evaluate(Context(c["playerId"], None, c["region"], c["platform"], c["attributes"]), snapshot_time)
        )
    timings["evaluate + orjson.dumps(dict)"] = (time.perf_counter() - start) / n * 1e6
    for name, us in timings.items():
        print(f"  {name:<36} {us:8.2f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--servers", default="uvicorn,granian")
    parser.add_argument("--events", type=int, default=0, help="live events in the snapshot (the target says 50)")
    parser.add_argument(
        "--hostile-regex",
        action="store_true",
        help="the rate without and with rules whose regexes backtrack on a near-miss (see above)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench-tools` (Debian package wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrate.upgrade(database_url)
        token = asyncio.run(seed(database_url, args.events))
        bodies = [orjson.dumps(c) for c in (hostile_contexts(20_000) if args.hostile_regex else contexts(5000))]
        bodies_file = Path(tmp, "bodies.jsonl")
        bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
        script = Path(tmp, "evaluate.lua")
        script.write_text(WRK_SCRIPT % {"bodies": bodies_file, "token": token})
        env = {
            "HOTSWAP_DATABASE_URL": database_url,
            "HOTSWAP_JWT_SECRET": SECRET,
            "HOTSWAP_BOOTSTRAP_ADMIN": "false",
            "HOTSWAP_LOG_LEVEL": "INFO",
        }
        # One answer, to size the bare route's body and to check the app serves what we think.
        probe = Served("uvicorn", "bench._asgi_targets:hotswap_app", env)
        try:
            answer = httpx.post(
                probe.url + "/api/v1/evaluate?environment=Staging",
                content=bodies[0],
                headers={"Authorization": f"Bearer {token}"},
            )
            answer.raise_for_status()
            snapshot_doc = httpx.get(
                probe.url + "/api/v1/snapshot?environment=Staging", headers={"Authorization": f"Bearer {token}"}
            )
        finally:
            probe.stop()
        evaluated = answer.json()
        reasons = [c["reason"] for c in evaluated["configs"].values()]
        print(
            f"snapshot: {len(snapshot_doc.json()['configs'])} configs, {len(snapshot_doc.json()['segments'])} segments,"
            f" {len(snapshot_doc.json()['events'])} live events ({len(evaluated['events'])} for the first player),"
            f" {len(snapshot_doc.content):,} bytes; one evaluate answer: {len(answer.content):,} bytes"
            f" ({reasons.count('default')} default, {len(reasons) - reasons.count('default')} by a rule)"
        )
        print(f"wrk: 1 thread, {args.connections} connections, {args.duration} s per run, one server worker\n")
        if args.hostile_regex:
            hostile(args, database_url, env, token, script, bodies)
            return
        print(f"{'server':<9} {'route':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8}")
        for server in args.servers.split(","):
            bare = Served(server, "bench._asgi_targets:bare_app", {**env, "BENCH_BODY_BYTES": str(len(answer.content))})
            try:
                b_rps, b_p50, b_p99 = wrk(bare.url, script, args.duration, args.connections)
            finally:
                bare.stop()
            print(f"{server:<9} {'bare ASGI route':<22} {b_rps:9.0f} {b_p50:8.2f} {b_p99:8.2f} {'':>8}")
            app = Served(server, "bench._asgi_targets:hotswap_app", env)
            try:
                rps, p50, p99 = wrk(app.url, script, args.duration, args.connections)
            finally:
                app.stop()
            print(
                f"{server:<9} {'POST /api/v1/evaluate':<22} {rps:9.0f} {p50:8.2f} {p99:8.2f} {rps / b_rps:7.0%}"
                f"   rate >= 50% of bare: {'ok' if rps >= 0.5 * b_rps else 'MISSED'};"
                f" p99 < 10 ms: {'ok' if p99 < 10 else 'MISSED'}"
                + (f" (the bare route's own p99 is {b_p99:.1f} ms)" if b_p99 >= 10 else "")
            )
        from hotswap.targeting.snapshot import compile_snapshot

        json_libraries(bodies, compile_snapshot(snapshot_doc.json()), 20_000)


def hostile(
    args: argparse.Namespace, database_url: str, env: dict[str, str], token: str, script: Path, bodies: list[bytes]
) -> None:
    """The player query without and with `HOSTILE_RULES` in the snapshot, on each server: two
    rounds, alternating, the best run of each kept (the machine's other load only slows a run).
    Then the same in process: `evaluate_json` over the same contexts, from both snapshots."""
    servers = args.servers.split(",")
    runs: dict[tuple[str, bool], list[tuple[float, float, float]]] = {}
    documents: dict[bool, dict[str, Any]] = {}
    for _round in range(2):
        for with_rules in (False, True):
            asyncio.run(set_hostile_rules(database_url, with_rules))
            if with_rules not in documents:
                documents[with_rules] = _check_hostile(env, token, bodies, with_rules)
            for server in servers:
                runs.setdefault((server, with_rules), []).append(_measure(server, env, script, args))
    print(f"rules added to config-00: {', '.join(repr(r['condition']['nick']['$regex']) for r in HOSTILE_RULES)}")
    print(f"first player's nick: {orjson.loads(bodies[0])['attributes']['nick']!r} (answered: no match)\n")
    print(f"{'server':<9} {'without req/s':>14} {'p99 ms':>7} {'with req/s':>11} {'p99 ms':>7} {'with/without':>13}")
    for server in servers:
        rps, _p50, p99 = max(runs[server, False])
        h_rps, _h_p50, h_p99 = max(runs[server, True])
        print(f"{server:<9} {rps:14.0f} {p99:7.2f} {h_rps:11.0f} {h_p99:7.2f} {h_rps / rps:12.0%}")
        rates = [f"{r[0]:.0f}" for r in runs[server, False]], [f"{r[0]:.0f}" for r in runs[server, True]]
        print(f"{'':<9} (each run, req/s: without {', '.join(rates[0])}; with {', '.join(rates[1])})")
    from hotswap.targeting.snapshot import compile_snapshot

    contexts_ = [orjson.loads(b) for b in bodies]
    best: dict[bool, float] = {}
    for _round in range(3):
        for with_rules, document in documents.items():
            snapshot = compile_snapshot(document)  # a fresh memo: every context is new to it
            at = datetime.now(UTC)
            start = time.perf_counter()
            for c in contexts_:
                snapshot.evaluate_json(Context(c["playerId"], None, c["region"], c["platform"], c["attributes"]), at)
            took = (time.perf_counter() - start) / len(contexts_) * 1e6
            best[with_rules] = min(best.get(with_rules, took), took)
    print(
        f"\nin process, evaluate_json over the {len(contexts_):,} contexts (best of 3):"
        f" without {best[False]:.1f} µs, with {best[True]:.1f} µs per request"
        f" ({best[True] - best[False]:+.1f} µs; the rate with/without: {best[False] / best[True]:.0%})"
    )


def _check_hostile(env: dict[str, str], token: str, bodies: list[bytes], with_rules: bool) -> dict[str, Any]:
    """The snapshot served; with the rules, they are in it and decide: a near-miss is no match,
    a run of a's is one."""
    probe = Served("uvicorn", "bench._asgi_targets:hotswap_app", env)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        url = probe.url + "/api/v1/evaluate?environment=Staging"
        document: dict[str, Any] = httpx.get(probe.url + "/api/v1/snapshot?environment=Staging", headers=headers).json()
        if with_rules:
            ids = [rule["id"] for rule in document["configs"]["config-00"]["rules"]]
            assert ids[:2] == [rule["id"] for rule in HOSTILE_RULES], ids
            near_miss = httpx.post(url, content=bodies[0], headers=headers).json()["configs"]["config-00"]
            context = orjson.loads(bodies[0])
            context["attributes"]["nick"] = "a" * 30
            matching = httpx.post(url, json=context, headers=headers).json()["configs"]["config-00"]
            assert near_miss.get("ruleId") not in ids[:2], near_miss
            assert matching.get("ruleId") == "hostile-alternation", matching
        return document
    finally:
        probe.stop()


def _measure(server: str, env: dict[str, str], script: Path, args: argparse.Namespace) -> tuple[float, float, float]:
    app = Served(server, "bench._asgi_targets:hotswap_app", env)
    try:
        return wrk(app.url, script, args.duration, args.connections)
    finally:
        app.stop()


if __name__ == "__main__":
    main()
