"""Roles, permissions and the authenticated principal. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    APPROVER = "approver"
    VIEWER = "viewer"
    SERVER = "server"


class Permission(StrEnum):
    CONFIG_READ = "config:read"
    CONFIG_WRITE = "config:write"
    RELEASE_REQUEST = "release:request"
    APPROVAL_READ = "approval:read"
    APPROVAL_DECIDE = "approval:decide"
    AUDIT_READ = "audit:read"
    METRICS_READ = "metrics:read"
    TOKEN_ADMIN = "token:admin"
    SNAPSHOT_READ = "snapshot:read"  # the compiled snapshot, and evaluating contexts against it
    PLAYER_WRITE = "player:write"  # record a player's attributes and activity
    PLAYER_READ = "player:read"  # export a player's stored data; preview segments over stored players
    PLAYER_DELETE = "player:delete"  # erase a player's data
    FLEET_READ = "fleet:read"  # regions, registered game servers, deployments
    FLEET_REPORT = "fleet:report"  # a game server registers itself and heartbeats
    REGION_WRITE = "region:write"  # create and edit regions
    DEPLOYMENT_WRITE = "deployment:write"  # start, pause, resume, promote, roll back, cancel
    WEBHOOK_ADMIN = "webhook:admin"  # subscribe URLs to deployment events, read their delivery log
    EVENT_WRITE = "event:write"  # create, edit, schedule and move live events and their templates
    EVENT_ADMIN = "event:admin"  # override the scheduling rules; read and replay dead letters
    CACHE_ADMIN = "cache:admin"  # rebuild the snapshots and refill the player cache in every replica


_READ = {
    Permission.CONFIG_READ,
    Permission.APPROVAL_READ,
    Permission.AUDIT_READ,
    Permission.METRICS_READ,
    Permission.SNAPSHOT_READ,
    Permission.FLEET_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(
        _READ
        | {
            Permission.CONFIG_WRITE,
            Permission.RELEASE_REQUEST,
            Permission.PLAYER_READ,
            Permission.PLAYER_WRITE,
            Permission.FLEET_REPORT,
            Permission.REGION_WRITE,
            Permission.DEPLOYMENT_WRITE,
            Permission.EVENT_WRITE,
        }
    ),
    Role.APPROVER: frozenset(_READ | {Permission.APPROVAL_DECIDE}),
    Role.VIEWER: frozenset(_READ),
    # Game servers read what they are served and report their players; no admin reads, no exports.
    Role.SERVER: frozenset({Permission.SNAPSHOT_READ, Permission.PLAYER_WRITE, Permission.FLEET_REPORT}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role
    token_id: str

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


SYSTEM = Principal(subject="system", role=Role.ADMIN, token_id="-")
