"""Roles, permissions and the authenticated principal. Pure: no I/O."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from hotswap.core.errors import FieldError, InvalidInput


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


# -- subjects: who a token is for --------------------------------------------------------

# The columns that hold a subject (tokens.subject, created_by, requested_by...) are this long.
SUBJECT_MAX_LENGTH = 200

# Characters a subject may not hold: control, format (zero-width and direction marks), surrogate,
# private-use and unassigned code points, and line and paragraph separators. Invisible ones would
# let two subjects that print alike be two people to the four-eyes rule.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def canonical_subject(subject: str) -> str:
    """The one spelling of a subject: Unicode NFKC, case folded (NFKC again, as case folding can
    undo it), runs of white space made one space, trimmed. "Alice", "alice" and a fullwidth "ALICE"
    are one person: subjects are stored in this form when a token or an API key is issued, and two
    subjects are compared in it (`same_subject`), so rows written before subjects were stored this
    way compare alike too. Never raises: it also reads stored subjects, whatever they hold."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", subject).casefold())
    return " ".join(folded.split())


def same_subject(a: str, b: str) -> bool:
    """Whether two subjects name the same person (the four-eyes rule compares with this)."""
    return a == b or canonical_subject(a) == canonical_subject(b)


def checked_subject(subject: str, field: str) -> str:
    """`subject` in its canonical form, to be stored; 422 naming `field` when it is empty, holds a
    control or invisible character, or is longer than the columns once normalized."""
    for char in subject:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise InvalidInput(
                f"A subject may not contain control or invisible characters (it holds U+{ord(char):04X}).",
                errors=[FieldError(field, f"must not contain U+{ord(char):04X}")],
            )
    canonical = canonical_subject(subject)
    if not canonical:
        raise InvalidInput("A subject must not be empty.", errors=[FieldError(field, "must not be empty")])
    if len(canonical) > SUBJECT_MAX_LENGTH:
        raise InvalidInput(
            f"A subject may be at most {SUBJECT_MAX_LENGTH} characters once normalized; this one is {len(canonical)}.",
            errors=[FieldError(field, f"must be at most {SUBJECT_MAX_LENGTH} characters once normalized")],
        )
    return canonical
