"""Shared steps for the webhook tests: subscribing, queueing as a deployment change does, reading the log."""

from __future__ import annotations

from typing import Any

import httpx

from hotswap.container import Container
from tests.conftest import START
from tests.helpers import Headers

# URLs whose host spells an address no webhook may reach (the metadata address, 0.0.0.0) in the
# forms HTTP clients connect to: IPv4-mapped and NAT64 IPv6, one number, hex, octal, three parts.
INTERNAL_SPELLINGS = [
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://2852039166/",
    "http://0xA9FEA9FE/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://0/",
]
HOOK = {"url": "https://hooks.example.com/hotswap", "events": ["deployment.rollback"]}
ROLLBACK = {
    "event": "deployment.rollback",
    "deploymentId": "dep_1",
    "config": "weapon-balance",
    "version": "1.1.0",
    "environment": "Staging",
    "strategy": "Canary",
    "status": "RolledBack",
    "step": 1,
    "reason": "crash rate doubled",
    "actor": "worker",
    "at": START.isoformat(),
    "snapshotRevision": 7,
}


async def subscribe(client: httpx.AsyncClient, headers: Headers, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/webhooks", headers=headers, json={**HOOK, **body})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def queue(container: Container, event: dict[str, Any]) -> None:
    """What `DeploymentService` does on every stored change: call the listener in its transaction."""
    async with container.uow() as uow:
        await container.webhooks.queue(uow, event)
        await uow.commit()


async def log_of(client: httpx.AsyncClient, headers: Headers, hook_id: str, **params: Any) -> dict[str, Any]:
    r = await client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=headers, params=params)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


async def start_deployment(client: httpx.AsyncClient, op: Headers, name: str = "weapon-balance") -> dict[str, Any]:
    """A Direct deployment of 2.0.0 over a live 1.0.0 in Staging, through the API."""
    r = await client.post("/api/v1/configs", headers=op, json={"name": name, "environment": "Staging"})
    assert r.status_code == 201, r.text
    for version, hp in (("1.0.0", 100), ("2.0.0", 200)):
        body = {"configData": {"hp": hp}, "version": version}
        r = await client.post(f"/api/v1/configs/{name}/versions", headers=op, json=body)
        assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/configs/{name}/releases", headers=op, json={"version": "1.0.0"})
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/deployments", headers=op, json={"configName": name, "strategy": "Direct"})
    assert r.status_code == 201, r.text
    deployment: dict[str, Any] = r.json()
    return deployment
