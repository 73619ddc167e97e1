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
_MALFORMED = re.compile(r"^JSON is malformed: (.*) \(byte (\d+)\)$")
UNKNOWN_FIELD = "unknown field"


def json_position(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of a character index in `text`."""
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def field_error(exc: msgspec.MsgspecError, body: bytes = b"") -> FieldError:
    """The field a decoding error is about (`body.health.cpu`, `body.configVersions`) with msgspec's
    message; `body` itself when the body is not JSON (where it breaks, by line and column, in
    `body`), or not an object."""
    message = str(exc)
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):  # not JSON at all
        malformed = _MALFORMED.match(message)
        reason, end = (malformed.group(1), int(malformed.group(2))) if malformed else ("it ends early", len(body))
        before = body[:end].decode("utf-8", "replace")
        line, column = json_position(before, len(before))
        return FieldError("body", f"not valid JSON: {reason} at line {line}, column {column}", pointer="")
    unknown = _UNKNOWN.search(message)
    if unknown:
        return FieldError(f"body.{unknown.group(1)[:100]}", UNKNOWN_FIELD)
    at = _AT.search(message)
    if at:
        path = re.sub(r"\[(\d+)\]", r".\1", at.group(1).replace("[...]", ""))
        return FieldError(f"body{path}", message[: at.start()])
    return FieldError("body", message)
