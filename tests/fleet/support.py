"""Requests the fleet tests share."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Headers

SERVER = {
    "id": "gs-eu-1",
    "game": "battle-royale",
    "region": "eu-west",
    "build": "2.1.0+417",
    "capacity": 64,
    "labels": {"map": "island", "mode": "squads"},
}
REGION = {
    "id": "SA-EAST",
    "displayName": "South America East",
    "timeZone": "America/Sao_Paulo",
    "rolloutOrder": 6,
    "aliases": ["sa-east", "brazil"],
}


async def register(client: httpx.AsyncClient, headers: Headers, status: int = 201, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/servers", headers=headers, json={**SERVER, **body})
    assert r.status_code == status, r.text
    registered: dict[str, Any] = r.json()
    return registered


async def heartbeat(client: httpx.AsyncClient, headers: Headers, server_id: str, **body: Any) -> httpx.Response:
    return await client.put(f"/api/v1/servers/{server_id}/heartbeat", headers=headers, json=body)


async def audit_actions(client: httpx.AsyncClient, headers: Headers, target_type: str, target_id: str) -> list[str]:
    r = await client.get("/api/v1/audit", headers=headers, params={"targetType": target_type, "targetId": target_id})
    assert r.status_code == 200, r.text
    return [item["action"] for item in r.json()["items"]]
