"""One error hierarchy for domain, services and HTTP; rendered once as RFC 9457 problem+json.

Its root (`HotSwapError`, `InvalidInput`, `FieldError`) is defined in `hotswap.targeting.errors`,
because the targeting engine raises it and ships without this package in the SDK distribution;
it is re-exported here, and the rest of the hierarchy builds on it.
"""

from __future__ import annotations

from typing import Any

from hotswap.targeting.errors import PROBLEM_BASE, FieldError, HotSwapError, InvalidInput

__all__ = [
    "PROBLEM_BASE",
    "BadRequest",
    "Conflict",
    "FieldError",
    "Forbidden",
    "HotSwapError",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
]


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
