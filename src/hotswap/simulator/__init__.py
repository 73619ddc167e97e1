"""The fleet simulator: simulated game servers and players against HotSwap, a deployment rolled
out step by step, and what the canary judge made of it (`hotswap simulate SCENARIO`).

`scenario` reads the YAML scenarios, `model` is the players (pure, seeded), `reports` turns
what they did into the API's samples and heartbeats, `client` reaches HotSwap (embedded on a
manual clock, or a running server), `run` is the loop (`simulate` returns a
`SimulationResult`), `view` and `console` are the terminal's side.
"""

from hotswap.simulator.client import SimulationError, embedded, remote
from hotswap.simulator.run import Decision, Frame, SimulationResult, TickRecord, simulate
from hotswap.simulator.scenario import Scenario, ScenarioError, available, load_scenario, parse_scenario

__all__ = [
    "Decision",
    "Frame",
    "Scenario",
    "ScenarioError",
    "SimulationError",
    "SimulationResult",
    "TickRecord",
    "available",
    "embedded",
    "load_scenario",
    "parse_scenario",
    "remote",
    "simulate",
]
