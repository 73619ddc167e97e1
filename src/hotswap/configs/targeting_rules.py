"""A config's targeting rules: who gets something other than the live value.

The rules are stored on the profile (they belong to one environment, like the profile) and
change without a new version; each change is audited and moves the environment's snapshot.
"""

from __future__ import annotations

from typing import Any

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.configs import lookups, payloads
from hotswap.configs import model as m
from hotswap.configs.repository import ConfigRepository
from hotswap.core.errors import Conflict, FieldError, InvalidInput
from hotswap.segments.service import SegmentService
from hotswap.segments.signals import SegmentDeleting
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork
from hotswap.targeting.rules import Rule, parse_rules
from hotswap.targeting.snapshot import deep_merge


class TargetingService:
    def __init__(self, audit: AuditLog, snapshots: SnapshotChanges, segments: SegmentService) -> None:
        self.audit = audit
        self.snapshots = snapshots
        self.segments = segments

    async def get_rules(self, uow: UnitOfWork, name: str) -> tuple[m.Profile, list[Rule]]:
        profile = await lookups.require_profile(ConfigRepository(uow.conn), name)
        return profile, parse_rules(profile.targeting or [], "targeting")

    async def set_rules(
        self, uow: UnitOfWork, actor: Principal, name: str, raw: Any, *, expected_revision: int | None = None
    ) -> tuple[m.Profile, list[Rule]]:
        repo = ConfigRepository(uow.conn)
        profile = await lookups.require_profile(repo, name, for_update=True)
        m.check_revision(profile, expected_revision)
        profile.ensure_active()
        parsed = parse_rules(raw, "body.rules")
        for i, rule in enumerate(parsed):  # the same size, depth and character limits as a version's data
            payloads.parse_config_data(rule.value, f"body.rules[{i}].{'value' if rule.replaces else 'override'}")
        await self._check_segments(uow, parsed)
        await self._check_schema(repo, profile, parsed)
        documents = [rule.document() for rule in parsed]
        await repo.update_profile(
            profile.id, {"targeting": documents, "updated_at": uow.clock.now(), "updated_by": actor.subject}
        )
        await self.audit.record(
            uow,
            actor,
            "config.targeting",
            target_type="config",
            target_id=name,
            summary=f"set {len(parsed)} targeting rule(s) on {name!r}",
            before_ref=f"revision:{profile.revision}",
            after_ref=f"revision:{profile.revision + 1}",
            details={"rules": [rule.id for rule in parsed]},
        )
        if profile.live_version_id is not None:
            await self.snapshots.mark_changed(uow, [profile.environment])
        updated = await repo.get_profile(name)
        assert updated is not None
        return updated, parsed

    async def segment_deleting(self, uow: UnitOfWork, signal: SegmentDeleting) -> None:
        """A segment the targeting rules of an active config name stays: 409 naming the configs."""
        users = await ConfigRepository(uow.conn).configs_naming(signal.segment_id)
        if users:
            raise Conflict(
                f"Segment {signal.segment_id!r} is used by the targeting rules of {', '.join(map(repr, users))}; "
                "remove it from those rules first.",
                extra={"configs": users},
            )

    async def _check_segments(self, uow: UnitOfWork, parsed: list[Rule]) -> None:
        named = {rule.segment for rule in parsed if rule.segment is not None}
        if not named:
            return
        # Locked (FOR SHARE on PostgreSQL) until the commit: a concurrent delete of a segment
        # named here waits, then sees the rule naming it and refuses.
        found = await self.segments.lock_existing(uow, named)
        errors = [
            FieldError(f"body.rules[{i}].segment", f"no segment {rule.segment!r}")
            for i, rule in enumerate(parsed)
            if rule.segment is not None and rule.segment not in found
        ]
        if errors:
            raise InvalidInput("A rule names a segment that does not exist.", errors=errors)

    async def _check_schema(self, repo: ConfigRepository, profile: m.Profile, parsed: list[Rule]) -> None:
        """What a rule serves must satisfy the config's schema, as the live version does."""
        chain = await lookups.ancestors(repo, profile)
        schema = m.effective_schema([*[p.json_schema for p in chain], profile.json_schema])
        if schema is None:
            return
        live = await repo.get_version_by_id(profile.live_version_id) if profile.live_version_id else None
        errors: list[FieldError] = []
        for i, rule in enumerate(parsed):
            if rule.replaces:
                errors += payloads.schema_errors(schema, rule.value, f"body.rules[{i}].value")
            elif live is not None:
                errors += payloads.schema_errors(
                    schema, deep_merge(live.effective, rule.value), f"body.rules[{i}].override"
                )
        if errors:
            raise InvalidInput("A rule would serve a document the config's schema refuses.", errors=errors)
