"""The HTTP edge: problem details, body limits, rate limits, request ids, metrics, probes, access logs."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy.ext.asyncio import create_async_engine

from hotswap.api import create_app
from hotswap.auth.model import Role
from hotswap.container import Container, build_container
from hotswap.core.clock import ManualClock
from hotswap.observability.logging import configure_logging
from tests.helpers import Auth, CountRows

# Marked here, not only by conftest: anyio re-creates late-marked items and drops their parametrization.


CONFIG_BODY = {"name": "svc.dev", "environment": "Development", "serviceType": "Microservice", "schemaVersion": "1.0"}


def _transport(container: Container, address: str = "10.1.2.3") -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_app(container.settings, container=container), client=(address, 5555))


@asynccontextmanager
async def _container_with(container: Container, clock: ManualClock, **changes: Any) -> AsyncIterator[Container]:
    """A container with different settings on the same (already emptied) database."""
    c = build_container(container.settings.model_copy(update=changes), clock=clock)
    try:
        if c.rate_limiter is not None:
            await c.rate_limiter.reset()
        yield c
    finally:
        await c.aclose()


@asynccontextmanager
async def _client_with(container: Container, clock: ManualClock, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        _container_with(container, clock, **changes) as c,
        httpx.AsyncClient(transport=_transport(c), base_url="http://hotswap.test") as client,
    ):
        yield client


@asynccontextmanager
async def _client_without_database(
    container: Container, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    """An app whose database cannot be reached. The engine is built directly: the app's own
    factory would create the missing directory."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    settings = container.settings.model_copy(update={"database_url": url})
    c = build_container(settings, clock=clock, engine=create_async_engine(url))
    try:
        transport = httpx.ASGITransport(app=create_app(settings, container=c), client=("10.1.2.3", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://hotswap.test") as client:
            yield client, c
    finally:
        await c.aclose()


def _assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert {"type", "title", "status", "detail", "requestId"} <= body.keys()
    assert body["status"] == status
    assert body["type"].startswith("urn:hotswap:problem:")
    assert body["title"]
    assert body["detail"]
    assert body["requestId"] == r.headers["x-request-id"]
    return body


async def _nothing_written(count_rows: CountRows, audit_before: int) -> None:
    assert await count_rows("config_profiles") == 0
    assert await count_rows("audit_records") == audit_before


# -- problem details ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_unknown_route_is_a_404_problem_pointing_to_the_docs(
    method: str, client: httpx.AsyncClient, auth: Auth
) -> None:
    r = await client.request(method, "/api/v1/no-such-thing", headers=await auth("admin"))
    body = _assert_problem(r, 404)
    assert body["type"] == "urn:hotswap:problem:not-found"
    assert body["instance"] == "/api/v1/no-such-thing"
    assert body["detail"] == (
        f"No route {method} /api/v1/no-such-thing. The routes and their bodies are at /docs "
        "(GET /openapi.json for the document)."
    )
    assert body["docs"] == "/docs"
    assert (await client.get(body["docs"], headers=await auth("viewer"))).status_code == 200


async def test_an_unknown_resource_on_a_known_route_does_not_point_to_the_docs(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    body = _assert_problem(await client.get("/api/v1/configs/absent", headers=await auth("viewer")), 404)
    assert "docs" not in body
    assert "No route" not in body["detail"]


async def test_unknown_resource_is_a_404_problem(client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.get("/api/v1/configs/absent", headers=await auth("viewer"))
    body = _assert_problem(r, 404)
    assert "absent" in body["detail"]


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.delete("/api/v1/audit", headers=await auth("admin"))
    body = _assert_problem(r, 405)
    assert body["type"] == "urn:hotswap:problem:method-not-allowed"
    assert r.headers["allow"] == "GET"
    assert body["detail"] == "DELETE is not allowed on /api/v1/audit; it allows GET."


async def test_validation_error_names_the_failing_field(
    client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    headers = await auth("operator")
    audit_before = await count_rows("audit_records")
    r = await client.post("/api/v1/configs", headers=headers, json=CONFIG_BODY | {"environment": "Nope"})
    body = _assert_problem(r, 422)
    assert body["type"] == "urn:hotswap:problem:validation"
    assert [(e["field"], e["pointer"]) for e in body["errors"]] == [("body.environment", "/environment")]
    assert "Development" in body["errors"][0]["message"]
    assert "environment" in body["detail"]
    await _nothing_written(count_rows, audit_before)


async def test_validation_lists_every_failing_field(client: httpx.AsyncClient, auth: Auth) -> None:
    body = {"environment": "Nope", "serviceTpye": "typo"}
    r = await client.post("/api/v1/configs", headers=await auth("operator"), json=body)
    problem = _assert_problem(r, 422)
    fields = {e["field"]: e["pointer"] for e in problem["errors"]}
    assert fields == {"body.name": "/name", "body.environment": "/environment", "body.serviceTpye": "/serviceTpye"}


async def test_query_validation_error_names_the_parameter(client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.get("/api/v1/configs", headers=await auth("viewer"), params={"limit": "lots"})
    problem = _assert_problem(r, 422)
    assert [e["field"] for e in problem["errors"]] == ["query.limit"]


@pytest.mark.parametrize(
    "content",
    [b'{"name": "svc.dev", ', b"not json at all", b'{"name": "svc.dev"}}', b"\xff\xfe\x00", b"[1, 2]", b""],
    ids=["truncated", "text", "trailing", "binary", "array", "empty"],
)
async def test_malformed_json_body_is_a_client_error(
    content: bytes, client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    headers = await auth("operator") | {"Content-Type": "application/json"}
    audit_before = await count_rows("audit_records")
    r = await client.post("/api/v1/configs", headers=headers, content=content)
    assert r.status_code in {400, 422}, r.text
    _assert_problem(r, r.status_code)
    await _nothing_written(count_rows, audit_before)


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (
            b'{\n  "name": "svc.dev",\n  "environment": }',
            "unexpected character, expected a JSON value at line 3, column 18",
        ),
        (b'{"name": "svc.dev", ', "it ends early at line 1, column 21"),
        (b'{"name": "svc.dev"}}', "unexpected content after document at line 1, column 20"),
        (
            '{"name": "é",\r\n "environment" "x"}'.encode(),
            "unexpected character, expected ':' after key at line 2, column 16",
        ),
        (b"\xff\xfe\x00", "it is not UTF-8 text at line 1, column 1"),
    ],
    ids=["missing-value", "truncated", "trailing", "missing-colon", "binary"],
)
async def test_malformed_json_names_the_line_and_column_not_a_field(
    content: bytes, where: str, client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    headers = await auth("operator") | {"Content-Type": "application/json"}
    audit_before = await count_rows("audit_records")
    r = await client.post("/api/v1/configs", headers=headers, content=content)
    body = _assert_problem(r, 422)
    assert body["type"] == "urn:hotswap:problem:validation"
    assert body["detail"] == f"The body is not valid JSON: {where}."
    assert body["errors"] == [{"field": "body", "pointer": "", "message": f"not valid JSON: {where}"}]
    if "line" in where:
        assert (body["line"], body["column"]) == tuple(int(n) for n in re.findall(r"\d+", where.rpartition(" at ")[2]))
    await _nothing_written(count_rows, audit_before)


@pytest.mark.parametrize(
    ("url", "content", "where"),
    [
        (
            "/api/v1/evaluate?environment=Staging",
            b'{\n  "playerId": "p-1",\n}',
            "trailing comma is not allowed at line 2, column 20",
        ),
        ("/api/v1/evaluate?environment=Staging", b'{"playerId": "p-1"', "it ends early at line 1, column 19"),
        (
            "/api/v1/servers/gs-1/heartbeat",
            b'{"playerCount": 4 "health": {}}',
            "unexpected character, expected ',' or '}' at line 1, column 19",
        ),
    ],
    ids=["evaluate-comma", "evaluate-truncated", "heartbeat"],
)
async def test_malformed_json_on_a_hot_route_names_the_line_and_column(
    url: str, content: bytes, where: str, client: httpx.AsyncClient, auth: Auth
) -> None:
    method = "PUT" if url.endswith("heartbeat") else "POST"
    headers = await auth("server") | {"Content-Type": "application/json"}
    r = await client.request(method, url, headers=headers, content=content)
    body = _assert_problem(r, 422)
    assert [(e["field"], e["message"]) for e in body["errors"]] == [("body", f"not valid JSON: {where}")]


@pytest.mark.parametrize(
    ("content_type", "sent"),
    [
        (None, "this request has no Content-Type"),
        ("text/plain", "this request's Content-Type is 'text/plain'"),
        ("application/x-www-form-urlencoded", "this request's Content-Type is 'application/x-www-form-urlencoded'"),
        ("application/xml; charset=utf-8", "this request's Content-Type is 'application/xml; charset=utf-8'"),
    ],
)
@pytest.mark.parametrize(
    ("method", "url", "payload"),
    [
        ("POST", "/api/v1/configs", CONFIG_BODY),
        ("PUT", "/api/v1/players/p-1", {"attributes": {"level": 3}}),
        ("POST", "/api/v1/segments/preview", {"condition": {}, "contexts": [{}]}),
    ],
)
async def test_a_body_not_sent_as_json_says_which_header_to_send(
    content_type: str | None,
    sent: str,
    method: str,
    url: str,
    payload: dict[str, Any],
    client: httpx.AsyncClient,
    auth: Auth,
    count_rows: CountRows,
) -> None:
    headers = await auth("admin") | ({"Content-Type": content_type} if content_type else {})
    audit_before = await count_rows("audit_records")
    r = await client.request(method, url, headers=headers, content=json.dumps(payload).encode())
    body = _assert_problem(r, 415)
    assert body["type"] == "urn:hotswap:problem:unsupported-media-type"
    assert body["detail"] == f"The body must be JSON sent with `Content-Type: application/json`; {sent}."
    assert body["errors"] == [{"field": "header.content-type", "message": "must be application/json"}]
    await _nothing_written(count_rows, audit_before)
    assert await count_rows("players") == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/problem+json"])
async def test_json_media_types_with_parameters_or_suffixes_are_json(
    content_type: str, client: httpx.AsyncClient, auth: Auth
) -> None:
    headers = await auth("operator") | {"Content-Type": content_type}
    r = await client.post("/api/v1/configs", headers=headers, content=json.dumps(CONFIG_BODY).encode())
    assert r.status_code == 201, r.text


async def test_the_document_declares_the_refusal_of_a_body_not_sent_as_json(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    document = (await client.get("/openapi.json", headers=await auth("viewer"))).json()
    assert "415" in document["paths"]["/api/v1/configs"]["post"]["responses"]


# -- body size limit ---------------------------------------------------------------------

LIMIT = 2048


def _config_of_size(size: int) -> bytes:
    """A valid create-config body of exactly `size` bytes."""
    base = CONFIG_BODY | {"description": ""}
    padding = size - len(json.dumps(base).encode())
    assert padding >= 0
    return json.dumps(base | {"description": "x" * padding}).encode()


async def _chunks(data: bytes, size: int = 500) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_body_over_the_limit_with_content_length_is_413(
    container: Container, clock: ManualClock, auth: Auth, count_rows: CountRows
) -> None:
    headers = await auth("operator") | {"Content-Type": "application/json"}
    audit_before = await count_rows("audit_records")
    async with _client_with(container, clock, max_body_bytes=LIMIT) as client:
        r = await client.post("/api/v1/configs", headers=headers, content=_config_of_size(LIMIT + 1))
        body = _assert_problem(r, 413)
        assert body["type"] == "urn:hotswap:problem:payload-too-large"
        await _nothing_written(count_rows, audit_before)

        r = await client.post("/api/v1/configs", headers=headers, content=_config_of_size(LIMIT))
        assert r.status_code == 201, r.text


async def test_streamed_body_over_the_limit_is_413(
    container: Container, clock: ManualClock, auth: Auth, count_rows: CountRows
) -> None:
    headers = await auth("operator") | {"Content-Type": "application/json"}
    audit_before = await count_rows("audit_records")
    async with _client_with(container, clock, max_body_bytes=LIMIT) as client:
        request = client.build_request(
            "POST", "/api/v1/configs", headers=headers, content=_chunks(_config_of_size(3000))
        )
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        r = await client.send(request)
        _assert_problem(r, 413)
        await _nothing_written(count_rows, audit_before)

        # A streamed body within the limit reaches the route intact.
        r = await client.post("/api/v1/configs", headers=headers, content=_chunks(_config_of_size(LIMIT)))
        assert r.status_code == 201, r.text
        assert r.json()["description"] == "x" * (LIMIT - len(json.dumps(CONFIG_BODY | {"description": ""})))


# -- rate limits -------------------------------------------------------------------------


def _assert_rate_limited(r: httpx.Response, scope: str) -> None:
    body = _assert_problem(r, 429)
    assert body["type"] == "urn:hotswap:problem:rate-limited"
    assert body["limitScope"] == scope
    assert 1 <= int(r.headers["retry-after"]) <= 60


async def test_rate_limit_per_token(container: Container, clock: ManualClock, auth: Auth) -> None:
    first, second = await auth("viewer", "vera"), await auth("viewer", "victor")
    async with _client_with(
        container, clock, rate_limit_per_token="3/minute", rate_limit_per_address="1000/minute"
    ) as client:
        for _ in range(3):
            assert (await client.get("/api/v1/configs", headers=first)).status_code == 200
        _assert_rate_limited(await client.get("/api/v1/configs", headers=first), "token")
        _assert_rate_limited(await client.get("/api/v1/audit", headers=first), "token")
        # Another token, even from the same address, has its own budget.
        for _ in range(3):
            assert (await client.get("/api/v1/configs", headers=second)).status_code == 200
        _assert_rate_limited(await client.get("/api/v1/configs", headers=second), "token")


async def test_rate_limited_write_writes_nothing(
    container: Container, clock: ManualClock, auth: Auth, count_rows: CountRows
) -> None:
    headers = await auth("operator")
    async with _client_with(container, clock, rate_limit_per_token="1/minute") as client:
        assert (await client.get("/api/v1/configs", headers=headers)).status_code == 200
        audit_before = await count_rows("audit_records")
        _assert_rate_limited(await client.post("/api/v1/configs", headers=headers, json=CONFIG_BODY), "token")
        await _nothing_written(count_rows, audit_before)


async def test_rate_limit_per_address_covers_anonymous_requests(
    container: Container, clock: ManualClock, auth: Auth
) -> None:
    headers = await auth("viewer")
    async with _container_with(
        container, clock, rate_limit_per_address="3/minute", rate_limit_per_token="1000/minute"
    ) as c:
        transport = _transport(c)
        async with httpx.AsyncClient(transport=transport, base_url="http://hotswap.test") as client:
            for _ in range(3):
                assert (await client.get("/api/v1/configs")).status_code == 401
            _assert_rate_limited(await client.get("/api/v1/configs"), "address")
            # The address is spent, whatever token it presents.
            _assert_rate_limited(await client.get("/api/v1/configs", headers=headers), "address")
            # Probes stay answerable.
            assert (await client.get("/health")).status_code == 200
            assert (await client.get("/ready")).status_code == 200
        other = httpx.ASGITransport(app=transport.app, client=("10.9.9.9", 5555))
        async with httpx.AsyncClient(transport=other, base_url="http://hotswap.test") as client:
            assert (await client.get("/api/v1/configs", headers=headers)).status_code == 200


async def test_token_exchange_is_limited_per_address(container: Container, clock: ManualClock) -> None:
    # The one anonymous route that takes a secret must not allow unlimited guessing.
    async with _client_with(container, clock, rate_limit_per_address="3/minute") as client:
        for _ in range(3):
            r = await client.post("/api/v1/auth/token", json={"apiKey": "hsk_guess.guess"})
            assert r.status_code == 401
        _assert_rate_limited(await client.post("/api/v1/auth/token", json={"apiKey": "hsk_guess.guess"}), "address")


async def test_rate_limits_can_be_disabled(container: Container, clock: ManualClock) -> None:
    async with _client_with(
        container, clock, rate_limit_enabled=False, rate_limit_per_address="1/minute", rate_limit_per_token="1/minute"
    ) as client:
        for _ in range(5):
            assert (await client.get("/api/v1/configs")).status_code == 401


# -- request ids -------------------------------------------------------------------------


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient, auth: Auth) -> None:
    seen = set()
    for r in (
        await client.get("/health"),
        await client.get("/api/v1/configs"),
        await client.get("/api/v1/configs", headers=await auth("viewer")),
    ):
        request_id = r.headers["x-request-id"]
        assert len(request_id) == 32
        int(request_id, 16)
        seen.add(request_id)
    assert len(seen) == 3


async def test_incoming_request_id_is_echoed(client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.get("/api/v1/configs/absent", headers=await auth("viewer") | {"X-Request-ID": "trace-42.a_b"})
    assert r.headers["x-request-id"] == "trace-42.a_b"
    assert r.json()["requestId"] == "trace-42.a_b"


async def test_incoming_request_id_lands_in_the_audit_trail(client: httpx.AsyncClient, auth: Auth) -> None:
    headers = await auth("operator", "olivia")
    r = await client.post("/api/v1/configs", headers=headers | {"X-Request-ID": "create-1"}, json=CONFIG_BODY)
    assert r.status_code == 201
    page = (await client.get("/api/v1/audit", headers=headers, params={"action": "config.create"})).json()
    assert [i["requestId"] for i in page["items"]] == ["create-1"]


@pytest.mark.parametrize("incoming", ["has spaces", "x" * 65, "semi;colon", "<script>", "é"])
async def test_unsafe_incoming_request_id_is_replaced(incoming: str, client: httpx.AsyncClient) -> None:
    r = await client.get("/health", headers={b"X-Request-ID": incoming.encode()})
    assert r.headers["x-request-id"] != incoming
    assert len(r.headers["x-request-id"]) == 32


# -- metrics -----------------------------------------------------------------------------


def _samples(text: str, name: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


async def test_metrics_need_a_token(client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.get("/metrics")
    _assert_problem(r, 401)
    assert "www-authenticate" in r.headers
    assert (await client.get("/metrics", headers=await auth("server"))).status_code == 403


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient, auth: Auth) -> None:
    viewer = await auth("viewer")
    for name in ("alpha", "beta", "gamma"):
        assert (await client.get(f"/api/v1/configs/{name}", headers=viewer)).status_code == 404
    assert (await client.get("/api/v1/configs", headers=viewer)).status_code == 200
    assert (await client.get("/api/v1/nowhere", headers=viewer)).status_code == 404

    r = await client.get("/metrics", headers=viewer)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text

    requests = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in _samples(text, "hotswap_http_requests_total")
    }
    assert requests[("GET", "/api/v1/configs/{name}", "404")] == 3
    assert requests[("GET", "/api/v1/configs", "200")] == 1
    assert requests[("GET", "<unmatched>", "404")] == 1
    assert not [route for _, route, _ in requests if "alpha" in route or "nowhere" in route]

    counts = {
        (s.labels["method"], s.labels["route"]): s.value
        for s in _samples(text, "hotswap_http_request_duration_seconds_count")
    }
    assert counts[("GET", "/api/v1/configs/{name}")] == 3
    buckets = [
        s
        for s in _samples(text, "hotswap_http_request_duration_seconds_bucket")
        if s.labels["route"] == "/api/v1/configs/{name}"
    ]
    assert {s.labels["le"] for s in buckets} >= {"0.005", "1.0", "+Inf"}
    assert next(s.value for s in buckets if s.labels["le"] == "+Inf") == 3


async def test_metrics_count_auth_failures_and_rate_limits(
    container: Container, clock: ManualClock, auth: Auth
) -> None:
    viewer = await auth("viewer")
    async with _container_with(container, clock, rate_limit_per_token="2/minute") as c:
        async with httpx.AsyncClient(transport=_transport(c), base_url="http://hotswap.test") as client:
            await client.get("/api/v1/configs")
            await client.get("/api/v1/configs", headers={"Authorization": "Bearer nope"})
            await client.get("/api/v1/configs", headers=viewer)
            await client.get("/api/v1/configs", headers=viewer)
            assert (await client.get("/api/v1/configs", headers=viewer)).status_code == 429
        text = c.metrics.render().decode()
    failures = {s.labels["reason"]: s.value for s in _samples(text, "hotswap_auth_failures_total")}
    assert failures == {"missing": 1, "invalid": 1}
    limited = {s.labels["scope"]: s.value for s in _samples(text, "hotswap_rate_limited_total")}
    assert limited == {"token": 1}


async def test_auth_failures_are_counted_by_why(client: httpx.AsyncClient, auth: Auth, clock: ManualClock) -> None:
    # An operator tells a fleet sending its API keys, or one whose tokens ran out, from noise.
    admin = await auth("admin", "alice", ttl=timedelta(days=1))
    key = (await client.post("/api/v1/credentials", headers=admin, json={"name": "k", "role": "server"})).json()
    revoked = await auth("viewer", "vera")
    token_id = json.loads(base64.urlsafe_b64decode(revoked["Authorization"].split(".")[1] + "=="))["jti"]
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=admin)).status_code == 204
    expiring = await auth("viewer", "victor", ttl=timedelta(minutes=1))
    clock.advance(timedelta(minutes=1))
    for path in ("/api/v1/configs", "/api/v1/snapshot?environment=Staging"):  # the edge and the hot path
        await client.get(path, headers={"Authorization": f"Bearer {key['apiKey']}"})
        await client.get(path, headers=expiring)
        await client.get(path, headers=revoked)
        await client.get(path, headers={"Authorization": "Bearer nope"})
        await client.get(path)
    text = (await client.get("/metrics", headers=admin)).text
    failures = {s.labels["reason"]: s.value for s in _samples(text, "hotswap_auth_failures_total")}
    assert failures == {"api_key": 2, "expired": 2, "revoked": 2, "invalid": 2, "missing": 2}


# -- probes ------------------------------------------------------------------------------


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_ready_when_database_answers_at_head(client: httpx.AsyncClient) -> None:
    r = await client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


async def test_not_ready_when_database_is_unreachable(container: Container, clock: ManualClock, tmp_path: Path) -> None:
    async with _client_without_database(container, clock, tmp_path) as (client, _):
        r = await client.get("/ready")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"].startswith("unreachable")


async def test_not_ready_when_schema_is_behind(container: Container, clock: ManualClock, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    async with _client_with(container, clock, database_url=url) as client:
        r = await client.get("/ready")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] != "ok"
    assert "expected" in body["checks"]["migrations"]


# -- structured access log ---------------------------------------------------------------


@contextmanager
def _json_log() -> Iterator[io.StringIO]:
    """The app's real JSON logging configuration, writing to a buffer; restored afterwards.

    Used inside the test body, so pytest's own per-phase handlers are the ones put back.
    """
    root = logging.getLogger()
    uvicorn_access = logging.getLogger("uvicorn.access")
    saved_handlers, saved_level, saved_disabled = root.handlers[:], root.level, uvicorn_access.disabled
    buffer = io.StringIO()
    try:
        configure_logging("INFO")
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        uvicorn_access.disabled = saved_disabled


def _log_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


async def test_access_log_is_json_with_the_request_id(client: httpx.AsyncClient, auth: Auth) -> None:
    headers = await auth("viewer", "vera")
    with _json_log() as json_log:
        r1 = await client.get("/api/v1/configs/absent", headers=headers | {"X-Request-ID": "log-check-1"})
        r2 = await client.get("/api/v1/configs")

    access = [line for line in _log_lines(json_log) if line.get("logger") == "hotswap.access"]
    by_id = {line["request_id"]: line for line in access}
    first = by_id["log-check-1"]
    assert r1.headers["x-request-id"] == "log-check-1"
    assert first["message"] == "request"
    assert first["level"] == "INFO"
    assert first["method"] == "GET"
    assert first["path"] == "/api/v1/configs/absent"
    assert first["route"] == "/api/v1/configs/{name}"
    assert first["status"] == 404
    assert first["principal"] == "vera"
    assert first["client"] == "10.1.2.3"
    assert first["duration_ms"] >= 0
    assert datetime.fromisoformat(first["time"]).utcoffset() == timedelta(0)  # ISO 8601, UTC
    second = by_id[r2.headers["x-request-id"]]
    assert second["status"] == 401
    assert second["principal"] is None


# -- NUL characters: refused by name, on every store ------------------------------------

NUL_REQUESTS = {
    "body string": ("POST", "/api/v1/configs", CONFIG_BODY | {"description": "a\x00b"}, "body.description"),
    "config data key": (
        "POST",
        "/api/v1/configs/svc.dev/versions",
        {"configData": {"a\x00": 1}, "version": "1.0.0"},
        "body.configData",
    ),
    "config data string": (
        "POST",
        "/api/v1/configs/svc.dev/versions",
        {"configData": '{"a": "x\\u0000y"}', "version": "1.0.0"},
        "body.configData",
    ),
    "json schema": ("PATCH", "/api/v1/configs/svc.dev", {"jsonSchema": {"title": "\x00"}}, "body.jsonSchema.title"),
    "path": ("GET", "/api/v1/configs/svc%00dev", None, "path"),
    "query": ("GET", "/api/v1/audit?actor=a%00b", None, "query"),
}


@pytest.mark.parametrize("name", list(NUL_REQUESTS))
async def test_nul_characters_are_422_naming_the_field(
    name: str, client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    # PostgreSQL text and jsonb cannot hold NUL: without these checks the store refuses the write
    # and the client would see a 503 that blames the database.
    headers = await auth("operator", "olivia")
    assert (await client.post("/api/v1/configs", headers=headers, json=CONFIG_BODY)).status_code == 201
    audit_before = await count_rows("audit_records")
    method, url, body, field = NUL_REQUESTS[name]
    r = await client.request(method, url, headers=headers, json=body)
    problem = _assert_problem(r, 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert await count_rows("config_versions") == 0
    assert await count_rows("audit_records") == audit_before


# -- outages ------------------------------------------------------------------------------


async def test_database_outage_on_an_authenticated_route_is_503(
    container: Container, clock: ManualClock, tmp_path: Path
) -> None:
    async with _client_without_database(container, clock, tmp_path) as (client, c):
        token = c.codec.issue("olivia", Role.OPERATOR, timedelta(hours=1)).token
        r = await client.get("/api/v1/configs", headers={"Authorization": f"Bearer {token}"})
    body = _assert_problem(r, 503)
    assert r.headers["retry-after"] == "5"
    assert "database" in body["detail"]


class _BrokenLimiter:
    async def hit(self, scope: str, key: str) -> None:
        raise ConnectionError("redis is down")


async def test_a_rate_limiter_outage_lets_requests_through_and_is_counted(container: Container, auth: Auth) -> None:
    headers = await auth("viewer", "vera")
    working, container.rate_limiter = container.rate_limiter, _BrokenLimiter()  # type: ignore[assignment]
    try:
        async with httpx.AsyncClient(transport=_transport(container), base_url="http://hotswap.test") as client:
            assert (await client.get("/api/v1/configs", headers=headers)).status_code == 200
    finally:
        container.rate_limiter = working
    # Fail open, and say so: one error for the address limit and one for the token limit.
    assert container.metrics.registry.get_sample_value("hotswap_rate_limiter_errors_total") == 2


async def test_a_nul_in_the_path_of_an_anonymous_request_is_still_401(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get("/api/v1/configs/svc%00dev"), 401)
