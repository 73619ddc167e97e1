"""One error hierarchy for domain, services and HTTP; rendered once as RFC 9457 problem+json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

PROBLEM_BASE = "urn:hotswap:problem:"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One failing input: `field` is a dotted path (body.configData.weapons), `pointer` a JSON Pointer."""

    field: str
    message: str
    pointer: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"field": self.field, "message": self.message}
        if self.pointer is not None:
            out["pointer"] = self.pointer
        return out


class HotSwapError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class InvalidInput(HotSwapError):
    status = 422
    slug = "validation"
    title = "Invalid input"


class BadRequest(HotSwapError):
    status = 400
    slug = "bad-request"
    title = "Bad request"


class Unauthorized(HotSwapError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"

    def __init__(
        self, detail: str = "A valid bearer token is required.", *, reason: str = "invalid", **kw: Any
    ) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="hotswap"'})
        super().__init__(detail, **kw)
        # Why, in one word an operator can count by (`expired`, `revoked`, `api_key`, `invalid`).
        self.reason = reason


class Forbidden(HotSwapError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(HotSwapError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(HotSwapError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PreconditionFailed(HotSwapError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class PayloadTooLarge(HotSwapError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(HotSwapError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class RateLimited(HotSwapError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class Unavailable(HotSwapError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"
