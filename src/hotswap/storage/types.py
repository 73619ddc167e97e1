"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from hotswap.core.jsonutil import as_stored


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out (SQLite would hand back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use the clock")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _JSONValue(sa.TypeDecorator[Any]):
    """JSON on SQLite, jsonb on PostgreSQL; read back as it was written (see `as_stored`: jsonb
    turns 1e20 into an integer that no 64-bit JSON encoder takes)."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(sa.JSON())

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return as_stored(value) if dialect.name == "postgresql" else value


def JSONType() -> sa.types.TypeEngine[Any]:  # noqa: N802 - reads like a type in table definitions
    return _JSONValue()


BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
