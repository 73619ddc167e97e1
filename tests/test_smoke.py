from collections.abc import Awaitable, Callable

import httpx


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_the_service_config_quick_start(
    client: httpx.AsyncClient, auth: Callable[..., Awaitable[dict[str, str]]]
) -> None:
    headers = await auth("operator", "olivia")
    r = await client.post(
        "/api/v1/configs",
        headers=headers,
        json={
            "name": "payment-service.production",
            "environment": "Production",
            "serviceType": "Microservice",
            "schemaVersion": "1.0",
        },
    )
    assert r.status_code == 201, r.text
