from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictBool

from hotswap.players.model import MAX_PURCHASE
from hotswap.web.schemas import CamelModel, InputModel

Attributes = Annotated[
    dict[str, Any],
    Field(description="What the game knows about the player: country, platform, level... A null means no value."),
]


class PlayerPut(InputModel):
    attributes: Attributes


class PlayerPatch(InputModel):
    """Sent by game servers as players play. Creates the player when it is new."""

    attributes: Attributes | None = Field(
        default=None, description="Merged key by key into the stored attributes; a null removes the key."
    )
    session: StrictBool | None = Field(default=None, description="true: one more session; the player was seen now.")
    purchase: Annotated[float, Field(strict=True, ge=0, le=MAX_PURCHASE, allow_inf_nan=False)] | None = Field(
        default=None, description="An amount spent: added to totalSpend; the player was seen now."
    )


class PlayerProperties(CamelModel):
    first_seen: datetime
    last_seen: datetime
    days_since_install: int
    days_since_last_login: int
    sessions: int
    total_spend: float


class PlayerRead(CamelModel):
    """Everything stored about the player (what an export for the player returns)."""

    player_id: str
    attributes: dict[str, Any]
    properties: PlayerProperties
    created_at: datetime
    updated_at: datetime
