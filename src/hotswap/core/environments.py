"""Environments: Development, Staging and Production. Every slice names one, so this is the one
definition and the one parser (requests, query strings, stored rows and bus messages alike)."""

from __future__ import annotations

from enum import StrEnum

from hotswap.core.errors import FieldError, InvalidInput


class Environment(StrEnum):
    DEVELOPMENT = "Development"
    STAGING = "Staging"
    PRODUCTION = "Production"

    @classmethod
    def parse(cls, value: str) -> Environment:
        """An environment named in any case, with surrounding spaces ignored; ValueError otherwise."""
        exact = _BY_NAME.get(value)
        if exact is not None:
            return exact
        found = _BY_NAME.get(value.strip().lower())
        if found is None:
            raise ValueError(f"must be one of {', '.join(e.value for e in cls)}")
        return found

    @property
    def needs_approval(self) -> bool:
        return self is Environment.PRODUCTION


_EXACT = {e.value: e for e in Environment}
_BY_NAME = _EXACT | {e.value.lower(): e for e in Environment}
DEFAULT = Environment.PRODUCTION  # what a request that names none means


def parse_environment(raw: str | None, field: str) -> Environment:
    """The environment a request names at `field` (`body.environment`, `query.environment`), the
    default when it names none; a 422 naming the field for anything else."""
    if raw is None:
        return DEFAULT
    try:
        return Environment.parse(raw)
    except ValueError as exc:
        raise InvalidInput(f"Unknown environment {raw[:50]!r}.", errors=[FieldError(field, str(exc))]) from exc


def stored_environment(raw: object) -> Environment | None:
    """The environment a stored row or a bus message names, or None for one this version does not know."""
    return _EXACT.get(raw) if isinstance(raw, str) else None
