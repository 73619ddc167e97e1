"""Authentication and authorisation at the HTTP edge: tokens, roles, revocation, API keys, docs."""

from __future__ import annotations

import base64
import json
import re
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from jwt.warnings import InsecureKeyLengthWarning
from prometheus_client.parser import text_string_to_metric_families

from hotswap.api import create_app
from hotswap.container import Container, build_container
from hotswap.core.clock import ManualClock
from hotswap.settings import Settings
from tests.conftest import SECRET
from tests.helpers import Auth, CountRows, fields, problem, token_as_spelled

# Marked here, not only by conftest: anyio re-creates late-marked items and drops their parametrization.


CONFIG_BODY = {"name": "svc.dev", "environment": "Development", "serviceType": "Microservice", "schemaVersion": "1.0"}
PUBLIC_OPERATIONS = {("GET", "/health"), ("GET", "/ready"), ("POST", "/api/v1/auth/token")}
DOC_PATHS = ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect")


def _document_operations(app: FastAPI) -> list[tuple[str, str]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return sorted(
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item if method in methods
    )


def _collect_operations() -> list[tuple[str, str]]:
    """The routes of the OpenAPI document, read at collection time (the app is never served)."""
    settings = Settings(
        env="test", database_url="sqlite+aiosqlite:///:memory:", jwt_secret=SECRET, rate_limit_enabled=False
    )
    return _document_operations(create_app(settings, container=build_container(settings)))


OPERATIONS = _collect_operations()
PROTECTED_OPERATIONS = [op for op in OPERATIONS if op not in PUBLIC_OPERATIONS]
# POSTs that only read: a body carries what a query string could not (an evaluation context).
READING_POSTS = {
    ("POST", "/api/v1/evaluate"),
    ("POST", "/api/v1/segments/preview"),
    ("POST", "/api/v1/segments/{segment_id}/preview"),
}
MUTATING_OPERATIONS = [op for op in PROTECTED_OPERATIONS if op[0] != "GET" and op not in READING_POSTS]


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "dummy", path)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _claims(headers: dict[str, str]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(_token_of(headers), options={"verify_signature": False})
    return claims


async def _audit_count(count_rows: CountRows) -> int:
    return await count_rows("audit_records")


def _assert_unauthorized(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 401
    assert body["type"].endswith("unauthorized")


@asynccontextmanager
async def _client_for(container: Container, clock: ManualClock, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app built with different settings, on the same (already emptied) database."""
    settings = container.settings.model_copy(update=changes)
    c = build_container(settings, clock=clock)
    try:
        if c.rate_limiter is not None:
            await c.rate_limiter.reset()
        transport = httpx.ASGITransport(app=create_app(settings, container=c), client=("10.1.2.3", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://hotswap.test") as client:
            yield client
    finally:
        await c.aclose()


# -- the write route refuses every bad credential, and writes nothing -------------------


async def _no_token(auth: Auth, clock: ManualClock) -> dict[str, str]:
    return {}


async def _expired(auth: Auth, clock: ManualClock) -> dict[str, str]:
    headers = await auth("admin", "alice", ttl=timedelta(minutes=5))
    clock.advance(timedelta(minutes=5, seconds=1))
    return headers


async def _expired_at_the_instant(auth: Auth, clock: ManualClock) -> dict[str, str]:
    headers = await auth("admin", "alice", ttl=timedelta(minutes=5))
    clock.advance(timedelta(minutes=5))
    return headers


async def _wrong_secret(auth: Auth, clock: ManualClock) -> dict[str, str]:
    claims = _claims(await auth("admin", "alice"))
    return _bearer(jwt.encode(claims, "another-secret-0123456789-0123456789-xyz", algorithm="HS256"))


async def _alg_none(auth: Auth, clock: ManualClock) -> dict[str, str]:
    claims = _claims(await auth("admin", "alice"))
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(claims).encode())
    return _bearer(f"{header}.{payload}.")


async def _other_algorithm(auth: Auth, clock: ManualClock) -> dict[str, str]:
    # The right secret but an algorithm the server is not configured for (HS256 only).
    claims = _claims(await auth("admin", "alice"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # the test secret is short for SHA-512
        return _bearer(jwt.encode(claims, SECRET, algorithm="HS512"))


async def _wrong_issuer(auth: Auth, clock: ManualClock) -> dict[str, str]:
    claims = _claims(await auth("admin", "alice")) | {"iss": "someone-else"}
    return _bearer(jwt.encode(claims, SECRET, algorithm="HS256"))


async def _unknown_role(auth: Auth, clock: ManualClock) -> dict[str, str]:
    claims = _claims(await auth("admin", "alice")) | {"role": "superuser"}
    return _bearer(jwt.encode(claims, SECRET, algorithm="HS256"))


async def _tampered_payload(auth: Auth, clock: ManualClock) -> dict[str, str]:
    # A viewer token whose payload is edited to say admin, keeping the viewer's signature.
    token = _token_of(await auth("viewer", "vera"))
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False}) | {"role": "admin"}
    return _bearer(f"{header}.{_b64url(json.dumps(claims).encode())}.{signature}")


def _malformed(value: str) -> Callable[[Auth, ManualClock], Awaitable[dict[str, str]]]:
    async def build(auth: Auth, clock: ManualClock) -> dict[str, str]:
        token = _token_of(await auth("admin", "alice"))
        return {"Authorization": value.format(token=token)}

    return build


async def _never_issued(auth: Auth, clock: ManualClock) -> dict[str, str]:
    # Signed with the right secret, but with an id the service never recorded (a leaked secret).
    claims = _claims(await auth("admin", "alice")) | {"jti": "tok_forged"}
    return _bearer(jwt.encode(claims, SECRET, algorithm="HS256"))


def _re_signed(
    issued_as: tuple[str, str], changes: dict[str, Any], *, outlive: bool = False
) -> Callable[[Auth, ManualClock], Awaitable[dict[str, str]]]:
    """A token recorded for (role, subject), signed again with the server's own secret (as whoever
    holds a leaked secret can) with other claims under the same id; `outlive`: a later expiry,
    after the recorded one has passed."""

    async def build(auth: Auth, clock: ManualClock) -> dict[str, str]:
        claims = _claims(await auth(*issued_as, ttl=timedelta(minutes=5))) | changes
        if outlive:
            clock.advance(timedelta(minutes=10))
            claims["exp"] += 24 * 3600
        return _bearer(jwt.encode(claims, SECRET, algorithm="HS256"))

    return build


async def _truncated(auth: Auth, clock: ManualClock) -> dict[str, str]:
    return _bearer(_token_of(await auth("admin", "alice"))[:-4])


UNAUTHENTICATED: dict[str, Callable[[Auth, ManualClock], Awaitable[dict[str, str]]]] = {
    "no-token": _no_token,
    "expired": _expired,
    "expired-at-exp": _expired_at_the_instant,
    "wrong-secret": _wrong_secret,
    "alg-none": _alg_none,
    "other-algorithm": _other_algorithm,
    "wrong-issuer": _wrong_issuer,
    "unknown-role": _unknown_role,
    "tampered-payload": _tampered_payload,
    "bearer-without-token": _malformed("Bearer"),
    "bearer-blank-token": _malformed("Bearer    "),
    "basic-scheme": _malformed("Basic YWRtaW46YWRtaW4="),
    "token-without-scheme": _malformed("{token}"),
    "not-a-jwt": _malformed("Bearer not.a.jwt"),
    "truncated-signature": _truncated,
    "never-issued": _never_issued,
    "re-signed-as-admin": _re_signed(("viewer", "vera"), {"role": "admin"}),
    "re-signed-as-operator": _re_signed(("viewer", "vera"), {"role": "operator"}),
    "re-signed-for-another-subject": _re_signed(("operator", "olivia"), {"sub": "ada"}),
    "re-signed-to-outlive-its-record": _re_signed(("operator", "olivia"), {}, outlive=True),
    "empty-header": _malformed(""),
}


@pytest.mark.parametrize("scenario", list(UNAUTHENTICATED))
async def test_write_route_refuses_bad_credentials_and_writes_nothing(
    scenario: str, client: httpx.AsyncClient, auth: Auth, clock: ManualClock, count_rows: CountRows
) -> None:
    headers = await UNAUTHENTICATED[scenario](auth, clock)
    audit_before = await _audit_count(count_rows)

    r = await client.post("/api/v1/configs", headers=headers, json=CONFIG_BODY)

    _assert_unauthorized(r)
    assert await count_rows("config_profiles") == 0
    assert await _audit_count(count_rows) == audit_before


@pytest.mark.parametrize("role", ["viewer", "approver", "server"])
async def test_write_route_forbids_roles_without_config_write(
    role: str, client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    headers = await auth(role, f"{role}-person")
    audit_before = await _audit_count(count_rows)

    r = await client.post("/api/v1/configs", headers=headers, json=CONFIG_BODY)

    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 403
    assert role in r.json()["detail"]
    assert await count_rows("config_profiles") == 0
    assert await _audit_count(count_rows) == audit_before


@pytest.mark.parametrize("role", ["operator", "admin"])
async def test_write_route_accepts_roles_with_config_write(
    role: str, client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    headers = await auth(role, "writer")
    audit_before = await _audit_count(count_rows)

    r = await client.post("/api/v1/configs", headers=headers, json=CONFIG_BODY)

    assert r.status_code == 201, r.text
    assert r.json()["createdBy"] == "writer"
    assert await count_rows("config_profiles") == 1
    assert await _audit_count(count_rows) == audit_before + 1


async def test_token_is_accepted_until_the_second_it_expires(
    client: httpx.AsyncClient, auth: Auth, clock: ManualClock
) -> None:
    headers = await auth("viewer", "vera", ttl=timedelta(minutes=5))
    clock.advance(timedelta(minutes=4, seconds=59))
    assert (await client.get("/api/v1/configs", headers=headers)).status_code == 200
    clock.advance(timedelta(seconds=1))
    r = await client.get("/api/v1/configs", headers=headers)
    _assert_unauthorized(r)
    assert "expired" in r.json()["detail"]


async def test_lowercase_bearer_scheme_is_accepted(client: httpx.AsyncClient, auth: Auth) -> None:
    token = _token_of(await auth("viewer"))
    r = await client.get("/api/v1/configs", headers={"Authorization": f"bearer {token}"})
    assert r.status_code == 200, r.text


# -- every route of the document needs a token ------------------------------------------


def test_the_document_lists_routes_of_every_slice() -> None:
    assert set(OPERATIONS) >= READING_POSTS
    paths = {path for _, path in OPERATIONS}
    assert {"/api/v1/configs", "/api/v1/tokens", "/api/v1/audit", "/api/v1/approvals", "/metrics"} <= paths
    assert set(OPERATIONS) >= PUBLIC_OPERATIONS


async def test_collected_routes_match_the_served_app(app: FastAPI) -> None:
    assert _document_operations(app) == OPERATIONS


@pytest.mark.parametrize(("method", "path"), PROTECTED_OPERATIONS, ids=[f"{m} {p}" for m, p in PROTECTED_OPERATIONS])
async def test_every_protected_route_needs_a_token(
    method: str, path: str, client: httpx.AsyncClient, count_rows: CountRows
) -> None:
    body: dict[str, Any] | None = {} if method in {"POST", "PATCH", "PUT"} else None
    r = await client.request(method, _fill(path), json=body)
    _assert_unauthorized(r)
    assert await _audit_count(count_rows) == 0


@pytest.mark.parametrize(("method", "path"), MUTATING_OPERATIONS, ids=[f"{m} {p}" for m, p in MUTATING_OPERATIONS])
async def test_viewer_may_not_call_any_mutating_route(
    method: str, path: str, client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    headers = await auth("viewer", "vera")
    audit_before = await _audit_count(count_rows)
    body: dict[str, Any] | None = {} if method in {"POST", "PATCH", "PUT"} else None
    r = await client.request(method, _fill(path), headers=headers, json=body)
    assert r.status_code == 403, r.text
    assert await _audit_count(count_rows) == audit_before


@pytest.mark.parametrize("path", ["/api/v1/configs", "/api/v1/approvals", "/api/v1/audit", "/metrics"])
async def test_server_role_may_not_read_operator_routes(path: str, client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.get(path, headers=await auth("server", "game-server-1"))
    assert r.status_code == 403, r.text


async def test_public_routes_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/ready")).status_code == 200
    # The token exchange authenticates with an API key in its body, not a bearer token.
    r = await client.post("/api/v1/auth/token", json={"apiKey": "hsk_nothing.here"})
    assert r.status_code == 401
    assert r.json()["detail"] == "The API key is not valid."


async def test_unknown_routes_need_a_token_too(client: httpx.AsyncClient) -> None:
    _assert_unauthorized(await client.get("/api/v1/no-such-thing"))


# -- revocation --------------------------------------------------------------------------


async def test_revoked_token_is_refused(client: httpx.AsyncClient, auth: Auth, count_rows: CountRows) -> None:
    admin = await auth("admin", "alice")
    r = await client.post("/api/v1/tokens", headers=admin, json={"subject": "olivia", "role": "operator"})
    assert r.status_code == 201, r.text
    issued = r.json()
    victim = _bearer(issued["accessToken"])
    assert (await client.get("/api/v1/configs", headers=victim)).status_code == 200

    r = await client.delete(f"/api/v1/tokens/{issued['tokenId']}", headers=admin)
    assert r.status_code == 204, r.text

    r = await client.get("/api/v1/configs", headers=victim)
    _assert_unauthorized(r)
    assert "revoked" in r.json()["detail"]
    r = await client.post("/api/v1/configs", headers=victim, json=CONFIG_BODY)
    _assert_unauthorized(r)
    assert await count_rows("config_profiles") == 0
    # Other tokens are untouched.
    assert (await client.get("/api/v1/configs", headers=admin)).status_code == 200

    listed = (await client.get("/api/v1/tokens", headers=admin, params={"includeRevoked": "true"})).json()
    revoked = next(t for t in listed if t["tokenId"] == issued["tokenId"])
    assert revoked["revokedAt"] is not None
    active = (await client.get("/api/v1/tokens", headers=admin)).json()
    assert issued["tokenId"] not in {t["tokenId"] for t in active}


def _auth_failures(text: str) -> dict[str, float]:
    families = text_string_to_metric_families(text)
    samples = [s for family in families for s in family.samples if s.name == "hotswap_auth_failures_total"]
    return {s.labels["reason"]: s.value for s in samples}


async def test_a_token_re_signed_under_a_higher_role_is_refused_though_its_twin_is_remembered(
    client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    admin = await auth("admin", "root")
    viewer = await auth("viewer", "vera")
    forged = _bearer(jwt.encode(_claims(viewer) | {"role": "admin"}, SECRET, algorithm="HS256"))
    # The genuine token is accepted, and remembered by the authenticator, first.
    assert (await client.get("/api/v1/configs", headers=viewer)).status_code == 200

    for method, path in [
        ("POST", "/api/v1/configs"),
        ("POST", "/api/v1/configs"),  # refused again: a refusal is never remembered as valid
        ("GET", "/api/v1/tokens"),
        ("GET", "/api/v1/snapshot?environment=Staging"),  # the hot path
    ]:
        r = await client.request(method, path, headers=forged, json=CONFIG_BODY if method == "POST" else None)
        _assert_unauthorized(r)
        assert "does not match the token issued under its id" in r.json()["detail"]
    assert await count_rows("config_profiles") == 0

    # The genuine token is still the viewer it was issued as.
    assert (await client.get("/api/v1/configs", headers=viewer)).status_code == 200
    assert (await client.post("/api/v1/configs", headers=viewer, json=CONFIG_BODY)).status_code == 403
    failures = _auth_failures((await client.get("/metrics", headers=admin)).text)
    assert failures == {"forged": 4}


async def test_a_token_re_signed_after_it_was_revoked_counts_as_forged(client: httpx.AsyncClient, auth: Auth) -> None:
    admin = await auth("admin", "root")
    viewer = await auth("viewer", "vera")
    assert (await client.delete(f"/api/v1/tokens/{_claims(viewer)['jti']}", headers=admin)).status_code == 204
    forged = _bearer(jwt.encode(_claims(viewer) | {"role": "admin"}, SECRET, algorithm="HS256"))
    _assert_unauthorized(await client.get("/api/v1/configs", headers=forged))
    _assert_unauthorized(await client.get("/api/v1/configs", headers=viewer))
    assert _auth_failures((await client.get("/metrics", headers=admin)).text) == {"forged": 1, "revoked": 1}


async def test_a_token_recorded_under_an_earlier_spelling_is_still_accepted(
    client: httpx.AsyncClient, container: Container
) -> None:
    # Recorded before subjects were stored canonical: its claims match its record as they are.
    legacy = await token_as_spelled(container, "operator", "Olivia")
    r = await client.post("/api/v1/configs", headers=legacy, json=CONFIG_BODY)
    assert r.status_code == 201, r.text
    assert r.json()["createdBy"] == "Olivia"


# -- subjects ------------------------------------------------------------------------------


async def test_the_token_route_stores_the_subject_canonical(client: httpx.AsyncClient, auth: Auth) -> None:
    admin = await auth("admin", "root")
    r = await client.post("/api/v1/tokens", headers=admin, json={"subject": "  Alice   Smith ", "role": "viewer"})
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["subject"] == "alice smith"
    assert _claims(_bearer(issued["accessToken"]))["sub"] == "alice smith"

    for spelling in ("ALICE SMITH", "alice smith"):
        listed = (await client.get("/api/v1/tokens", headers=admin, params={"subject": spelling})).json()
        assert [t["tokenId"] for t in listed] == [issued["tokenId"]]
    audit = (await client.get("/api/v1/audit", headers=admin, params={"action": "token.issue"})).json()
    assert [(i["actor"], i["targetId"]) for i in audit["items"]][:1] == [("root", issued["tokenId"])]
    assert "'alice smith'" in audit["items"][0]["summary"]


async def test_the_token_list_finds_tokens_recorded_under_an_earlier_spelling(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    legacy = _claims(await token_as_spelled(container, "viewer", "Vera"))["jti"]
    current = _claims(await auth("viewer", "VERA"))["jti"]
    admin = await auth("admin", "root")
    listed = (await client.get("/api/v1/tokens", headers=admin, params={"subject": "Vera"})).json()
    assert {t["tokenId"] for t in listed} == {legacy, current}


@pytest.mark.parametrize("subject", ["ali\u200bce", "\u202eecila", "ali\u2028ce"])
async def test_a_subject_with_an_invisible_character_is_refused(
    subject: str, client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    admin = await auth("admin", "root")
    tokens_before = await count_rows("tokens")
    r = await client.post("/api/v1/tokens", headers=admin, json={"subject": subject, "role": "viewer"})
    assert fields(problem(r, 422)) == ["body.subject"]
    r = await client.post("/api/v1/credentials", headers=admin, json={"name": subject, "role": "viewer"})
    assert fields(problem(r, 422)) == ["body.name"]
    assert await count_rows("tokens") == tokens_before
    assert await count_rows("credentials") == 0


async def test_an_api_key_is_named_canonical_and_exchanges_for_that_subject(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    admin = await auth("admin", "root")
    created = await _create_key(client, admin, "Fleet  EU", "server")
    assert created["name"] == "fleet eu"
    r = await client.post("/api/v1/auth/token", json={"apiKey": created["apiKey"]})
    assert r.status_code == 201, r.text
    assert r.json()["subject"] == "fleet eu"

    # A key named before names were stored canonical exchanges for the canonical subject.
    async with container.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE credentials SET name = 'Fleet EU'"))
    r = await client.post("/api/v1/auth/token", json={"apiKey": created["apiKey"]})
    assert r.status_code == 201, r.text
    assert r.json()["subject"] == "fleet eu"
    assert (
        await client.get("/api/v1/snapshot?environment=Staging", headers=_bearer(r.json()["accessToken"]))
    ).status_code == 200


async def test_revoking_twice_is_harmless_and_audited_once(
    client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    admin = await auth("admin", "alice")
    token_id = _claims(await auth("operator", "olivia"))["jti"]
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=admin)).status_code == 204
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=admin)).status_code == 204
    page = (await client.get("/api/v1/audit", headers=admin, params={"action": "token.revoke"})).json()
    assert [(i["actor"], i["targetId"]) for i in page["items"]] == [("alice", token_id)]


async def test_revoking_an_unknown_token_is_404(client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.delete("/api/v1/tokens/tok_missing", headers=await auth("admin"))
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


# -- API keys ----------------------------------------------------------------------------


async def _create_key(client: httpx.AsyncClient, admin: dict[str, str], name: str, role: str) -> dict[str, Any]:
    r = await client.post("/api/v1/credentials", headers=admin, json={"name": name, "role": role})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_api_key_exchanges_for_a_token_with_its_role(
    client: httpx.AsyncClient, auth: Auth, clock: ManualClock, container: Container
) -> None:
    admin = await auth("admin", "alice")
    created = await _create_key(client, admin, "ci-bot", "operator")
    assert created["apiKey"].startswith("hsk_")
    assert created["name"] == "ci-bot"
    assert created["role"] == "operator"

    r = await client.post("/api/v1/auth/token", json={"apiKey": created["apiKey"]})
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["tokenType"] == "Bearer"
    assert issued["role"] == "operator"
    assert issued["subject"] == "ci-bot"
    assert datetime.fromisoformat(issued["expiresAt"]) == clock.now() + timedelta(hours=1)
    claims = jwt.decode(issued["accessToken"], SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["role"] == "operator"
    assert claims["jti"] == issued["tokenId"]

    bot = _bearer(issued["accessToken"])
    r = await client.post("/api/v1/configs", headers=bot, json=CONFIG_BODY)
    assert r.status_code == 201, r.text
    assert r.json()["createdBy"] == "ci-bot"
    assert (await client.get("/api/v1/tokens", headers=bot)).status_code == 403

    # The key is shown once: only a hash of its secret is kept.
    secret = created["apiKey"].partition(".")[2]
    async with container.engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT * FROM credentials"))).all()
    assert len(rows) == 1
    assert all(secret not in str(value) for value in rows[0])


async def test_api_key_exchange_honours_a_requested_ttl(
    client: httpx.AsyncClient, auth: Auth, clock: ManualClock
) -> None:
    created = await _create_key(client, await auth("admin"), "short", "viewer")
    r = await client.post("/api/v1/auth/token", json={"apiKey": created["apiKey"], "ttlSeconds": 60})
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["expiresAt"]) == clock.now() + timedelta(seconds=60)
    token = _bearer(r.json()["accessToken"])
    clock.advance(timedelta(seconds=61))
    _assert_unauthorized(await client.get("/api/v1/configs", headers=token))


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda k: k[:-2] + ("AA" if not k.endswith("AA") else "BB"), id="wrong-secret"),
        pytest.param(lambda k: "hsk_key_doesnotexist." + k.partition(".")[2], id="unknown-id"),
        pytest.param(lambda k: k.removeprefix("hsk_"), id="no-prefix"),
        pytest.param(lambda k: k.partition(".")[0], id="no-secret"),
        pytest.param(lambda k: k + "x", id="longer-secret"),
        pytest.param(lambda k: "hsk_", id="prefix-only"),
    ],
)
async def test_wrong_api_key_is_refused(
    mangle: Callable[[str], str], client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    created = await _create_key(client, await auth("admin"), "ci-bot", "admin")
    tokens_before = await count_rows("tokens")
    audit_before = await _audit_count(count_rows)

    r = await client.post("/api/v1/auth/token", json={"apiKey": mangle(created["apiKey"])})

    _assert_unauthorized(r)
    assert await count_rows("tokens") == tokens_before
    assert await _audit_count(count_rows) == audit_before


async def test_revoked_api_key_no_longer_exchanges(
    client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    admin = await auth("admin", "alice")
    created = await _create_key(client, admin, "ci-bot", "operator")
    assert (await client.post("/api/v1/auth/token", json={"apiKey": created["apiKey"]})).status_code == 201

    r = await client.delete(f"/api/v1/credentials/{created['id']}", headers=admin)
    assert r.status_code == 204, r.text
    tokens_before = await count_rows("tokens")

    _assert_unauthorized(await client.post("/api/v1/auth/token", json={"apiKey": created["apiKey"]}))
    assert await count_rows("tokens") == tokens_before
    assert (await client.delete("/api/v1/credentials/key_missing", headers=admin)).status_code == 404


async def test_revoking_an_api_key_revokes_the_tokens_issued_from_it(client: httpx.AsyncClient, auth: Auth) -> None:
    admin = await auth("admin", "alice")
    created = await _create_key(client, admin, "eu-fleet", "viewer")
    exchanged = await client.post("/api/v1/auth/token", json={"apiKey": created["apiKey"]})
    holder = _bearer(exchanged.json()["accessToken"])
    assert (await client.get("/api/v1/configs", headers=holder)).status_code == 200

    assert (await client.delete(f"/api/v1/credentials/{created['id']}", headers=admin)).status_code == 204

    _assert_unauthorized(await client.get("/api/v1/configs", headers=holder))
    assert (await client.get("/api/v1/configs", headers=admin)).status_code == 200  # other tokens unaffected
    audit = (await client.get("/api/v1/audit?action=credential.revoke", headers=admin)).json()["items"]
    assert "1 token(s)" in audit[0]["summary"]


# -- token administration needs admin ----------------------------------------------------

TOKEN_ADMIN_ROUTES = [
    ("POST", "/api/v1/tokens", {"subject": "mallory", "role": "admin"}),
    ("GET", "/api/v1/tokens", None),
    ("DELETE", "/api/v1/tokens/{token_id}", None),
    ("POST", "/api/v1/credentials", {"name": "mallory", "role": "admin"}),
    ("DELETE", "/api/v1/credentials/{credential_id}", None),
]


@pytest.mark.parametrize("role", ["operator", "approver", "viewer", "server"])
@pytest.mark.parametrize(
    ("method", "path", "body"), TOKEN_ADMIN_ROUTES, ids=[f"{m} {p}" for m, p, _ in TOKEN_ADMIN_ROUTES]
)
async def test_token_admin_routes_need_admin(
    role: str,
    method: str,
    path: str,
    body: dict[str, str] | None,
    client: httpx.AsyncClient,
    auth: Auth,
    count_rows: CountRows,
) -> None:
    admin = await auth("admin", "alice")
    key = await _create_key(client, admin, "existing", "viewer")
    token_id = _claims(await auth("viewer", "someone"))["jti"]
    headers = await auth(role, "not-an-admin")
    counts = [await count_rows(t) for t in ("tokens", "credentials", "audit_records")]

    url = path.format(token_id=token_id, credential_id=key["id"])
    r = await client.request(method, url, headers=headers, json=body)

    assert r.status_code == 403, r.text
    assert [await count_rows(t) for t in ("tokens", "credentials", "audit_records")] == counts
    # Nothing was revoked either.
    listed = (await client.get("/api/v1/tokens", headers=admin)).json()
    assert token_id in {t["tokenId"] for t in listed}
    assert (await client.post("/api/v1/auth/token", json={"apiKey": key["apiKey"]})).status_code == 201


# -- the OpenAPI document and its viewers ------------------------------------------------


@pytest.mark.parametrize("path", DOC_PATHS)
async def test_docs_need_a_token_by_default(path: str, client: httpx.AsyncClient, auth: Auth) -> None:
    _assert_unauthorized(await client.get(path))
    r = await client.get(path, headers=await auth("viewer"))
    assert r.status_code == 200, r.text


async def test_openapi_document_for_a_viewer(client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.get("/openapi.json", headers=await auth("viewer"))
    assert r.status_code == 200
    document = r.json()
    assert "/api/v1/configs" in document["paths"]
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


async def test_public_docs_setting_opens_only_the_docs(
    container: Container, clock: ManualClock, count_rows: CountRows
) -> None:
    async with _client_for(container, clock, public_docs=True) as client:
        for path in DOC_PATHS:
            r = await client.get(path)
            assert r.status_code == 200, (path, r.text)
        assert "/api/v1/configs" in (await client.get("/openapi.json")).json()["paths"]
        _assert_unauthorized(await client.get("/api/v1/configs"))
        _assert_unauthorized(await client.get("/metrics"))
        _assert_unauthorized(await client.post("/api/v1/configs", json=CONFIG_BODY))
    assert await count_rows("config_profiles") == 0


# -- refusals that say what to do -----------------------------------------------------------

# A route FastAPI serves and a hot route (answered in front of FastAPI): both authenticate alike.
AUTHENTICATED_GETS = ["/api/v1/configs", "/api/v1/snapshot?environment=Staging"]


@pytest.mark.parametrize("path", AUTHENTICATED_GETS)
@pytest.mark.parametrize("header", ["Bearer {key}", "bearer  {key}", "{key}", "ApiKey {key}"])
async def test_an_api_key_sent_as_a_token_says_to_exchange_it(
    path: str, header: str, client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    created = await _create_key(client, await auth("admin"), "eu-fleet", "server")
    tokens_before = await count_rows("tokens")

    r = await client.get(path, headers={"Authorization": header.format(key=created["apiKey"])})

    _assert_unauthorized(r)
    body = r.json()
    assert body["detail"] == (
        "This is an API key, not a bearer token: exchange it at POST /api/v1/auth/token "
        '(body {"apiKey": "hsk_..."}) and send the accessToken it answers as `Authorization: Bearer <token>`.'
    )
    assert body["tokenUrl"] == "/api/v1/auth/token"
    assert created["apiKey"].partition(".")[2] not in r.text
    assert await count_rows("tokens") == tokens_before  # refused as sent: not exchanged behind the caller's back


@pytest.mark.parametrize("path", AUTHENTICATED_GETS)
async def test_an_expired_token_says_when_and_how_to_get_a_new_one(
    path: str, client: httpx.AsyncClient, auth: Auth, clock: ManualClock
) -> None:
    headers = await auth("viewer", "vera", ttl=timedelta(minutes=5))
    expiry = (clock.now() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await client.get(path, headers=headers)).status_code == 200
    clock.advance(timedelta(minutes=5))

    r = await client.get(path, headers=headers)

    _assert_unauthorized(r)
    body = r.json()
    assert body["detail"] == (
        f"The bearer token expired at {expiry}. Get a new one: exchange your API key at "
        "POST /api/v1/auth/token, or ask an admin (`hotswap token create`)."
    )
    assert body["expiredAt"] == expiry
    assert body["tokenUrl"] == "/api/v1/auth/token"


@pytest.mark.parametrize("path", AUTHENTICATED_GETS)
async def test_a_missing_token_says_how_to_send_one(path: str, client: httpx.AsyncClient) -> None:
    r = await client.get(path)
    _assert_unauthorized(r)
    assert r.json()["detail"] == (
        "A bearer token is required: send `Authorization: Bearer <token>` "
        "(an API key is exchanged for one at POST /api/v1/auth/token)."
    )
    r = await client.get(path, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    _assert_unauthorized(r)
    assert r.json()["detail"] == "Use the Bearer scheme: `Authorization: Bearer <token>`."


async def test_a_token_sent_to_the_key_exchange_says_where_it_goes(
    client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    token = _token_of(await auth("admin", "alice"))
    tokens_before = await count_rows("tokens")
    r = await client.post("/api/v1/auth/token", json={"apiKey": token})
    _assert_unauthorized(r)
    assert r.json()["detail"] == (
        "This is a bearer token, not an API key: send it as `Authorization: Bearer <token>` "
        "on the other routes; this one takes an API key (hsk_...)."
    )
    assert await count_rows("tokens") == tokens_before
