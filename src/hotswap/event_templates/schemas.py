"""Request and response bodies of the event-template routes (a template, its objectives,
milestones and reward data). Each item's own shape is checked here; the rules across
items (unique ids, rising thresholds) are `model.check_content`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from hotswap.event_templates.model import (
    EVENT_TYPE,
    KNOWN_EVENT_TYPES,
    KNOWN_RARITIES,
    TEMPLATE_ID,
    EventClass,
    TemplateDraft,
)
from hotswap.web.schemas import CamelModel, InputModel

INT32 = 2**31 - 1
TemplateId = Annotated[str, StringConstraints(pattern=TEMPLATE_ID.pattern, max_length=100)]
EventType = Annotated[
    str,
    StringConstraints(pattern=EVENT_TYPE.pattern),
    Field(
        description="A word (letters and digits, up to 50). Known: " + ", ".join(KNOWN_EVENT_TYPES) + "; "
        "any other is accepted as a game's own type.",
        examples=["Seasonal", "SeasonalPromotion"],
    ),
]
ItemId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=4000)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Rarity = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9]{0,29}$"),
    Field(description="A tier name; the usual ones: " + ", ".join(KNOWN_RARITIES) + "."),
]
JSONObject = dict[str, Any]


class _Input(InputModel):
    @field_validator("*", mode="after")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        # JSON parsers let a lone surrogate ("\ud800") through; no store or encoder takes it.
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError("must be valid Unicode (no lone surrogates)") from exc
        return value


class Objective(_Input):
    objective_id: ItemId
    description: Text | None = None
    objective_type: Literal["Collect", "Complete", "Defeat", "Reach", "Participate"] = Field(alias="type")
    target_value: float = Field(gt=0, allow_inf_nan=False, description="How much of the tracked action completes it.")
    tracking_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The game action tracked, e.g. `enemies.defeated`."
    )
    is_optional: bool = False


class Reward(_Input):
    reward_id: ItemId
    reward_type: Literal["Currency", "Item", "Character", "Cosmetic", "Booster"] = Field(alias="type")
    item_id: ItemId | None = Field(default=None, description="What is granted: an item, a currency code, ...")
    quantity: int = Field(default=1, ge=1, le=INT32)
    rarity: Rarity | None = None
    is_exclusive: bool = Field(default=False, description="Only available in this event.")


class Milestone(_Input):
    index: int = Field(ge=0, le=10_000, description="Unique; thresholds rise with it.")
    progress_threshold: float = Field(
        gt=0, le=1, allow_inf_nan=False, description="The share of the objectives reached, in (0, 1]: 0.25, 0.5, ..."
    )
    rewards: list[Reward] = Field(default_factory=list, max_length=50)
    celebration_animation: Annotated[str, StringConstraints(max_length=200)] | None = None
    unlock_message: Text | None = None


class TemplateFields(_Input):
    """Every field a template's editors set. A PUT replaces them all: what is not sent takes its default."""

    event_type: EventType = Field(alias="type")
    name: Name
    description: Description | None = None
    event_class: EventClass = Field(
        default=EventClass.STANDARD, description="major, standard, mini or daily: how the scheduling rules count it."
    )
    objectives: list[Objective] = Field(default_factory=list, max_length=100)
    milestones: list[Milestone] = Field(default_factory=list, max_length=100)
    progression_mechanics: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None
    theme: JSONObject | None = None
    ui_layout: JSONObject | None = None
    requires_leaderboard: bool = False
    requires_clan: bool = False
    minimum_player_level: int = Field(default=1, ge=1, le=INT32)
    configuration: JSONObject = Field(
        default_factory=dict, description="The configuration an event made from the template starts from."
    )
    duration_seconds: int | None = Field(
        default=None, gt=0, le=INT32, description="The default length of an event made from the template."
    )

    def draft(self) -> TemplateDraft:
        return TemplateDraft(
            event_type=self.event_type,
            name=self.name,
            description=self.description,
            event_class=self.event_class,
            objectives=[o.model_dump(mode="json", by_alias=True) for o in self.objectives],
            milestones=[m.model_dump(mode="json", by_alias=True) for m in self.milestones],
            progression=self.progression_mechanics,
            theme=self.theme,
            layout=self.ui_layout,
            requires_leaderboard=self.requires_leaderboard,
            requires_clan=self.requires_clan,
            minimum_player_level=self.minimum_player_level,
            configuration=self.configuration,
            duration_seconds=self.duration_seconds,
        )


class TemplateCreate(TemplateFields):
    template_id: TemplateId = Field(description="A slug: lower-case letters, digits, '.', '_' or '-'.")


class TemplateReplace(TemplateFields):
    pass


class TemplateRead(CamelModel):
    template_id: str
    event_type: str = Field(alias="type")
    name: str
    description: str | None
    event_class: EventClass
    objectives: list[JSONObject] = Field(description="As written: objectiveId, description, type, targetValue, ...")
    milestones: list[JSONObject] = Field(description="In index order: index, progressThreshold, rewards, ...")
    progression_mechanics: str | None
    theme: JSONObject | None
    ui_layout: JSONObject | None
    requires_leaderboard: bool
    requires_clan: bool
    minimum_player_level: int
    configuration: JSONObject
    duration_seconds: int | None
    usage_count: int = Field(description="How many events were made from the template.")
    last_used_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    revision: int
