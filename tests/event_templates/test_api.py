"""Event templates over HTTP: create, read, list, filter, replace; problems, roles, audit, usage."""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hotswap.auth.model import Principal, Role
from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.core.errors import NotFound
from hotswap.event_templates.model import KNOWN_EVENT_TYPES
from hotswap.event_templates.service import TemplateService
from tests.helpers import Auth, CountRows, Headers, codes, fields, problem

OBJECTIVES: list[dict[str, Any]] = [
    {
        "objectiveId": "collect-shells",
        "description": "Collect sea shells on the beach",
        "type": "Collect",
        "targetValue": 100.0,
        "trackingKey": "items.collected.shell",
        "isOptional": False,
    },
    {
        "objectiveId": "win-races",
        "description": None,
        "type": "Complete",
        "targetValue": 5.0,
        "trackingKey": "races.won",
        "isOptional": True,
    },
]
MILESTONES: list[dict[str, Any]] = [
    {
        "index": 0,
        "progressThreshold": 0.25,
        "rewards": [
            {
                "rewardId": "gems-50",
                "type": "Currency",
                "itemId": "gems",
                "quantity": 50,
                "rarity": None,
                "isExclusive": False,
            }
        ],
        "celebrationAnimation": "confetti",
        "unlockMessage": "A quarter of the way!",
    },
    {
        "index": 1,
        "progressThreshold": 1.0,
        "rewards": [
            {
                "rewardId": "surfboard",
                "type": "Cosmetic",
                "itemId": "skin.surfboard.gold",
                "quantity": 1,
                "rarity": "Legendary",
                "isExclusive": True,
            }
        ],
        "celebrationAnimation": None,
        "unlockMessage": None,
    },
]
SUMMER: dict[str, Any] = {
    "templateId": "summer-fest",
    "type": "Seasonal",
    "name": "Summer Festival",
    "description": "Beach-themed collection event",
    "eventClass": "major",
    "objectives": OBJECTIVES,
    "milestones": MILESTONES,
    "progressionMechanics": "Linear",
    "theme": {"palette": ["#ffcc00", "#0099ff"], "music": "beach.ogg"},
    "uiLayout": {"banner": "top", "tabs": ["progress", "rewards"]},
    "requiresLeaderboard": False,
    "requiresClan": False,
    "minimumPlayerLevel": 5,
    "configuration": {"dropRateMultiplier": 1.5, "shop": {"discount": 20}},
    "durationSeconds": 7 * 24 * 3600,
}
EDITABLE = {k: v for k, v in SUMMER.items() if k != "templateId"}
URL = "/api/v1/event-templates"


def body(**change: Any) -> dict[str, Any]:
    return {**copy.deepcopy(SUMMER), **change}


async def create(client: httpx.AsyncClient, headers: Headers, **change: Any) -> dict[str, Any]:
    r = await client.post(URL, headers=headers, json=body(**change))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def audit_actions(client: httpx.AsyncClient, headers: Headers, target_id: str) -> list[str]:
    params = {"targetId": target_id, "targetType": "event_template"}
    r = await client.get("/api/v1/audit", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [item["action"] for item in r.json()["items"]]


async def use(container: Container, template_id: str) -> None:
    async with container.uow() as uow:
        await TemplateService(container.audit).use(uow, template_id)
        await uow.commit()


# -- create and read ------------------------------------------------------------------------------


async def test_create_then_read_back(client: httpx.AsyncClient, op: Headers) -> None:
    r = await client.post(URL, headers=op, json=SUMMER)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/api/v1/event-templates/summer-fest"
    assert r.headers["etag"] == '"1"'
    created = r.json()
    assert created == {
        **SUMMER,
        "usageCount": 0,
        "lastUsedAt": None,
        "createdAt": "2026-06-01T12:00:00Z",
        "createdBy": "olivia",
        "updatedAt": "2026-06-01T12:00:00Z",
        "updatedBy": "olivia",
        "revision": 1,
    }
    got = await client.get(f"{URL}/summer-fest", headers=op)
    assert got.status_code == 200
    assert got.headers["etag"] == '"1"'
    assert got.json() == created
    assert await audit_actions(client, op, "summer-fest") == ["event_template.create"]


async def test_what_is_not_sent_takes_its_default(client: httpx.AsyncClient, op: Headers) -> None:
    r = await client.post(URL, headers=op, json={"templateId": "bare", "type": "Gacha", "name": "Bare"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in EDITABLE} == {
        "type": "Gacha",
        "name": "Bare",
        "description": None,
        "eventClass": "standard",
        "objectives": [],
        "milestones": [],
        "progressionMechanics": None,
        "theme": None,
        "uiLayout": None,
        "requiresLeaderboard": False,
        "requiresClan": False,
        "minimumPlayerLevel": 1,
        "configuration": {},
        "durationSeconds": None,
    }
    objective = {"objectiveId": "o", "type": "Participate", "targetValue": 1, "trackingKey": "k"}
    milestone = {"index": 3, "progressThreshold": 1, "rewards": [{"rewardId": "r", "type": "Booster"}]}
    r = await client.post(
        URL, headers=op, json=body(templateId="short", objectives=[objective], milestones=[milestone])
    )
    assert r.status_code == 201, r.text
    assert r.json()["objectives"] == [{**objective, "description": None, "targetValue": 1.0, "isOptional": False}]
    (stored,) = r.json()["milestones"]
    assert stored["rewards"] == [
        {"rewardId": "r", "type": "Booster", "itemId": None, "quantity": 1, "rarity": None, "isExclusive": False}
    ]
    assert (stored["celebrationAnimation"], stored["unlockMessage"]) == (None, None)


@pytest.mark.parametrize("event_type", [*KNOWN_EVENT_TYPES, "GuildWar2"])
async def test_seed_types_and_a_games_own_are_accepted(client: httpx.AsyncClient, op: Headers, event_type: str) -> None:
    assert (await create(client, op, type=event_type))["type"] == event_type


async def test_milestones_are_kept_in_index_order(client: httpx.AsyncClient, op: Headers) -> None:
    shuffled = [
        {"index": 7, "progressThreshold": 0.75},
        {"index": 2, "progressThreshold": 0.25},
        {"index": 10, "progressThreshold": 1.0},
        {"index": 5, "progressThreshold": 0.5},
    ]
    created = await create(client, op, milestones=shuffled)
    assert [(m["index"], m["progressThreshold"]) for m in created["milestones"]] == [
        (2, 0.25),
        (5, 0.5),
        (7, 0.75),
        (10, 1.0),
    ]


async def test_duplicate_id_is_409_and_writes_nothing(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    await create(client, op)
    p = problem(await client.post(URL, headers=op, json=body(name="Other", type="Gacha")), 409)
    assert "summer-fest" in p["detail"]
    assert await count_rows("event_templates") == 1
    assert (await client.get(f"{URL}/summer-fest", headers=op)).json()["name"] == "Summer Festival"
    assert await audit_actions(client, op, "summer-fest") == ["event_template.create"]


async def test_same_id_created_at_once_makes_one(
    client: httpx.AsyncClient, op: Headers, auth: Auth, count_rows: CountRows
) -> None:
    ada = await auth("admin", "ada")
    responses = await asyncio.gather(
        *[client.post(URL, headers=op, json=body(name=f"n{i}")) for i in range(4)],
        client.post(URL, headers=ada, json=body(name="ada's")),
    )
    assert codes(list(responses)) == [201, 409, 409, 409, 409]
    won = next(r for r in responses if r.status_code == 201).json()
    assert await count_rows("event_templates") == 1
    assert (await client.get(f"{URL}/summer-fest", headers=op)).json() == won
    assert await audit_actions(client, op, "summer-fest") == ["event_template.create"]


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"x": value}
    return value


def _objective(**change: Any) -> list[dict[str, Any]]:
    return [{**OBJECTIVES[0], **change}, OBJECTIVES[1]]


def _milestone(**change: Any) -> list[dict[str, Any]]:
    return [{**MILESTONES[0], **change}, MILESTONES[1]]


def _reward(**change: Any) -> list[dict[str, Any]]:
    return _milestone(rewards=[{**MILESTONES[0]["rewards"][0], **change}])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"templateId": "Summer"}, "body.templateId"),
        ({"templateId": "-summer"}, "body.templateId"),
        ({"templateId": "s" * 101}, "body.templateId"),
        ({"templateId": None}, "body.templateId"),
        ({"type": "Seasonal Promo"}, "body.type"),
        ({"type": "2x"}, "body.type"),
        ({"type": "T" * 51}, "body.type"),
        ({"name": ""}, "body.name"),
        ({"name": "n" * 201}, "body.name"),
        ({"eventClass": "huge"}, "body.eventClass"),
        ({"minimumPlayerLevel": 0}, "body.minimumPlayerLevel"),
        ({"durationSeconds": 0}, "body.durationSeconds"),
        ({"progressionMechanics": "p" * 51}, "body.progressionMechanics"),
        ({"configuration": ["not", "an", "object"]}, "body.configuration"),
        ({"configuration": None}, "body.configuration"),
        ({"theme": "dark"}, "body.theme"),
        ({"usageCount": 9}, "body.usageCount"),
        ({"colour": "blue"}, "body.colour"),
        ({"objectives": _objective(targetValue=0)}, "body.objectives.0.targetValue"),
        ({"objectives": _objective(targetValue=-3)}, "body.objectives.0.targetValue"),
        ({"objectives": _objective(type="Kill")}, "body.objectives.0.type"),
        ({"objectives": _objective(trackingKey="")}, "body.objectives.0.trackingKey"),
        ({"objectives": _objective(objectiveId="win-races")}, "body.objectives.1.objectiveId"),
        ({"objectives": _objective(points=3)}, "body.objectives.0.points"),
        ({"milestones": _milestone(progressThreshold=0)}, "body.milestones.0.progressThreshold"),
        ({"milestones": _milestone(progressThreshold=1.5)}, "body.milestones.0.progressThreshold"),
        ({"milestones": _milestone(index=-1)}, "body.milestones.0.index"),
        ({"milestones": _milestone(index=1)}, "body.milestones.1.index"),
        ({"milestones": _milestone(index=2)}, "body.milestones.0.progressThreshold"),  # 1.0 before it
        ({"milestones": _reward(quantity=0)}, "body.milestones.0.rewards.0.quantity"),
        ({"milestones": _reward(type="Gems")}, "body.milestones.0.rewards.0.type"),
        ({"milestones": _reward(rarity="super rare")}, "body.milestones.0.rewards.0.rarity"),
        (
            {"milestones": _milestone(rewards=[MILESTONES[0]["rewards"][0]] * 2)},
            "body.milestones.0.rewards.1.rewardId",
        ),
        ({"configuration": {"a": {"b": [1, 2**64]}}}, "body.configuration.a.b.1"),
        ({"uiLayout": {"deep": _nested(40)}}, "body.uiLayout.deep" + ".x" * 32),
    ],
)
async def test_invalid_create_is_422_naming_the_field(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, change: dict[str, Any], field: str
) -> None:
    p = problem(await client.post(URL, headers=op, json=body(**change)), 422)
    assert field in fields(p), p
    assert await count_rows("event_templates") == 0


async def test_thresholds_must_rise_with_the_index(client: httpx.AsyncClient, op: Headers) -> None:
    milestones = [
        {"index": 0, "progressThreshold": 0.5},
        {"index": 1, "progressThreshold": 0.5},
        {"index": 2, "progressThreshold": 0.25},
    ]
    p = problem(await client.post(URL, headers=op, json=body(milestones=milestones)), 422)
    assert fields(p) == ["body.milestones.1.progressThreshold", "body.milestones.2.progressThreshold"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"templateId": "t", "type": "Gacha", "name": "n\\ud800"}', "body.name"),
        (b'{"templateId": "t", "type": "Gacha", "name": "n", "configuration": {"x": NaN}}', "body.configuration.x"),
        (b'{"templateId": "t", "type": "Gacha", "name": "n", "theme": {"x": ["\\ud800"]}}', "body.theme.x.0"),
        (b'{"templateId": "t", "type": "Gacha", "name": "n", "theme": {"\\ud800": 1}}', "body.theme"),
        (
            b'{"templateId": "t", "type": "Gacha", "name": "n", "objectives": '
            b'[{"objectiveId": "o", "type": "Reach", "targetValue": Infinity, "trackingKey": "k"}]}',
            "body.objectives.0.targetValue",
        ),
    ],
)
async def test_unstorable_json_is_refused(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, raw: bytes, field: str
) -> None:
    r = await client.post(URL, headers=op | {"content-type": "application/json"}, content=raw)
    assert field in fields(problem(r, 422))
    assert await count_rows("event_templates") == 0


async def test_missing_fields_are_named(client: httpx.AsyncClient, op: Headers) -> None:
    p = problem(await client.post(URL, headers=op, json={}), 422)
    assert {"body.templateId", "body.type", "body.name"} <= set(fields(p))


async def test_unknown_template_is_404(client: httpx.AsyncClient, op: Headers) -> None:
    problem(await client.get(f"{URL}/nope", headers=op), 404)
    problem(await client.put(f"{URL}/nope", headers=op, json=EDITABLE), 404)


# -- list -------------------------------------------------------------------------------------------


async def test_list_pages_in_id_order_and_filters_by_type(client: httpx.AsyncClient, op: Headers) -> None:
    made = {
        "m-cup": "Tournament",
        "a-fest": "Seasonal",
        "z-cup": "Tournament",
        "b-gacha": "Gacha",
        "c-cup": "Tournament",
    }
    for template_id, event_type in made.items():
        await create(client, op, templateId=template_id, type=event_type)

    async def walk(**params: Any) -> list[str]:
        seen: list[str] = []
        cursor: str | None = None
        while True:
            query = {**params, "limit": 2} | ({} if cursor is None else {"cursor": cursor})
            r = await client.get(URL, headers=op, params=query)
            assert r.status_code == 200, r.text
            assert len(r.json()["items"]) <= 2
            seen += [t["templateId"] for t in r.json()["items"]]
            cursor = r.json()["nextCursor"]
            if cursor is None:
                return seen

    assert await walk() == sorted(made)
    assert await walk(type="Tournament") == ["c-cup", "m-cup", "z-cup"]
    assert await walk(type="Crossover") == []
    everything = (await client.get(URL, headers=op)).json()
    assert everything["nextCursor"] is None
    assert everything["items"][0] == (await client.get(f"{URL}/a-fest", headers=op)).json()


@pytest.mark.parametrize("params", [{"cursor": "garbage"}, {"limit": 0}, {"limit": 501}, {"type": "not a type"}])
async def test_list_rejects_bad_query(client: httpx.AsyncClient, op: Headers, params: dict[str, Any]) -> None:
    p = problem(await client.get(URL, headers=op, params=params), 422)
    (name,) = params
    assert f"query.{name}" in fields(p)


# -- replace ----------------------------------------------------------------------------------------


async def test_put_replaces_the_editable_fields(
    client: httpx.AsyncClient, op: Headers, auth: Auth, clock: ManualClock, container: Container
) -> None:
    await create(client, op)
    clock.advance(timedelta(hours=1))
    await use(container, "summer-fest")
    used_at = "2026-06-01T13:00:00Z"
    clock.advance(timedelta(minutes=5))
    ada = await auth("admin", "ada")
    change = {
        "type": "SeasonalPromotion",
        "name": "Summer Festival II",
        "eventClass": "standard",
        "objectives": OBJECTIVES[:1],
        "milestones": [{**MILESTONES[1], "index": 4}],
        "configuration": {"dropRateMultiplier": 2},
        "requiresClan": True,
    }
    r = await client.put(f"{URL}/summer-fest", headers=ada | {"If-Match": '"1"'}, json=change)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    updated = r.json()
    assert {k: updated[k] for k in change} == change
    # Not sent: back to the defaults, as a replace does.
    assert (updated["description"], updated["theme"], updated["durationSeconds"]) == (None, None, None)
    assert updated["minimumPlayerLevel"] == 1
    assert (updated["templateId"], updated["revision"]) == ("summer-fest", 2)
    assert (updated["updatedBy"], updated["updatedAt"]) == ("ada", "2026-06-01T13:05:00Z")
    assert (updated["createdBy"], updated["createdAt"]) == ("olivia", "2026-06-01T12:00:00Z")
    assert (updated["usageCount"], updated["lastUsedAt"]) == (1, used_at)  # not the editors' to change
    assert (await client.get(f"{URL}/summer-fest", headers=op)).json() == updated
    assert await audit_actions(client, op, "summer-fest") == ["event_template.update", "event_template.create"]


async def test_put_of_what_is_stored_changes_nothing(
    client: httpx.AsyncClient, op: Headers, clock: ManualClock
) -> None:
    created = await create(client, op)
    clock.advance(timedelta(minutes=1))
    same = {**copy.deepcopy(EDITABLE), "milestones": MILESTONES[::-1]}  # order is not content
    r = await client.put(f"{URL}/summer-fest", headers=op | {"If-Match": '"1"'}, json=same)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"1"'
    assert r.json() == created
    assert await audit_actions(client, op, "summer-fest") == ["event_template.create"]


async def test_put_with_a_stale_etag_is_412(client: httpx.AsyncClient, op: Headers) -> None:
    await create(client, op)
    assert (await client.put(f"{URL}/summer-fest", headers=op, json={**EDITABLE, "name": "v2"})).status_code == 200
    for stale in ['"1"', "1", 'W/"1"', '"banana"']:
        r = await client.put(f"{URL}/summer-fest", headers=op | {"If-Match": stale}, json={**EDITABLE, "name": "v3"})
        assert problem(r, 412)["currentRevision"] == 2
    assert (await client.get(f"{URL}/summer-fest", headers=op)).json()["name"] == "v2"
    r = await client.put(f"{URL}/summer-fest", headers=op | {"If-Match": '"2"'}, json={**EDITABLE, "name": "v3"})
    assert (r.status_code, r.json()["revision"]) == (200, 3)
    r = await client.put(f"{URL}/summer-fest", headers=op | {"If-Match": "*"}, json={**EDITABLE, "name": "v4"})
    assert (r.status_code, r.json()["revision"]) == (200, 4)


async def test_two_puts_with_the_same_etag_at_once(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    await create(client, op)
    ada = await auth("admin", "ada")
    responses = await asyncio.gather(
        client.put(f"{URL}/summer-fest", headers=op | {"If-Match": '"1"'}, json={**EDITABLE, "name": "A"}),
        client.put(f"{URL}/summer-fest", headers=ada | {"If-Match": '"1"'}, json={**EDITABLE, "name": "B"}),
    )
    assert codes(list(responses)) == [200, 412]
    won = next(r for r in responses if r.status_code == 200).json()
    assert (await client.get(f"{URL}/summer-fest", headers=op)).json() == won


async def test_invalid_put_changes_nothing(client: httpx.AsyncClient, op: Headers) -> None:
    created = await create(client, op)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"templateId": "renamed"}, "body.templateId"),
        ({"usageCount": 0}, "body.usageCount"),
        ({"revision": 1}, "body.revision"),
        ({"milestones": _milestone(progressThreshold=1.0)}, "body.milestones.1.progressThreshold"),
        ({"objectives": _objective(targetValue=0)}, "body.objectives.0.targetValue"),
    ]
    for change, field in cases:
        p = problem(await client.put(f"{URL}/summer-fest", headers=op, json={**EDITABLE, **change}), 422)
        assert field in fields(p), p
    assert (await client.get(f"{URL}/summer-fest", headers=op)).json() == created


# -- usage --------------------------------------------------------------------------------------------


async def test_use_counts_and_stamps_the_clock(
    client: httpx.AsyncClient, op: Headers, clock: ManualClock, container: Container
) -> None:
    await create(client, op)
    clock.advance(timedelta(days=2))
    async with container.uow() as uow:
        used = await TemplateService(container.audit).use(uow, "summer-fest")
        await uow.commit()
    assert (used.usage_count, used.last_used_at, used.revision) == (1, clock.now(), 1)
    clock.advance(timedelta(hours=3))
    await use(container, "summer-fest")
    r = await client.get(f"{URL}/summer-fest", headers=op)
    assert (r.json()["usageCount"], r.json()["lastUsedAt"]) == (2, "2026-06-03T15:00:00Z")
    assert (r.json()["revision"], r.headers["etag"]) == (1, '"1"')  # usage is not an edit


async def test_use_of_an_unknown_template_is_not_found(container: Container) -> None:
    async with container.uow() as uow:
        with pytest.raises(NotFound):
            await TemplateService(container.audit).use(uow, "nope")


async def test_uses_at_once_all_count(client: httpx.AsyncClient, op: Headers, container: Container) -> None:
    await create(client, op)
    await asyncio.gather(*[use(container, "summer-fest") for _ in range(2)])
    assert (await client.get(f"{URL}/summer-fest", headers=op)).json()["usageCount"] == 2
    await asyncio.gather(*[use(container, "summer-fest") for _ in range(6)])
    assert (await client.get(f"{URL}/summer-fest", headers=op)).json()["usageCount"] == 8


async def test_a_use_that_rolls_back_does_not_count(
    client: httpx.AsyncClient, op: Headers, container: Container
) -> None:
    await create(client, op)
    async with container.uow() as uow:
        await TemplateService(container.audit).use(uow, "summer-fest")  # the event it was for failed
    got = (await client.get(f"{URL}/summer-fest", headers=op)).json()
    assert (got["usageCount"], got["lastUsedAt"]) == (0, None)


async def test_service_create_checks_the_draft(container: Container) -> None:
    from hotswap.core.errors import InvalidInput
    from hotswap.event_templates.schemas import TemplateCreate

    draft = TemplateCreate.model_validate(body(milestones=_milestone(index=1))).draft()
    async with container.uow() as uow:
        with pytest.raises(InvalidInput) as caught:
            await TemplateService(container.audit).create(uow, Principal("olivia", Role.OPERATOR, "-"), "t", draft)
    assert [e.field for e in caught.value.errors] == ["body.milestones.1.index"]


# -- roles ----------------------------------------------------------------------------------------------


async def test_roles(client: httpx.AsyncClient, auth: Auth, op: Headers) -> None:
    await create(client, op)
    viewer, server, approver = await auth("viewer"), await auth("server"), await auth("approver")
    problem(await client.get(URL), 401)
    problem(await client.post(URL, json=body(templateId="x")), 401)
    for reader in (viewer, approver):
        assert (await client.get(URL, headers=reader)).status_code == 200
        assert (await client.get(f"{URL}/summer-fest", headers=reader)).status_code == 200
    problem(await client.get(URL, headers=server), 403)
    for headers in (viewer, server, approver):
        problem(await client.post(URL, headers=headers, json=body(templateId="x")), 403)
        problem(await client.put(f"{URL}/summer-fest", headers=headers, json={**EDITABLE, "name": "x"}), 403)
    assert (await client.get(f"{URL}/summer-fest", headers=op)).json()["revision"] == 1
    assert (await client.post(URL, headers=await auth("admin"), json=body(templateId="y"))).status_code == 201
