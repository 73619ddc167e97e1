"""The fleet: regions and the game servers registered in them. The pure part: no I/O, no framework.

A region has a canonical id (upper case, `NA-WEST`) and aliases (lower case, `us-west`); every
lookup takes the id or an alias in any case. A game server is what an instance of a game tells us
about itself when it registers and then every few seconds: where it runs, what it runs, and what
configuration (snapshot revision, config versions) it has applied. It is healthy while its last
heartbeat is recent; nothing sweeps: health is computed from the clock when asked.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, FieldError, InvalidInput, PreconditionFailed

REGION_ID = re.compile(r"^[A-Za-z0-9-]{1,40}$")  # ids and aliases alike
SERVER_ID = re.compile(r"^[^\s\x00-\x1f\x7f/]{1,200}$")  # the game's own name; one path segment
GAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
LABEL_VALUE = re.compile(r"^[^\x00-\x1f\x7f]{0,200}$")
HEALTH_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")  # as `configs.model.NAME_PATTERN`
CONFIG_VERSION = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
BUILD = CONFIG_VERSION  # printable text, 1 to 100 characters
TIME_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]{0,40}(?:/[A-Za-z0-9_+-]{1,40}){0,2}$")

MAX_ALIASES = 20
MAX_LABELS = 64
MAX_HEALTH = 32
MAX_CONFIG_VERSIONS = 200
MAX_CAPACITY = 1_000_000
MAX_PLAYERS = 1_000_000
MAX_REVISION = 2**63 - 1
MAX_ROLLOUT_ORDER = 1_000_000

# The regions every installation starts with (migration 0005 inserts them), in rollout order.
# Editable and deletable like any other.
DEFAULT_REGIONS: tuple[dict[str, Any], ...] = (
    {
        "id": "NA-WEST",
        "display_name": "North America West",
        "time_zone": "America/Los_Angeles",
        "rollout_order": 1,
        "aliases": ["us-west", "na-west"],
    },
    {
        "id": "NA-EAST",
        "display_name": "North America East",
        "time_zone": "America/New_York",
        "rollout_order": 2,
        "aliases": ["us-east", "na-east"],
    },
    {
        "id": "EU-WEST",
        "display_name": "Europe West",
        "time_zone": "Europe/London",
        "rollout_order": 3,
        "aliases": ["eu-west"],
    },
    {
        "id": "EU-EAST",
        "display_name": "Europe East",
        "time_zone": "Europe/Berlin",
        "rollout_order": 4,
        "aliases": ["eu-east", "eu-central"],
    },
    {
        "id": "APAC",
        "display_name": "Asia Pacific",
        "time_zone": "Asia/Singapore",
        "rollout_order": 5,
        "aliases": ["apac", "ap-southeast", "asia"],
    },
)


@dataclass(frozen=True, slots=True)
class Region:
    id: str  # canonical: upper case
    display_name: str
    time_zone: str  # an IANA name
    rollout_order: int
    aliases: tuple[str, ...]  # lower case
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    revision: int

    @property
    def names(self) -> tuple[str, ...]:
        """Every lower-case name the region answers to: its id, then its aliases."""
        return (self.id.lower(), *(a for a in self.aliases if a != self.id.lower()))


@dataclass(frozen=True, slots=True)
class RegionDraft:
    """A region as a create or a replace gives it (the id apart)."""

    display_name: str
    time_zone: str
    rollout_order: int
    aliases: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class GameServer:
    id: str
    game: str
    region: str  # the canonical region id
    labels: dict[str, str]
    build: str
    capacity: int
    registered_at: datetime
    registered_by: str
    last_heartbeat_at: datetime
    player_count: int
    health: dict[str, float]
    environment: Environment | None  # the environment whose snapshot it applies
    applied_revision: int | None  # the snapshot revision it last applied
    config_versions: dict[str, str]  # config name -> version it runs

    def healthy(self, now: datetime, timeout: timedelta) -> bool:
        """Healthy while the last heartbeat is at most `timeout` old (one from a clock slightly
        ahead of ours counts as fresh)."""
        return now - self.last_heartbeat_at <= timeout


class Unchanged(Enum):
    """A heartbeat field the server did not send: the stored value stays."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a heartbeat reports, already validated; an empty one is a bare liveness ping.
    `environment` and `applied_revision` may be None: the server applies no snapshot (yet)."""

    player_count: int | Unchanged = UNCHANGED
    health: dict[str, float] | Unchanged = UNCHANGED
    environment: Environment | Unchanged | None = UNCHANGED
    applied_revision: int | Unchanged | None = UNCHANGED
    config_versions: dict[str, str] | Unchanged = UNCHANGED

    def changes(self) -> dict[str, Any]:
        """The stored fields it sets, by column name."""
        env = self.environment
        fields = {
            "player_count": self.player_count,
            "health": self.health,
            "environment": env.value if isinstance(env, Environment) else env,
            "applied_revision": self.applied_revision,
            "config_versions": self.config_versions,
        }
        return {name: value for name, value in fields.items() if value is not UNCHANGED}


# -- rules ----------------------------------------------------------------------------------


def canonical_id(raw: str) -> str:
    return raw.upper()


def normalise_aliases(aliases: Iterable[str]) -> tuple[str, ...]:
    """Lower case, without repeats, in the order given."""
    return tuple(dict.fromkeys(a.lower() for a in aliases))


def alias_map(regions: Iterable[Region]) -> dict[str, str]:
    """Every lower-case name (ids and aliases) -> canonical id. Ids win over aliases, and earlier
    regions over later ones, should two ever share a name (the service refuses that)."""
    ordered = list(regions)
    names: dict[str, str] = {}
    for region in ordered:
        names.setdefault(region.id.lower(), region.id)
    for region in ordered:
        for alias in region.aliases:
            names.setdefault(alias, region.id)
    return names


def resolve_region(regions: Iterable[Region], raw: str) -> Region | None:
    """The region whose id or alias is `raw`, in any case; None when there is none."""
    ordered = list(regions)
    wanted = alias_map(ordered).get(raw.lower())
    return next((r for r in ordered if r.id == wanted), None)


def name_taken(
    regions: Iterable[Region], names: Iterable[str], *, ignore: str | None = None
) -> tuple[str, Region] | None:
    """The first of `names` (lower case) that a region other than `ignore` already answers to,
    with that region; None when all are free."""
    wanted = list(names)
    for region in regions:
        if region.id == ignore:
            continue
        taken = set(region.names)
        for name in wanted:
            if name in taken:
                return name, region
    return None


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone, or None. `zoneinfo` also opens files that are not
    zones (`localtime`, `posixrules`, `posix/...`), so those are refused by name first."""
    if not TIME_ZONE.fullmatch(name) or name in ("localtime", "posixrules") or name.startswith(("posix/", "right/")):
        return "must be an IANA time zone name, e.g. Europe/Berlin"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name!r}; use an IANA name, e.g. Europe/Berlin"
    return None


def check_draft(draft: RegionDraft, region_id: str | None = None) -> tuple[str, ...]:
    """The draft's aliases, normalised; a 422 naming each field that is not valid."""
    errors = []
    if region_id is not None and not REGION_ID.fullmatch(region_id):
        errors.append(FieldError("body.id", "1 to 40 letters, digits or '-'"))
    if not 0 < len(draft.display_name) <= 200:
        errors.append(FieldError("body.displayName", "1 to 200 characters"))
    if (problem := time_zone_problem(draft.time_zone)) is not None:
        errors.append(FieldError("body.timeZone", problem))
    if not 0 <= draft.rollout_order <= MAX_ROLLOUT_ORDER:
        errors.append(FieldError("body.rolloutOrder", f"must be 0..{MAX_ROLLOUT_ORDER}"))
    if len(draft.aliases) > MAX_ALIASES:
        errors.append(FieldError("body.aliases", f"at most {MAX_ALIASES} aliases"))
    errors.extend(
        FieldError(f"body.aliases.{i}", "1 to 40 letters, digits or '-'")
        for i, alias in enumerate(draft.aliases)
        if not REGION_ID.fullmatch(alias)
    )
    if errors:
        raise InvalidInput("The region is not valid.", errors=errors)
    return normalise_aliases(draft.aliases)


def check_names_free(regions: Sequence[Region], region_id: str, aliases: Sequence[str], *, ignore: str | None) -> None:
    """A 409 naming the region (other than `ignore`) that already answers to the id or an alias."""
    taken = name_taken(regions, [region_id.lower(), *aliases], ignore=ignore)
    if taken is None:
        return
    name, other = taken
    if other.id == region_id:
        raise Conflict(f"A region {region_id!r} already exists.", extra={"region": other.id})
    raise Conflict(
        f"{name!r} is already a name (id or alias) of region {other.id!r}.", extra={"region": other.id, "name": name}
    )


def check_revision(region: Region, expected: int | None) -> None:
    """Optimistic concurrency: an edit made against an older revision is refused, not merged."""
    if expected is not None and expected != region.revision:
        raise PreconditionFailed(
            f"Region {region.id!r} is at revision {region.revision}, not {expected}; re-read it and retry.",
            extra={"currentRevision": region.revision},
        )
