"""Deployments: the pure domain. No I/O, no framework, no database.

A deployment rolls a config version (or a live event) out to *units*, game servers or players,
step by step. Each `Step` of its `Plan` has an *exposure*: a tuple of `Grant`s, any of which
admits a unit. A grant admits `percentage` of the units by the engine's hash (the unit's position
in [0, 1) under the deployment's seed, exposed when `position < percentage / 100`), within its
regions, segment and named units when given. The same seed always puts a unit at the same
position, so a unit exposed at one step stays exposed at every later step of a plan.

This module holds the vocabulary (enums, grants, steps, plans, the request's `DeploymentSpec`);
`strategies` turns a spec into a plan, `lifecycle` moves a deployment through its statuses and
tells the worker what to do next, `codec` stores plans and specs as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from hotswap.targeting.bucketing import position_v2, seed_state

# A Segmented cohort that restricts nothing: every unit (in the target regions) is in it.
EVERYONE_COHORTS = frozenset({"everyone", "*"})

_E = TypeVar("_E", bound=StrEnum)


def _squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _parse(cls: type[_E], value: str) -> _E:
    """Case-insensitive, ignoring spaces, '-' and '_': "blue-green" and "BLUE_GREEN" are BlueGreen."""
    wanted = _squash(value)
    for member in cls:
        if _squash(member.value) == wanted:
            return member
    raise ValueError(f"must be one of {', '.join(m.value for m in cls)}")


class Strategy(StrEnum):
    """How a deployment's steps are laid out (see `strategies.plan`)."""

    DIRECT = "Direct"
    CANARY = "Canary"
    BLUE_GREEN = "BlueGreen"
    ROLLING = "Rolling"
    GEOGRAPHIC = "Geographic"
    SEGMENTED = "Segmented"

    @classmethod
    def parse(cls, value: str) -> Strategy:
        """The strategy named by `value`, however it is cased or separated; ValueError if none."""
        return _parse(cls, value)


class UnitKind(StrEnum):
    """What one step exposes: whole game servers (hashing `serverId`) or players (`playerId`)."""

    SERVERS = "servers"
    PLAYERS = "players"

    @classmethod
    def parse(cls, value: str) -> UnitKind:
        return _parse(cls, value)

    @property
    def hash_attribute(self) -> str:
        """The context attribute the snapshot hashes for this kind of unit."""
        return "serverId" if self is UnitKind.SERVERS else "playerId"


class Status(StrEnum):
    """Where a deployment is in its life (transitions: `lifecycle.next_status`)."""

    PENDING_APPROVAL = "PendingApproval"
    RUNNING = "Running"
    PAUSED = "Paused"
    SUCCEEDED = "Succeeded"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        """Finished for good: nothing moves it again and it no longer holds its config."""
        return self in _TERMINAL

    @property
    def open(self) -> bool:
        """Not finished: at most one open deployment per config (the store enforces it)."""
        return self not in _TERMINAL


_TERMINAL = frozenset({Status.SUCCEEDED, Status.ROLLED_BACK, Status.FAILED, Status.CANCELLED})


class Action(StrEnum):
    """What a person (or the worker) asks of a deployment; `lifecycle.next_status` says where it leads."""

    APPROVE = "approve"
    REJECT = "reject"
    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    CANCEL = "cancel"
    COMPLETE = "complete"
    FAIL = "fail"


class Verdict(StrEnum):
    """The judge's word on the current step (the analysis slice's seam, see `judge.Judge`).

    - CONTINUE: healthy so far; the step advances when its hold is over.
    - HOLD: not sure (a warning trigger, too little data): keep the step, do not advance; a person
      may promote or roll back, and the judge is asked again.
    - PAUSE: a warning (a regression below the rollback gate, a sample-ratio mismatch, a failing
      metric source): pause now, even during the hold, and let a person decide; the pause fires
      the deployment's webhooks. A paused deployment is still judged (ROLLBACK still applies).
    - ROLLBACK: unhealthy: roll back now, even during the hold or while paused.
    """

    CONTINUE = "continue"
    HOLD = "hold"
    PAUSE = "pause"
    ROLLBACK = "rollback"


# -- exposure -------------------------------------------------------------------------------


def position(seed: str, unit_id: str) -> float:
    """Where a unit falls in [0, 1) under a deployment's seed: the engine's hash (bucketing v2),
    the same number the snapshot computes for `playerId` or `serverId`."""
    return position_v2(seed_state(seed), unit_id)


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit as a dry run or a test sees it: its id, region, and the segments it belongs to
    (segment membership needs player attributes, so the caller works it out)."""

    id: str
    region: str | None = None
    segments: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Grant:
    """Admits `percentage` (0 to 100) of the units by hash, restricted to `regions` (compared
    without case: the service canonicalises aliases first), to a `segment` and to named `units`
    when each is given. Iterables passed for `regions` or `units` are frozen."""

    percentage: float
    regions: frozenset[str] | None = None
    segment: str | None = None
    units: frozenset[str] | None = None
    _region_keys: frozenset[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.percentage) and 0 <= self.percentage <= 100):
            raise ValueError(f"a grant's percentage must be from 0 to 100, not {self.percentage!r}")
        object.__setattr__(self, "percentage", float(self.percentage))
        if self.regions is not None:
            regions = frozenset(self.regions)
            object.__setattr__(self, "regions", regions)
            object.__setattr__(self, "_region_keys", frozenset(r.upper() for r in regions))
        if self.units is not None and not isinstance(self.units, frozenset):
            object.__setattr__(self, "units", frozenset(self.units))

    def admits(self, unit: Unit, at: float) -> bool:
        """Whether this grant admits `unit`, whose hash position (see `position`) is `at`."""
        if self._region_keys is not None and (unit.region is None or unit.region.upper() not in self._region_keys):
            return False
        if self.segment is not None and self.segment not in unit.segments:
            return False
        if self.units is not None and unit.id not in self.units:
            return False
        return at < self.percentage / 100

    @property
    def unrestricted(self) -> bool:
        """Admits every unit: 100% with no region, segment or unit restriction."""
        return self.percentage >= 100 and self.regions is None and self.segment is None and self.units is None


Exposure = tuple[Grant, ...]


def exposed(exposure: Sequence[Grant], seed: str, unit: Unit) -> bool:
    """Whether any grant of `exposure` admits `unit` under the deployment's `seed`."""
    if not exposure:
        return False
    at = position(seed, unit.id)
    return any(grant.admits(unit, at) for grant in exposure)


def covers_everyone(exposure: Sequence[Grant]) -> bool:
    """Whether the exposure certainly admits every unit (one grant is unrestricted at 100%)."""
    return any(grant.unrestricted for grant in exposure)


# -- plans ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """A region as the fleet registry knows it: `order` sets a Geographic rollout's sequence,
    `time_zone` (IANA, e.g. America/New_York) its local start times. `aliases` are other names a
    request may use for it (such as "us-east"); they match without case."""

    id: str
    time_zone: str
    order: int
    aliases: frozenset[str] = frozenset()

    def answers_to(self, name: str) -> bool:
        wanted = name.strip().upper()
        return wanted == self.id.upper() or wanted in {a.upper() for a in self.aliases}


def find_region(name: str, regions: Iterable[RegionInfo]) -> RegionInfo | None:
    """The region called `name` (its id or an alias, any case), or None."""
    return next((region for region in regions if region.answers_to(name)), None)


@dataclass(frozen=True, slots=True)
class LocalStart:
    """A step that starts at a wall-clock time in a region: `at` in the IANA zone `time_zone`."""

    at: time
    time_zone: str


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a plan.

    - `exposure`: who has the new version while this step is current (cumulative: it includes
      everyone the earlier steps exposed).
    - `hold`: how long the step is watched after it starts before the next may start; for the
      last step, the final monitoring window before success. None: no wait.
    - `gate`: when the hold is over, wait for a person to promote instead of advancing.
    - `not_before`: an instant (UTC) before which the step must not start.
    - `local_start`: the step starts at an occurrence of a local wall-clock time (see
      `strategies.next_local_start`) at or after the previous step's end (or `not_before`, for
      the first step); `lifecycle.earliest_start` works the instant out when it gets there,
      because the previous end is not known earlier.
    - `region`: the region whose progress this step is (Geographic), for per-region reports.
    """

    index: int
    name: str
    exposure: Exposure
    hold: timedelta | None = None
    gate: bool = False
    not_before: datetime | None = None
    region: str | None = None
    local_start: LocalStart | None = None

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError("a step's index is 0 or more")
        if self.hold is not None and self.hold < timedelta(0):
            raise ValueError("a step's hold cannot be negative")
        if self.not_before is not None and self.not_before.tzinfo is None:
            raise ValueError("a step's not_before must be timezone-aware")
        if not isinstance(self.exposure, tuple):
            object.__setattr__(self, "exposure", tuple(self.exposure))


@dataclass(frozen=True, slots=True)
class Plan:
    """The steps of a deployment, fixed when it is created (a restart resumes the same steps).

    `seed` is the hash seed of every percentage grant; `unit_kind` says what the hash is over
    (`unit_kind.hash_attribute`)."""

    strategy: Strategy
    unit_kind: UnitKind
    seed: str
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a plan has at least one step")
        if [s.index for s in self.steps] != list(range(len(self.steps))):
            raise ValueError("a plan's steps are numbered 0, 1, 2, ... in order")

    @property
    def last(self) -> int:
        """The index of the last step."""
        return len(self.steps) - 1

    @property
    def reaches_everyone(self) -> bool:
        """Whether the last step exposes every unit, so success can make the version the live one
        (a deployment limited to some regions, servers or segments does not)."""
        return covers_everyone(self.steps[-1].exposure)

    def exposure_at(self, step: int) -> Exposure:
        """Who has the new version while `step` is current; nobody before the first (-1)."""
        return () if step < 0 else self.steps[step].exposure

    def can_reach(self, unit: Unit) -> bool:
        """Whether some step can expose `unit`, whatever its hash position: the region, segment
        and named-unit limits of one of its grants admit it."""
        return any(grant.admits(unit, 0.0) for step in self.steps for grant in step.exposure)


def units_per_step(plan: Plan, units: Iterable[Unit | tuple[str, str | None]]) -> tuple[int, ...]:
    """For a dry run: how many of the known `units` (servers as `(id, region)` pairs, or `Unit`s)
    each step exposes, by the same hash the snapshot uses. A unit is counted in no segment
    unless a `Unit` says so."""
    known = [u if isinstance(u, Unit) else Unit(u[0], u[1]) for u in units]
    state = seed_state(plan.seed)
    positions = [position_v2(state, u.id) for u in known]
    return tuple(
        sum(1 for u, at in zip(known, positions, strict=True) if any(g.admits(u, at) for g in step.exposure))
        for step in plan.steps
    )


# -- the request ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """What a deployment request asks for, once the API has parsed it (`strategies.validate_spec`
    says what is wrong with it, field by field; `strategies.plan` lays out its steps).

    - `seed`: the hash seed; the service picks one per deployment (its id will do).
    - `target_regions`: region ids or aliases; None means every region.
    - `target_units`: named units (a request's `targetInstances`); every step is limited to them.
    - `canary_percentage`: the first canary step (Canary; Geographic: first within each region).
    - `steps`: custom canary percentages, strictly increasing; 100 is added when missing.
    - `evaluation_period`: how long each step is watched (default 30 minutes; Geographic 1 hour).
    - `batch_size` / `batch_percentage` / `batch_wait`: Rolling batches and the wait after each.
    - `preview_units`: BlueGreen's preview set (server ids, or test player ids).
    - `cohorts`: Segmented's segment ids in order; "everyone" (or "*") last means all the rest.
    - `local_start_time`: Geographic: each region starts at this local wall-clock time.
    - `manual_gates` / `gate_all`: step indexes (or every step) that wait to be promoted.
    """

    strategy: Strategy
    unit_kind: UnitKind
    seed: str
    target_regions: tuple[str, ...] | None = None
    target_units: tuple[str, ...] | None = None
    canary_percentage: float | None = None
    steps: tuple[float, ...] | None = None
    evaluation_period: timedelta | None = None
    batch_size: int | None = None
    batch_percentage: float | None = None
    batch_wait: timedelta | None = None
    preview_units: tuple[str, ...] | None = None
    cohorts: tuple[str, ...] | None = None
    local_start_time: time | None = None
    manual_gates: frozenset[int] = frozenset()
    gate_all: bool = False


# -- the stored deployment, as the services read it ------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """A deployment as stored (plan and spec as JSON; `codec` turns them into the model's)."""

    id: str
    environment: str
    subject_kind: str
    subject: str
    profile_id: str | None
    version_id: str | None
    version: str | None
    baseline_version_id: str | None
    strategy: str
    unit_kind: str
    seed: str
    spec: dict[str, Any]
    plan: dict[str, Any]
    status: str
    step: int
    step_started_at: datetime | None
    step_times: list[str | None]
    due_at: datetime | None
    approval_id: str | None
    reason: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    finished_at: datetime | None
    revision: int
    fence: int
    holds_exposure: bool = False
    failures: int = 0


@dataclass(frozen=True, slots=True)
class LogEntry:
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    from_step: int | None
    to_step: int | None
    reason: str | None
    snapshot_revision: int | None
