"""Values that PostgreSQL's jsonb writes back differently (1e20 comes back as an integer past
64 bits) are read as they were written, everywhere they are read."""

from __future__ import annotations

from datetime import timedelta

import httpx

from hotswap.core.jsonutil import as_stored
from tests.helpers import Auth


def test_as_stored_turns_only_out_of_range_integers_into_floats() -> None:
    # Out of range is past signed 64 bits, what HotSwap stores: 1.5e19 comes back from jsonb as
    # an integer below 2**64 and must be written again as the float it was.
    value = {"a": 10**20, "b": [-(10**25), 2**63 - 1, 2**64 - 1, True], "c": {"d": 1.5, "e": "x"}}
    assert as_stored(value) == {"a": 1e20, "b": [-1e25, 2**63 - 1, 2.0**64, True], "c": {"d": 1.5, "e": "x"}}
    assert isinstance(as_stored(value)["b"][1], int)
    assert isinstance(as_stored(value)["b"][2], float)
    assert isinstance(as_stored(value)["a"], float)
    assert as_stored(value)["b"][3] is True


async def test_a_large_float_in_config_data_diffs_and_serves(client: httpx.AsyncClient, auth: Auth) -> None:
    op = await auth("operator", ttl=timedelta(days=1))
    r = await client.post("/api/v1/configs", headers=op, json={"name": "big", "environment": "Staging"})
    assert r.status_code == 201
    for version, value in (("1.0.0", 1e20), ("1.1.0", 2e21)):
        r = await client.post(
            "/api/v1/configs/big/versions", headers=op, json={"configData": {"cap": value}, "version": version}
        )
        assert r.status_code == 201, r.text
    r = await client.get("/api/v1/configs/big/diff?from=1.0.0&to=1.1.0", headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["patch"] == [{"op": "replace", "path": "/cap", "value": 2e21}]
    r = await client.post("/api/v1/configs/big/releases", headers=op, json={"version": "1.1.0"})
    assert r.status_code == 201
    r = await client.post("/api/v1/evaluate?environment=Staging", headers=op, json={"playerId": "p"})
    assert r.status_code == 200, r.text
    assert r.json()["configs"]["big"]["value"] == {"cap": 2e21}


async def test_a_large_float_player_attribute_can_be_merged_and_exported(client: httpx.AsyncClient, auth: Auth) -> None:
    op = await auth("operator", ttl=timedelta(days=1))
    assert (await client.put("/api/v1/players/p1", headers=op, json={"attributes": {"xp": 1e20}})).status_code == 201
    r = await client.patch("/api/v1/players/p1", headers=op, json={"attributes": {"level": 3}})
    assert r.status_code == 200, r.text
    r = await client.get("/api/v1/players/p1", headers=op)
    assert r.json()["attributes"] == {"xp": 1e20, "level": 3}
