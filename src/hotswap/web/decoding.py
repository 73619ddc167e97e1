"""Hot routes decode their bodies with msgspec (in C, validated against a Struct): where one of
its errors points, as the field a problem+json names."""

from __future__ import annotations

import re

import msgspec

from hotswap.core.errors import FieldError

# msgspec ends a validation message with where it failed: "... - at `$.health[...]`", or
# "... - at `key` in `$.health`" for a bad key.
_AT = re.compile(r" - at `(?:key` in `)?\$([^`]*)`$")
_UNKNOWN = re.compile(r"unknown field `([^`]*)`")
UNKNOWN_FIELD = "unknown field"


def field_error(exc: msgspec.MsgspecError) -> FieldError:
    """The field a decoding error is about (`body.health.cpu`, `body.configVersions`) with msgspec's
    message; `body` itself when the body is not JSON, or not an object."""
    message = str(exc)
    unknown = _UNKNOWN.search(message)
    if unknown:
        return FieldError(f"body.{unknown.group(1)[:100]}", UNKNOWN_FIELD)
    at = _AT.search(message)
    if at:
        path = re.sub(r"\[(\d+)\]", r".\1", at.group(1).replace("[...]", ""))
        return FieldError(f"body{path}", message[: at.start()])
    return FieldError("body", "must be a JSON object" if isinstance(exc, msgspec.DecodeError) else message)
