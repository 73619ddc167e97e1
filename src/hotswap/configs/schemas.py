from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from hotswap.configs.model import NAME_PATTERN, TYPE_PATTERN, ReleaseKind, ReleaseStatus
from hotswap.core.environments import Environment
from hotswap.web.schemas import CamelModel, EnvironmentField, InputModel

ConfigName = Annotated[str, StringConstraints(pattern=NAME_PATTERN.pattern, max_length=200)]
ConfigTypeName = Annotated[str, StringConstraints(pattern=TYPE_PATTERN.pattern, max_length=100)]
# Semantic Versioning 2.0.0 (semver.org's own expression), so clients and fuzzers see the rule;
# the service checks it again with the semver library and names the field when it fails.
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
VersionLabel = Annotated[str, StringConstraints(pattern=SEMVER_PATTERN, max_length=100)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=4000)]
ConfigData = Annotated[
    str | dict[str, Any],
    Field(description="The config payload: a JSON object, or a string holding one (as many tools send it)."),
]


class ConfigCreate(InputModel):
    name: ConfigName
    environment: EnvironmentField
    service_type: ShortText | None = None
    schema_version: ShortText | None = None
    json_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema every version must satisfy.")
    game_id: ShortText | None = None
    config_type: ConfigTypeName | None = None
    parent: ConfigName | None = Field(default=None, description="Name of a config to inherit data from.")
    description: LongText | None = None


class ConfigUpdate(InputModel):
    """Only the fields sent are changed; send null to clear one."""

    service_type: ShortText | None = None
    schema_version: ShortText | None = None
    json_schema: dict[str, Any] | None = None
    game_id: ShortText | None = None
    config_type: ConfigTypeName | None = None
    parent: ConfigName | None = None
    description: LongText | None = None


class ConfigRead(CamelModel):
    id: str
    name: str
    environment: Environment
    service_type: str | None
    schema_version: str | None
    json_schema: dict[str, Any] | None
    game_id: str | None
    config_type: str | None
    parent: str | None
    description: str | None
    live_version: str | None
    archived: bool
    archived_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    revision: int


class VersionCreate(InputModel):
    config_data: ConfigData
    version: VersionLabel
    description: LongText | None = None


class VersionSummary(CamelModel):
    id: str
    config_name: str
    version: str
    checksum: str
    description: str | None
    author: str
    created_at: datetime
    live: bool


class VersionRead(VersionSummary):
    config_data: dict[str, Any]
    effective_data: dict[str, Any] = Field(
        description="The parent's data deep-merged with this version's, fixed when the version was written."
    )
    parent_version_id: str | None = Field(description="The parent version merged in, if the config has a parent.")


class DiffSummary(CamelModel):
    added: int
    removed: int
    changed: int
    changes: list[str]


class DiffRead(CamelModel):
    config_name: str
    from_version: str = Field(serialization_alias="from")
    to_version: str = Field(serialization_alias="to")
    from_checksum: str
    to_checksum: str
    patch: list[dict[str, Any]] = Field(description="RFC 6902 JSON Patch turning `from` into `to` (effective data).")
    summary: DiffSummary


class ReleaseCreate(InputModel):
    version: VersionLabel
    comment: LongText | None = None


class RevertCreate(InputModel):
    to_version: VersionLabel
    comment: LongText | None = None


class ReleaseRead(CamelModel):
    id: str
    config_name: str
    environment: Environment
    version: str
    previous_version: str | None
    kind: ReleaseKind
    status: ReleaseStatus
    approval_id: str | None
    comment: str | None
    requested_by: str
    requested_at: datetime
    decided_at: datetime | None


class GameConfigCreate(InputModel):
    name: ConfigName
    game_id: ShortText
    config_type: ConfigTypeName
    configuration: ConfigData
    version: VersionLabel
    description: LongText | None = None
    environment: EnvironmentField = Field(
        default=Environment.PRODUCTION,
        description="Game configs target live game servers, so they default to Production.",
    )


class GameConfigRead(CamelModel):
    id: str
    name: str
    game_id: str | None
    config_type: str | None
    environment: Environment
    version: str
    version_id: str
    configuration: dict[str, Any]
    checksum: str
    description: str | None
    created_at: datetime
    created_by: str
    live_version: str | None


class TargetingWrite(InputModel):
    rules: list[dict[str, Any]] = Field(
        max_length=100,
        description=(
            "Ordered; the first rule that applies decides. Each rule: `id`; optional `segment` (a segment id), "
            "`condition` (GrowthBook condition over the context's attributes), `rollout` "
            "(`{percentage, hashAttribute=playerId, seed}`), `activeFrom`/`activeUntil`, `enabled`; and exactly "
            "one of `value` (the whole document) or `override` (deep-merged over the live value)."
        ),
    )


class TargetingRead(CamelModel):
    config: str
    environment: str
    revision: int
    rules: list[dict[str, Any]]
