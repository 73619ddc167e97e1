"""Live events in the compiled snapshot: windows by region and time, segments, exposure,
variants, and the same answer from `evaluate`, `evaluate_json` and `active_events`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from hotswap.targeting.bucketing import bucket_ranges, choose_variation, hash_unit
from hotswap.targeting.snapshot import CompiledSnapshot, Context, compile_snapshot

START = datetime(2026, 6, 1, tzinfo=UTC)
END = START + timedelta(days=7)
NOW = START + timedelta(hours=12)
REGIONS = {"eu": "EU-WEST", "eu-west": "EU-WEST", "europe": "EU-WEST", "na-west": "NA-WEST", "us-west": "NA-WEST"}
SEGMENTS = {
    "vip": {"name": "VIP", "condition": {"totalSpend": {"$gte": 100}}},
    "veterans": {"name": "Veterans", "condition": {"level": {"$gte": 50}}},
}
PLAYERS = [f"player-{i}" for i in range(4000)]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def window(region: str | None = None, start: datetime = START, end: datetime = END) -> dict[str, Any]:
    return {"region": region, "start": iso(start), "end": iso(end)}


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": event_id,
        "version": 3,
        "displayName": event_id.title(),
        "description": None,
        "type": "SeasonalPromotion",
        "class": "standard",
        "configuration": {"multiplier": 2, "shop": {"discount": 10, "items": ["sword"]}},
        "objectives": [{"id": "win-5", "target": 5}],
        "milestones": [{"points": 100, "reward": "chest"}],
        "theme": {"color": "gold"},
        "segment": None,
        "windows": [window()],
        "exposure": None,
        "variants": [],
        "seed": event_id,
    }
    return base | fields


def document(events: list[dict[str, Any]] | None, configs: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "environment": "Production",
        "revision": 9,
        "configs": configs or {},
        "segments": SEGMENTS,
        "regions": REGIONS,
        "rollouts": [],
    }
    if events is not None:
        doc["events"] = sorted(events, key=lambda e: str(e["id"]))
    return doc


def active(snapshot: CompiledSnapshot | dict[str, Any], context: Context, at: datetime = NOW) -> list[dict[str, Any]]:
    """The events served, after checking every way of asking gives the same list."""
    compiled = snapshot if isinstance(snapshot, CompiledSnapshot) else compile_snapshot(snapshot)
    found = compiled.active_events(context, at)
    assert orjson.loads(compiled.active_events_json(context, at)) == found
    assert compiled.evaluate(context, at)["events"] == found
    assert orjson.loads(compiled.evaluate_json(context, at)) == compiled.evaluate(context, at)
    return found


def ids(snapshot: CompiledSnapshot | dict[str, Any], context: Context, at: datetime = NOW) -> list[str]:
    return [e["id"] for e in active(snapshot, context, at)]


def test_an_open_event_is_served_with_its_window_and_configuration() -> None:
    served = active(document([event("summer-fest")]), Context(player_id="p1"))
    assert served == [
        {
            "id": "summer-fest",
            "version": 3,
            "displayName": "Summer-Fest",
            "description": None,
            "type": "SeasonalPromotion",
            "class": "standard",
            "configuration": {"multiplier": 2, "shop": {"discount": 10, "items": ["sword"]}},
            "objectives": [{"id": "win-5", "target": 5}],
            "milestones": [{"points": 100, "reward": "chest"}],
            "theme": {"color": "gold"},
            "variant": None,
            "startsAt": "2026-06-01T00:00:00Z",
            "endsAt": "2026-06-08T00:00:00Z",
        }
    ]


def test_a_window_includes_its_start_and_excludes_its_end() -> None:
    snapshot = compile_snapshot(document([event("e")]))  # one snapshot: what it remembers must follow the clock
    player = Context(player_id="p1")
    tick = timedelta(microseconds=1)
    assert ids(snapshot, player, START - tick) == []
    assert ids(snapshot, player, START) == ["e"]
    assert ids(snapshot, player, END - tick) == ["e"]
    assert ids(snapshot, player, END) == []
    assert ids(snapshot, player, START) == ["e"]  # back again: nothing stale remembered


def test_events_are_sorted_by_id_and_each_follows_its_own_window() -> None:
    later = window(start=START + timedelta(days=1))
    doc = document([event("b-late", windows=[later]), event("c"), event("a")])
    assert ids(doc, Context(player_id="p")) == ["a", "c"]
    assert ids(doc, Context(player_id="p"), START + timedelta(days=2)) == ["a", "b-late", "c"]


def test_a_regional_window_applies_in_its_region_by_any_alias_or_case() -> None:
    doc = document([event("eu-only", windows=[window("EU-WEST")]), event("everywhere")])
    snapshot = compile_snapshot(doc)
    for region in ("EU-WEST", "eu-west", "eu", "Europe"):
        assert ids(snapshot, Context(player_id="p", region=region)) == ["eu-only", "everywhere"], region
    for other in ("NA-WEST", "us-west", "mars", None):
        assert ids(snapshot, Context(player_id="p", region=other)) == ["everywhere"], other


def test_regional_windows_open_at_each_regions_own_instant() -> None:
    """A region-local event: local midnight is a different instant in each region."""
    eu = window("EU-WEST", START - timedelta(hours=2), END - timedelta(hours=2))
    na = window("NA-WEST", START + timedelta(hours=7), END + timedelta(hours=7))
    snapshot = compile_snapshot(document([event("local", windows=[eu, na])]))
    at = START + timedelta(hours=1)
    assert ids(snapshot, Context(player_id="p", region="eu"), at) == ["local"]
    assert ids(snapshot, Context(player_id="p", region="us-west"), at) == []
    later = START + timedelta(hours=8)
    served = active(snapshot, Context(player_id="p", region="us-west"), later)
    assert (served[0]["startsAt"], served[0]["endsAt"]) == (na["start"], na["end"])
    assert active(snapshot, Context(player_id="p", region="eu"), later)[0]["startsAt"] == eu["start"]


def test_a_regions_own_window_wins_over_one_open_everywhere() -> None:
    regional = window("EU-WEST", START, START + timedelta(days=2))
    doc = document([event("e", windows=[window(), regional])])
    assert active(doc, Context(player_id="p", region="eu"))[0]["endsAt"] == regional["end"]
    assert active(doc, Context(player_id="p", region="na-west"))[0]["endsAt"] == iso(END)
    # Once the region's window closes, the window open everywhere still applies there.
    assert active(doc, Context(player_id="p", region="eu"), START + timedelta(days=3))[0]["endsAt"] == iso(END)


def test_a_segment_event_applies_to_the_segment_only() -> None:
    doc = document([event("vip-sale", segment="vip"), event("ghost", segment="no-such-segment")])
    assert ids(doc, Context(player_id="p", attributes={"totalSpend": 150})) == ["vip-sale"]
    assert ids(doc, Context(player_id="p", attributes={"totalSpend": 5})) == []
    assert ids(doc, Context(player_id="p")) == []


def test_exposure_admits_about_its_share_and_keeps_everyone_as_it_grows() -> None:
    def exposed(percentage: float) -> set[str]:
        snapshot = compile_snapshot(document([event("e", exposure=[{"percentage": percentage}])]))
        return {p for p in PLAYERS if snapshot.active_events(Context(player_id=p), NOW)}

    shares = {pct: exposed(pct) for pct in (0, 10, 30, 100)}
    assert shares[0] == set()
    assert shares[10] <= shares[30] <= shares[100] == set(PLAYERS)
    assert 0.07 < len(shares[10]) / len(PLAYERS) < 0.13
    assert 0.26 < len(shares[30]) / len(PLAYERS) < 0.34


def test_exposure_hashes_players_as_a_rollout_with_the_same_seed_does() -> None:
    rollout = {
        "id": "dep_1",
        "config": "balance",
        "version": "2.0.0",
        "value": {"hp": 2},
        "seed": "e",
        "hashAttribute": "playerId",
        "exposure": [{"percentage": 25}],
    }
    configs = {"balance": {"version": "1.0.0", "versionId": "v1", "type": "GameBalance", "value": {"hp": 1}}}
    doc = document([event("e", exposure=[{"percentage": 25}])], configs) | {"rollouts": [rollout]}
    snapshot = compile_snapshot(doc)
    for player in PLAYERS[:500]:
        answer = snapshot.evaluate(Context(player_id=player), NOW)
        canary = answer["configs"]["balance"]["rollout"]["arm"] == "canary"
        assert bool(answer["events"]) == canary, player


def test_exposure_grants_by_region_segment_and_player_combine_with_or() -> None:
    grants = [
        {"percentage": 100, "regions": ["NA-WEST"]},
        {"percentage": 100, "segment": "vip"},
        {"percentage": 100, "units": ["tester-1"]},
        {"percentage": 0},
    ]
    snapshot = compile_snapshot(document([event("e", exposure=grants)]))
    assert ids(snapshot, Context(player_id="a", region="us-west")) == ["e"]
    assert ids(snapshot, Context(player_id="b", region="eu", attributes={"totalSpend": 500})) == ["e"]
    assert ids(snapshot, Context(player_id="tester-1", region="eu")) == ["e"]
    assert ids(snapshot, Context(player_id="c", region="eu")) == []
    nobody = compile_snapshot(document([event("e", exposure=[{"percentage": 0}]), event("f", exposure=[])]))
    assert {tuple(ids(nobody, Context(player_id=p))) for p in PLAYERS[:200]} == {()}


def test_without_a_player_id_there_is_no_exposure_and_no_variant() -> None:
    variants = [{"name": "A", "weight": 50, "configuration": {"multiplier": 3}}, {"name": "B", "weight": 50}]
    doc = document(
        [
            event("deploying", exposure=[{"percentage": 100}]),
            event("split", variants=variants),
            event("plain"),
        ]
    )
    server = Context(server_id="gs-1", region="eu")
    served = active(doc, server)
    assert [e["id"] for e in served] == ["plain", "split"]
    assert served[1]["variant"] is None
    assert served[1]["configuration"] == event("split")["configuration"]
    assert ids(doc, Context(player_id="p")) == ["deploying", "plain", "split"]


def test_variants_split_players_by_weight_with_their_configuration_merged() -> None:
    variants = [
        {"name": "A", "weight": 75, "configuration": {"shop": {"discount": 20}}},
        {"name": "B", "weight": 25, "configuration": {"multiplier": 5}},
        {"name": "never", "weight": 0, "configuration": {}},
    ]
    snapshot = compile_snapshot(document([event("ab", variants=variants, seed="ab-seed")]))
    counts = {"A": 0, "B": 0, "never": 0}
    ranges = bucket_ranges(3, 1.0, [0.75, 0.25, 0.0])
    for player in PLAYERS:
        served = snapshot.active_events(Context(player_id=player), NOW)[0]
        counts[served["variant"]] += 1
        expected = choose_variation(hash_unit("ab-seed:variant", player, 2) or 0.0, ranges)
        assert served["variant"] == variants[expected]["name"]
    assert counts["never"] == 0
    assert 0.71 < counts["A"] / len(PLAYERS) < 0.79
    a = next(e for p in PLAYERS if (e := active(snapshot, Context(player_id=p))[0])["variant"] == "A")
    b = next(e for p in PLAYERS if (e := active(snapshot, Context(player_id=p))[0])["variant"] == "B")
    assert a["configuration"] == {"multiplier": 2, "shop": {"discount": 20, "items": ["sword"]}}
    assert b["configuration"] == {"multiplier": 5, "shop": {"discount": 10, "items": ["sword"]}}
    # Sticky: the same player gets the same variant from a snapshot compiled anew.
    again = compile_snapshot(document([event("ab", variants=variants, seed="ab-seed")]))
    for player in PLAYERS[:200]:
        first = snapshot.active_events(Context(player_id=player), NOW)[0]["variant"]
        assert again.active_events(Context(player_id=player), NOW)[0]["variant"] == first


def test_a_document_without_events_serves_none() -> None:
    configs = {"balance": {"version": "1.0.0", "versionId": "v1", "type": "GameBalance", "value": {"hp": 1}}}
    for doc in (document(None, configs), document([], configs)):
        snapshot = compile_snapshot(doc)
        context = Context(player_id="p")
        assert snapshot.active_events(context, NOW) == []
        assert snapshot.active_events_json(context, NOW) == b"[]"
        assert orjson.loads(snapshot.evaluate_json(context, NOW))["events"] == []
        assert snapshot.evaluate(context, NOW)["events"] == []


def test_configs_and_events_share_a_segment_and_one_answer() -> None:
    rules = [{"id": "vip", "segment": "vip", "override": {"hp": 2}}]
    configs = {
        "balance": {"version": "1.0.0", "versionId": "v1", "type": "GameBalance", "value": {"hp": 1}, "rules": rules}
    }
    snapshot = compile_snapshot(document([event("vip-sale", segment="vip"), event("all")], configs))
    for spend, hp, events in ((500, 2, ["all", "vip-sale"]), (0, 1, ["all"]), (500, 2, ["all", "vip-sale"])):
        context = Context(player_id="p", attributes={"totalSpend": spend})
        answer = orjson.loads(snapshot.evaluate_json(context, NOW))
        assert answer["configs"]["balance"]["value"] == {"hp": hp}
        assert [e["id"] for e in answer["events"]] == events
        assert answer == snapshot.evaluate(context, NOW)


VARIANTS = [{"name": "A", "weight": 1, "configuration": {"x": 1}}, {"name": "B", "weight": 3}]
PROPERTY_DOC = document(
    [
        event("all"),
        event(
            "eu", windows=[window("EU-WEST", START, START + timedelta(days=1)), window(None, START + timedelta(days=2))]
        ),
        event("vip", segment="vip", variants=VARIANTS),
        event("half", exposure=[{"percentage": 50}, {"percentage": 100, "segment": "veterans"}], variants=VARIANTS),
        event("late", windows=[window(start=START + timedelta(days=3))]),
    ],
    {
        "balance": {
            "version": "1.0.0",
            "versionId": "v1",
            "type": "GameBalance",
            "value": {"hp": 1},
            "rules": [{"id": "vet", "segment": "veterans", "override": {"hp": 5}}],
        }
    },
)
SHARED = compile_snapshot(PROPERTY_DOC)


@given(
    st.lists(
        st.tuples(
            st.none() | st.sampled_from(["p1", "p2", "p3", "p42", "x"]),
            st.none() | st.sampled_from(["eu", "EU-WEST", "us-west", "apac"]),
            st.fixed_dictionaries(
                {}, optional={"totalSpend": st.sampled_from([0, 100, 100.0, True]), "level": st.integers(0, 99)}
            ),
            st.integers(-2, 8 * 24),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_every_way_of_asking_agrees_with_a_fresh_snapshot(asks: list[tuple[Any, Any, dict[str, Any], int]]) -> None:
    """One long-lived snapshot (with all it remembers) answers each (context, instant) as a fresh
    one does, and its JSON equals its dicts."""
    for player, region, attributes, hours in asks:
        context = Context(player_id=player, server_id=None if player else "gs-1", region=region, attributes=attributes)
        at = START + timedelta(hours=hours)
        fresh = compile_snapshot(PROPERTY_DOC)
        answer = fresh.evaluate(context, at)
        assert orjson.loads(SHARED.evaluate_json(context, at)) == answer
        assert SHARED.evaluate(context, at) == answer
        assert SHARED.active_events(context, at) == answer["events"]
        assert orjson.loads(SHARED.active_events_json(context, at)) == answer["events"]
