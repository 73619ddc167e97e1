"""The audit trail over HTTP: what mutations record, filters, cursor pagination, access."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import jwt
import pytest

from hotswap.core.clock import ManualClock
from tests.helpers import Auth, CountRows

# Marked here, not only by conftest: anyio re-creates late-marked items and drops their parametrization.


SETUP_ACTOR = "test-setup"  # the `auth` fixture issues its tokens as this actor, which is audited too


def _config(name: str) -> dict[str, str]:
    return {"name": name, "environment": "Development", "serviceType": "Microservice", "schemaVersion": "1.0"}


def _cursor(position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _jti(headers: dict[str, str]) -> str:
    token = headers["Authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


async def _audit(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/audit", headers=headers, params=params)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


async def _create_config(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> httpx.Response:
    r = await client.post("/api/v1/configs", headers=headers, json=_config(name))
    assert r.status_code == 201, r.text
    return r


def _at(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["at"])


# -- what is recorded --------------------------------------------------------------------


async def test_mutations_record_who_did_what_to_which_target_and_when(
    client: httpx.AsyncClient, auth: Auth, clock: ManualClock
) -> None:
    admin = await auth("admin", "alice")
    operator = await auth("operator", "olivia")
    start = clock.now()

    clock.advance(timedelta(minutes=1))
    created = await client.post(
        "/api/v1/configs", headers=operator | {"X-Request-ID": "req-create"}, json=_config("svc.dev")
    )
    assert created.status_code == 201, created.text
    clock.advance(timedelta(minutes=1))
    version = await client.post(
        "/api/v1/configs/svc.dev/versions",
        headers=operator,
        json={"configData": {"maxPlayers": 64}, "version": "1.0.0"},
    )
    assert version.status_code == 201, version.text
    clock.advance(timedelta(minutes=1))
    token = await client.post("/api/v1/tokens", headers=admin, json={"subject": "bot", "role": "viewer"})
    assert token.status_code == 201, token.text

    items = (await _audit(client, await auth("viewer")))["items"]
    ours = [i for i in items if i["actor"] != SETUP_ACTOR]
    assert [(i["actor"], i["actorRole"], i["action"], i["targetType"], i["targetId"]) for i in ours] == [
        ("alice", "admin", "token.issue", "token", token.json()["tokenId"]),
        ("olivia", "operator", "config.version.create", "config", "svc.dev"),
        ("olivia", "operator", "config.create", "config", "svc.dev"),
    ]
    issued, versioned, create = ours
    assert [_at(i) for i in (create, versioned, issued)] == [start + timedelta(minutes=m) for m in (1, 2, 3)]
    assert "svc.dev" in create["summary"]
    assert "Development" in create["summary"]
    assert "1.0.0" in versioned["summary"]
    assert "bot" in issued["summary"]
    assert "viewer" in issued["summary"]
    assert create["afterRef"] == created.json()["id"]
    assert versioned["afterRef"] == version.json()["id"]
    assert versioned["details"] == {"checksum": version.json()["checksum"]}
    assert create["requestId"] == "req-create"
    assert versioned["requestId"] == version.headers["x-request-id"]
    assert all(isinstance(i["id"], int) for i in items)


async def test_every_auth_and_config_mutation_is_recorded(client: httpx.AsyncClient, auth: Auth) -> None:
    admin = await auth("admin", "alice")
    await _create_config(client, admin, "svc.dev")
    r = await client.patch("/api/v1/configs/svc.dev", headers=admin, json={"description": "the service"})
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/configs/svc.dev/archive", headers=admin)
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/tokens", headers=admin, json={"subject": "bot", "role": "viewer"})
    token_id = r.json()["tokenId"]
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=admin)).status_code == 204
    r = await client.post("/api/v1/credentials", headers=admin, json={"name": "ci-bot", "role": "operator"})
    key = r.json()
    exchanged = await client.post("/api/v1/auth/token", json={"apiKey": key["apiKey"]})
    assert exchanged.status_code == 201, exchanged.text
    assert (await client.delete(f"/api/v1/credentials/{key['id']}", headers=admin)).status_code == 204

    items = (await _audit(client, admin))["items"]
    trail = [(i["actor"], i["action"], i["targetType"], i["targetId"]) for i in reversed(items)]
    assert trail == [
        (SETUP_ACTOR, "token.issue", "token", _jti(admin)),
        ("alice", "config.create", "config", "svc.dev"),
        ("alice", "config.update", "config", "svc.dev"),
        ("alice", "config.archive", "config", "svc.dev"),
        ("alice", "token.issue", "token", token_id),
        ("alice", "token.revoke", "token", token_id),
        ("alice", "credential.create", "credential", key["id"]),
        ("ci-bot", "token.issue", "token", exchanged.json()["tokenId"]),
        ("alice", "credential.revoke", "credential", key["id"]),
    ]
    # The API key itself never reaches the trail.
    secret = key["apiKey"].partition(".")[2]
    assert all(secret not in json.dumps(i) for i in items)


async def test_refused_and_read_only_requests_record_nothing(
    client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    operator = await auth("operator", "olivia")
    await _create_config(client, operator, "svc.dev")
    before = await count_rows("audit_records")

    assert (await client.post("/api/v1/configs", headers=operator, json=_config("svc.dev"))).status_code == 409
    assert (await client.post("/api/v1/configs", headers=operator, json={"name": "x"})).status_code == 422
    assert (
        await client.post("/api/v1/tokens", headers=operator, json={"subject": "s", "role": "admin"})
    ).status_code == 403
    assert (await client.get("/api/v1/configs/svc.dev", headers=operator)).status_code == 200
    assert (await client.get("/api/v1/audit", headers=operator)).status_code == 200

    assert await count_rows("audit_records") == before


# -- filters -----------------------------------------------------------------------------


@pytest.fixture
async def history(client: httpx.AsyncClient, auth: Auth, clock: ManualClock) -> dict[str, Any]:
    """Seven records an hour apart at most, from three actors, on two target types."""
    t0 = clock.now()
    admin = await auth("admin", "alice", ttl=timedelta(days=1))  # t0: test-setup token.issue
    operator = await auth("operator", "olivia", ttl=timedelta(days=1))  # t0: test-setup token.issue
    clock.advance(timedelta(hours=1))
    await _create_config(client, operator, "a.dev")  # t0+1h
    clock.advance(timedelta(hours=1))
    await _create_config(client, operator, "b.dev")  # t0+2h
    clock.advance(timedelta(hours=1))
    r = await client.post(
        "/api/v1/configs/a.dev/versions", headers=operator, json={"configData": {"x": 1}, "version": "1.0.0"}
    )
    assert r.status_code == 201, r.text  # t0+3h
    clock.advance(timedelta(hours=1))
    r = await client.post("/api/v1/tokens", headers=admin, json={"subject": "bot", "role": "viewer"})
    assert r.status_code == 201, r.text  # t0+4h
    clock.advance(timedelta(hours=1))
    return {"t0": t0, "admin": admin, "operator": operator, "bot_token": r.json()["tokenId"]}


def _keys(page: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i["action"], i["targetId"]) for i in page["items"]]


async def test_filter_by_actor(client: httpx.AsyncClient, history: dict[str, Any]) -> None:
    h = history["admin"]
    olivia = await _audit(client, h, actor="olivia")
    assert _keys(olivia) == [("config.version.create", "a.dev"), ("config.create", "b.dev"), ("config.create", "a.dev")]
    assert {i["actor"] for i in olivia["items"]} == {"olivia"}
    assert _keys(await _audit(client, h, actor="alice")) == [("token.issue", history["bot_token"])]
    assert (await _audit(client, h, actor="nobody")) == {"items": [], "nextCursor": None}


async def test_filter_by_action_and_target(client: httpx.AsyncClient, history: dict[str, Any]) -> None:
    h = history["admin"]
    assert _keys(await _audit(client, h, action="config.create")) == [
        ("config.create", "b.dev"),
        ("config.create", "a.dev"),
    ]
    tokens = await _audit(client, h, targetType="token")
    assert [i["actor"] for i in tokens["items"]] == ["alice", SETUP_ACTOR, SETUP_ACTOR]
    assert _keys(await _audit(client, h, targetId="a.dev")) == [
        ("config.version.create", "a.dev"),
        ("config.create", "a.dev"),
    ]
    assert _keys(await _audit(client, h, targetType="config", targetId="a.dev", action="config.create")) == [
        ("config.create", "a.dev")
    ]
    assert (await _audit(client, h, targetType="token", targetId="a.dev"))["items"] == []


async def test_filter_by_time_window(client: httpx.AsyncClient, history: dict[str, Any]) -> None:
    h, t0 = history["admin"], history["t0"]
    assert isinstance(t0, datetime)

    def iso(hours: int) -> str:
        return (t0 + timedelta(hours=hours)).isoformat()

    since = await _audit(client, h, since=iso(2))  # inclusive
    assert [_at(i) - t0 for i in since["items"]] == [timedelta(hours=n) for n in (4, 3, 2)]
    until = await _audit(client, h, until=iso(2))  # exclusive
    assert [_at(i) - t0 for i in until["items"]] == [timedelta(hours=n) for n in (1, 0, 0)]
    window = await _audit(client, h, since=iso(1), until=iso(3))
    assert _keys(window) == [("config.create", "b.dev"), ("config.create", "a.dev")]
    assert (await _audit(client, h, since=iso(5)))["items"] == []


async def test_time_filters_honour_the_offset(client: httpx.AsyncClient, history: dict[str, Any]) -> None:
    h, t0 = history["admin"], history["t0"]
    in_utc = (t0 + timedelta(hours=2)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    in_cest = (t0 + timedelta(hours=2)).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert in_cest.endswith("+02:00")
    expected = _keys(await _audit(client, h, since=(t0 + timedelta(hours=2)).isoformat()))
    assert len(expected) == 3
    assert _keys(await _audit(client, h, since=in_utc)) == expected
    assert _keys(await _audit(client, h, since=in_cest)) == expected


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("since", "2026-06-01T13:00:00"),  # no offset: ambiguous
        ("until", "2026-06-01"),
        ("since", "yesterday"),
        ("until", "2026-13-01T00:00:00Z"),
    ],
)
async def test_invalid_time_filter_is_422_naming_it(
    param: str, value: str, client: httpx.AsyncClient, auth: Auth
) -> None:
    r = await client.get("/api/v1/audit", headers=await auth("viewer"), params={param: value})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [f"query.{param}"]


async def test_filters_combine_with_pagination(client: httpx.AsyncClient, history: dict[str, Any]) -> None:
    h = history["admin"]
    first = await _audit(client, h, actor="olivia", limit=2)
    assert _keys(first) == [("config.version.create", "a.dev"), ("config.create", "b.dev")]
    second = await _audit(client, h, actor="olivia", limit=2, cursor=first["nextCursor"])
    assert _keys(second) == [("config.create", "a.dev")]
    assert second["nextCursor"] is None


# -- cursor pagination -------------------------------------------------------------------


async def _five_records(client: httpx.AsyncClient, auth: Auth, clock: ManualClock) -> dict[str, str]:
    admin = await auth("admin", "alice")  # one record
    for n in range(4):  # four more, some at the same instant: order must not depend on time
        if n % 2:
            clock.advance(timedelta(seconds=1))
        await _create_config(client, admin, f"svc-{n}.dev")
    return admin


async def test_cursor_walks_every_record_once_in_a_stable_order(
    client: httpx.AsyncClient, auth: Auth, clock: ManualClock, count_rows: CountRows
) -> None:
    admin = await _five_records(client, auth, clock)
    assert await count_rows("audit_records") == 5
    everything = await _audit(client, admin)
    assert everything["nextCursor"] is None
    all_ids = [i["id"] for i in everything["items"]]
    assert all_ids == sorted(all_ids, reverse=True)

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await _audit(client, admin, **params)
        pages.append([i["id"] for i in page["items"]])
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert len(pages) < 10, "the cursor never ends"

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == all_ids


async def test_new_records_do_not_shift_a_walk_in_progress(
    client: httpx.AsyncClient, auth: Auth, clock: ManualClock
) -> None:
    admin = await _five_records(client, auth, clock)
    all_ids = [i["id"] for i in (await _audit(client, admin))["items"]]

    first = await _audit(client, admin, limit=2)
    await _create_config(client, admin, "late.dev")  # newer than anything being walked
    second = await _audit(client, admin, limit=2, cursor=first["nextCursor"])
    third = await _audit(client, admin, limit=2, cursor=second["nextCursor"])

    walked = [i["id"] for page in (first, second, third) for i in page["items"]]
    assert walked == all_ids
    assert third["nextCursor"] is None
    # Replaying a cursor gives the same page.
    assert (await _audit(client, admin, limit=2, cursor=first["nextCursor"]))["items"] == second["items"]


async def test_exact_page_boundary_ends_without_an_empty_page(
    client: httpx.AsyncClient, auth: Auth, clock: ManualClock
) -> None:
    admin = await auth("admin", "alice")
    await _create_config(client, admin, "svc.dev")  # two records in all
    page = await _audit(client, admin, limit=2)
    assert len(page["items"]) == 2
    assert page["nextCursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!", id="not-base64"),
        pytest.param("bm90IGpzb24", id="not-json"),
        pytest.param(_cursor([1]), id="array"),
        pytest.param(_cursor({"x": 1}), id="no-id"),
        pytest.param(_cursor({"id": "5"}), id="string-id"),
        pytest.param(_cursor({"id": 1.5}), id="float-id"),
        pytest.param(_cursor({"id": True}), id="bool-id"),
        pytest.param(_cursor({"id": None}), id="null-id"),
        pytest.param(_cursor({"id": 0}), id="zero-id"),
        pytest.param(_cursor({"id": -5}), id="negative-id"),
        pytest.param(_cursor({"id": 2**63}), id="id-past-bigint"),
        pytest.param(_cursor({"id": 2**64 - 1}), id="id-max-u64"),
        pytest.param(_cursor({"id": 10**30}), id="id-huge"),
    ],
)
async def test_invalid_cursor_is_422_naming_cursor(cursor: str, client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.get("/api/v1/audit", headers=await auth("viewer"), params={"cursor": cursor})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 422
    assert [e["field"] for e in body["errors"]] == ["query.cursor"]


@pytest.mark.parametrize("limit", ["0", "-1", "501", "100000", "ten"])
async def test_limit_out_of_range_is_422(limit: str, client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.get("/api/v1/audit", headers=await auth("viewer"), params={"limit": limit})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["query.limit"]


@pytest.mark.parametrize("limit", ["1", "500"])
async def test_limit_bounds_are_accepted(limit: str, client: httpx.AsyncClient, auth: Auth) -> None:
    page = await _audit(client, await auth("viewer"), limit=limit)
    assert len(page["items"]) == 1


# -- access ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "approver", "operator", "admin"])
async def test_readers_may_read_the_audit_trail(role: str, client: httpx.AsyncClient, auth: Auth) -> None:
    page = await _audit(client, await auth(role, "reader"))
    assert [(i["action"], i["targetType"]) for i in page["items"]] == [("token.issue", "token")]


async def test_server_role_may_not_read_the_audit_trail(client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.get("/api/v1/audit", headers=await auth("server", "game-server-1"))
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "items" not in r.json()


async def test_audit_trail_needs_a_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/audit")
    assert r.status_code == 401
    assert "www-authenticate" in r.headers
