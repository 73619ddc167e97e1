"""The fleet's pure rules: region names and lookups, region drafts, health, heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, InvalidInput, PreconditionFailed
from hotswap.fleet import model as m

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def region(region_id: str, *aliases: str, order: int = 1, revision: int = 1) -> m.Region:
    return m.Region(
        id=region_id,
        display_name=region_id.title(),
        time_zone="UTC",
        rollout_order=order,
        aliases=aliases,
        created_at=T0,
        created_by="system",
        updated_at=T0,
        updated_by="system",
        revision=revision,
    )


def server(last_heartbeat_at: datetime) -> m.GameServer:
    return m.GameServer(
        id="gs-1",
        game="battle-royale",
        region="NA-WEST",
        labels={},
        build="1",
        capacity=0,
        registered_at=T0,
        registered_by="gs",
        last_heartbeat_at=last_heartbeat_at,
        player_count=0,
        health={},
        environment=None,
        applied_revision=None,
        config_versions={},
    )


DEFAULTS = [region(r["id"], *r["aliases"], order=r["rollout_order"]) for r in m.DEFAULT_REGIONS]


def draft(**change: Any) -> m.RegionDraft:
    values: dict[str, Any] = {
        "display_name": "Mars",
        "time_zone": "Europe/Berlin",
        "rollout_order": 9,
        "aliases": ["mars-1"],
        **change,
    }
    return m.RegionDraft(**values)


def error_fields(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [e.field for e in exc.value.errors]


# -- lookups -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NA-WEST", "NA-WEST"),
        ("na-west", "NA-WEST"),
        ("Na-West", "NA-WEST"),
        ("us-west", "NA-WEST"),
        ("US-WEST", "NA-WEST"),
        ("eu-central", "EU-EAST"),
        ("Asia", "APAC"),
        ("apac", "APAC"),
    ],
)
def test_a_region_is_found_by_its_id_or_any_alias_in_any_case(raw: str, expected: str) -> None:
    found = m.resolve_region(DEFAULTS, raw)
    assert found is not None
    assert found.id == expected


@pytest.mark.parametrize("raw", ["", "mars", "us", "NA-WEST ", "na_west", "us-west-2"])
def test_an_unknown_name_finds_no_region(raw: str) -> None:
    assert m.resolve_region(DEFAULTS, raw) is None


def test_the_alias_map_names_every_id_and_alias_in_lower_case() -> None:
    assert m.alias_map(DEFAULTS) == {
        "na-west": "NA-WEST",
        "us-west": "NA-WEST",
        "na-east": "NA-EAST",
        "us-east": "NA-EAST",
        "eu-west": "EU-WEST",
        "eu-east": "EU-EAST",
        "eu-central": "EU-EAST",
        "apac": "APAC",
        "ap-southeast": "APAC",
        "asia": "APAC",
    }


def test_in_the_alias_map_an_id_wins_over_another_regions_alias() -> None:
    # The service never stores this; the map is still deterministic if a store holds it.
    names = m.alias_map([region("EAST", "west"), region("WEST")])
    assert names == {"east": "EAST", "west": "WEST"}
    assert m.resolve_region([region("EAST", "west"), region("WEST")], "WEST") == region("WEST")


def test_a_regions_names_are_its_id_then_its_aliases_once() -> None:
    assert region("NA-WEST", "us-west", "na-west").names == ("na-west", "us-west")


def test_name_taken_names_the_region_that_answers_to_a_name() -> None:
    taken = m.name_taken(DEFAULTS, ["mars", "us-east"])
    assert taken is not None
    assert (taken[0], taken[1].id) == ("us-east", "NA-EAST")
    assert m.name_taken(DEFAULTS, ["mars", "venus"]) is None
    assert m.name_taken(DEFAULTS, ["us-east", "na-east"], ignore="NA-EAST") is None


# -- drafts ------------------------------------------------------------------------------


def test_a_valid_draft_gives_its_aliases_in_lower_case_once() -> None:
    assert m.check_draft(draft(aliases=["Mars-1", "mars-1", "RED"]), "MARS") == ("mars-1", "red")


@pytest.mark.parametrize("zone", ["America/Sao_Paulo", "UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires"])
def test_iana_time_zones_are_accepted(zone: str) -> None:
    assert m.time_zone_problem(zone) is None


@pytest.mark.parametrize(
    "zone",
    ["Mars/Olympus_Mons", "Europe", "europe/berlin", "", "../etc/passwd", "/etc/localtime", "localtime", "posix/UTC"],
)
def test_what_is_not_an_iana_time_zone_is_refused(zone: str) -> None:
    assert m.time_zone_problem(zone) is not None


def test_an_unknown_time_zone_is_a_422_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as exc:
        m.check_draft(draft(time_zone="Mars/Olympus_Mons"))
    assert error_fields(exc) == ["body.timeZone"]
    assert "Mars/Olympus_Mons" in exc.value.errors[0].message


def test_every_invalid_part_of_a_draft_is_named() -> None:
    with pytest.raises(InvalidInput) as exc:
        m.check_draft(
            draft(display_name="", time_zone="Nowhere", rollout_order=-1, aliases=["ok", "not ok", "x" * 41]),
            "bad id",
        )
    assert error_fields(exc) == [
        "body.id",
        "body.displayName",
        "body.timeZone",
        "body.rolloutOrder",
        "body.aliases.1",
        "body.aliases.2",
    ]


def test_an_id_with_a_trailing_newline_is_not_an_id() -> None:
    with pytest.raises(InvalidInput):
        m.check_draft(draft(), "MARS\n")


def test_too_many_aliases_are_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        m.check_draft(draft(aliases=[f"a{i}" for i in range(m.MAX_ALIASES + 1)]))
    assert error_fields(exc) == ["body.aliases"]


def test_a_taken_id_is_a_conflict_saying_it_exists() -> None:
    with pytest.raises(Conflict) as exc:
        m.check_names_free(DEFAULTS, "NA-WEST", [], ignore=None)
    assert "already exists" in exc.value.detail
    assert exc.value.extra == {"region": "NA-WEST"}


def test_an_id_or_alias_another_region_answers_to_names_that_region() -> None:
    with pytest.raises(Conflict) as exc:
        m.check_names_free(DEFAULTS, "US-WEST", [], ignore=None)
    assert exc.value.extra == {"region": "NA-WEST", "name": "us-west"}
    with pytest.raises(Conflict) as exc:
        m.check_names_free(DEFAULTS, "MARS", ["red", "eu-central"], ignore=None)
    assert exc.value.extra == {"region": "EU-EAST", "name": "eu-central"}


def test_a_region_keeps_its_own_names_when_replaced() -> None:
    m.check_names_free(DEFAULTS, "NA-WEST", ["us-west", "na-west", "cali"], ignore="NA-WEST")


def test_a_stale_revision_is_refused() -> None:
    m.check_revision(region("MARS", revision=3), None)
    m.check_revision(region("MARS", revision=3), 3)
    with pytest.raises(PreconditionFailed) as exc:
        m.check_revision(region("MARS", revision=3), 2)
    assert exc.value.extra == {"currentRevision": 3}


def test_the_default_regions_are_valid_and_their_names_distinct() -> None:
    names: list[str] = []
    for r in m.DEFAULT_REGIONS:
        d = m.RegionDraft(r["display_name"], r["time_zone"], r["rollout_order"], r["aliases"])
        aliases = m.check_draft(d, r["id"])
        assert r["id"] == m.canonical_id(r["id"])
        names += {r["id"].lower(), *aliases}
    assert len(names) == len(set(names))
    assert [r["rollout_order"] for r in m.DEFAULT_REGIONS] == [1, 2, 3, 4, 5]


# -- servers -----------------------------------------------------------------------------


def test_a_server_is_healthy_until_its_heartbeat_is_older_than_the_timeout() -> None:
    timeout = timedelta(seconds=30)
    s = server(T0)
    assert s.healthy(T0, timeout)
    assert s.healthy(T0 + timeout, timeout)
    assert not s.healthy(T0 + timeout + timedelta(microseconds=1), timeout)
    assert s.healthy(T0 - timedelta(seconds=2), timeout)  # a heartbeat stamped by a clock ahead


def test_a_heartbeat_changes_only_what_it_reports() -> None:
    assert m.Heartbeat().changes() == {}
    beat = m.Heartbeat(player_count=12, environment=Environment.STAGING, applied_revision=None)
    assert beat.changes() == {"player_count": 12, "environment": "Staging", "applied_revision": None}
    full = m.Heartbeat(
        player_count=0,
        health={"cpu": 0.5},
        environment=None,
        applied_revision=7,
        config_versions={"balance": "1.2.0"},
    )
    assert full.changes() == {
        "player_count": 0,
        "health": {"cpu": 0.5},
        "environment": None,
        "applied_revision": 7,
        "config_versions": {"balance": "1.2.0"},
    }
