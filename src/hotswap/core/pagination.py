"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson

from hotswap.core.errors import FieldError, InvalidInput

MAX_LIMIT = 500


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def invalid_cursor() -> InvalidInput:
    return InvalidInput(
        "The cursor is not one this server issued.", errors=[FieldError("query.cursor", "malformed cursor")]
    )


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit out of range", errors=[FieldError("query.limit", f"must be 1..{MAX_LIMIT}")])


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(value, dict):
        raise invalid_cursor()
    return value


def cursor_int(cursor: str, key: str) -> int:
    """A positive BIGINT position, as issued. A bool is an int to Python, and an id past 2**63
    would overflow the database driver: both are refused as malformed."""
    value = decode_cursor(cursor).get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        raise invalid_cursor()
    return value


def cursor_str(cursor: str, key: str) -> str:
    """A text position, as issued. NUL is refused: PostgreSQL text cannot hold it."""
    value = decode_cursor(cursor).get(key)
    if not isinstance(value, str) or "\x00" in value or len(value) > 1000:
        raise invalid_cursor()
    return value


def cursor_instant(cursor: str, key: str) -> datetime:
    """An instant position (ISO 8601 with its offset), as issued, in UTC. One at the edge of the
    calendar whose offset would carry it past year 1 or 9999 is refused, not an overflow."""
    try:
        value = datetime.fromisoformat(cursor_str(cursor, key))
        if value.tzinfo is None:
            raise invalid_cursor()
        return value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise invalid_cursor() from exc
