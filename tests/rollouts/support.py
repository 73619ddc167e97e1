"""Shared steps for the deployment tests: live configs, registered servers, deploying."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Headers


async def config_with_two_versions(
    client: httpx.AsyncClient, op: Headers, name: str, *, environment: str = "Staging", live: bool = True
) -> None:
    """A config whose 1.0.0 is live (unless `live` is false) and whose 2.0.0 is not."""
    r = await client.post("/api/v1/configs", headers=op, json={"name": name, "environment": environment})
    assert r.status_code == 201, r.text
    for version, hp in (("1.0.0", 100), ("2.0.0", 200)):
        r = await client.post(
            f"/api/v1/configs/{name}/versions", headers=op, json={"configData": {"hp": hp}, "version": version}
        )
        assert r.status_code == 201, r.text
    if live:
        r = await client.post(f"/api/v1/configs/{name}/releases", headers=op, json={"version": "1.0.0"})
        assert r.status_code == 201, r.text


async def register_servers(client: httpx.AsyncClient, server: Headers, servers: dict[str, str]) -> None:
    for server_id, region in servers.items():
        body = {"id": server_id, "game": "arena", "region": region, "build": "1.0"}
        r = await client.post("/api/v1/servers", headers=server, json=body)
        assert r.status_code == 201, r.text


async def deploy(client: httpx.AsyncClient, op: Headers, status: int = 201, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/deployments", headers=op, json=body)
    assert r.status_code == status, r.text
    result: dict[str, Any] = r.json()
    return result


async def get(client: httpx.AsyncClient, op: Headers, deployment_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/deployments/{deployment_id}", headers=op)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def served(
    client: httpx.AsyncClient, server: Headers, config: str, environment: str = "Staging", **context: Any
) -> dict[str, Any] | None:
    r = await client.post("/api/v1/evaluate", params={"environment": environment}, headers=server, json=context)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] | None = r.json()["configs"].get(config)
    return answer
