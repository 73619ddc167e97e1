"""A deployment as a request describes it, before anything is stored: the config and version
it rolls out, its plan over the registered regions, and the row that would hold it. The service
stores it, or returns it as a dry run."""

from __future__ import annotations

from dataclasses import dataclass

from hotswap.auth.model import Principal
from hotswap.configs import lookups
from hotswap.configs.model import Environment, Profile, Version
from hotswap.configs.repository import ConfigRepository
from hotswap.core.errors import Conflict, FieldError, InvalidInput
from hotswap.core.ids import new_id
from hotswap.fleet.service import FleetService
from hotswap.rollouts import codec
from hotswap.rollouts.lifecycle import initial_progress
from hotswap.rollouts.model import Plan, RegionInfo
from hotswap.rollouts.repository import Row
from hotswap.rollouts.requests import spec_for
from hotswap.rollouts.schemas import DeploymentCreate
from hotswap.rollouts.strategies import plan as make_plan
from hotswap.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Draft:
    row: Row
    plan: Plan
    profile: Profile
    version: Version
    environment: Environment


async def region_infos(uow: UnitOfWork, fleet: FleetService) -> list[RegionInfo]:
    return [RegionInfo(r.id, r.time_zone, r.rollout_order, frozenset(r.aliases)) for r in await fleet.regions(uow)]


async def draft(uow: UnitOfWork, fleet: FleetService, actor: Principal, body: DeploymentCreate) -> Draft:
    """The deployment `body` asks for; InvalidInput (422) or Conflict (409) when it cannot be."""
    now = uow.clock.now()
    if body.event_id is not None:
        raise InvalidInput(
            f"No live event {body.event_id!r}.", errors=[FieldError("body.eventId", "no such live event")]
        )
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
    spec = spec_for(body, seed=deployment_id, regions=regions)
    plan = make_plan(spec, regions, now)
    env = profile.environment
    progress = initial_progress(env.needs_approval)
    row = Row(
        id=deployment_id,
        environment=env.value,
        subject_kind="config",
        subject=profile.name,
        profile_id=profile.id,
        version_id=version.id,
        version=version.version,
        baseline_version_id=profile.live_version_id,
        strategy=plan.strategy.value,
        unit_kind=plan.unit_kind.value,
        seed=deployment_id,
        spec=codec.spec_to_json(spec)
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
    return Draft(row, plan, profile, version, env)
