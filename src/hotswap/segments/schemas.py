from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from hotswap.segments.model import SEGMENT_ID
from hotswap.web.schemas import CamelModel, InputModel

SegmentId = Annotated[str, StringConstraints(pattern=SEGMENT_ID.pattern, max_length=100)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=4000)]
Condition = Annotated[
    dict[str, Any],
    Field(
        description="A condition in GrowthBook's language over player attributes and the maintained "
        'properties, e.g. {"totalSpend": {"$gte": 100}, "country": {"$in": ["DE", "FR"]}}.'
    ),
]
MAX_CONTEXTS = 1000
MAX_PLAYERS = 10_000


class SegmentCreate(InputModel):
    id: SegmentId = Field(description="A slug: lower-case letters, digits, '.', '_' or '-'. Rules refer to it.")
    name: Name
    description: Description | None = None
    condition: Condition


class SegmentReplace(InputModel):
    """Replaces name, description and condition; a description not sent is cleared."""

    name: Name
    description: Description | None = None
    condition: Condition


class SegmentRead(CamelModel):
    id: str
    name: str
    description: str | None
    condition: dict[str, Any]
    builtin: bool = Field(description="Installed with the service; editable and deletable like any other.")
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    revision: int


class PlayerSample(InputModel):
    limit: int = Field(default=1000, ge=1, le=MAX_PLAYERS, description="How many stored players, in id order.")


class PreviewCreate(InputModel):
    """Exactly one source: `contexts` (attribute maps, evaluated as given) or `players` (stored
    players, with their maintained properties as they are at `at`, default now)."""

    contexts: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_CONTEXTS)
    players: PlayerSample | None = None
    at: AwareDatetime | None = Field(default=None, description="With `players`: the instant to evaluate at.")

    @model_validator(mode="after")
    def _one_source(self) -> PreviewCreate:
        if (self.contexts is None) == (self.players is None):
            raise ValueError("send exactly one of `contexts` or `players`")
        if self.at is not None and self.players is None:
            raise ValueError("`at` applies to `players` only: contexts are evaluated as given")
        return self


class DraftPreviewCreate(PreviewCreate):
    condition: Condition


class ContextResult(CamelModel):
    index: int
    matches: bool


class ContextPreviewRead(CamelModel):
    segment: str | None = Field(description="The segment previewed; null for a draft condition.")
    total: int
    matched: int
    results: list[ContextResult]


class PlayerPreviewRead(CamelModel):
    segment: str | None = Field(description="The segment previewed; null for a draft condition.")
    at: datetime
    total: int = Field(description="Stored players evaluated.")
    matched: int
    player_ids: list[str] = Field(description="The first 100 matching players, in id order.")
