"""Which named target servers a plan can reach, and what a deployment says about the others:
pure, no I/O (the HTTP side is in test_target_instances_api.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.core.errors import InvalidInput
from hotswap.rollouts.model import DeploymentSpec, Strategy, exposed
from hotswap.rollouts.strategies import plan
from hotswap.rollouts.targets import check_reachable, reach, warnings
from tests.rollouts.factories import REGIONS, T0, spec, specs, units


@given(st.data())
def test_a_plan_can_reach_exactly_the_units_its_last_step_exposes(data: st.DataObject) -> None:
    # Every plan ends at 100% of its targets, so what the last step exposes is what it can reach.
    made: DeploymentSpec = data.draw(specs())
    p = plan(made, REGIONS, T0)
    ids = list(made.target_units or ()) + list(made.preview_units or ()) + ["someone-else"]
    for unit in data.draw(units(list(dict.fromkeys(ids)))):
        assert p.can_reach(unit) == exposed(p.steps[-1].exposure, made.seed, unit)


def test_targets_are_sorted_by_why_they_are_not_reached_in_the_request_order() -> None:
    p = plan(spec(target_units=("b", "a", "c", "d"), target_regions=("us-west", "NA-EAST")), REGIONS, T0)
    found = reach(p, ["b", "a", "c", "d"], {"a": "EU-WEST", "c": "NA-WEST", "d": "APAC", "other": "APAC"})
    assert (found.unregistered, found.outside, found.regions) == (
        ("b",),
        (("a", "EU-WEST"), ("d", "APAC")),
        ("NA-EAST", "NA-WEST"),
    )
    assert not found.reaches_none
    check_reachable(found)  # c is reached: no refusal
    assert [(w.code, w.instances) for w in warnings(found)] == [
        ("unregistered-instances", ("b",)),
        ("instances-outside-regions", ("a", "d")),
    ]


def test_a_blue_green_preview_server_outside_the_target_regions_is_reached_through_the_preview() -> None:
    made = spec(
        Strategy.BLUE_GREEN, target_regions=("EU-WEST",), target_units=("qa-1", "eu-1"), preview_units=("qa-1",)
    )
    found = reach(plan(made, REGIONS, T0), ["qa-1", "eu-1"], {"qa-1": "APAC", "eu-1": "NA-WEST"})
    assert found.outside == (("eu-1", "NA-WEST"),)
    assert [w.code for w in warnings(found)] == ["instances-outside-regions"]


def test_a_plan_over_every_region_reaches_every_registered_target() -> None:
    p = plan(spec(Strategy.GEOGRAPHIC, target_units=("a", "b")), REGIONS, T0)
    found = reach(p, ["a", "b"], {"a": "APAC", "b": "EU-EAST"})
    assert (found.unregistered, found.outside, warnings(found)) == ((), (), [])


def test_reaching_none_names_at_most_twenty_servers_and_counts_the_rest() -> None:
    names = tuple(f"gs-{i:02}" for i in range(25))
    with pytest.raises(InvalidInput) as refused:
        check_reachable(reach(plan(spec(target_units=names), REGIONS, T0), names, {}))
    [error] = refused.value.errors
    assert error.field == "body.targetInstances"
    assert "gs-19 and 5 more" in error.message
    assert "gs-20" not in error.message
    assert refused.value.extra["unregisteredInstances"] == list(names)


def test_no_named_targets_is_never_refused() -> None:
    found = reach(plan(spec(), REGIONS, T0), [], {})
    assert not found.reaches_none
    check_reachable(found)
    assert warnings(found) == []
