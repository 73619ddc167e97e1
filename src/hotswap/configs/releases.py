"""Releases: making a version live, at once or after approval (Production), and reverting.

Each use case runs inside the caller's unit of work and never commits. Lock order, everywhere:
the approval row, then the profile row (see `cancel_release`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hotswap.approvals.model import Approval, ApprovalStatus
from hotswap.approvals.service import ApprovalService
from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.configs import lookups
from hotswap.configs import model as m
from hotswap.configs.repository import ConfigRepository
from hotswap.core.errors import NotFound
from hotswap.core.ids import new_id
from hotswap.core.pagination import check_limit
from hotswap.observability.prometheus import Metrics
from hotswap.rollouts.service import DeploymentService
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork

RELEASE_SUBJECT = "config_release"


@dataclass(frozen=True, slots=True)
class ReleaseView:
    profile: m.Profile
    release: m.Release
    version: str
    previous_version: str | None


class ReleaseService:
    def __init__(
        self,
        audit: AuditLog,
        approvals: ApprovalService,
        metrics: Metrics,
        snapshots: SnapshotChanges,
        deployments: DeploymentService,
    ) -> None:
        self.audit = audit
        self.approvals = approvals
        self.metrics = metrics
        self.snapshots = snapshots
        self.deployments = deployments  # a config being rolled out is released only by its deployment

    async def request_release(
        self,
        uow: UnitOfWork,
        actor: Principal,
        name: str,
        *,
        version: str,
        comment: str | None,
        kind: m.ReleaseKind = m.ReleaseKind.RELEASE,
    ) -> ReleaseView:
        """Make a version live: at once outside Production, after approval in Production."""
        repo = ConfigRepository(uow.conn)
        profile = await lookups.require_profile(repo, name, for_update=True)
        await self.deployments.ensure_idle(uow, profile.environment, m.KIND, profile.name, kind.verb)
        field_name = "body.version" if kind is m.ReleaseKind.RELEASE else "body.toVersion"
        target = await lookups.require_version(repo, profile, version, field=field_name)
        m.check_releasable(profile, target, await repo.pending_release(profile.id))
        if kind is m.ReleaseKind.REVERT:
            live = await repo.get_version_by_id(profile.live_version_id) if profile.live_version_id else None
            m.check_revert_target(profile, target, live)
        now = uow.clock.now()
        release = m.Release(
            id=new_id("rel"),
            profile_id=profile.id,
            version_id=target.id,
            previous_version_id=profile.live_version_id,
            kind=kind,
            status=m.ReleaseStatus.PENDING_APPROVAL,
            comment=comment,
            requested_by=actor.subject,
            requested_at=now,
            decided_at=None,
            approval_id=None,
        )
        verb = kind.verb
        if profile.environment.needs_approval:
            approval = await self.approvals.request(
                uow,
                actor,
                subject_type=RELEASE_SUBJECT,
                subject_id=release.id,
                environment=profile.environment.value,
                summary=f"{verb} of {name!r} to version {version}",
                authors=[target.author],  # four eyes: whoever wrote the version may not approve it
            )
            release = dataclasses.replace(release, approval_id=approval.id)
            await repo.add_release(release)
            await self.audit.record(
                uow,
                actor,
                f"config.{verb}.request",
                target_type="config",
                target_id=name,
                summary=f"requested {verb} of {name!r} to {version} (approval {approval.id})",
                after_ref=release.id,
            )
        else:
            await repo.add_release(release)
            release = await self._apply(uow, actor, profile, release)
        return await self._release_view(repo, profile, release)

    async def apply_deployed(
        self, uow: UnitOfWork, actor: Principal, name: str, *, version_id: str, deployment_id: str
    ) -> ReleaseView | None:
        """A deployment that reached every unit makes its version live, at once: the deployment
        itself was approved where the environment needs it, so no second approval is asked.
        None when the version is live already (released by hand meanwhile)."""
        repo = ConfigRepository(uow.conn)
        profile = await lookups.require_profile(repo, name, for_update=True)
        target = await repo.get_version_by_id(version_id)
        if target is None or target.profile_id != profile.id:
            raise NotFound(f"Version {version_id} of {name!r} no longer exists.")
        if profile.live_version_id == target.id:
            return None
        profile.ensure_active()
        release = m.Release(
            id=new_id("rel"),
            profile_id=profile.id,
            version_id=target.id,
            previous_version_id=profile.live_version_id,
            kind=m.ReleaseKind.DEPLOYMENT,
            status=m.ReleaseStatus.PENDING_APPROVAL,
            comment=f"deployment {deployment_id}",
            requested_by=actor.subject,
            requested_at=uow.clock.now(),
            decided_at=None,
            approval_id=None,
        )
        await repo.add_release(release)
        release = await self._apply(uow, actor, profile, release)
        return await self._release_view(repo, profile, release)

    async def revert(
        self, uow: UnitOfWork, actor: Principal, name: str, *, to_version: str, comment: str | None
    ) -> ReleaseView:
        return await self.request_release(
            uow, actor, name, version=to_version, comment=comment, kind=m.ReleaseKind.REVERT
        )

    async def cancel_release(self, uow: UnitOfWork, actor: Principal, name: str, release_id: str) -> ReleaseView:
        repo = ConfigRepository(uow.conn)
        profile = await lookups.require_profile(repo, name)
        release = await repo.get_release(release_id)
        if release is None or release.profile_id != profile.id:
            raise NotFound(f"{name!r} has no release {release_id!r}.")
        # Settle the approval before locking the profile: deciding an approval locks the approval,
        # then the profile; the other order here would deadlock against it on PostgreSQL.
        await self.approvals.cancel_for_subject(uow, actor, RELEASE_SUBJECT, release.id, "release cancelled")
        profile = await lookups.require_profile(repo, name, for_update=True)
        release = await repo.get_release(release_id)
        assert release is not None
        cancelled = m.cancel_release(release, at=uow.clock.now())
        await repo.save_release(cancelled)
        await self.audit.record(
            uow,
            actor,
            "config.release.cancel",
            target_type="config",
            target_id=name,
            summary=f"cancelled release {release_id} of {name!r}",
            after_ref=release_id,
        )
        return await self._release_view(repo, profile, cancelled)

    async def list_releases(self, uow: UnitOfWork, name: str, *, limit: int = 100) -> list[ReleaseView]:
        check_limit(limit)
        repo = ConfigRepository(uow.conn)
        profile = await lookups.require_profile(repo, name)
        releases = await repo.list_releases(profile.id, limit=limit)
        labels = await repo.version_labels(
            {r.version_id for r in releases} | {r.previous_version_id for r in releases if r.previous_version_id}
        )
        return [
            ReleaseView(profile, r, labels[r.version_id], labels.get(r.previous_version_id or "")) for r in releases
        ]

    async def on_approval_decided(self, uow: UnitOfWork, approval: Approval, actor: Principal) -> None:
        repo = ConfigRepository(uow.conn)
        release = await repo.get_release(approval.subject_id)
        if release is None:
            raise NotFound(f"The release behind approval {approval.id} no longer exists.")
        profile = await repo.get_profile_by_id(release.profile_id)
        assert profile is not None
        profile = await lookups.require_profile(repo, profile.name, for_update=True)
        if approval.status is ApprovalStatus.APPROVED:
            profile.ensure_active()
            await self._apply(uow, actor, profile, release)
        else:
            rejected = m.settle_release(release, approved=False, at=uow.clock.now())
            await repo.save_release(rejected)
            verb = release.kind.verb
            await self.audit.record(
                uow,
                actor,
                f"config.{verb}.reject",
                target_type="config",
                target_id=profile.name,
                summary=f"{verb} {release.id} of {profile.name!r} rejected in approval {approval.id}",
                after_ref=release.id,
            )
            env = profile.environment.value
            uow.after_commit(lambda: self.metrics.config_releases.labels(env, "rejected").inc())

    async def _apply(self, uow: UnitOfWork, actor: Principal, profile: m.Profile, release: m.Release) -> m.Release:
        repo = ConfigRepository(uow.conn)
        now = uow.clock.now()
        # The previous version is whatever is live at the moment of applying, not of asking.
        applied = dataclasses.replace(
            m.settle_release(release, approved=True, at=now), previous_version_id=profile.live_version_id
        )
        await repo.save_release(applied)
        await repo.update_profile(
            profile.id, {"live_version_id": release.version_id, "updated_at": now, "updated_by": actor.subject}
        )
        ids = {release.version_id} | ({profile.live_version_id} if profile.live_version_id else set())
        labels = await repo.version_labels(ids)
        verb = release.kind.verb
        await self.audit.record(
            uow,
            actor,
            f"config.{verb}.apply",
            target_type="config",
            target_id=profile.name,
            summary=f"{profile.name!r} is live at {labels[release.version_id]}"
            + (f" (was {labels[profile.live_version_id]})" if profile.live_version_id else ""),
            before_ref=profile.live_version_id,
            after_ref=release.version_id,
        )
        await self.snapshots.mark_changed(uow, [profile.environment])
        env = profile.environment.value
        uow.after_commit(lambda: self.metrics.config_releases.labels(env, "applied").inc())
        return applied

    async def _release_view(self, repo: ConfigRepository, profile: m.Profile, release: m.Release) -> ReleaseView:
        ids = {release.version_id} | ({release.previous_version_id} if release.previous_version_id else set())
        labels = await repo.version_labels(ids)
        previous = labels.get(release.previous_version_id) if release.previous_version_id else None
        return ReleaseView(profile, release, labels[release.version_id], previous)
