from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from hotswap.core.environments import Environment
from hotswap.fleet import model as m
from hotswap.web.schemas import CamelModel, InputModel

RegionId = Annotated[str, StringConstraints(pattern=m.REGION_ID.pattern, max_length=40)]
RegionRef = Annotated[
    str, StringConstraints(min_length=1, max_length=100), Field(description="A region's id or alias, in any case.")
]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
TimeZone = Annotated[
    str, StringConstraints(min_length=1, max_length=100), Field(description="An IANA time zone, e.g. Europe/Berlin.")
]
RolloutOrder = Annotated[
    int, Field(ge=0, le=m.MAX_ROLLOUT_ORDER, description="Regions roll out in ascending order (then by id).")
]
Aliases = Annotated[
    list[RegionId],
    Field(
        max_length=m.MAX_ALIASES,
        description="Other names, stored in lower case; unique across regions' ids and aliases.",
    ),
]
ServerId = Annotated[str, StringConstraints(pattern=m.SERVER_ID.pattern, max_length=200)]
Game = Annotated[str, StringConstraints(pattern=m.GAME.pattern, max_length=200)]
Build = Annotated[str, StringConstraints(pattern=m.BUILD.pattern, max_length=100)]
LabelKey = Annotated[str, StringConstraints(pattern=m.LABEL_KEY.pattern, max_length=63)]
LabelValue = Annotated[str, StringConstraints(pattern=m.LABEL_VALUE.pattern, max_length=200)]


class RegionCreate(InputModel):
    id: RegionId = Field(description="1 to 40 letters, digits or '-'; stored in upper case.")
    display_name: DisplayName
    time_zone: TimeZone
    rollout_order: RolloutOrder
    aliases: Aliases = Field(default_factory=list)


class RegionReplace(InputModel):
    """Replaces everything but the id: send the aliases to keep too."""

    display_name: DisplayName
    time_zone: TimeZone
    rollout_order: RolloutOrder
    aliases: Aliases


class RegionRead(CamelModel):
    id: str
    display_name: str
    time_zone: str
    rollout_order: int
    aliases: list[str]
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    revision: int


class ServerRegister(InputModel):
    """What a game server declares when it registers (again after a restart: same id)."""

    id: ServerId = Field(description="The game's name for the instance; case-sensitive, no '/' or whitespace.")
    game: Game
    region: RegionRef
    build: Build
    capacity: int = Field(default=0, ge=0, le=m.MAX_CAPACITY, description="Players it can hold; 0: not stated.")
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=m.MAX_LABELS)


class ServerRead(CamelModel):
    id: str
    game: str
    region: str = Field(description="The region's canonical id.")
    labels: dict[str, str]
    build: str
    capacity: int
    registered_at: datetime
    registered_by: str
    last_heartbeat_at: datetime
    healthy: bool = Field(description="Whether the last heartbeat is within the heartbeat timeout (30 s by default).")
    player_count: int
    health: dict[str, float]
    environment: Environment | None = Field(description="The environment whose snapshot it applies.")
    applied_revision: int | None = Field(description="The snapshot revision it last applied.")
    config_versions: dict[str, str] = Field(description="Config name -> the version it runs.")
