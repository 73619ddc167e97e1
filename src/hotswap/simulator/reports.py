"""What the simulated game servers send: metric samples and heartbeats, in the API's wire format.

Per session, with the player's id (the judge counts players by it: complaints, churn, the
sample ratio): `session_start`, then `session_end` (seconds), a `crash` or `complaint` when
there was one, and a `purchase`; `engagement_score` per session without the id. The player is
reported when the session starts, on the arm it starts on: the sample-ratio check counts the
players first seen in a step against that step's share, so a player first reported only when a
session begun in the previous step ends would count against the wrong share. Frame rate and
latency are per server and arm: a few values a tick, each counted for a share of the players
online, as a game server that summarises its frames would. Before the deployment, samples carry
no deployment: they only record who was playing (who can churn later).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hotswap.simulator.model import Population, Tick

MAX_BATCH = 5000  # samples per POST /api/v1/metrics
_ARMS = ("baseline", "canary")
Tagged = Callable[[int, bool, str], dict[str, Any]]


class PlayerIds:
    """Player `i`'s id: `p000042`, after the run's prefix."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def __getitem__(self, index: int) -> str:
        return f"{self.prefix}p{index:06d}"


def samples(
    tick: Tick,
    population: Population,
    player_ids: PlayerIds,
    deployment_id: str | None,
    *,
    server_units: bool = False,
) -> list[dict[str, Any]]:
    """Every sample of a tick; without `deployment_id`, activity only (no arm, no deployment)."""
    ids = [s.id for s in population.servers]
    out: list[dict[str, Any]] = []

    def tagged(server: int, canary: bool, metric: str, exposed: bool = True) -> dict[str, Any]:
        item: dict[str, Any] = {"serverId": ids[server], "metric": metric}
        if deployment_id is not None and exposed:
            item["deploymentId"] = deployment_id
            item["arm"] = _ARMS[canary]
        return item

    s = tick.started
    for player, server, canary in zip(s.player.tolist(), s.server.tolist(), s.canary.tolist(), strict=True):
        out.append(tagged(server, canary, "session_start") | {"playerId": player_ids[player]})
    e = tick.ended
    columns = (e.player, e.server, e.canary, e.exposed, e.seconds, e.crashed, e.complained, e.engagement, e.purchase)
    for player, server, canary, exposed, seconds, crashed, complained, engagement, purchase in zip(
        *(c.tolist() for c in columns), strict=True
    ):
        # A session that began before the deployment ran the old version outside it: activity only.
        who = {"playerId": player_ids[player]}
        out.append(tagged(server, canary, "session_end", exposed) | who | {"value": round(seconds, 1)})
        if crashed:
            out.append(tagged(server, canary, "crash", exposed) | who)
        if complained:
            out.append(tagged(server, canary, "complaint", exposed) | who)
        if purchase == purchase:  # not NaN
            out.append(tagged(server, canary, "purchase", exposed) | who | {"value": purchase})
        if deployment_id is not None and exposed:
            out.append(tagged(server, canary, "engagement_score") | {"value": round(engagement, 2)})
    if deployment_id is not None:
        out.extend(_frames(tick, population, tagged))
        if server_units:
            out.extend(_server_health(tick, population, tagged))
    return out


def _frames(tick: Tick, population: Population, tagged: Tagged) -> list[dict[str, Any]]:
    """Frame rate and latency: up to three values per server and arm, each for a share of its players."""
    rng, arms = population.rng, population.arms_frames
    out: list[dict[str, Any]] = []
    for server, pair in enumerate(tick.online.tolist()):
        factor = float(population.server_factor[server])
        for canary, online in enumerate(pair):
            if online == 0:
                continue
            fps, fps_sd, latency, latency_sd = arms[canary]
            k = min(online, 3)
            counts = [online // k + (1 if i < online % k else 0) for i in range(k)]
            for count, f, ms in zip(
                counts,
                rng.normal(fps / factor, fps_sd, k).tolist(),
                rng.normal(latency * factor, latency_sd, k).tolist(),
                strict=True,
            ):
                out.append(tagged(server, bool(canary), "fps") | {"value": round(max(1.0, f), 1), "count": count})
                out.append(
                    tagged(server, bool(canary), "network_latency") | {"value": round(max(1.0, ms), 1), "count": count}
                )
    return out


def _server_health(tick: Tick, population: Population, tagged: Tagged) -> list[dict[str, Any]]:
    """With game servers as the units, each server's tick rate and error rate (its arm: what most
    of its players run, which for server units is all of them)."""
    rng = population.rng
    out: list[dict[str, Any]] = []
    for server, (baseline, canary) in enumerate(tick.online.tolist()):
        factor = float(population.server_factor[server])
        on_canary = canary > baseline
        crash = float(population.arms[int(on_canary), 0])
        out.append(tagged(server, on_canary, "server_tick_rate") | {"value": round(64 / factor, 2)})
        error = max(0.0, float(rng.normal(crash * factor / 4, crash / 20)))
        out.append(tagged(server, on_canary, "server_error_rate") | {"value": round(error, 5)})
    return out


def heartbeats(tick: Tick, population: Population, environment: str, revision: int | None) -> dict[str, Any]:
    """Each server's heartbeat body, by server id."""
    rng = population.rng
    out: dict[str, Any] = {}
    for server, pair in enumerate(tick.online.tolist()):
        factor = float(population.server_factor[server])
        players = int(sum(pair))
        body: dict[str, Any] = {
            "playerCount": players,
            "health": {
                "tickRate": round(float(np.clip(rng.normal(64 / factor, 1.0), 1, 128)), 1),
                "cpu": round(float(np.clip(0.2 + players / 2000 * factor, 0, 1)), 3),
            },
            "environment": environment,
        }
        if revision is not None:
            body["appliedRevision"] = revision
        out[population.servers[server].id] = body
    return out


def batches(items: list[dict[str, Any]], size: int = MAX_BATCH) -> list[list[dict[str, Any]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
