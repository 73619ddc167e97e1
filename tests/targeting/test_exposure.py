"""A rollout's exposure in the snapshot: grants by region (any alias or case), segment, named
units and percentage, combined with OR; sticky as the grants grow."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from hotswap.targeting.snapshot import Context, compile_snapshot
from tests.targeting.test_snapshot import NOW, ROLLOUT, config, document

REGIONS = {"na-west": "NA-WEST", "us-west": "NA-WEST", "us-east": "NA-EAST", "eu-west": "EU-WEST"}


def compiled(
    exposure: list[dict[str, Any]], *, hash_attribute: str = "playerId", rules: list[Any] | None = None
) -> Any:
    rollout = {**ROLLOUT, "hashAttribute": hash_attribute, "exposure": exposure}
    doc = {**document({"balance": config({"hp": 100}, rules)}, rollouts=[rollout]), "regions": REGIONS}
    return compile_snapshot(doc)


def arm(snapshot: Any, context: Context) -> str:
    answer = snapshot.evaluate(context, NOW)["configs"]["balance"]
    assert orjson.loads(snapshot.evaluate_json(context, NOW))["configs"]["balance"] == answer
    return str(answer["rollout"]["arm"])


def test_a_region_grant_admits_its_regions_by_any_alias_or_case() -> None:
    snapshot = compiled([{"percentage": 100, "regions": ["NA-WEST", "EU-WEST"]}])
    for region in ("NA-WEST", "na-west", "us-west", "US-West", "eu-west"):
        assert arm(snapshot, Context(player_id="p1", region=region)) == "canary", region
    for other in ("NA-EAST", "us-east", "apac", None):
        assert arm(snapshot, Context(player_id="p1", region=other)) == "baseline", other


def test_an_unknown_region_matches_its_own_upper_case_id() -> None:
    snapshot = compiled([{"percentage": 100, "regions": ["MARS-1"]}])
    assert arm(snapshot, Context(player_id="p1", region="mars-1")) == "canary"


def test_a_segment_grant_admits_only_the_segment() -> None:
    snapshot = compiled([{"percentage": 100, "segment": "vip"}])
    assert arm(snapshot, Context(player_id="p1", attributes={"totalSpend": 150})) == "canary"
    assert arm(snapshot, Context(player_id="p1", attributes={"totalSpend": 5})) == "baseline"


def test_named_units_are_admitted_by_the_hash_attribute() -> None:
    snapshot = compiled([{"percentage": 100, "units": ["gs-1", "gs-3"]}], hash_attribute="serverId")
    assert arm(snapshot, Context(server_id="gs-1")) == "canary"
    assert arm(snapshot, Context(server_id="gs-3", player_id="gs-2")) == "canary"
    assert arm(snapshot, Context(server_id="gs-2", player_id="gs-1")) == "baseline"  # players are not servers
    assert arm(snapshot, Context(player_id="gs-1")) == "baseline"


def test_grants_combine_with_or_and_a_zero_grant_admits_nobody() -> None:
    snapshot = compiled(
        [{"percentage": 100, "regions": ["NA-WEST"]}, {"percentage": 100, "segment": "vip"}, {"percentage": 0}]
    )
    assert arm(snapshot, Context(player_id="a", region="us-west")) == "canary"
    assert arm(snapshot, Context(player_id="b", region="eu-west", attributes={"totalSpend": 500})) == "canary"
    assert arm(snapshot, Context(player_id="c", region="eu-west")) == "baseline"
    nobody = compiled([{"percentage": 0}])
    assert {arm(nobody, Context(player_id=f"p{i}")) for i in range(200)} == {"baseline"}


def test_everyone_at_one_hundred_percent_needs_no_unit_id() -> None:
    snapshot = compiled([{"percentage": 100}])
    assert arm(snapshot, Context(player_id="p")) == "canary"
    assert arm(snapshot, Context(server_id="gs-9")) == "canary"


def test_rules_apply_over_the_canary_version_for_every_grant() -> None:
    rules = [{"id": "vip", "segment": "vip", "override": {"bonus": 1}}]
    snapshot = compiled(
        [{"percentage": 100, "regions": ["EU-WEST"]}, {"percentage": 100, "units": ["p9"]}], rules=rules
    )
    for context in (Context(player_id="p1", region="eu-west"), Context(player_id="p9", region="us-east")):
        vip = Context(context.player_id, None, context.region, None, {"totalSpend": 200})
        answer = snapshot.evaluate(vip, NOW)["configs"]["balance"]
        assert answer["value"] == {"hp": 200, "mp": 9, "bonus": 1}
        assert answer["rollout"]["arm"] == "canary"
        assert answer["ruleId"] == "vip"


@given(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=40, unique=True))
def test_exposure_is_sticky_as_a_geographic_canary_grows(ids: list[str]) -> None:
    steps: list[list[dict[str, Any]]] = [
        [{"percentage": 10, "regions": ["NA-WEST"]}],
        [{"percentage": 50, "regions": ["NA-WEST"]}],
        [{"percentage": 100, "regions": ["NA-WEST"]}, {"percentage": 30, "regions": ["EU-WEST"]}],
        [{"percentage": 100, "regions": ["NA-WEST", "EU-WEST"]}],
        [{"percentage": 100}],
    ]
    contexts = [Context(player_id=i, region=("us-west" if n % 2 else "eu-west")) for n, i in enumerate(ids)]
    exposed = [{c.player_id for c in contexts if arm(compiled(step), c) == "canary"} for step in steps]
    for before, after in itertools.pairwise(exposed):
        assert before <= after
    assert exposed[-1] == set(ids)


@given(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=30, unique=True))
def test_a_first_deployment_serves_the_config_to_canary_units_only(ids: list[str]) -> None:
    rollout = {**ROLLOUT, "config": "brand-new", "exposure": [{"percentage": 40}]}
    snapshot = compile_snapshot(document({"other": config({"x": 1})}, rollouts=[rollout]))
    for player in ids:
        answer = snapshot.evaluate(Context(player_id=player), NOW)
        assert orjson.loads(snapshot.evaluate_json(Context(player_id=player), NOW)) == answer
        assert answer["configs"]["other"]["value"] == {"x": 1}
        if "brand-new" in answer["configs"]:
            assert answer["configs"]["brand-new"]["rollout"]["arm"] == "canary"
            assert answer["configs"]["brand-new"]["value"] == ROLLOUT["value"]
    alone = compile_snapshot(document({}, rollouts=[{**rollout, "exposure": [{"percentage": 0}]}]))
    assert orjson.loads(alone.evaluate_json(Context(player_id="p"), NOW))["configs"] == {}


def test_a_first_deployment_splits_players_between_having_the_config_and_not() -> None:
    rollout = {**ROLLOUT, "config": "brand-new", "exposure": [{"percentage": 40}]}
    snapshot = compile_snapshot(document({}, rollouts=[rollout]))
    having = sum("brand-new" in snapshot.evaluate(Context(player_id=f"p{i}"), NOW)["configs"] for i in range(1000))
    assert 330 < having < 470
