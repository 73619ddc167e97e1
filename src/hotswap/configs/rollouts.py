"""Configs as something deployments roll out: a config version (`ConfigRollouts` implements the
rollouts slice's `RolloutSubject` port), and the snapshot's `rollouts` part, what config
deployments expose now with the versions they roll out (`snapshot_rollouts`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.auth.model import Principal
from hotswap.configs import lookups
from hotswap.configs.model import KIND
from hotswap.configs.releases import ReleaseService
from hotswap.configs.repository import ConfigRepository
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, FieldError, InvalidInput
from hotswap.rollouts.model import Row, UnitKind
from hotswap.rollouts.service import DeploymentService
from hotswap.rollouts.subjects import Subject, SubjectRequest
from hotswap.storage.uow import UnitOfWork


class ConfigRollouts:
    kind = KIND
    name = "config"
    # A config goes to game servers unless the request asks for players.
    unit_kinds: tuple[UnitKind, ...] = (UnitKind.SERVERS, UnitKind.PLAYERS)

    def __init__(self, releases: ReleaseService, deployments: DeploymentService) -> None:
        self.releases = releases
        self.deployments = deployments

    def describe(self, subject_id: str) -> str:
        return repr(subject_id)

    async def resolve(self, uow: UnitOfWork, request: SubjectRequest) -> Subject:
        """The version to roll out (default: the newest), the profile locked: it is not the live
        one, and no release of the config waits for approval."""
        repo = ConfigRepository(uow.conn)
        profile = await lookups.require_profile(repo, request.id, for_update=True, field="body.configName")
        profile.ensure_active()
        if request.version is not None:
            version = await lookups.require_version(repo, profile, request.version, field="body.configVersion")
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
        return Subject(
            kind=KIND,
            id=profile.name,
            environment=profile.environment,
            what=f"{profile.name!r} {version.version}",
            authors=(version.author,),
            version=version.version,
            version_id=version.id,
            profile_id=profile.id,
            baseline_version_id=profile.live_version_id,
        )

    async def succeeded(self, uow: UnitOfWork, actor: Principal, deployment: Row) -> None:
        """Its version is made live (a release of kind Deployment), in the deployment's revision."""
        if deployment.version_id is not None:
            await self.releases.apply_deployed(
                uow, actor, deployment.subject, version_id=deployment.version_id, deployment_id=deployment.id
            )

    async def withdrawn(self, uow: UnitOfWork, actor: Principal, deployment: Row) -> None:
        """Nothing to do: without its deployment's exposure, everyone is on the live version."""

    async def snapshot_rollouts(self, conn: AsyncConnection, environment: Environment) -> list[dict[str, Any]]:
        """The snapshot's `rollouts` part: each config deployment exposing units now, with the
        version it rolls out and the config's rules (read in the snapshot's own transaction).
        Oldest first: where a config has two (a limited success, then a newer deployment), the
        snapshot keeps the last it reads, the newer."""
        exposing = await self.deployments.exposing(conn, environment, KIND)
        served = await ConfigRepository(conn).served_versions({e.version_id for e in exposing if e.version_id})
        out = []
        for e in exposing:
            found = served.get(e.version_id or "")
            if found is None:
                continue
            version, value, rules = found
            out.append(
                {
                    "config": e.subject,
                    "exposure": e.exposure,
                    "hashAttribute": "serverId" if e.unit_kind == UnitKind.SERVERS.value else "playerId",
                    "id": e.id,
                    "rules": rules or [],
                    "seed": e.seed,
                    "step": e.step,
                    "value": value,
                    "version": version,
                    "versionId": e.version_id,
                }
            )
        return out
