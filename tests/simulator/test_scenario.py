"""Scenario files: the shipped ones load as stated, and every mistake names its file and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotswap.simulator.scenario import ScenarioError, available, load_scenario, parse_duration, parse_scenario

SHIPPED = {
    "healthy-balance-patch": ("Succeeded", None),
    "crashy-balance-patch": ("RolledBack", "crash rate"),
    "slow-burn-churn": ("RolledBack", "churn rate"),
    "noisy-but-healthy": ("Succeeded", None),
}


def write(tmp_path: Path, doc: Any, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    return path


def error_for(tmp_path: Path, doc: Any) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, doc))
    return str(caught.value)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_shipped_scenarios_load_with_what_they_expect(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.expect is not None
    assert (scenario.expect.status, scenario.expect.reason) == SHIPPED[name]
    assert scenario.deployment["strategy"] == "Canary"
    assert "analysis" not in scenario.deployment  # all four are judged on the default policy
    assert scenario.churn_horizon == timedelta(minutes=30)


def test_the_shipped_scenarios_differ_from_the_baseline_only_where_they_say() -> None:
    crashy, churny = load_scenario("crashy-balance-patch"), load_scenario("slow-burn-churn")
    assert (crashy.baseline.crash, crashy.canary.crash) == (0.02, 0.04)  # the crash rate doubles
    assert (churny.baseline.churn, churny.canary.churn) == (0.10, 0.16)  # churn +6 points
    for scenario in (load_scenario("healthy-balance-patch"), load_scenario("noisy-but-healthy")):
        assert scenario.canary == scenario.baseline
    assert load_scenario("noisy-but-healthy").noise.players > 0


def test_all_four_are_listed() -> None:
    assert set(SHIPPED) <= set(available())


def test_a_path_works_as_well_as_a_name(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, {"players": {"count": 50}}, "tiny.yaml"))
    assert (scenario.name, scenario.players.count) == ("tiny", 50)  # named after its file by default
    assert scenario.source == tmp_path / "tiny.yaml"


def test_an_unknown_name_lists_the_scenarios_there_are() -> None:
    with pytest.raises(ScenarioError, match=r"no scenario named 'crashy'; available: .*crashy-balance-patch"):
        load_scenario("crashy")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"no scenario file at .*nothing\.yaml"):
        load_scenario(tmp_path / "nothing.yaml")


def test_broken_yaml_is_reported_with_the_file(tmp_path: Path) -> None:
    message = error_for(tmp_path, "players: {count: 10\n")
    assert message.startswith(f"{tmp_path / 'mine.yaml'}: not valid YAML")


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([1, 2], "the scenario: expected a mapping, got list"),
        ({"players": {"cuont": 10}}, "players.cuont: unknown field"),
        ({"spead": 10}, "spead: unknown field"),
        ({"players": {"count": 0}}, "players.count: must be between 1 and 1,000,000, got 0"),
        ({"players": {"count": 10.5}}, "players.count: expected a whole number, got 10.5"),
        ({"behaviour": {"canary": {"crash": "lots"}}}, "behaviour.canary.crash: expected a number, got 'lots'"),
        ({"behaviour": {"canary": {"crash": 1.5}}}, "behaviour.canary.crash: must be between 0 and 0.9"),
        ({"behaviour": {"baseline": {"fps": {"mean": 60, "p99": 3}}}}, "behaviour.baseline.fps.p99: unknown field"),
        ({"tick": "soon"}, "tick: expected a duration such as 90s, 30m or 2h, got 'soon'"),
        ({"tick": "10m"}, "tick: at most 5m"),
        ({"start": "2026-06-01T18:00:00"}, "start: expected an ISO 8601 instant with a time zone"),
        ({"fleet": {"servers": {"NA-WEST": 0}}}, "fleet.servers.NA-WEST: expected a number of servers from 1 to 200"),
        ({"config": {"to": {"version": "1.0.0"}}}, "config.to.version: must differ from config.from.version"),
        ({"deployment": {"configName": "x"}}, "deployment.configName: set by the simulator"),
        ({"expect": {"status": "Fine"}}, "expect.status: expected one of Succeeded, RolledBack"),
        ({"churnHorizon": "10m"}, "churnHorizon: 0:10:00 is not longer than the longest session or break"),
    ],
)
def test_each_mistake_names_its_field(tmp_path: Path, doc: Any, expected: str) -> None:
    message = error_for(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'mine.yaml'}: ")
    assert expected in message


def test_the_canary_inherits_what_it_does_not_say() -> None:
    scenario = parse_scenario({"behaviour": {"baseline": {"crash": 0.03, "fps": 50}, "canary": {"churn": 0.2}}})
    assert (scenario.canary.crash, scenario.canary.churn, scenario.canary.fps) == (0.03, 0.2, 50.0)
    assert scenario.baseline.churn == 0.03  # the default


def test_scaling_multiplies_the_players_only() -> None:
    scenario = load_scenario("healthy-balance-patch")
    half = scenario.scaled(0.5)
    assert half.players.count == scenario.players.count // 2
    assert (half.baseline, half.deployment, half.tick) == (scenario.baseline, scenario.deployment, scenario.tick)
    with pytest.raises(ScenarioError, match="scale must be in"):
        scenario.scaled(0)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), (45, 45), ("1.5h", 5400)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text, "x") == timedelta(seconds=seconds)
