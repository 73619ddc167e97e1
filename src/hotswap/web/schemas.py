"""Base for request/response bodies: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator
from pydantic.alias_generators import to_camel

from hotswap.core.environments import Environment


def _environment(value: Any) -> Any:
    return Environment.parse(value) if isinstance(value, str) else value


# A request field naming an environment, in any case (`Environment.parse`).
EnvironmentField = Annotated[Environment, BeforeValidator(_environment)]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class InputModel(CamelModel):
    """Request bodies: unknown fields are refused, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it here, where the error can name the field.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


T = TypeVar("T")


class PageRead(CamelModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
