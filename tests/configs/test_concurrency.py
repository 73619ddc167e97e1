"""Two (or more) requests at once on every write: exactly one wins where only one may, never a 5xx.

The requests run concurrently on one event loop against the real app; the database serializes
them (row locks on PostgreSQL, BEGIN IMMEDIATE on SQLite), so each test must hold on both.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from hotswap.container import Container
from tests.helpers import Auth, CountRows, Headers, codes

DAY = timedelta(days=1)
N = 8


def winner(responses: list[httpx.Response], status: int) -> tuple[httpx.Response, httpx.Response]:
    """(the one that got `status`, the one refused with 409) out of two responses."""
    assert codes(responses) == sorted([status, 409]), [r.text for r in responses]
    won = next(r for r in responses if r.status_code == status)
    lost = next(r for r in responses if r.status_code == 409)
    assert lost.headers["content-type"].startswith("application/problem+json")
    return won, lost


async def create_config(client: httpx.AsyncClient, headers: Headers, name: str, environment: str) -> None:
    r = await client.post("/api/v1/configs", headers=headers, json={"name": name, "environment": environment})
    assert r.status_code == 201, r.text


def version_request(client: httpx.AsyncClient, headers: Headers, name: str, version: str, data: Any) -> Any:
    return client.post(
        f"/api/v1/configs/{name}/versions", headers=headers, json={"configData": data, "version": version}
    )


async def add_versions(client: httpx.AsyncClient, headers: Headers, name: str, *versions: str) -> None:
    for i, version in enumerate(versions):
        r = await version_request(client, headers, name, version, {"n": i})
        assert r.status_code == 201, r.text


async def audit_actions(client: httpx.AsyncClient, headers: Headers, target_id: str) -> list[str]:
    r = await client.get("/api/v1/audit", headers=headers, params={"targetId": target_id, "limit": 500})
    return [a["action"] for a in r.json()["items"]]


async def live_version(client: httpx.AsyncClient, headers: Headers, name: str) -> str | None:
    live: str | None = (await client.get(f"/api/v1/configs/{name}", headers=headers)).json()["liveVersion"]
    return live


# -- profiles ----------------------------------------------------------------------------


async def test_same_profile_created_twice_at_once(
    client: httpx.AsyncClient, op: Headers, auth: Auth, count_rows: CountRows
) -> None:
    other = await auth("admin", "ada", ttl=DAY)
    responses = await asyncio.gather(
        client.post("/api/v1/configs", headers=op, json={"name": "svc", "environment": "Development"}),
        client.post("/api/v1/configs", headers=other, json={"name": "svc", "environment": "Staging"}),
    )
    won, _ = winner(list(responses), 201)
    assert await count_rows("config_profiles") == 1
    stored = (await client.get("/api/v1/configs/svc", headers=op)).json()
    assert stored["environment"] == won.json()["environment"]
    assert stored["createdBy"] == won.json()["createdBy"]
    assert await audit_actions(client, op, "svc") == ["config.create"]


async def test_many_different_profiles_at_once(client: httpx.AsyncClient, op: Headers, count_rows: CountRows) -> None:
    responses = await asyncio.gather(
        *[
            client.post("/api/v1/configs", headers=op, json={"name": f"svc-{i}", "environment": "Staging"})
            for i in range(N)
        ]
    )
    assert codes(list(responses)) == [201] * N
    assert await count_rows("config_profiles") == N


async def test_two_patches_at_once_both_apply_in_turn(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc", "Development")
    responses = await asyncio.gather(
        client.patch("/api/v1/configs/svc", headers=op, json={"description": "first"}),
        client.patch("/api/v1/configs/svc", headers=op, json={"serviceType": "Worker"}),
    )
    assert codes(list(responses)) == [200, 200]
    assert sorted(r.json()["revision"] for r in responses) == [2, 3]
    stored = (await client.get("/api/v1/configs/svc", headers=op)).json()
    assert (stored["description"], stored["serviceType"], stored["revision"]) == ("first", "Worker", 3)


async def test_two_archives_at_once(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc", "Development")
    responses = await asyncio.gather(
        client.post("/api/v1/configs/svc/archive", headers=op),
        client.post("/api/v1/configs/svc/archive", headers=op),
    )
    assert codes(list(responses)) == [200, 200]
    assert all(r.json()["archived"] for r in responses)
    assert (await audit_actions(client, op, "svc")).count("config.archive") == 1


async def test_archive_and_new_version_at_once_agree(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    await create_config(client, op, "svc", "Development")
    archive, version = await asyncio.gather(
        client.post("/api/v1/configs/svc/archive", headers=op),
        version_request(client, op, "svc", "1.0.0", {"a": 1}),
    )
    assert archive.status_code == 200, archive.text
    # Either the version got in before the archive, or the archive refused it: never both lost.
    assert version.status_code in (201, 409), version.text
    assert await count_rows("config_versions") == (1 if version.status_code == 201 else 0)


async def test_crossed_reparentings_at_once_never_make_a_cycle(client: httpx.AsyncClient, op: Headers) -> None:
    for round_ in range(N):
        a, b = f"a{round_}", f"b{round_}"
        await create_config(client, op, a, "Development")
        await create_config(client, op, b, "Development")
        responses = await asyncio.gather(
            client.patch(f"/api/v1/configs/{a}", headers=op, json={"parent": b}),
            client.patch(f"/api/v1/configs/{b}", headers=op, json={"parent": a}),
        )
        # One wins; the other now sees the cycle it would close.
        winner(list(responses), 200)
        parents = [(await client.get(f"/api/v1/configs/{n}", headers=op)).json()["parent"] for n in (a, b)]
        assert parents.count(None) == 1, parents


async def test_archiving_a_parent_while_a_child_is_created_leaves_no_orphan(
    client: httpx.AsyncClient, op: Headers
) -> None:
    for round_ in range(N):
        parent = f"p{round_}"
        await create_config(client, op, parent, "Development")
        archive, child = await asyncio.gather(
            client.post(f"/api/v1/configs/{parent}/archive", headers=op),
            client.post(
                "/api/v1/configs",
                headers=op,
                json={"name": f"c{round_}", "environment": "Development", "parent": parent},
            ),
        )
        codes([archive, child])
        # Either the child came first (and the archive was refused) or the archive did (and the
        # child was refused): never an active child under an archived parent.
        assert (archive.status_code == 200) != (child.status_code == 201), (archive.text, child.text)


# -- versions ----------------------------------------------------------------------------


async def test_same_version_twice_at_once(
    client: httpx.AsyncClient, op: Headers, auth: Auth, count_rows: CountRows
) -> None:
    await create_config(client, op, "svc", "Development")
    other = await auth("admin", "ada", ttl=DAY)
    responses = await asyncio.gather(
        version_request(client, op, "svc", "1.0.0", {"by": "olivia"}),
        version_request(client, other, "svc", "1.0.0", {"by": "ada"}),
    )
    won, _ = winner(list(responses), 201)
    assert await count_rows("config_versions") == 1
    stored = (await client.get("/api/v1/configs/svc/versions/1.0.0", headers=op)).json()
    assert stored["configData"] == won.json()["configData"]
    assert stored["author"] == won.json()["author"] == stored["configData"]["by"]
    assert (await audit_actions(client, op, "svc")).count("config.version.create") == 1


async def test_many_different_versions_at_once_get_distinct_sequence_numbers(
    client: httpx.AsyncClient, op: Headers, container: Container
) -> None:
    await create_config(client, op, "svc", "Development")
    labels = [f"1.{i}.0" for i in range(N)]
    responses = await asyncio.gather(*[version_request(client, op, "svc", v, {"v": v}) for v in labels])
    assert codes(list(responses)) == [201] * N
    async with container.engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT version, seq FROM config_versions"))).all()
    assert sorted(r.version for r in rows) == sorted(labels)
    assert sorted(r.seq for r in rows) == list(range(1, N + 1))
    listed = (await client.get("/api/v1/configs/svc/versions", headers=op)).json()["items"]
    assert len(listed) == N
    by_seq = {r.version: r.seq for r in rows}
    assert [v["version"] for v in listed] == sorted(labels, key=by_seq.__getitem__, reverse=True)


async def test_versions_for_different_profiles_at_once(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    for i in range(4):
        await create_config(client, op, f"svc-{i}", "Development")
    responses = await asyncio.gather(
        *[version_request(client, op, f"svc-{i}", "1.0.0", {"i": i}) for i in range(4) for _ in range(2)]
    )
    assert codes(list(responses)) == [201] * 4 + [409] * 4
    assert await count_rows("config_versions") == 4


# -- releases ----------------------------------------------------------------------------


async def test_same_release_twice_at_once_outside_production(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    await create_config(client, op, "svc", "Development")
    await add_versions(client, op, "svc", "1.0.0")
    responses = await asyncio.gather(
        *[client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.0.0"}) for _ in range(2)]
    )
    won, _ = winner(list(responses), 201)
    assert won.json()["status"] == "Applied"
    assert await count_rows("config_releases") == 1
    assert await live_version(client, op, "svc") == "1.0.0"


async def test_two_different_releases_at_once_apply_in_turn(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc", "Development")
    await add_versions(client, op, "svc", "1.0.0", "1.1.0")
    responses = await asyncio.gather(
        client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.0.0"}),
        client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.1.0"}),
    )
    assert codes(list(responses)) == [201, 201]
    first, second = sorted((r.json() for r in responses), key=lambda rel: rel["previousVersion"] is not None)
    # One applied on nothing, the other on top of it: the history is a chain, not a fork.
    assert first["previousVersion"] is None
    assert second["previousVersion"] == first["version"]
    assert await live_version(client, op, "svc") == second["version"]


async def test_two_production_releases_at_once_leave_one_pending(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    await create_config(client, op, "svc", "Production")
    await add_versions(client, op, "svc", "1.0.0", "1.1.0")
    responses = await asyncio.gather(
        client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.0.0"}),
        client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.1.0"}),
    )
    won, lost = winner(list(responses), 201)
    assert won.json()["status"] == "PendingApproval"
    assert lost.json()["pendingReleaseId"] == won.json()["id"]
    assert await count_rows("config_releases") == 1
    assert await count_rows("approvals") == 1


async def test_two_reverts_at_once(client: httpx.AsyncClient, op: Headers, count_rows: CountRows) -> None:
    await create_config(client, op, "svc", "Development")
    await add_versions(client, op, "svc", "1.0.0", "1.1.0")
    for version in ("1.0.0", "1.1.0"):
        r = await client.post("/api/v1/configs/svc/releases", headers=op, json={"version": version})
        assert r.status_code == 201
    responses = await asyncio.gather(
        *[client.post("/api/v1/configs/svc/revert", headers=op, json={"toVersion": "1.0.0"}) for _ in range(2)]
    )
    won, _ = winner(list(responses), 201)
    assert won.json()["previousVersion"] == "1.1.0"
    assert await count_rows("config_releases") == 3
    assert await live_version(client, op, "svc") == "1.0.0"


# -- approvals ---------------------------------------------------------------------------


async def pending_release(client: httpx.AsyncClient, op: Headers) -> dict[str, Any]:
    await create_config(client, op, "svc", "Production")
    await add_versions(client, op, "svc", "1.0.0")
    r = await client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.0.0"})
    assert r.status_code == 201, r.text
    release: dict[str, Any] = r.json()
    assert release["status"] == "PendingApproval"
    return release


async def test_two_approvals_of_the_same_request_at_once(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    release = await pending_release(client, op)
    amir, ada = await auth("approver", "amir", ttl=DAY), await auth("admin", "ada", ttl=DAY)
    url = f"/api/v1/approvals/{release['approvalId']}/approve"
    responses = await asyncio.gather(
        client.post(url, headers=amir, json={"comment": "amir says yes"}),
        client.post(url, headers=ada, json={"comment": "ada says yes"}),
    )
    won, _ = winner(list(responses), 200)
    stored = (await client.get(f"/api/v1/approvals/{release['approvalId']}", headers=op)).json()
    assert stored["status"] == "Approved"
    assert (stored["decidedBy"], stored["comment"]) == (won.json()["decidedBy"], won.json()["comment"])
    assert await live_version(client, op, "svc") == "1.0.0"
    assert (await audit_actions(client, op, "svc")).count("config.release.apply") == 1
    assert (await audit_actions(client, op, release["approvalId"])).count("approval.approved") == 1


async def test_same_approver_approving_twice_at_once(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    release = await pending_release(client, op)
    amir = await auth("approver", "amir", ttl=DAY)
    url = f"/api/v1/approvals/{release['approvalId']}/approve"
    responses = await asyncio.gather(client.post(url, headers=amir), client.post(url, headers=amir))
    winner(list(responses), 200)
    assert (await audit_actions(client, op, "svc")).count("config.release.apply") == 1


async def test_approve_and_reject_at_once(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    release = await pending_release(client, op)
    amir, ada = await auth("approver", "amir", ttl=DAY), await auth("admin", "ada", ttl=DAY)
    base = f"/api/v1/approvals/{release['approvalId']}"
    responses = await asyncio.gather(
        client.post(f"{base}/approve", headers=amir), client.post(f"{base}/reject", headers=ada)
    )
    won, _ = winner(list(responses), 200)
    approved = won.json()["status"] == "Approved"
    assert won.json()["decidedBy"] == ("amir" if approved else "ada")
    assert await live_version(client, op, "svc") == ("1.0.0" if approved else None)
    releases = (await client.get("/api/v1/configs/svc/releases", headers=op)).json()
    assert [r["status"] for r in releases] == ["Applied" if approved else "Rejected"]


async def test_approve_and_cancel_at_once(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    release = await pending_release(client, op)
    amir = await auth("approver", "amir", ttl=DAY)
    approve, cancel = await asyncio.gather(
        client.post(f"/api/v1/approvals/{release['approvalId']}/approve", headers=amir),
        client.post(f"/api/v1/configs/svc/releases/{release['id']}/cancel", headers=op),
    )
    assert codes([approve, cancel]) == [200, 409], (approve.text, cancel.text)
    approval = (await client.get(f"/api/v1/approvals/{release['approvalId']}", headers=op)).json()
    (stored,) = (await client.get("/api/v1/configs/svc/releases", headers=op)).json()
    if approve.status_code == 200:
        assert (approval["status"], stored["status"]) == ("Approved", "Applied")
        assert await live_version(client, op, "svc") == "1.0.0"
    else:
        assert (approval["status"], stored["status"]) == ("Cancelled", "Cancelled")
        assert await live_version(client, op, "svc") is None


async def test_two_cancels_at_once(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    release = await pending_release(client, op)
    url = f"/api/v1/configs/svc/releases/{release['id']}/cancel"
    responses = await asyncio.gather(
        client.post(url, headers=op), client.post(url, headers=await auth("admin", "ada", ttl=DAY))
    )
    won, _ = winner(list(responses), 200)
    assert won.json()["status"] == "Cancelled"
    assert (await audit_actions(client, op, "svc")).count("config.release.cancel") == 1


# -- game configs ------------------------------------------------------------------------


def game_config(client: httpx.AsyncClient, headers: Headers, version: str) -> Any:
    body = {
        "name": "weapon-balance",
        "gameId": "battle-royale",
        "configType": "GameBalance",
        "configuration": f'{{"patch":"{version}"}}',
        "version": version,
    }
    return client.post("/api/v1/game-configs", headers=headers, json=body)


async def test_game_config_versions_appended_at_once(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    assert (await game_config(client, op, "1.0.0")).status_code == 201
    responses = await asyncio.gather(*[game_config(client, op, f"1.{i}.0") for i in range(1, N)])
    assert codes(list(responses)) == [201] * (N - 1)
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_rows("config_profiles") == 1
    assert await count_rows("config_versions") == N


async def test_new_game_config_posted_twice_at_once(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    for round_ in range(N):
        name = f"weapon-balance-{round_}"
        first, second = (
            client.post(
                "/api/v1/game-configs",
                headers=op,
                json={"name": name, "gameId": "g", "configType": "GameBalance", "configuration": {}, "version": v},
            )
            for v in ("1.0.0", "1.0.1")
        )
        responses = list(await asyncio.gather(first, second))
        # One creates the profile and the other appends its version to it, whichever store
        # serialized them (on PostgreSQL the loser of the insert race falls back to appending).
        assert codes(responses) == [201, 201], [r.text for r in responses]
        assert responses[0].json()["id"] == responses[1].json()["id"]
    assert await count_rows("config_profiles") == N
    assert await count_rows("config_versions") == 2 * N
