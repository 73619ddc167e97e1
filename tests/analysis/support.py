"""Shared steps for the metrics tests: a running deployment and samples for it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Headers
from tests.rollouts.support import config_with_two_versions, deploy, register_servers

SERVERS = {"na-1": "NA-WEST", "na-2": "NA-WEST", "eu-1": "EU-WEST"}


async def running(client: httpx.AsyncClient, op: Headers, server: Headers, **body: Any) -> dict[str, Any]:
    """A Staging canary of `balance` over players (started at once), with three registered servers."""
    await config_with_two_versions(client, op, "balance")
    await register_servers(client, server, SERVERS)
    return await deploy(client, op, **({"configName": "balance", "strategy": "Canary", "unitKind": "players"} | body))


def sample(deployment_id: Any, arm: str, metric: str, **fields: Any) -> dict[str, Any]:
    return {"serverId": "na-1", "deploymentId": deployment_id, "arm": arm, "metric": metric} | fields


async def send(client: httpx.AsyncClient, server: Headers, samples: list[dict[str, Any]]) -> httpx.Response:
    return await client.post("/api/v1/metrics", headers=server, json={"samples": samples})


async def metrics_of(client: httpx.AsyncClient, op: Headers, deployment_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/deployments/{deployment_id}/metrics", headers=op)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found
