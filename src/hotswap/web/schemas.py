"""Base for request/response bodies: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class InputModel(CamelModel):
    """Request bodies: unknown fields are refused, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


T = TypeVar("T")


class PageRead(CamelModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
