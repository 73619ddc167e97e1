"""The approval workflow for Production releases, over HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from tests.helpers import Auth, CountRows, Headers, problem, token_as_spelled

# Explicit, not only conftest's auto-mark: parametrized tests lose their parameters otherwise.


NAME = "payment-service.production"
DAY = timedelta(days=1)


@pytest.fixture
async def author(auth: Auth) -> Headers:
    return await auth("operator", "olivia", ttl=DAY)


@pytest.fixture
async def approver(auth: Auth) -> Headers:
    return await auth("approver", "amir", ttl=DAY)


async def live_version(client: httpx.AsyncClient, headers: Headers, name: str = NAME) -> str | None:
    r = await client.get(f"/api/v1/configs/{name}", headers=headers)
    assert r.status_code == 200, r.text
    live: str | None = r.json()["liveVersion"]
    return live


async def production_config(client: httpx.AsyncClient, headers: Headers, *versions: str) -> None:
    r = await client.post("/api/v1/configs", headers=headers, json={"name": NAME, "environment": "Production"})
    assert r.status_code == 201, r.text
    for i, version in enumerate(versions):
        r = await client.post(
            f"/api/v1/configs/{NAME}/versions", headers=headers, json={"configData": {"n": i}, "version": version}
        )
        assert r.status_code == 201, r.text


async def request_release(client: httpx.AsyncClient, headers: Headers, version: str) -> dict[str, Any]:
    r = await client.post(f"/api/v1/configs/{NAME}/releases", headers=headers, json={"version": version})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def release_by_id(client: httpx.AsyncClient, headers: Headers, release_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/configs/{NAME}/releases", headers=headers)
    assert r.status_code == 200
    (release,) = [x for x in r.json() if x["id"] == release_id]
    body: dict[str, Any] = release
    return body


async def released_and_approved(
    client: httpx.AsyncClient, author: Headers, approver: Headers, version: str
) -> dict[str, Any]:
    release = await request_release(client, author, version)
    r = await client.post(f"/api/v1/approvals/{release['approvalId']}/approve", headers=approver)
    assert r.status_code == 200, r.text
    return release


async def test_production_release_waits_for_approval(
    client: httpx.AsyncClient, author: Headers, count_rows: CountRows
) -> None:
    await production_config(client, author, "1.0.0")
    release = await request_release(client, author, "1.0.0")
    assert release["status"] == "PendingApproval"
    assert release["environment"] == "Production"
    assert release["decidedAt"] is None
    assert release["approvalId"]
    assert await live_version(client, author) is None
    r = await client.get(f"/api/v1/configs/{NAME}/versions/1.0.0", headers=author)
    assert r.json()["live"] is False

    r = await client.get(f"/api/v1/approvals/{release['approvalId']}", headers=author)
    assert r.status_code == 200
    approval = r.json()
    assert approval["status"] == "Pending"
    assert approval["subjectType"] == "config_release"
    assert approval["subjectId"] == release["id"]
    assert approval["environment"] == "Production"
    assert approval["requestedBy"] == "olivia"
    assert approval["requestedAt"] == "2026-06-01T12:00:00Z"
    assert approval["decidedBy"] is None
    assert NAME in approval["summary"]
    assert "1.0.0" in approval["summary"]
    assert await count_rows("approvals") == 1


async def test_approver_approves_with_comment_and_the_version_goes_live(
    client: httpx.AsyncClient, author: Headers, approver: Headers, clock: ManualClock
) -> None:
    await production_config(client, author, "1.0.0")
    release = await request_release(client, author, "1.0.0")
    clock.advance(timedelta(minutes=30))
    r = await client.post(
        f"/api/v1/approvals/{release['approvalId']}/approve", headers=approver, json={"comment": "LGTM, ship it"}
    )
    assert r.status_code == 200, r.text
    approval = r.json()
    assert approval["status"] == "Approved"
    assert approval["decidedBy"] == "amir"
    assert approval["comment"] == "LGTM, ship it"
    assert approval["decidedAt"] == "2026-06-01T12:30:00Z"
    assert (await client.get(f"/api/v1/approvals/{release['approvalId']}", headers=author)).json() == approval

    assert await live_version(client, author) == "1.0.0"
    settled = await release_by_id(client, author, release["id"])
    assert settled["status"] == "Applied"
    assert settled["decidedAt"] == "2026-06-01T12:30:00Z"
    assert settled["requestedBy"] == "olivia"

    # The approval and the change it applied are both on the audit trail.
    audit = await client.get("/api/v1/audit", headers=author, params={"targetId": release["approvalId"]})
    assert [(a["action"], a["actor"]) for a in audit.json()["items"]] == [
        ("approval.approved", "amir"),
        ("approval.request", "olivia"),
    ]
    assert "LGTM, ship it" in audit.json()["items"][0]["summary"]
    audit = await client.get(
        "/api/v1/audit", headers=author, params={"targetId": NAME, "action": "config.release.apply"}
    )
    assert [a["actor"] for a in audit.json()["items"]] == ["amir"]


async def test_approval_without_a_body_is_fine(client: httpx.AsyncClient, author: Headers, approver: Headers) -> None:
    await production_config(client, author, "1.0.0")
    release = await request_release(client, author, "1.0.0")
    r = await client.post(f"/api/v1/approvals/{release['approvalId']}/approve", headers=approver)
    assert r.status_code == 200, r.text
    assert r.json()["comment"] is None
    assert await live_version(client, author) == "1.0.0"


async def test_an_admin_may_approve_someone_elses_release(
    client: httpx.AsyncClient, author: Headers, auth: Auth
) -> None:
    await production_config(client, author, "1.0.0")
    release = await request_release(client, author, "1.0.0")
    r = await client.post(f"/api/v1/approvals/{release['approvalId']}/approve", headers=await auth("admin", "ada"))
    assert r.status_code == 200, r.text
    assert r.json()["decidedBy"] == "ada"
    assert await live_version(client, author) == "1.0.0"


async def test_the_author_cannot_decide_even_as_admin(
    client: httpx.AsyncClient, auth: Auth, count_rows: CountRows
) -> None:
    ada = await auth("admin", "ada", ttl=DAY)
    await production_config(client, ada, "1.0.0")
    release = await request_release(client, ada, "1.0.0")
    approval_id = release["approvalId"]
    problem(await client.post(f"/api/v1/approvals/{approval_id}/approve", headers=ada), 403)
    problem(await client.post(f"/api/v1/approvals/{approval_id}/reject", headers=ada), 403)
    # Another token for the same person is the same person, whatever its role.
    problem(await client.post(f"/api/v1/approvals/{approval_id}/approve", headers=await auth("approver", "ada")), 403)
    assert await live_version(client, ada) is None
    assert (await client.get(f"/api/v1/approvals/{approval_id}", headers=ada)).json()["status"] == "Pending"
    assert (await release_by_id(client, ada, release["id"]))["status"] == "PendingApproval"


async def test_one_person_under_two_spellings_cannot_decide_what_they_requested(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    admin = await auth("admin", "root", ttl=DAY)
    r = await client.post(
        "/api/v1/tokens", headers=admin, json={"subject": "Alice", "role": "admin", "ttlSeconds": 3600}
    )
    assert r.status_code == 201, r.text
    assert r.json()["subject"] == "alice"  # stored, and signed, in its canonical spelling
    upper = {"Authorization": f"Bearer {r.json()['accessToken']}"}
    await production_config(client, upper, "1.0.0")
    release = await request_release(client, upper, "1.0.0")
    approval_id = release["approvalId"]
    assert (await client.get(f"/api/v1/approvals/{approval_id}", headers=admin)).json()["requestedBy"] == "alice"

    for spelling in ("alice", "ALICE", " Alice "):
        other = await auth("approver", spelling)
        for decision in ("approve", "reject"):
            refused = problem(await client.post(f"/api/v1/approvals/{approval_id}/{decision}", headers=other), 403)
            assert "person who requested it" in refused["detail"]
    assert (await client.get(f"/api/v1/approvals/{approval_id}", headers=admin)).json()["status"] == "Pending"
    assert await live_version(client, admin) is None
    assert (await client.post(f"/api/v1/approvals/{approval_id}/approve", headers=admin)).status_code == 200


async def test_rows_written_under_an_earlier_spelling_bind_the_same_person(
    client: httpx.AsyncClient, container: Container, auth: Auth, approver: Headers
) -> None:
    # Tokens recorded before subjects were stored canonical still work, and what they wrote
    # keeps its spelling; the four-eyes rule compares both sides canonical.
    writer = await token_as_spelled(container, "admin", "Ada")
    requester = await token_as_spelled(container, "operator", "Oscar")
    await production_config(client, writer, "1.0.0")
    release = await request_release(client, requester, "1.0.0")
    approval = (await client.get(f"/api/v1/approvals/{release['approvalId']}", headers=approver)).json()
    assert (approval["requestedBy"], approval["authors"]) == ("Oscar", ["Ada"])

    url = f"/api/v1/approvals/{release['approvalId']}/approve"
    assert "wrote it" in problem(await client.post(url, headers=await auth("approver", "ada")), 403)["detail"]
    assert "requested it" in problem(await client.post(url, headers=await auth("admin", "oscar")), 403)["detail"]
    assert await live_version(client, writer) is None
    r = await client.post(url, headers=approver)
    assert r.status_code == 200, r.text
    assert await live_version(client, writer) == "1.0.0"


async def test_the_requester_is_not_listed_again_among_the_authors_under_another_spelling(
    client: httpx.AsyncClient, container: Container, approver: Headers
) -> None:
    olivia = await token_as_spelled(container, "operator", "Olivia")
    await production_config(client, olivia, "1.0.0")
    release = await request_release(client, await token_as_spelled(container, "operator", "olivia"), "1.0.0")
    approval = (await client.get(f"/api/v1/approvals/{release['approvalId']}", headers=approver)).json()
    assert (approval["requestedBy"], approval["authors"]) == ("olivia", [])


@pytest.mark.parametrize("role", ["operator", "viewer", "server"])
async def test_roles_without_the_decide_permission_cannot_approve(
    client: httpx.AsyncClient, author: Headers, auth: Auth, role: str
) -> None:
    await production_config(client, author, "1.0.0")
    release = await request_release(client, author, "1.0.0")
    other = await auth(role, "someone-else")
    problem(await client.post(f"/api/v1/approvals/{release['approvalId']}/approve", headers=other), 403)
    problem(await client.post(f"/api/v1/approvals/{release['approvalId']}/reject", headers=other), 403)
    assert await live_version(client, author) is None
    r = await client.get(f"/api/v1/approvals/{release['approvalId']}", headers=author)
    assert r.json()["status"] == "Pending"


async def test_whoever_wrote_the_version_cannot_approve_its_release(
    client: httpx.AsyncClient, auth: Auth, approver: Headers
) -> None:
    writer = await auth("admin", "ada")  # may approve in general, but not what she wrote
    await production_config(client, writer, "1.0.0")
    release = await request_release(client, await auth("operator", "oscar"), "1.0.0")
    approval = (await client.get(f"/api/v1/approvals/{release['approvalId']}", headers=writer)).json()
    assert (approval["requestedBy"], approval["authors"]) == ("oscar", ["ada"])

    p = problem(await client.post(f"/api/v1/approvals/{release['approvalId']}/approve", headers=writer), 403)
    assert "wrote it" in p["detail"]
    assert await live_version(client, writer) is None
    r = await client.post(f"/api/v1/approvals/{release['approvalId']}/approve", headers=approver)
    assert r.status_code == 200, r.text
    assert await live_version(client, writer) == "1.0.0"


async def test_reject_keeps_the_live_version(client: httpx.AsyncClient, author: Headers, approver: Headers) -> None:
    await production_config(client, author, "1.0.0", "1.1.0")
    await released_and_approved(client, author, approver, "1.0.0")
    release = await request_release(client, author, "1.1.0")
    assert release["previousVersion"] == "1.0.0"
    r = await client.post(
        f"/api/v1/approvals/{release['approvalId']}/reject", headers=approver, json={"comment": "timeout too low"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Rejected"
    assert r.json()["comment"] == "timeout too low"
    assert r.json()["decidedBy"] == "amir"
    assert await live_version(client, author) == "1.0.0"
    rejected = await release_by_id(client, author, release["id"])
    assert rejected["status"] == "Rejected"
    assert rejected["decidedAt"] is not None
    # The config's own trail says it was rejected, and by whom.
    trail = await client.get(
        "/api/v1/audit", headers=author, params={"targetId": NAME, "action": "config.release.reject"}
    )
    assert [(a["actor"], a["afterRef"]) for a in trail.json()["items"]] == [("amir", release["id"])]
    # Nothing is pending any more, so the next attempt may be requested.
    again = await request_release(client, author, "1.1.0")
    assert again["status"] == "PendingApproval"
    assert again["approvalId"] != release["approvalId"]


@pytest.mark.parametrize(
    ("first", "second"), [("approve", "approve"), ("approve", "reject"), ("reject", "approve"), ("reject", "reject")]
)
async def test_deciding_twice_is_409(
    client: httpx.AsyncClient, author: Headers, approver: Headers, auth: Auth, first: str, second: str
) -> None:
    await production_config(client, author, "1.0.0")
    release = await request_release(client, author, "1.0.0")
    url = f"/api/v1/approvals/{release['approvalId']}"
    assert (await client.post(f"{url}/{first}", headers=approver)).status_code == 200
    p = problem(await client.post(f"{url}/{second}", headers=await auth("admin", "ada")), 409)
    assert p["status"] == 409
    decided = (await client.get(url, headers=author)).json()
    assert decided["status"] == ("Approved" if first == "approve" else "Rejected")
    assert decided["decidedBy"] == "amir"
    assert await live_version(client, author) == ("1.0.0" if first == "approve" else None)


async def test_second_release_while_one_is_pending_is_409(
    client: httpx.AsyncClient, author: Headers, count_rows: CountRows
) -> None:
    await production_config(client, author, "1.0.0", "1.1.0")
    pending = await request_release(client, author, "1.0.0")
    p = problem(await client.post(f"/api/v1/configs/{NAME}/releases", headers=author, json={"version": "1.1.0"}), 409)
    assert p["pendingReleaseId"] == pending["id"]
    assert p["approvalId"] == pending["approvalId"]
    assert await count_rows("config_releases") == 1
    assert await count_rows("approvals") == 1
    # ... and a config with a pending release cannot be archived.
    problem(await client.post(f"/api/v1/configs/{NAME}/archive", headers=author), 409)


async def test_cancelling_a_pending_release(
    client: httpx.AsyncClient, author: Headers, approver: Headers, auth: Auth
) -> None:
    await production_config(client, author, "1.0.0")
    release = await request_release(client, author, "1.0.0")
    url = f"/api/v1/configs/{NAME}/releases/{release['id']}/cancel"
    problem(await client.post(url, headers=approver), 403)  # approvers decide; they do not request or cancel
    r = await client.post(url, headers=author)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Cancelled"
    assert r.json()["decidedAt"] is not None
    approval = (await client.get(f"/api/v1/approvals/{release['approvalId']}", headers=author)).json()
    assert approval["status"] == "Cancelled"
    assert approval["decidedBy"] == "olivia"

    # A cancelled request can be neither approved nor cancelled again.
    problem(await client.post(f"/api/v1/approvals/{release['approvalId']}/approve", headers=approver), 409)
    problem(await client.post(url, headers=author), 409)
    assert await live_version(client, author) is None
    actions = await client.get("/api/v1/audit", headers=author, params={"targetId": NAME})
    assert "config.release.cancel" in [a["action"] for a in actions.json()["items"]]
    on_approval = await client.get("/api/v1/audit", headers=author, params={"targetId": release["approvalId"]})
    newest = on_approval.json()["items"][0]
    assert (newest["action"], newest["actor"]) == ("approval.cancel", "olivia")
    problem(await client.post(f"/api/v1/configs/{NAME}/releases/rel_nope/cancel", headers=author), 404)


async def test_a_decided_release_cannot_be_cancelled(
    client: httpx.AsyncClient, author: Headers, approver: Headers
) -> None:
    await production_config(client, author, "1.0.0")
    release = await released_and_approved(client, author, approver, "1.0.0")
    problem(await client.post(f"/api/v1/configs/{NAME}/releases/{release['id']}/cancel", headers=author), 409)
    assert (await release_by_id(client, author, release["id"]))["status"] == "Applied"
    assert await live_version(client, author) == "1.0.0"


async def test_production_revert_also_needs_approval(
    client: httpx.AsyncClient, author: Headers, approver: Headers
) -> None:
    await production_config(client, author, "1.0.0", "1.1.0")
    await released_and_approved(client, author, approver, "1.0.0")
    await released_and_approved(client, author, approver, "1.1.0")
    r = await client.post(f"/api/v1/configs/{NAME}/revert", headers=author, json={"toVersion": "1.0.0"})
    assert r.status_code == 201, r.text
    revert = r.json()
    assert revert["kind"] == "Revert"
    assert revert["status"] == "PendingApproval"
    assert await live_version(client, author) == "1.1.0"
    approval = (await client.get(f"/api/v1/approvals/{revert['approvalId']}", headers=author)).json()
    assert approval["summary"].startswith("revert")
    assert (await client.post(f"/api/v1/approvals/{revert['approvalId']}/approve", headers=approver)).status_code == 200
    assert await live_version(client, author) == "1.0.0"
    settled = await release_by_id(client, author, revert["id"])
    assert (settled["status"], settled["previousVersion"]) == ("Applied", "1.1.0")


async def test_list_approvals_filters_by_status(
    client: httpx.AsyncClient, author: Headers, approver: Headers, clock: ManualClock
) -> None:
    ids: dict[str, str] = {}
    for name in ("svc-a", "svc-b", "svc-c", "svc-d"):
        r = await client.post("/api/v1/configs", headers=author, json={"name": name, "environment": "Production"})
        assert r.status_code == 201
        r = await client.post(
            f"/api/v1/configs/{name}/versions", headers=author, json={"configData": {}, "version": "1.0.0"}
        )
        assert r.status_code == 201
        r = await client.post(f"/api/v1/configs/{name}/releases", headers=author, json={"version": "1.0.0"})
        ids[name] = r.json()["approvalId"]
        clock.advance(timedelta(minutes=1))
    await client.post(f"/api/v1/approvals/{ids['svc-a']}/approve", headers=approver)
    await client.post(f"/api/v1/approvals/{ids['svc-b']}/reject", headers=approver)

    async def listed(**params: Any) -> list[str]:
        r = await client.get("/api/v1/approvals", headers=author, params=params)
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["items"]]

    # Newest first.
    assert await listed() == [ids["svc-d"], ids["svc-c"], ids["svc-b"], ids["svc-a"]]
    assert await listed(status="Pending") == [ids["svc-d"], ids["svc-c"]]
    assert await listed(status="Approved") == [ids["svc-a"]]
    assert await listed(status="Rejected") == [ids["svc-b"]]
    assert await listed(status="Cancelled") == []
    assert await listed(subjectType="config_release", status="Pending") == [ids["svc-d"], ids["svc-c"]]
    assert await listed(subjectType="something-else") == []

    first = (await client.get("/api/v1/approvals", headers=author, params={"limit": 3})).json()
    assert [a["id"] for a in first["items"]] == [ids["svc-d"], ids["svc-c"], ids["svc-b"]]
    rest = await listed(limit=3, cursor=first["nextCursor"])
    assert rest == [ids["svc-a"]]

    p = problem(await client.get("/api/v1/approvals", headers=author, params={"status": "Maybe"}), 422)
    assert [e["field"] for e in p["errors"]] == ["query.status"]
    p = problem(await client.get("/api/v1/approvals", headers=author, params={"cursor": "garbage"}), 422)
    assert [e["field"] for e in p["errors"]] == ["query.cursor"]


async def test_approvals_need_a_role_that_reads_them(client: httpx.AsyncClient, auth: Auth) -> None:
    problem(await client.get("/api/v1/approvals"), 401)
    problem(await client.get("/api/v1/approvals", headers=await auth("server")), 403)
    assert (await client.get("/api/v1/approvals", headers=await auth("viewer"))).status_code == 200


async def test_unknown_approval_is_404(client: httpx.AsyncClient, approver: Headers) -> None:
    problem(await client.get("/api/v1/approvals/apr_missing", headers=approver), 404)
    problem(await client.post("/api/v1/approvals/apr_missing/approve", headers=approver), 404)
    problem(await client.post("/api/v1/approvals/apr_missing/reject", headers=approver, json={"comment": "x"}), 404)


async def test_decision_body_is_validated(client: httpx.AsyncClient, author: Headers, approver: Headers) -> None:
    await production_config(client, author, "1.0.0")
    release = await request_release(client, author, "1.0.0")
    url = f"/api/v1/approvals/{release['approvalId']}/approve"
    p = problem(await client.post(url, headers=approver, json={"comment": "x" * 4001}), 422)
    assert [e["field"] for e in p["errors"]] == ["body.comment"]
    p = problem(await client.post(url, headers=approver, json={"verdict": "yes"}), 422)
    assert [e["field"] for e in p["errors"]] == ["body.verdict"]
    assert await live_version(client, author) is None


async def test_approving_a_release_of_a_since_archived_config_is_refused(
    client: httpx.AsyncClient, author: Headers, approver: Headers, auth: Auth
) -> None:
    """Archiving is refused while a release waits, so this can only be reached by cancelling first."""
    await production_config(client, author, "1.0.0")
    release = await request_release(client, author, "1.0.0")
    assert (await client.post(f"/api/v1/configs/{NAME}/releases/{release['id']}/cancel", headers=author)).is_success
    assert (await client.post(f"/api/v1/configs/{NAME}/archive", headers=author)).status_code == 200
    problem(await client.post(f"/api/v1/approvals/{release['approvalId']}/approve", headers=approver), 409)
    assert await live_version(client, author) is None
