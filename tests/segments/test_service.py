"""The segments service's answers for other slices: the snapshot's part, and which exist (locked)."""

from __future__ import annotations

import asyncio

import httpx

from hotswap.configs.tables import config_profiles
from hotswap.container import Container
from hotswap.core.environments import Environment
from hotswap.segments.model import BUILTIN_SEGMENTS
from tests.helpers import Headers, problem


async def test_the_snapshot_part_holds_every_segment_in_id_order(container: Container) -> None:
    async with container.uow(read_only=True) as uow:
        found = await container.segments.snapshot_segments(uow.conn, Environment.PRODUCTION)
    builtin = {s["id"]: s for s in BUILTIN_SEGMENTS}
    assert list(found) == sorted(builtin)
    assert all(found[i] == {"condition": builtin[i]["condition"], "name": builtin[i]["name"]} for i in builtin)


async def test_lock_existing_says_which_exist(container: Container) -> None:
    async with container.uow() as uow:
        assert await container.segments.lock_existing(uow, ["vip", "nope", "vip"]) == {"vip"}
        assert await container.segments.lock_existing(uow, []) == set()


async def test_a_rule_written_under_the_lock_keeps_the_segment(
    client: httpx.AsyncClient, op: Headers, container: Container
) -> None:
    """What a writer of targeting rules does: check the named segments with lock_existing, then
    write. A delete racing it either finishes first (the segment is then missing for the writer)
    or sees the rule: never a rule naming a deleted segment."""
    r = await client.post("/api/v1/configs", headers=op, json={"name": "shop", "environment": "Staging"})
    assert r.status_code == 201, r.text
    async with container.uow() as uow:
        assert await container.segments.lock_existing(uow, ["vip"]) == {"vip"}
        delete = asyncio.create_task(client.delete("/api/v1/segments/vip", headers=op))
        for _ in range(20):
            await asyncio.sleep(0)  # let the delete start and queue on the lock
        rules = [{"id": "r1", "segment": "vip", "override": {"discount": 10}}]
        await uow.conn.execute(config_profiles.update().where(config_profiles.c.name == "shop").values(targeting=rules))
        await uow.commit()
    assert problem(await delete, 409)["configs"] == ["shop"]
    assert (await client.get("/api/v1/segments/vip", headers=op)).status_code == 200
