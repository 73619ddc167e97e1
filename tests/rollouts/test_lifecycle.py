"""A deployment's statuses, a person's actions, and the worker's next move from stored state."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotswap.core.errors import Conflict, InvalidInput
from hotswap.rollouts.lifecycle import (
    CHECK_EVERY,
    LOCAL_START_GRACE,
    TRANSITIONS,
    Advance,
    Complete,
    Decision,
    IllegalTransition,
    Pause,
    Progress,
    RollBack,
    Wait,
    WaitForPromotion,
    act,
    allowed_actions,
    apply,
    decide,
    initial_progress,
    needs_verdict,
    next_status,
    projected_starts,
)
from hotswap.rollouts.model import Action, DeploymentSpec, Plan, Status, Strategy, Verdict
from hotswap.rollouts.strategies import next_local_start, plan
from tests.rollouts.factories import REGIONS, T0, spec, specs

S, A = Status, Action
MIN = timedelta(minutes=1)
HALF_HOUR = timedelta(minutes=30)
CANARY = plan(spec(), REGIONS, T0)  # 10 → 30 → 50 → 100%, 30 minutes each, the last completing at once

# Written out by hand rather than read from TRANSITIONS, so a change to the table must change this too.
LEGAL = {
    (S.PENDING_APPROVAL, A.APPROVE): S.RUNNING,
    (S.PENDING_APPROVAL, A.REJECT): S.CANCELLED,
    (S.PENDING_APPROVAL, A.CANCEL): S.CANCELLED,
    (S.PENDING_APPROVAL, A.FAIL): S.FAILED,
    (S.RUNNING, A.PAUSE): S.PAUSED,
    (S.RUNNING, A.PROMOTE): S.RUNNING,
    (S.RUNNING, A.ROLLBACK): S.ROLLED_BACK,
    (S.RUNNING, A.CANCEL): S.CANCELLED,
    (S.RUNNING, A.COMPLETE): S.SUCCEEDED,
    (S.RUNNING, A.FAIL): S.FAILED,
    (S.PAUSED, A.RESUME): S.RUNNING,
    (S.PAUSED, A.PROMOTE): S.RUNNING,
    (S.PAUSED, A.ROLLBACK): S.ROLLED_BACK,
    (S.PAUSED, A.CANCEL): S.CANCELLED,
    (S.PAUSED, A.COMPLETE): S.SUCCEEDED,
    (S.PAUSED, A.FAIL): S.FAILED,
}


def at(step: int, started: datetime = T0, status: Status = S.RUNNING) -> Progress:
    return Progress(status, step, started)


# -- statuses -------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "action"), list(itertools.product(Status, Action)))
def test_every_status_and_action(status: Status, action: Action) -> None:
    if (status, action) in LEGAL:
        assert next_status(status, action) is LEGAL[status, action]
        assert action in allowed_actions(status)
    else:
        with pytest.raises(IllegalTransition) as raised:
            next_status(status, action)
        assert raised.value.status == 409  # the HTTP status, as for every Conflict
        assert raised.value.current is status
        assert action not in allowed_actions(status)


def test_an_illegal_transition_is_a_409_problem_saying_what_is_allowed() -> None:
    with pytest.raises(Conflict) as raised:
        next_status(S.PENDING_APPROVAL, A.ROLLBACK)
    error = raised.value
    assert isinstance(error, IllegalTransition)
    assert error.detail == (
        "Cannot rollback a deployment that is PendingApproval: nothing is exposed yet: cancel or reject it instead."
    )
    assert error.extra == {
        "currentStatus": "PendingApproval",
        "action": "rollback",
        "allowed": ["approve", "cancel", "fail", "reject"],
    }
    with pytest.raises(IllegalTransition, match="that is Succeeded: it is finished"):
        next_status(S.SUCCEEDED, A.CANCEL)


def test_the_published_table_is_exactly_the_legal_moves_and_read_only() -> None:
    assert {(s, a): t for s, moves in TRANSITIONS.items() for a, t in moves.items()} == LEGAL
    with pytest.raises(TypeError):
        TRANSITIONS[S.RUNNING][A.APPROVE] = S.RUNNING  # type: ignore[index]


def test_terminal_statuses_allow_nothing() -> None:
    assert all(not allowed_actions(s) for s in Status if s.terminal)


def test_new_deployments_wait_for_approval_or_run() -> None:
    assert initial_progress(True) == Progress(S.PENDING_APPROVAL, -1, None)
    assert initial_progress(False) == Progress(S.RUNNING, -1, None)


def test_progress_refuses_inconsistent_state() -> None:
    with pytest.raises(ValueError, match="start instant"):
        Progress(S.RUNNING, 0, None)
    with pytest.raises(ValueError, match="start instant"):
        Progress(S.RUNNING, -1, T0)
    with pytest.raises(ValueError, match="-1"):
        Progress(S.RUNNING, -2)
    with pytest.raises(ValueError, match="aware"):
        Progress(S.RUNNING, 0, datetime(2026, 1, 1))


# -- a person's actions ---------------------------------------------------------------------


def test_approve_runs_it_before_its_first_step() -> None:
    assert act(CANARY, initial_progress(True), A.APPROVE, T0) == Progress(S.RUNNING)


def test_promote_starts_the_next_step_now_and_at_the_last_completes() -> None:
    now = T0 + MIN
    assert act(CANARY, at(1), A.PROMOTE, now) == Progress(S.RUNNING, 2, now)
    assert act(CANARY, Progress(S.RUNNING), A.PROMOTE, now) == Progress(S.RUNNING, 0, now)
    assert act(CANARY, at(1, status=S.PAUSED), A.PROMOTE, now) == Progress(S.RUNNING, 2, now)  # and resumes
    assert act(CANARY, at(3), A.PROMOTE, now) == Progress(S.SUCCEEDED, 3, T0)  # finalize


def test_promote_to_a_later_step_jumps_there() -> None:
    assert act(CANARY, at(0), A.PROMOTE, T0 + MIN, to_step=3) == Progress(S.RUNNING, 3, T0 + MIN)


def test_promote_cannot_go_back_or_off_the_plan() -> None:
    with pytest.raises(IllegalTransition, match="at step 2 already"):
        act(CANARY, at(2), A.PROMOTE, T0, to_step=1)
    with pytest.raises(IllegalTransition, match="at step 2 already"):
        act(CANARY, at(2), A.PROMOTE, T0, to_step=2)
    with pytest.raises(InvalidInput) as raised:
        act(CANARY, at(2), A.PROMOTE, T0, to_step=4)
    assert [(e.field, e.message) for e in raised.value.errors] == [("toStep", "must be from 0 to 3")]
    with pytest.raises(IllegalTransition):
        act(CANARY, initial_progress(True), A.PROMOTE, T0)


def test_complete_needs_the_last_step() -> None:
    with pytest.raises(IllegalTransition, match="not reached its last step"):
        act(CANARY, at(2), A.COMPLETE, T0)
    assert act(CANARY, at(3), A.COMPLETE, T0).status is S.SUCCEEDED


@pytest.mark.parametrize(
    ("action", "status"),
    [(A.PAUSE, S.PAUSED), (A.ROLLBACK, S.ROLLED_BACK), (A.CANCEL, S.CANCELLED), (A.FAIL, S.FAILED)],
)
def test_other_actions_change_only_the_status(action: Action, status: Status) -> None:
    assert act(CANARY, at(1), action, T0 + MIN) == Progress(status, 1, T0)


# -- the worker's next move: table ----------------------------------------------------------

GATED = plan(spec(manual_gates=frozenset({1})), REGIONS, T0)
ZERO_WAIT = plan(spec(Strategy.ROLLING, batch_wait=timedelta(0)), REGIONS, T0)
GO, HOLD, BAD = Verdict.CONTINUE, Verdict.HOLD, Verdict.ROLLBACK
HALF = T0 + HALF_HOUR
WATCH_0 = Wait(HALF, "watching step 0 (canary 10%)")
WATCH_1 = Wait(HALF, "watching step 1 (canary 30%)")
JUDGE_HOLDS = Wait(None, "the judge holds the step")
PAUSED = Wait(None, "paused")


def unhealthy(step: int, name: str) -> RollBack:
    return RollBack(f"the judge found step {step} ({name}) unhealthy")


@pytest.mark.parametrize(
    ("p", "progress", "verdict", "now", "check_every", "expected"),
    [
        # Nothing to do until approved, and nothing ever again once finished.
        (
            CANARY,
            Progress(S.PENDING_APPROVAL),
            GO,
            T0,
            MIN,
            Decision(Wait(None, "the deployment is PendingApproval"), None),
        ),
        (CANARY, at(2, status=S.SUCCEEDED), BAD, T0, MIN, Decision(Wait(None, "the deployment is Succeeded"), None)),
        # Running before the first step: start it; the next look is at the first check.
        (CANARY, Progress(S.RUNNING), GO, T0, MIN, Decision(Advance(0), T0 + MIN)),
        (CANARY, Progress(S.RUNNING), BAD, T0, MIN, Decision(Advance(0), T0 + MIN)),  # nothing exposed yet
        (CANARY, Progress(S.RUNNING), GO, T0, None, Decision(Advance(0), HALF)),
        # Watching a step: wait for its hold; ask the judge every minute meanwhile.
        (CANARY, at(0), GO, T0 + 10 * MIN, MIN, Decision(WATCH_0, T0 + 11 * MIN)),
        (CANARY, at(0), GO, T0 + 10 * MIN, None, Decision(WATCH_0, HALF)),
        (CANARY, at(0), GO, HALF - MIN / 2, MIN, Decision(WATCH_0, HALF)),
        (CANARY, at(0), HOLD, T0 + 10 * MIN, MIN, Decision(WATCH_0, T0 + 11 * MIN)),
        (CANARY, at(0), BAD, T0 + 10 * MIN, MIN, Decision(unhealthy(0, "canary 10%"), None)),
        # The hold is over: advance, unless the judge holds.
        (CANARY, at(0), GO, HALF, MIN, Decision(Advance(1), HALF + MIN)),
        (CANARY, at(0), GO, T0 + 5 * HALF_HOUR, MIN, Decision(Advance(1), T0 + 5 * HALF_HOUR + MIN)),
        (CANARY, at(0), HOLD, HALF, MIN, Decision(JUDGE_HOLDS, HALF + MIN)),
        (CANARY, at(2), BAD, HALF, MIN, Decision(unhealthy(2, "canary 50%"), None)),
        # The last step has no hold: reaching it is success.
        (CANARY, at(3), GO, T0, MIN, Decision(Complete(), None)),
        (CANARY, at(3), HOLD, T0, MIN, Decision(JUDGE_HOLDS, T0 + MIN)),
        # A gate waits for a person once its hold is over, still watched.
        (GATED, at(1), GO, T0 + 10 * MIN, MIN, Decision(WATCH_1, T0 + 11 * MIN)),
        (GATED, at(1), GO, HALF, MIN, Decision(WaitForPromotion(1), HALF + MIN)),
        (GATED, at(1), GO, HALF, None, Decision(WaitForPromotion(1), None)),
        (GATED, at(1), BAD, T0 + 9 * HALF_HOUR, MIN, Decision(unhealthy(1, "canary 30%"), None)),
        # Paused: no steps, but still watched, and still rolled back when unhealthy.
        (CANARY, at(1, status=S.PAUSED), GO, T0 + 9 * HALF_HOUR, MIN, Decision(PAUSED, T0 + 9 * HALF_HOUR + MIN)),
        (CANARY, at(1, status=S.PAUSED), BAD, T0, MIN, Decision(unhealthy(1, "canary 30%"), None)),
        (CANARY, Progress(S.PAUSED), BAD, T0, MIN, Decision(PAUSED, None)),
        # A step without a hold moves on at once: the next look is now.
        (ZERO_WAIT, at(0), GO, T0, MIN, Decision(Advance(1), T0)),
    ],
)
def test_decide(
    p: Plan, progress: Progress, verdict: Verdict, now: datetime, check_every: timedelta | None, expected: Decision
) -> None:
    assert decide(p, progress, verdict, now, check_every=check_every) == expected


def test_decide_refuses_a_step_the_plan_does_not_have() -> None:
    with pytest.raises(ValueError, match="past the plan's last step"):
        decide(CANARY, at(4), Verdict.CONTINUE, T0)


def test_the_judge_is_asked_only_about_an_exposed_open_deployment() -> None:
    assert needs_verdict(at(0))
    assert needs_verdict(at(0, status=S.PAUSED))
    assert not needs_verdict(Progress(S.RUNNING))
    assert not needs_verdict(Progress(S.PENDING_APPROVAL))
    assert not needs_verdict(at(0, status=S.ROLLED_BACK))


def test_the_worker_carries_out_decisions() -> None:
    assert apply(at(0), Advance(1), T0 + HALF_HOUR) == at(1, T0 + HALF_HOUR)
    assert apply(at(3), Complete(), T0) == at(3, status=S.SUCCEEDED)
    assert apply(at(1), RollBack("bad"), T0) == at(1, status=S.ROLLED_BACK)
    assert apply(at(1), Wait(None, "x"), T0 + MIN) == at(1)
    assert apply(at(1), WaitForPromotion(1), T0 + MIN) == at(1)
    with pytest.raises(IllegalTransition):
        apply(at(1), Advance(1), T0)  # never the same step twice
    with pytest.raises(IllegalTransition):
        apply(at(1, status=S.PAUSED), Advance(2), T0)
    with pytest.raises(IllegalTransition):
        apply(at(1, status=S.CANCELLED), RollBack("late"), T0)


def test_a_pause_verdict_pauses_a_running_step_at_once_and_is_then_a_wait() -> None:
    early = T0 + MIN  # inside step 0's half-hour hold
    decision = decide(CANARY, at(0), Verdict.PAUSE, early, check_every=MIN, why="engagement -16%")
    assert decision == Decision(Pause("engagement -16%"), early + MIN)
    assert decide(CANARY, at(0), Verdict.PAUSE, early, check_every=MIN).action == Pause(
        "the judge warns about step 0 (canary 10%)"
    )
    assert apply(at(0), Pause("engagement -16%"), early) == at(0, status=S.PAUSED)
    assert decide(CANARY, at(0, status=S.PAUSED), Verdict.PAUSE, early, check_every=MIN).action == PAUSED
    assert decide(CANARY, at(0), Verdict.PAUSE, HALF, check_every=MIN).action == Pause(
        "the judge warns about step 0 (canary 10%)"
    )  # at the hold's end too: a warned step never advances on its own
    assert decide(CANARY, Progress(S.RUNNING), Verdict.PAUSE, T0, check_every=MIN).action == Advance(0)
    # A rollback still outranks everything, with the judge's reason.
    assert decide(CANARY, at(0, status=S.PAUSED), BAD, early, why="crash +60%").action == RollBack("crash +60%")


# -- region-local start times ---------------------------------------------------------------

NIGHT = time(2, 0)
GEO = plan(spec(Strategy.GEOGRAPHIC, target_regions=("NA-WEST", "NA-EAST"), local_start_time=NIGHT), REGIONS, T0)
LA_NIGHT = datetime.fromisoformat("2026-06-02T09:00:00+00:00")  # 02:00 PDT after T0 (12:00 UTC, 1 June)
NY_NIGHT = datetime.fromisoformat("2026-06-03T06:00:00+00:00")  # 02:00 EDT after LA's step ends


def test_the_first_region_waits_for_its_local_time() -> None:
    assert GEO.steps[0].not_before == LA_NIGHT
    expected = Decision(Wait(LA_NIGHT, "step 0 (region NA-WEST) starts then"), LA_NIGHT)
    assert decide(GEO, Progress(S.RUNNING), Verdict.CONTINUE, T0) == expected
    assert decide(GEO, Progress(S.RUNNING), Verdict.CONTINUE, LA_NIGHT).action == Advance(0)
    assert decide(GEO, Progress(S.RUNNING), Verdict.CONTINUE, LA_NIGHT + 50 * MIN).action == Advance(0)


def test_a_region_started_late_waits_for_the_next_night_rather_than_start_at_peak() -> None:
    late = LA_NIGHT + LOCAL_START_GRACE + MIN  # e.g. approved the next morning
    tomorrow = LA_NIGHT + timedelta(days=1)
    assert decide(GEO, Progress(S.RUNNING), Verdict.CONTINUE, late).action == Wait(
        tomorrow, "step 0 (region NA-WEST) starts then"
    )
    assert decide(GEO, Progress(S.RUNNING), Verdict.CONTINUE, tomorrow).action == Advance(0)


def test_later_regions_start_at_their_own_local_time_after_the_step_before_ends() -> None:
    started = LA_NIGHT
    hold_end = started + timedelta(hours=1)  # 03:00 PDT = 06:00 EDT: New York's 02:00 has passed
    decision = decide(GEO, at(0, started), Verdict.CONTINUE, hold_end)
    assert decision == Decision(Wait(NY_NIGHT, "step 1 (region NA-EAST) starts then"), hold_end + CHECK_EVERY)
    assert decide(GEO, at(0, started), Verdict.CONTINUE, NY_NIGHT).action == Advance(1)
    # Still watched while waiting for the night: a rollback is not put off until then.
    assert isinstance(decide(GEO, at(0, started), Verdict.ROLLBACK, hold_end + MIN).action, RollBack)


def test_the_night_window_respects_daylight_saving() -> None:
    created = datetime.fromisoformat("2026-03-07T12:00:00+00:00")
    geo = plan(spec(Strategy.GEOGRAPHIC, target_regions=("NA-EAST",), local_start_time=time(2, 30)), REGIONS, created)
    # 02:30 does not exist in New York on 8 March 2026: it starts when the clocks jump, 03:00 EDT.
    jump = datetime.fromisoformat("2026-03-08T07:00:00+00:00")
    assert geo.steps[0].not_before == jump
    assert decide(geo, Progress(S.RUNNING), Verdict.CONTINUE, jump - MIN).action == Wait(
        jump, "step 0 (region NA-EAST) starts then"
    )
    assert decide(geo, Progress(S.RUNNING), Verdict.CONTINUE, jump).action == Advance(0)


# -- projections ----------------------------------------------------------------------------


def test_projected_starts_of_a_running_canary() -> None:
    assert projected_starts(CANARY, Progress(S.RUNNING), T0) == tuple(T0 + k * HALF_HOUR for k in range(4))
    assert projected_starts(CANARY, at(1, T0), T0 + 5 * HALF_HOUR) == (
        None,
        T0,
        T0 + 5 * HALF_HOUR,  # its hold is over: as soon as the worker looks
        T0 + 6 * HALF_HOUR,
    )
    assert projected_starts(GATED, at(0, T0), T0) == (T0, T0 + HALF_HOUR, None, None)
    assert projected_starts(CANARY, at(1, status=S.PAUSED), T0) == (None,) * 4
    assert projected_starts(CANARY, Progress(S.PENDING_APPROVAL), T0) == (None,) * 4


def test_projected_starts_of_a_geographic_rollout_follow_the_local_nights() -> None:
    assert projected_starts(GEO, Progress(S.RUNNING), T0) == (LA_NIGHT, NY_NIGHT)


# -- properties: a crashing worker ----------------------------------------------------------


def _run(
    p: Plan, rnd: random.Random, check_every: timedelta | None, rollback_at: int | None = None
) -> tuple[Progress, list[tuple[int, datetime]], datetime]:
    """A worker that looks when due (or late), sometimes dies before committing, and a person
    who promotes whenever a gate waits. Returns the final progress, each step's start, the end."""
    stored, now = Progress(S.RUNNING), T0
    due: datetime | None = T0
    starts: list[tuple[int, datetime]] = []
    for look in range(20_000):
        if stored.status.terminal:
            return stored, starts, now
        lateness = rnd.choice([0, 0, 0, rnd.randint(1, 600), rnd.randint(600, 4 * 3600)])
        now = max(now, due or now) + timedelta(seconds=lateness)
        verdict = Verdict.ROLLBACK if look == rollback_at else rnd.choice([Verdict.CONTINUE] * 4 + [Verdict.HOLD])
        decision = decide(p, stored, verdict, now, check_every=check_every)
        assert decision == decide(p, stored, verdict, now, check_every=check_every)  # stored state and time only
        assert decision.due_at is None or decision.due_at >= now
        if rnd.random() < 0.3:
            continue  # died before committing: the store still holds the old state and due time
        before = stored
        if isinstance(decision.action, WaitForPromotion):
            stored = act(p, stored, A.PROMOTE, now)
        else:
            stored = apply(stored, decision.action, now)
        if stored.step != before.step:
            starts.append((stored.step, now))
        due = decision.due_at
    raise AssertionError("the deployment never finished")


# The worker's schedule comes from a seeded generator: hypothesis varies the seed (and shrinks the
# spec), where drawing each of the thousands of choices from hypothesis would make inputs huge.
schedules = st.integers(0, 2**32).map(random.Random)


@settings(max_examples=60)
@given(specs(), schedules, st.sampled_from([None, 10 * MIN]))
def test_a_crashing_worker_never_skips_repeats_or_rushes_a_step(
    request_: DeploymentSpec, rnd: random.Random, check_every: timedelta | None
) -> None:
    p = plan(request_, REGIONS, T0)
    final, starts, end = _run(p, rnd, check_every)
    assert final.status is S.SUCCEEDED
    assert [step for step, _ in starts] == list(range(len(p.steps)))
    times = [when for _, when in starts] + [end]
    for step, (start, after) in zip(p.steps, itertools.pairwise(times), strict=True):
        assert after - start >= (step.hold or timedelta(0))
    for (step_index, when), previous in zip(starts, [None, *p.steps], strict=False):
        step = p.steps[step_index]
        if step.not_before is not None:
            assert when >= step.not_before
        if step.local_start is not None and (previous is None or not previous.gate):
            # Started within the grace window after an occurrence of the region's local time.
            local = step.local_start
            assert next_local_start(local.at, local.time_zone, when - LOCAL_START_GRACE) <= when


@settings(max_examples=40)
@given(specs(), schedules, st.integers(0, 40))
def test_a_rollback_verdict_ends_it_and_nothing_starts_after(
    request_: DeploymentSpec, rnd: random.Random, rollback_at: int
) -> None:
    p = plan(request_, REGIONS, T0)
    final, starts, _ = _run(p, rnd, MIN, rollback_at)
    assert final.status in (S.ROLLED_BACK, S.SUCCEEDED)
    assert [step for step, _ in starts] == list(range(len(starts)))
    if final.status is S.ROLLED_BACK:
        assert final.step == len(starts) - 1 >= 0


@given(
    st.sampled_from(Status),
    st.integers(-1, 3),
    st.sampled_from(Verdict),
    st.integers(0, 10 * 3600),
    st.sampled_from([None, MIN, 10 * MIN]),
)
def test_decisions_are_never_due_in_the_past(
    status: Status, step: int, verdict: Verdict, seconds: int, check_every: timedelta | None
) -> None:
    progress = Progress(status, step, None if step < 0 else T0)
    now = T0 + timedelta(seconds=seconds)
    decision = decide(CANARY, progress, verdict, now, check_every=check_every)
    assert decision.due_at is None or decision.due_at >= now
    if isinstance(decision.action, Advance):
        assert decision.action.to_step == step + 1
        assert status is S.RUNNING
