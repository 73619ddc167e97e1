"""A deployment as a request describes it, before anything is stored: what it rolls out (a
config version, or a live event), its plan over the registered regions, and the row that would
hold it. The service stores it, or returns it as a dry run.

A live event goes to players, in its own environment, hashed with the event's id as the seed:
the snapshot's event entry hashes `playerId` with that seed too, so the players a step exposes
are the ones the plan counts, and a later deployment of the event starts from the same players.
An event that is still Scheduled is rolled out from its start: the first step waits for it (a
person's promote starts it earlier), so the canary watches players who can see the event. An
event that has gone live (Active, or Paused and resumed) stays as its players see it until the
first step (while the deployment waits for an approval, say): the deployment takes over its
exposure from then on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hotswap.auth.model import Principal
from hotswap.configs import lookups
from hotswap.configs.repository import ConfigRepository
from hotswap.core.environments import Environment, parse_environment
from hotswap.core.errors import Conflict, FieldError, InvalidInput, NotFound
from hotswap.core.ids import new_id
from hotswap.events.model import EventStatus
from hotswap.events.service import EventService
from hotswap.fleet.service import FleetService
from hotswap.rollouts import codec
from hotswap.rollouts.exposure import KEEPS_EXPOSURE
from hotswap.rollouts.lifecycle import initial_progress
from hotswap.rollouts.model import Plan, RegionInfo, SubjectKind
from hotswap.rollouts.repository import Row
from hotswap.rollouts.requests import spec_for
from hotswap.rollouts.schemas import DeploymentCreate
from hotswap.rollouts.strategies import plan as make_plan
from hotswap.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from hotswap.events.model import EventRow

# The statuses in which a live event may be rolled out (an ended or cancelled one may not).
DEPLOYABLE_EVENTS = frozenset({EventStatus.SCHEDULED, EventStatus.ACTIVE, EventStatus.PAUSED})
# An event that has gone live is served as before until the deployment's first step (a Paused
# one, once resumed); a Scheduled one is seen by nobody until then.
KEEPS = frozenset({EventStatus.ACTIVE, EventStatus.PAUSED})


@dataclass(frozen=True, slots=True)
class Draft:
    row: Row
    plan: Plan
    environment: Environment
    what: str  # "'balance' 2.0.0", "live event 'summer-fest-2025' v3": for summaries
    authors: tuple[str, ...]  # who wrote what it rolls out: an approver must be someone else


async def region_infos(uow: UnitOfWork, fleet: FleetService) -> list[RegionInfo]:
    return [RegionInfo(r.id, r.time_zone, r.rollout_order, frozenset(r.aliases)) for r in await fleet.regions(uow)]


async def draft(
    uow: UnitOfWork, fleet: FleetService, events: EventService | None, actor: Principal, body: DeploymentCreate
) -> Draft:
    """The deployment `body` asks for; InvalidInput (422) or Conflict (409) when it cannot be."""
    if body.event_id is not None:
        return await _draft_event(uow, fleet, events, actor, body)
    return await _draft_config(uow, fleet, actor, body)


async def _draft_config(uow: UnitOfWork, fleet: FleetService, actor: Principal, body: DeploymentCreate) -> Draft:
    assert body.config_name is not None
    repo = ConfigRepository(uow.conn)
    profile = await lookups.require_profile(repo, body.config_name, for_update=True, field="body.configName")
    profile.ensure_active()
    if body.config_version is not None:
        version = await lookups.require_version(repo, profile, body.config_version, field="body.configVersion")
    else:
        latest = await repo.latest_version(profile.id)
        if latest is None:
            raise InvalidInput(
                f"{profile.name!r} has no version to deploy.",
                errors=[FieldError("body.configName", "the config has no version yet")],
            )
        version = latest
    if profile.live_version_id == version.id:
        raise Conflict(f"Version {version.version} of {profile.name!r} is live already: nothing to deploy.")
    pending = await repo.pending_release(profile.id)
    if pending is not None:
        raise Conflict(
            f"{profile.name!r} has release {pending.id} waiting for approval; decide or cancel it first.",
            extra={"pendingReleaseId": pending.id},
        )
    deployment_id = new_id("dep")
    regions = await region_infos(uow, fleet)
    spec = spec_for(body, seed=body.hash_seed or deployment_id, regions=regions)
    plan = make_plan(spec, regions, uow.clock.now())
    env = profile.environment
    row = _row(
        uow,
        actor,
        body,
        deployment_id,
        env,
        plan,
        codec.spec_to_json(spec),
        subject_kind=SubjectKind.CONFIG,
        subject=profile.name,
        profile_id=profile.id,
        version_id=version.id,
        version=version.version,
        baseline_version_id=profile.live_version_id,
    )
    return Draft(row, plan, env, f"{profile.name!r} {version.version}", (version.author,))


async def _draft_event(
    uow: UnitOfWork, fleet: FleetService, events: EventService | None, actor: Principal, body: DeploymentCreate
) -> Draft:
    assert body.event_id is not None
    event = await _require_event(uow, events, body.event_id)
    if event.status not in DEPLOYABLE_EVENTS:
        raise Conflict(
            f"Live event {event.id!r} is {event.status.value}: only a Scheduled, Active or Paused event "
            "can be rolled out.",
            extra={"eventStatus": event.status.value},
        )
    env = Environment(event.environment)
    if body.environment is not None and parse_environment(body.environment, "body.environment") is not env:
        raise InvalidInput(
            f"Live event {event.id!r} is in {env.value}.",
            errors=[FieldError("body.environment", f"the event is in {env.value}")],
        )
    regions = await region_infos(uow, fleet)
    now = uow.clock.now()
    spec = spec_for(body, seed=event.id, regions=regions, subject=SubjectKind.EVENT)
    plan = _from_start(make_plan(spec, regions, now), event, now)
    row = _row(
        uow,
        actor,
        body,
        new_id("dep"),
        env,
        plan,
        codec.spec_to_json(spec) | ({KEEPS_EXPOSURE: True} if event.status in KEEPS else {}),
        subject_kind=SubjectKind.EVENT,
        subject=event.id,
        profile_id=None,
        version_id=None,
        version=str(event.version),
        baseline_version_id=None,
    )
    authors = tuple(sorted({event.created_by, event.updated_by}))
    return Draft(row, plan, env, f"live event {event.id!r} v{event.version}", authors)


async def _require_event(uow: UnitOfWork, events: EventService | None, event_id: str) -> EventRow:
    unknown = InvalidInput(f"No live event {event_id!r}.", errors=[FieldError("body.eventId", "no such live event")])
    if events is None:  # the composition root did not hand the events slice over
        raise unknown
    try:
        # Locked: an edit or an activation at once either commits first (and is read here) or
        # waits, and then finds this deployment to move (`event_rollouts.follow_start`).
        return await events.get(uow, event_id, lock=True)
    except NotFound as exc:
        raise unknown from exc


def _from_start(plan: Plan, event: EventRow, now: datetime) -> Plan:
    """A Scheduled event's rollout starts when the event does, not before."""
    if event.status is not EventStatus.SCHEDULED or event.start_at <= now:
        return plan
    first = plan.steps[0]
    start = event.start_at if first.not_before is None else max(first.not_before, event.start_at)
    return replace(plan, steps=(replace(first, not_before=start), *plan.steps[1:]))


def _row(
    uow: UnitOfWork,
    actor: Principal,
    body: DeploymentCreate,
    deployment_id: str,
    env: Environment,
    plan: Plan,
    spec: dict[str, Any],
    *,
    subject_kind: SubjectKind,
    subject: str,
    profile_id: str | None,
    version_id: str | None,
    version: str,
    baseline_version_id: str | None,
) -> Row:
    now = uow.clock.now()
    progress = initial_progress(env.needs_approval)
    return Row(
        id=deployment_id,
        environment=env.value,
        subject_kind=subject_kind.value,
        subject=subject,
        profile_id=profile_id,
        version_id=version_id,
        version=version,
        baseline_version_id=baseline_version_id,
        strategy=plan.strategy.value,
        unit_kind=plan.unit_kind.value,
        seed=plan.seed,
        spec=spec
        | {"healthCheckEnabled": body.health_check_enabled}
        | ({"analysis": body.analysis} if body.analysis is not None else {}),
        plan=codec.plan_to_json(plan),
        status=progress.status.value,
        step=-1,
        step_started_at=None,
        step_times=[None] * len(plan.steps),
        due_at=None if env.needs_approval else now,
        approval_id=None,
        reason=body.comment,
        created_at=now,
        created_by=actor.subject,
        updated_at=now,
        finished_at=None,
        revision=1,
        fence=0,
    )
