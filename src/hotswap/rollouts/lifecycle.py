"""A deployment's life: which actions are legal in which status, and what the worker does next.

The worker is crash-safe because `decide` is a function of stored state and time only: the
deployment's `Progress` (status, current step, when that step started), its `Plan`, the judge's
`Verdict` for the current step, and `now`. A worker that dies before committing a decision
leaves the stored state as it was, and the next worker decides the same thing again; one that
dies after committing has moved the state, and the next one goes on from there. No step is
skipped (`decide` moves one step at a time) and none is repeated (a step is entered only from
the step before it).

Choices made here:
- A rollback needs something exposed: from PendingApproval it is illegal (cancel or reject it).
- Cancel withdraws the exposure like a rollback; only the reason differs (nothing was wrong).
- Promote works at any step of a Running or Paused deployment, not only at a gate: it ends the
  current hold early (and resumes a paused one). At the last step it completes the deployment;
  that is how a BlueGreen deployment is finalized (so Complete is legal from Paused too).
- Pausing stops the steps, not the watching: a ROLLBACK verdict rolls a paused deployment back
  too, and the hold keeps counting while paused (the exposure was live and watched all along).
- A PAUSE verdict (a warning) pauses a running deployment at once, even mid-hold; resuming is a
  person's call. While paused, further PAUSE verdicts change nothing.
- Region-local start times are honoured within `LOCAL_START_GRACE`: a worker that comes back
  later than that after the local time waits for the next day's, rather than start a region in
  the middle of its peak hours. A person's promote starts the next step at once regardless.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from hotswap.core.errors import Conflict, FieldError, InvalidInput
from hotswap.rollouts._localtime import next_local_start
from hotswap.rollouts.model import Action, Plan, Status, Verdict

CHECK_EVERY = timedelta(minutes=1)  # how often the judge is asked while a step is watched
LOCAL_START_GRACE = timedelta(hours=1)

_S, _A = Status, Action
_TABLE: dict[Status, dict[Action, Status]] = {
    _S.PENDING_APPROVAL: {_A.APPROVE: _S.RUNNING, _A.REJECT: _S.CANCELLED, _A.CANCEL: _S.CANCELLED, _A.FAIL: _S.FAILED},
    _S.RUNNING: {
        _A.PAUSE: _S.PAUSED,
        _A.PROMOTE: _S.RUNNING,
        _A.ROLLBACK: _S.ROLLED_BACK,
        _A.CANCEL: _S.CANCELLED,
        _A.COMPLETE: _S.SUCCEEDED,
        _A.FAIL: _S.FAILED,
    },
    _S.PAUSED: {
        _A.RESUME: _S.RUNNING,
        _A.PROMOTE: _S.RUNNING,
        _A.ROLLBACK: _S.ROLLED_BACK,
        _A.CANCEL: _S.CANCELLED,
        _A.COMPLETE: _S.SUCCEEDED,
        _A.FAIL: _S.FAILED,
    },
    **{status: {} for status in (_S.SUCCEEDED, _S.ROLLED_BACK, _S.FAILED, _S.CANCELLED)},
}
TRANSITIONS: Mapping[Status, Mapping[Action, Status]] = MappingProxyType(
    {status: MappingProxyType(actions) for status, actions in _TABLE.items()}
)
"""Status → action → the status it leads to (read-only). An action missing here is illegal (409)."""

_HINTS = {
    (_S.PENDING_APPROVAL, _A.ROLLBACK): "nothing is exposed yet: cancel or reject it instead",
    (_S.PAUSED, _A.PAUSE): "it is paused already",
    (_S.RUNNING, _A.RESUME): "it is not paused",
    (_S.PENDING_APPROVAL, _A.PROMOTE): "it needs approval first",
    (_S.PENDING_APPROVAL, _A.PAUSE): "it has not started",
}


class IllegalTransition(Conflict):
    """An action that the deployment's status does not allow: rendered as a 409 problem with the
    current status and the allowed actions as extension members."""

    def __init__(self, status: Status, action: Action, why: str | None = None) -> None:
        why = why or _HINTS.get((status, action)) or ("it is finished" if status.terminal else None)
        detail = f"Cannot {action.value} a deployment that is {status.value}" + (f": {why}." if why else ".")
        allowed = sorted(a.value for a in allowed_actions(status))
        super().__init__(detail, extra={"currentStatus": status.value, "action": action.value, "allowed": allowed})
        self.current = status
        self.action = action


def next_status(status: Status, action: Action) -> Status:
    """Where `action` takes a deployment in `status`; IllegalTransition when it may not. (A
    promote at the last step completes the deployment: see `act`.)"""
    target = TRANSITIONS[status].get(action)
    if target is None:
        raise IllegalTransition(status, action)
    return target


def allowed_actions(status: Status) -> frozenset[Action]:
    """The actions legal in `status` (for the API to show what can be done next)."""
    return frozenset(TRANSITIONS[status])


# -- stored progress ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    """What the store keeps about where a deployment is: its status, the index of the current
    step (-1 before the first) and when that step started (None before the first)."""

    status: Status
    step: int = -1
    step_started_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.step < -1:
            raise ValueError("step is -1 (before the first) or a step index")
        if (self.step >= 0) != (self.step_started_at is not None):
            raise ValueError("a started step has a start instant, and only a started one")
        if self.step_started_at is not None and self.step_started_at.tzinfo is None:
            raise ValueError("step_started_at must be timezone-aware")


def initial_progress(needs_approval: bool) -> Progress:
    """A new deployment: waiting for approval (production), or Running before its first step."""
    return Progress(Status.PENDING_APPROVAL if needs_approval else Status.RUNNING)


def act(plan: Plan, progress: Progress, action: Action, now: datetime, *, to_step: int | None = None) -> Progress:
    """The progress after a person's (or the service's) `action`, at `now`.

    PROMOTE goes to `to_step` (default: the next step) and starts it now; at the last step (and
    without `to_step`) it completes the deployment. COMPLETE needs the last step reached.
    Raises IllegalTransition (409) for an action the status or step does not allow, and
    InvalidInput (422, field `toStep`) for a step the plan does not have. After storing the
    result, the service makes the deployment due now, so the worker decides afresh from it.
    """
    status = next_status(progress.status, action)
    if action is Action.PROMOTE:
        if to_step is not None and not 0 <= to_step <= plan.last:
            raise InvalidInput(
                f"There is no step {to_step}.", errors=[FieldError("toStep", f"must be from 0 to {plan.last}")]
            )
        target = progress.step + 1 if to_step is None else to_step
        if target <= progress.step:
            raise IllegalTransition(progress.status, action, f"it is at step {progress.step} already")
        if target > plan.last:
            return dataclasses.replace(progress, status=Status.SUCCEEDED)
        return Progress(status, target, now)
    if action is Action.COMPLETE and progress.step != plan.last:
        raise IllegalTransition(progress.status, action, "it has not reached its last step")
    return dataclasses.replace(progress, status=status)


# -- what the worker does next --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Advance:
    """Start step `to_step` now: publish its exposure and store it as current, started now."""

    to_step: int


@dataclass(frozen=True, slots=True)
class Complete:
    """The last step is done: the deployment succeeded."""


@dataclass(frozen=True, slots=True)
class RollBack:
    """Withdraw the exposure (everyone back to the baseline) and finish as RolledBack."""

    reason: str


@dataclass(frozen=True, slots=True)
class Pause:
    """The judge warns: pause (the step stays exposed) until a person resumes or rolls back."""

    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to change now. `until`: the instant something is due (a hold's end, a start
    time), if any."""

    until: datetime | None
    reason: str


@dataclass(frozen=True, slots=True)
class WaitForPromotion:
    """Step `step` is a gate whose hold is over: it waits for a person to promote it."""

    step: int


WorkerAction = Advance | Complete | RollBack | Pause | Wait | WaitForPromotion


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do now, and `due_at`: when to look again once it is done (None: not until a person
    acts, or never again). It is never earlier than the `now` it was decided at."""

    action: WorkerAction
    due_at: datetime | None


def needs_verdict(progress: Progress) -> bool:
    """Whether `decide` reads the judge's verdict: only while something is exposed and open."""
    return progress.status in (Status.RUNNING, Status.PAUSED) and progress.step >= 0


def earliest_start(plan: Plan, index: int, previous_end: datetime | None, now: datetime) -> datetime | None:
    """The earliest instant step `index` may start, given when the step before it ends (None for
    the first step): its `not_before`, and for a step with a local start time the occurrence of
    that time at or after the previous end, or the next one when `now` is more than
    `LOCAL_START_GRACE` past it. None: no constraint."""
    step = plan.steps[index]
    bounds = [b for b in (step.not_before, previous_end) if b is not None]
    lower = max(bounds) if bounds else None
    if step.local_start is None:
        return lower
    after = now - LOCAL_START_GRACE if lower is None else max(lower, now - LOCAL_START_GRACE)
    return next_local_start(step.local_start.at, step.local_start.time_zone, after)


def decide(
    plan: Plan,
    progress: Progress,
    verdict: Verdict,
    now: datetime,
    *,
    check_every: timedelta | None = CHECK_EVERY,
    why: str | None = None,
) -> Decision:
    """The worker's next move for a deployment, from stored state and time only.

    `verdict` is the judge's word on the current step (ignored when `needs_verdict` is false),
    `why` its reason (for a rollback or a pause).
    `check_every` is how often the judge is asked while a step is watched, waiting at a gate or
    paused; None when nobody judges (health checks off): the worker then looks only when a
    step's time is up.
    """
    if progress.step > plan.last:
        raise ValueError(f"step {progress.step} is past the plan's last step {plan.last}")
    status = progress.status
    if status is Status.PENDING_APPROVAL or status.terminal:
        return Decision(Wait(None, f"the deployment is {status.value}"), None)
    if progress.step >= 0 and verdict is Verdict.ROLLBACK:
        step = plan.steps[progress.step]
        return Decision(RollBack(why or f"the judge found step {step.index} ({step.name}) unhealthy"), None)
    if progress.step >= 0 and verdict is Verdict.PAUSE and status is Status.RUNNING:
        step = plan.steps[progress.step]
        return Decision(
            Pause(why or f"the judge warns about step {step.index} ({step.name})"), _look(now, None, check_every)
        )
    if status is Status.PAUSED:
        return Decision(Wait(None, "paused"), _look(now, None, check_every) if progress.step >= 0 else None)
    if progress.step < 0:
        start = earliest_start(plan, 0, None, now)
        if start is not None and now < start:
            return Decision(Wait(start, f"step 0 ({plan.steps[0].name}) starts then"), start)
        return _advance(plan, 0, now, check_every)
    step = plan.steps[progress.step]
    assert progress.step_started_at is not None  # Progress guarantees it for a started step
    end = progress.step_started_at + (step.hold or timedelta(0))
    if now < end:
        return Decision(Wait(end, f"watching step {step.index} ({step.name})"), _look(now, end, check_every))
    if verdict is not Verdict.CONTINUE:
        return Decision(Wait(None, "the judge holds the step"), _look(now, None, check_every))
    if step.gate:
        return Decision(WaitForPromotion(step.index), _look(now, None, check_every))
    if step.index == plan.last:
        return Decision(Complete(), None)
    start = earliest_start(plan, step.index + 1, end, now)
    if start is not None and now < start:
        following = plan.steps[step.index + 1]
        return Decision(
            Wait(start, f"step {following.index} ({following.name}) starts then"), _look(now, start, check_every)
        )
    return _advance(plan, step.index + 1, now, check_every)


def _look(now: datetime, until: datetime | None, check_every: timedelta | None) -> datetime | None:
    times = [t for t in (until, None if check_every is None else now + check_every) if t is not None]
    return min(times) if times else None


def _advance(plan: Plan, index: int, now: datetime, check_every: timedelta | None) -> Decision:
    hold = plan.steps[index].hold or timedelta(0)
    return Decision(Advance(index), _look(now, now + hold, check_every))


def action_name(action: WorkerAction) -> str:
    """The name a worker's change is logged and announced under."""
    if isinstance(action, Advance):
        return "advance"
    if isinstance(action, Complete):
        return "complete"
    if isinstance(action, Pause):
        return "pause"
    return "rollback"


def exposing(progress: Progress) -> tuple[bool, int]:
    """Whether anything is exposed, and which step: what a change must differ in to need a new
    snapshot (a paused deployment keeps what it has exposed)."""
    live = progress.status in (Status.RUNNING, Status.PAUSED) and progress.step >= 0
    return live, progress.step if live else -1


def apply(progress: Progress, action: WorkerAction, now: datetime) -> Progress:
    """The progress after the worker carries out `action` at `now` (what it stores)."""
    if isinstance(action, Advance):
        if progress.status is not Status.RUNNING or action.to_step <= progress.step:
            raise IllegalTransition(progress.status, Action.PROMOTE, f"it cannot advance to step {action.to_step}")
        return Progress(Status.RUNNING, action.to_step, now)
    if isinstance(action, Complete):
        return dataclasses.replace(progress, status=next_status(progress.status, Action.COMPLETE))
    if isinstance(action, RollBack):
        return dataclasses.replace(progress, status=next_status(progress.status, Action.ROLLBACK))
    if isinstance(action, Pause):
        return dataclasses.replace(progress, status=next_status(progress.status, Action.PAUSE))
    return progress


def projected_starts(plan: Plan, progress: Progress, now: datetime) -> tuple[datetime | None, ...]:
    """For each step, when it started (the current one) or is expected to start if every verdict
    is continue: None for steps already passed (the store keeps their actual starts), for steps
    behind a gate, and for every step unless the deployment is Running."""
    starts: list[datetime | None] = [None] * len(plan.steps)
    if progress.status is not Status.RUNNING:
        return tuple(starts)
    if progress.step >= 0:
        assert progress.step_started_at is not None
        index, start = progress.step, progress.step_started_at
    else:
        index, start = 0, max(now, earliest_start(plan, 0, None, now) or now)
    starts[index] = start
    while index < plan.last and not plan.steps[index].gate:
        end = start + (plan.steps[index].hold or timedelta(0))
        look = max(end, now)
        start = max(look, earliest_start(plan, index + 1, end, look) or look)
        index += 1
        starts[index] = start
    return tuple(starts)
