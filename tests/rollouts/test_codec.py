"""Plans and specs as stored JSON, and grants exactly as the snapshot reads them."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.rollouts.codec import (
    grant_from_json,
    grant_to_json,
    plan_from_json,
    plan_to_json,
    spec_from_json,
    spec_to_json,
)
from hotswap.rollouts.model import DeploymentSpec, Grant, Strategy, Unit, UnitKind, exposed
from hotswap.rollouts.strategies import plan
from hotswap.targeting.snapshot import Context, compile_snapshot
from tests.rollouts.factories import REGION_IDS, REGIONS, T0, spec, specs, unit_ids
from tests.targeting.test_snapshot import NOW, ROLLOUT, config, document


def through_json(doc: dict[str, Any]) -> Any:
    return orjson.loads(orjson.dumps(doc))


def test_a_grant_encodes_only_what_it_restricts_with_sorted_lists() -> None:
    assert grant_to_json(Grant(10)) == {"percentage": 10.0}
    full = Grant(100, frozenset({"NA-WEST", "EU-WEST"}), "vip", frozenset({"p2", "p1"}))
    assert grant_to_json(full) == {
        "percentage": 100.0,
        "regions": ["EU-WEST", "NA-WEST"],
        "segment": "vip",
        "units": ["p1", "p2"],
    }
    assert grant_from_json(grant_to_json(full)) == full


def test_a_stored_plan_reads_back_as_json_with_readable_fields() -> None:
    p = plan(spec(Strategy.GEOGRAPHIC, target_regions=("NA-WEST",), local_start_time=time(2)), REGIONS, T0)
    doc = through_json(plan_to_json(p))
    assert doc == {
        "format": 1,
        "strategy": "Geographic",
        "unitKind": "servers",
        "seed": "dep-1",
        "steps": [
            {
                "index": 0,
                "name": "region NA-WEST",
                "exposure": [{"percentage": 100.0, "regions": ["NA-WEST"]}],
                "holdSeconds": 3600.0,
                "gate": False,
                "notBefore": "2026-06-02T09:00:00+00:00",
                "region": "NA-WEST",
                "localStart": {"at": "02:00:00", "timeZone": "America/Los_Angeles"},
            }
        ],
    }
    assert plan_from_json(doc) == p


def test_a_stored_spec_uses_the_apis_names_and_leaves_out_what_was_not_given() -> None:
    request = spec(
        Strategy.ROLLING,
        target_units=("gs-1", "gs-2"),
        batch_size=1,
        batch_wait=timedelta(minutes=2),
        manual_gates=frozenset({1, 0}),
    )
    doc = through_json(spec_to_json(request))
    assert doc == {
        "strategy": "Rolling",
        "unitKind": "servers",
        "seed": "dep-1",
        "targetInstances": ["gs-1", "gs-2"],
        "batchSize": 1,
        "batchWaitSeconds": 120.0,
        "manualGates": [0, 1],
    }
    assert spec_from_json(doc) == request


@given(specs())
def test_every_plan_and_spec_survives_the_store(request_: DeploymentSpec) -> None:
    p = plan(request_, REGIONS, T0)
    assert plan_from_json(through_json(plan_to_json(p))) == p
    assert spec_from_json(through_json(spec_to_json(request_))) == request_
    everything = spec(Strategy.SEGMENTED, UnitKind.PLAYERS, cohorts=("vip", "*"), gate_all=True, seed="x")
    assert spec_from_json(through_json(spec_to_json(everything))) == everything


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"format": 2, "strategy": "Canary", "unitKind": "servers", "seed": "s", "steps": []},
        {"format": 1, "strategy": "Sideways", "unitKind": "servers", "seed": "s", "steps": []},
        {"format": 1, "strategy": "Canary", "unitKind": "servers", "seed": "s", "steps": []},
        {"format": 1, "strategy": "Canary", "unitKind": "servers", "seed": "s", "steps": [{"index": 0}]},
        {
            "format": 1,
            "strategy": "Canary",
            "unitKind": "servers",
            "seed": "s",
            "steps": [{"index": 0, "name": "a", "exposure": [{"percentage": 101}]}],
        },
        {
            "format": 1,
            "strategy": "Canary",
            "unitKind": "servers",
            "seed": "s",
            "steps": [{"index": 0, "name": "a", "exposure": [], "notBefore": "2026-01-01T00:00:00"}],
        },
        {
            "format": 1,
            "strategy": "Canary",
            "unitKind": "servers",
            "seed": "s",
            "steps": [{"index": 0, "name": "a", "exposure": [{"percentage": 5, "units": "gs-1"}]}],
        },
    ],
)
def test_what_is_not_a_stored_plan_is_refused(doc: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each document fails its own way
        plan_from_json(doc)


def test_what_is_not_a_stored_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="not a stored deployment spec"):
        spec_from_json({"strategy": "Canary"})
    with pytest.raises(ValueError, match="list of strings"):
        spec_from_json({"strategy": "Canary", "unitKind": "servers", "seed": "s", "cohorts": "vip"})


# -- the snapshot agrees --------------------------------------------------------------------

SEGMENTED = ("vip", "new-players")  # the segments `document` defines
contexts = st.builds(
    lambda unit, region, spend, days: (unit, region, spend, days),
    unit_ids,
    st.sampled_from([*REGION_IDS, "MARS-1", None]),
    st.integers(0, 300),
    st.integers(0, 30),
)


@given(specs(), st.data(), st.lists(contexts, min_size=1, max_size=25))
def test_the_snapshot_serves_a_step_to_exactly_the_units_the_model_exposes(
    request_: DeploymentSpec, data: st.DataObject, people: list[tuple[str, str | None, int, int]]
) -> None:
    if request_.cohorts is not None:
        request_ = spec(Strategy.SEGMENTED, UnitKind.PLAYERS, seed=request_.seed, cohorts=(*SEGMENTED, "everyone"))
    p = plan(request_, REGIONS, T0)
    step = p.steps[data.draw(st.integers(0, p.last))]
    named = list(request_.target_units or ()) + list(request_.preview_units or ())
    people += [(unit, data.draw(st.sampled_from([*REGION_IDS, None])), 0, 30) for unit in named]
    rollout = {
        **ROLLOUT,
        "seed": p.seed,
        "hashAttribute": p.unit_kind.hash_attribute,
        "exposure": [grant_to_json(g) for g in step.exposure],
        "step": step.index,
    }
    snapshot = compile_snapshot(through_json(document({"balance": config({"hp": 1})}, rollouts=[rollout])))
    for unit_id, region, spend, days in people:
        segments = frozenset({"vip"} if spend >= 100 else set()) | frozenset({"new-players"} if days < 7 else set())
        attributes = {"totalSpend": spend, "daysSinceInstall": days}
        if p.unit_kind is UnitKind.SERVERS:
            context = Context(server_id=unit_id, region=region, attributes=attributes)
        else:
            context = Context(player_id=unit_id, region=region, attributes=attributes)
        served = snapshot.evaluate(context, NOW)["configs"]["balance"]
        assert (served["rollout"]["arm"] == "canary") == exposed(step.exposure, p.seed, Unit(unit_id, region, segments))
