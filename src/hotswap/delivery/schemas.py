"""Request and response bodies of the delivery slice's FastAPI routes (the hot routes have none:
they are described in `openapi.py`)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from hotswap.delivery.warming import DEFAULT_WINDOW, Warmed, WarmRequest
from hotswap.web.schemas import CamelModel, InputModel


def _duration(value: Any) -> Any:
    """An ISO 8601 duration or a finite number of seconds, nothing else: pydantic's lax parsing
    would read `true` as one second and "60" or "1 day, 2:00:00" as durations."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and value.lstrip("+-").startswith("P"):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    raise PydanticCustomError("duration", "must be an ISO 8601 duration such as PT24H, or a number of seconds")


# A duration in a request body (the timedelta it parses to may still overflow: pydantic names that).
Duration = Annotated[timedelta, BeforeValidator(_duration)]


class CacheWarm(InputModel):
    window: Duration = Field(
        default=DEFAULT_WINDOW,
        description="Refill the profiles of the players seen within this long (an ISO 8601 duration such as "
        "PT24H, or a number of seconds; more than 0, at most P30D).",
    )
    limit: Annotated[int, Field(strict=True)] | None = Field(
        default=None,
        description="At most this many profiles, the most recently seen first (default: what the cache holds).",
    )

    def command(self) -> WarmRequest:
        return WarmRequest(window=self.window, limit=self.limit)


class RebuiltRead(CamelModel):
    environment: str
    revision: int
    compiled_in_ms: float


class SnapshotsWarmed(CamelModel):
    environments: list[RebuiltRead]
    compiled_in_ms: float = Field(description="Loading and compiling every environment's snapshot.")


class ProfilesWarmed(CamelModel):
    warmed: int = Field(description="Player profiles put in this process's cache.")
    window: timedelta
    window_seconds: float
    since: datetime
    limit: int
    expires_in_seconds: float = Field(
        description="The warmed profiles stay cached this long, as any cached profile does (a write to a player "
        "drops its profile in every process at once): the warm-up spares the store the burst of reads when "
        "players come back all at once, and the cache then refills as they play."
    )


class WarmRead(CamelModel):
    snapshot: SnapshotsWarmed = Field(
        description="Every environment's snapshot, rebuilt here from the store under a new revision, past the one "
        "stored and the one held (so every replica and stream client moves to it, even after a restore)."
    )
    player_profiles: ProfilesWarmed
    replicas_notified: int | None = Field(
        description="How many API processes the change bus reached (this one included): each rebuilds its own "
        "snapshots and refills its own cache. null when the bus cannot tell (PostgreSQL LISTEN/NOTIFY)."
    )

    @classmethod
    def of(cls, warmed: Warmed, notified: int | None) -> WarmRead:
        return cls(
            snapshot=SnapshotsWarmed(
                environments=[
                    RebuiltRead(environment=r.environment.value, revision=r.revision, compiled_in_ms=_ms(r.seconds))
                    for r in warmed.snapshots
                ],
                compiled_in_ms=_ms(warmed.seconds),
            ),
            player_profiles=ProfilesWarmed(
                warmed=warmed.players,
                window=warmed.window,
                window_seconds=warmed.window.total_seconds(),
                since=warmed.since,
                limit=warmed.limit,
                expires_in_seconds=warmed.expires_in,
            ),
            replicas_notified=notified,
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
