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


_READ = {Permission.CONFIG_READ, Permission.APPROVAL_READ, Permission.AUDIT_READ, Permission.METRICS_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(_READ | {Permission.CONFIG_WRITE, Permission.RELEASE_REQUEST}),
    Role.APPROVER: frozenset(_READ | {Permission.APPROVAL_DECIDE}),
    Role.VIEWER: frozenset(_READ),
    # Game servers read what they are served (snapshot, evaluate); later slices add those.
    Role.SERVER: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role
    token_id: str

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


SYSTEM = Principal(subject="system", role=Role.ADMIN, token_id="-")
