"""The simulated players, without a server: seeded, and behaving as their scenario says."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from hotswap.simulator.model import GONE, Bools, Ints, Population, Server, Tick
from hotswap.simulator.scenario import Scenario, parse_scenario

SERVERS = [Server("na-1", "NA-WEST"), Server("na-2", "NA-WEST"), Server("eu-1", "EU-WEST")]
MINUTE = 60.0


def scenario(**behaviour: dict[str, float]) -> Scenario:
    doc = {
        "players": {"count": 3000, "newPerHour": 100, "maxSessionMinutes": 15, "maxBreakMinutes": 4},
        "behaviour": {"baseline": {"sessionMinutes": 8}} | behaviour,
        "noise": {"players": 0.3, "servers": 0.2, "traffic": 0.5},
    }
    return parse_scenario(doc)


def even_players_on_canary(players: Ints, servers: Ints) -> Bools:
    return np.asarray(players % 2 == 0)


def play(population: Population, minutes: int, start: int = 0) -> list[Tick]:
    return [
        population.advance((start + m) * MINUTE, (start + m + 1) * MINUTE, even_players_on_canary)
        for m in range(minutes)
    ]


def test_the_same_seed_plays_the_same_sessions() -> None:
    runs = []
    for _ in range(2):
        population = Population(scenario(), SERVERS, np.random.default_rng(42))
        ticks = play(population, 30)
        runs.append(np.concatenate([t.ended.seconds for t in ticks]))
    assert runs[0].size > 1000
    assert np.array_equal(runs[0], runs[1])
    other = play(Population(scenario(), SERVERS, np.random.default_rng(43)), 30)
    assert not np.array_equal(runs[0][:100], np.concatenate([t.ended.seconds for t in other])[:100])


def test_each_arm_crashes_at_its_own_rate() -> None:
    population = Population(
        scenario(baseline={"crash": 0.02}, canary={"crash": 0.06}), SERVERS, np.random.default_rng(1)
    )
    population.deployment_started()
    ended = [t.ended for t in play(population, 240)]
    canary = np.concatenate([e.canary for e in ended])
    crashed = np.concatenate([e.crashed for e in ended])
    assert abs(crashed[canary].mean() - 0.06) < 0.01
    assert abs(crashed[~canary].mean() - 0.02) < 0.005


def test_churn_is_drawn_once_per_player_under_the_deployment_with_the_arm_of_their_first_session() -> None:
    population = Population(scenario(baseline={"churn": 0.1}, canary={"churn": 0.3}), SERVERS, np.random.default_rng(2))
    play(population, 30)
    assert population.active() == population.size  # nobody leaves before the deployment
    population.deployment_started()
    play(population, 120, start=30)
    gone = population.state[:3000] == GONE
    even = np.arange(3000) % 2 == 0
    assert abs(gone[even].mean() - 0.3) < 0.04
    assert abs(gone[~even].mean() - 0.1) < 0.03


def test_players_who_keep_playing_are_never_away_for_a_churn_horizon() -> None:
    """Sessions and breaks are capped below the horizon, so only a churned player disappears."""
    population = Population(scenario(), SERVERS, np.random.default_rng(3))
    population.deployment_started()
    seen: dict[int, list[float]] = defaultdict(list)
    for m, tick in enumerate(play(population, 180)):
        for player in np.concatenate([tick.started.player, tick.ended.player]).tolist():
            seen[player].append((m + 1) * MINUTE)
    staying = [p for p in seen if population.state[p] != GONE]
    longest = max(max(np.diff(seen[p]), default=0.0) for p in staying)
    assert longest <= 16 * MINUTE  # the longest session (15 min) and a tick
    assert len(staying) > 2500


def test_sessions_begun_before_the_deployment_are_not_counted_in_it() -> None:
    population = Population(scenario(), SERVERS, np.random.default_rng(4))
    play(population, 20)
    population.deployment_started()
    ticks = play(population, 30, start=20)
    assert not ticks[0].ended.exposed.all()  # those sessions ran the old version, before it
    assert all(t.ended.exposed.all() for t in ticks[16:])  # past the longest session: all began under it


def test_online_players_are_counted_per_server_and_arm() -> None:
    population = Population(scenario(), SERVERS, np.random.default_rng(5))
    tick = play(population, 10)[-1]
    assert tick.online.shape == (3, 2)
    assert int(tick.online.sum()) == int(np.count_nonzero(population.state == 1))
    assert tick.online[:, 1].sum() > 0  # even players are on the canary
