"""Versioned configuration: the pure rules. No I/O, no framework.

A profile is a named, typed document; its versions are immutable payloads identified by a
semantic version; a release makes one version the live one. A profile may inherit from a
parent: its effective data is the parent's effective data deep-merged with its own.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import jsonpatch
import orjson

from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, PreconditionFailed
from hotswap.core.jsonutil import JSONObject

KIND = "config"  # what deployments call a config they roll out (`configs.rollouts`)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
TYPE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")
MAX_INHERITANCE_DEPTH = 8

KNOWN_CONFIG_TYPES = (
    "GameBalance",
    "Economy",
    "Matchmaking",
    "LiveEvent",
    "Performance",
    "AntiCheat",
    "FeatureFlag",
    "Microservice",
)


class ReleaseStatus(StrEnum):
    PENDING_APPROVAL = "PendingApproval"
    APPLIED = "Applied"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"


class ReleaseKind(StrEnum):
    RELEASE = "Release"
    REVERT = "Revert"
    DEPLOYMENT = "Deployment"  # a deployment reached everyone: its version becomes the live one

    @property
    def verb(self) -> str:
        """How audit actions and summaries name it: `config.release.apply`, `config.revert.reject`."""
        return self.value.lower()


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    name: str
    environment: Environment
    service_type: str | None
    schema_version: str | None
    json_schema: JSONObject | None
    game_id: str | None
    config_type: str | None
    parent_id: str | None
    description: str | None
    live_version_id: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    archived_at: datetime | None
    revision: int
    targeting: list[Any] | None = None  # the targeting rules (delivery.rules), validated on write

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def ensure_active(self) -> None:
        if self.archived:
            raise Conflict(f"Config {self.name!r} is archived.")


@dataclass(frozen=True, slots=True)
class Version:
    id: str
    profile_id: str
    version: str
    seq: int
    data: JSONObject
    effective: JSONObject  # the parent's effective data merged with `data`, fixed at write time
    parent_version_id: str | None
    checksum: str
    description: str | None
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Release:
    id: str
    profile_id: str
    version_id: str
    previous_version_id: str | None
    kind: ReleaseKind
    status: ReleaseStatus
    comment: str | None
    requested_by: str
    requested_at: datetime
    decided_at: datetime | None
    approval_id: str | None


# -- inheritance --------------------------------------------------------------------------


def deep_merge(base: JSONObject, override: JSONObject) -> JSONObject:
    """Objects merge key by key; any other value in `override` replaces the one in `base`."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def effective_data(chain: Sequence[JSONObject]) -> JSONObject:
    """Merge a chain of payloads ordered root ancestor first, the profile's own last."""
    result: JSONObject = {}
    for data in chain:
        result = deep_merge(result, data)
    return result


def effective_schema(chain: Sequence[JSONObject | None]) -> JSONObject | None:
    """The nearest schema along the chain (ordered root first): a child may tighten its parent's."""
    for schema in reversed(chain):
        if schema is not None:
            return schema
    return None


def check_revision(profile: Profile, expected: int | None) -> None:
    """Optimistic concurrency: an edit made against an older revision is refused, not merged."""
    if expected is not None and expected != profile.revision:
        raise PreconditionFailed(
            f"{profile.name!r} is at revision {profile.revision}, not {expected}; re-read it and retry.",
            extra={"currentRevision": profile.revision},
        )


def check_parent_chain(profile_id: str | None, ancestor_ids: Iterable[str]) -> None:
    """Refuse a parent that would make a cycle or a chain deeper than the limit."""
    ancestors = list(ancestor_ids)
    if profile_id is not None and profile_id in ancestors:
        raise Conflict("A config cannot inherit from itself or from one of its descendants.")
    if len(ancestors) >= MAX_INHERITANCE_DEPTH:
        raise Conflict(f"Inheritance is limited to {MAX_INHERITANCE_DEPTH} levels.")


# -- diff ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Diff:
    patch: list[dict[str, Any]]
    summary: list[str]
    added: int
    removed: int
    changed: int


def _resolve(doc: Any, pointer: str) -> Any:
    try:
        return jsonpatch.JsonPointer(pointer).resolve(doc)
    except (jsonpatch.JsonPointerException, KeyError, IndexError, TypeError):
        return None


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."


def _dotted(pointer: str) -> str:
    parts = jsonpatch.JsonPointer(pointer).parts
    return ".".join(str(p) for p in parts) or "(root)"


def diff(old: JSONObject, new: JSONObject) -> Diff:
    """An RFC 6902 JSON Patch from `old` to `new`, and one readable line per operation."""
    patch = jsonpatch.make_patch(old, new).patch
    summary: list[str] = []
    added = removed = changed = 0
    # Each operation's path refers to the document as the earlier operations left it (RFC 6902),
    # so the value it removes or replaces is looked up there: after `remove /a/0`, `/a/2` is old[a][3].
    current: Any = copy.deepcopy(old)
    for op in patch:
        kind, path = op["op"], op["path"]
        if kind == "add":
            added += 1
            summary.append(f"added {_dotted(path)} = {_show(op['value'])}")
        elif kind == "remove":
            removed += 1
            summary.append(f"removed {_dotted(path)} (was {_show(_resolve(current, path))})")
        elif kind == "replace":
            changed += 1
            summary.append(f"changed {_dotted(path)}: {_show(_resolve(current, path))} -> {_show(op['value'])}")
        elif kind == "move":
            changed += 1
            summary.append(f"moved {_dotted(op['from'])} to {_dotted(path)}")
        elif kind == "copy":
            added += 1
            summary.append(f"copied {_dotted(op['from'])} to {_dotted(path)}")
        # A copy of the operation, so applying it never aliases the patch's values into `current`.
        current = jsonpatch.apply_patch(current, [copy.deepcopy(op)], in_place=True)
    return Diff(patch=patch, summary=summary, added=added, removed=removed, changed=changed)


# -- releases -----------------------------------------------------------------------------


def check_releasable(profile: Profile, version: Version, pending: Release | None) -> None:
    profile.ensure_active()
    if profile.live_version_id == version.id:
        raise Conflict(f"Version {version.version} is already live for {profile.name!r}.")
    if pending is not None:
        raise Conflict(
            f"Release {pending.id} of {profile.name!r} is still waiting for approval; "
            "approve, reject or cancel it first.",
            extra={"pendingReleaseId": pending.id, "approvalId": pending.approval_id},
        )


def check_revert_target(profile: Profile, target: Version, live: Version | None) -> None:
    if live is None:
        raise Conflict(f"{profile.name!r} has no live version to revert from.")
    if target.seq >= live.seq:
        raise Conflict(
            f"Revert goes to an earlier version: {target.version} is not older than the live {live.version}."
        )


def settle_release(release: Release, *, approved: bool, at: datetime) -> Release:
    if release.status is not ReleaseStatus.PENDING_APPROVAL:
        raise Conflict(f"Release {release.id} is already {release.status.value}.")
    status = ReleaseStatus.APPLIED if approved else ReleaseStatus.REJECTED
    return _replace_release(release, status=status, decided_at=at)


def cancel_release(release: Release, *, at: datetime) -> Release:
    if release.status is not ReleaseStatus.PENDING_APPROVAL:
        raise Conflict(f"Release {release.id} is already {release.status.value}; only a pending one can be cancelled.")
    return _replace_release(release, status=ReleaseStatus.CANCELLED, decided_at=at)


def _replace_release(release: Release, **changes: Any) -> Release:
    return dataclasses.replace(release, **changes)


def rules_name_segment(targeting: Any, segment_id: str) -> bool:
    """Whether a config's targeting rules (a JSON list of rule objects) refer to the segment."""
    if not isinstance(targeting, list):
        return False
    return any(isinstance(rule, Mapping) and rule.get("segment") == segment_id for rule in targeting)
