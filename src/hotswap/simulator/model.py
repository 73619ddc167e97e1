"""The simulated players: who plays when, on which server, and what happens in their sessions.

Pure: numpy and a seeded `Generator`, no I/O; which arm a session is on is asked of the caller
(`ArmOf`, answered from the snapshot the game servers hold). Time is in seconds since the start
of the simulation.

A player alternates sessions and breaks. A session's planned length is log-normal around the
arm's median; it crashes with the arm's crash probability (times the player's and the server's
noise factors) and then ends early, at a uniform point of its plan. It ends with a complaint, an
engagement score and maybe a purchase. Breaks are exponential, capped below the churn horizon:
a player who keeps playing is never mistaken for one who left. Churn is drawn once per player
per deployment, at their first session under it, with the probability of the arm it is on
(the judge counts a player in the arm of their first session too): a churning player finishes
that session and never comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hotswap.simulator.scenario import ArmBehaviour, Scenario

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
# (players, servers) -> whether each is served the new version (the canary arm)
ArmOf = Callable[[Ints, Ints], Bools]

RESTING, PLAYING, GONE = 0, 1, 2
MIN_SESSION, MIN_BREAK = 60.0, 10.0  # seconds


@dataclass(frozen=True, slots=True)
class Server:
    id: str
    region: str


@dataclass(frozen=True, slots=True)
class Started:
    player: Ints
    server: Ints
    canary: Bools


@dataclass(frozen=True, slots=True)
class Ended:
    player: Ints
    server: Ints
    canary: Bools
    seconds: Floats
    crashed: Bools
    exposed: Bools  # the session started under the deployment (else it ran the old version before it)
    complained: Bools
    engagement: Floats
    purchase: Floats  # the amount, NaN without a purchase


@dataclass(frozen=True, slots=True)
class Tick:
    """What happened between two instants."""

    started: Started
    ended: Ended
    online: Ints  # players in a session at the end, per server and arm: shape (servers, 2), [:, 1] canary
    churned: int  # players who left for good during the tick


def _behaviour(arm: ArmBehaviour) -> Floats:
    return np.array(
        [arm.crash, arm.churn, arm.complaint, arm.session_minutes * 60, arm.engagement, arm.engagement_sd,
         arm.purchase, arm.purchase_amount],
        dtype=np.float64,
    )  # fmt: skip


_CRASH, _CHURN, _COMPLAINT, _LENGTH, _ENGAGEMENT, _ENGAGEMENT_SD, _PURCHASE, _AMOUNT = range(8)
_PER_PLAYER = (
    "state", "next_at", "home", "factor", "started_at", "server", "canary", "crashed", "exposed", "drawn", "leaving",
)  # fmt: skip


class Population:
    def __init__(self, scenario: Scenario, servers: list[Server], rng: np.random.Generator) -> None:
        if not servers:
            raise ValueError("a population needs at least one server")
        self.rng = rng
        self.noise = scenario.noise
        self.players = scenario.players
        self.arms = np.stack([_behaviour(scenario.baseline), _behaviour(scenario.canary)])  # [arm, field]
        self.arms_frames = [(a.fps, a.fps_sd, a.latency_ms, a.latency_sd) for a in (scenario.baseline, scenario.canary)]
        regions = sorted({s.region for s in servers})
        self.servers = sorted(servers, key=lambda s: (regions.index(s.region), s.id))
        per_region = np.array([sum(s.region == r for s in self.servers) for r in regions], dtype=np.int64)
        self.region_first = np.concatenate([[0], np.cumsum(per_region)[:-1]]).astype(np.int64)
        self.region_size = per_region
        self.region_weight = per_region / per_region.sum()
        self.server_factor = self._factors(len(self.servers), self.noise.servers)
        self.deployed = False
        count = scenario.players.count
        self.home = rng.choice(len(regions), size=count, p=self.region_weight).astype(np.int64)
        self.factor = self._factors(count, self.noise.players)
        self.server = self.region_first[self.home] + (rng.random(count) * self.region_size[self.home]).astype(np.int64)
        self.canary = np.zeros(count, dtype=np.bool_)
        self.crashed = np.zeros(count, dtype=np.bool_)
        # The start is a moment like any other: some players are in a session (begun before it),
        # the others on a break; every one of them ends a session within the longest session and break.
        length = scenario.baseline.session_minutes * 60
        playing = rng.random(count) < length / (length + scenario.players.break_minutes * 60)
        self.state = np.where(playing, PLAYING, RESTING).astype(np.int8)
        planned = np.clip(
            np.exp(rng.normal(np.log(length), self.noise.sessions, count)), MIN_SESSION, self._max_session
        )
        self.started_at = -rng.uniform(0, planned)
        self.next_at = np.where(
            playing, self.started_at + planned, rng.uniform(0, scenario.players.break_minutes * 60, count)
        )
        self.exposed = np.zeros(count, dtype=np.bool_)
        self.drawn = np.zeros(count, dtype=np.bool_)  # churn drawn for the current deployment
        self.leaving = np.zeros(count, dtype=np.bool_)

    @property
    def size(self) -> int:
        return int(self.state.size)

    def active(self) -> int:
        return int(np.count_nonzero(self.state != GONE))

    def deployment_started(self) -> None:
        """From now on, each player's first session draws their churn."""
        self.deployed = True
        self.drawn[:] = False

    def advance(self, t0: float, t1: float, arm_of: ArmOf) -> Tick:
        """Every session start and end in (t0, t1], in rounds (a short session may start and end)."""
        self._arrive(t0, t1)
        starts: list[Started] = []
        ends: list[Ended] = []
        gone_before = int(np.count_nonzero(self.state == GONE))
        while True:
            due = np.flatnonzero((self.state != GONE) & (self.next_at <= t1))
            if due.size == 0:
                break
            playing = self.state[due] == PLAYING
            if playing.any():
                ends.append(self._end(due[playing]))
            if (~playing).any():
                starts.append(self._start(due[~playing], arm_of))
        in_game = self.state == PLAYING
        slots = self.server[in_game] * 2 + self.canary[in_game]
        online = np.bincount(slots, minlength=2 * len(self.servers)).reshape(-1, 2).astype(np.int64)
        churned = int(np.count_nonzero(self.state == GONE)) - gone_before
        return Tick(_join_started(starts), _join_ended(ends), online, churned)

    # -- the steps -----------------------------------------------------------------------------

    def _factors(self, n: int, sigma: float) -> Floats:
        """Log-normal factors with mean 1 (sigma 0: all 1)."""
        if sigma <= 0:
            return np.ones(n)
        return self.rng.lognormal(-(sigma**2) / 2, sigma, n)

    def _arrive(self, t0: float, t1: float) -> None:
        k = int(self.rng.poisson(self.players.new_per_hour * (t1 - t0) / 3600))
        if k == 0:
            return
        fresh: dict[str, npt.NDArray[np.generic]] = {
            "state": np.full(k, RESTING, dtype=np.int8),
            "next_at": self.rng.uniform(t0, t1, k),
            "home": self.rng.choice(len(self.region_size), size=k, p=self.region_weight).astype(np.int64),
            "factor": self._factors(k, self.noise.players),
            "started_at": np.zeros(k),
            "server": np.zeros(k, dtype=np.int64),
            "canary": np.zeros(k, dtype=np.bool_),
            "crashed": np.zeros(k, dtype=np.bool_),
            "exposed": np.zeros(k, dtype=np.bool_),
            "drawn": np.zeros(k, dtype=np.bool_),
            "leaving": np.zeros(k, dtype=np.bool_),
        }
        for name in _PER_PLAYER:
            setattr(self, name, np.concatenate([getattr(self, name), fresh[name]]))

    def _start(self, idx: Ints, arm_of: ArmOf) -> Started:
        rng, n = self.rng, idx.size
        at = self.next_at[idx]
        home = self.home[idx]
        server = self.region_first[home] + (rng.random(n) * self.region_size[home]).astype(np.int64)
        canary = np.asarray(arm_of(idx, server), dtype=np.bool_)
        arm = self.arms[canary.astype(np.int64)]
        length = np.exp(rng.normal(np.log(arm[:, _LENGTH]), self.noise.sessions))
        length = np.clip(length, MIN_SESSION, self._max_session)
        p_crash = np.clip(arm[:, _CRASH] * self.factor[idx] * self.server_factor[server], 0, 0.9)
        crashed = rng.random(n) < p_crash
        length = np.where(crashed, np.maximum(MIN_BREAK, length * rng.uniform(0.05, 1.0, n)), length)
        if self.deployed:
            first = ~self.drawn[idx]
            self.leaving[idx] |= first & (rng.random(n) < arm[:, _CHURN])
            self.drawn[idx] = True
        self.state[idx] = PLAYING
        self.started_at[idx] = at
        self.next_at[idx] = at + length
        self.server[idx] = server
        self.canary[idx] = canary
        self.crashed[idx] = crashed
        self.exposed[idx] = self.deployed
        return Started(idx, server, canary)

    def _end(self, idx: Ints) -> Ended:
        rng, n = self.rng, idx.size
        at = self.next_at[idx]
        canary = self.canary[idx].copy()
        arm = self.arms[canary.astype(np.int64)]
        complained = rng.random(n) < np.clip(arm[:, _COMPLAINT] * self.factor[idx], 0, 1)
        engagement = rng.normal(arm[:, _ENGAGEMENT], arm[:, _ENGAGEMENT_SD])
        bought = rng.random(n) < arm[:, _PURCHASE]
        amount = np.where(bought, np.round(rng.exponential(arm[:, _AMOUNT]), 2), np.nan)
        ended = Ended(
            idx, self.server[idx].copy(), canary, at - self.started_at[idx], self.crashed[idx].copy(),
            self.exposed[idx].copy(), complained, engagement, amount,
        )  # fmt: skip
        wave = 1 + self.noise.traffic * np.sin(2 * np.pi * at / self.noise.traffic_period.total_seconds())
        rest = np.clip(rng.exponential(self.players.break_minutes * 60 * wave), MIN_BREAK, self._max_break)
        self.state[idx] = np.where(self.leaving[idx], GONE, RESTING)
        self.next_at[idx] = at + rest
        return ended

    @property
    def _max_session(self) -> float:
        return self.players.max_session_minutes * 60

    @property
    def _max_break(self) -> float:
        return self.players.max_break_minutes * 60


def _join_started(parts: list[Started]) -> Started:
    if not parts:
        return Started(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.bool_))
    return Started(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("player", "server", "canary")))


def _join_ended(parts: list[Ended]) -> Ended:
    names = ("player", "server", "canary", "seconds", "crashed", "exposed", "complained", "engagement", "purchase")
    if not parts:
        empty = {"player": np.int64, "server": np.int64, "canary": np.bool_, "crashed": np.bool_, "exposed": np.bool_}
        return Ended(*(np.zeros(0, empty.get(f, np.float64)) for f in names))
    return Ended(*(np.concatenate([getattr(p, f) for p in parts]) for f in names))
