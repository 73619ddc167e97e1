"""What every request must be before any route sees it: a path whose ids decode to real text,
and a JSON body HotSwap can store and answer about (see `core.jsonutil.strict_loads`).

Checked once at the edge, for the lean routes and the FastAPI ones alike, so that no route can
forget it and no value a store cannot hold reaches one: a bad value is a 422 naming where it
is, not a 500 after a half-done write or a 503 that sends clients into retries.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

import anyio
from starlette.types import Scope

from hotswap.core.errors import FieldError, InvalidInput, UnsupportedMediaType
from hotswap.core.jsonutil import UnfitJSON, strict_loads

# Bodies beyond this are parsed on a worker thread: parsing and checking 1 MB takes tens of
# milliseconds, which every other request would otherwise wait for.
OFF_LOOP_BYTES = 64 * 1024


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def is_json_type(content_type: bytes | None) -> bool:
    """`application/json` or `application/<anything>+json`, parameters aside."""
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def require_json_type(scope: Scope) -> None:
    """A body sent to a lean route must say it is JSON, as the other routes require."""
    sent = header(scope, b"content-type")
    if not is_json_type(sent):
        shown = repr(sent.decode("latin-1")) if sent else None
        raise UnsupportedMediaType(
            "The body must be JSON sent with `Content-Type: application/json`; "
            + (f"this request's Content-Type is {shown}." if shown else "this request has no Content-Type."),
            errors=[FieldError("header.content-type", "must be application/json")],
        )


def unfit_body(error: UnfitJSON) -> InvalidInput:
    if error.line is not None:
        where = f"{error.reason} at line {error.line}, column {error.column}"
        return InvalidInput(
            f"The body is {where}." if error.reason.startswith("not ") else f"The body is not valid: {where}.",
            errors=[FieldError("body", where, pointer="")],
            extra={"line": error.line, "column": error.column},
        )
    parts = [part.replace("~1", "/").replace("~0", "~") for part in error.pointer.split("/")[1:]]
    field = "body" if error.reason.startswith("nested") else ".".join(["body", *parts])
    return InvalidInput(f"{field}: {error.reason}.", errors=[FieldError(field, error.reason, pointer=error.pointer)])


async def check_body(body: bytes) -> Any:
    """The parsed body, or the 422 that says what is wrong with it and where."""
    try:
        if len(body) > OFF_LOOP_BYTES:
            return await anyio.to_thread.run_sync(strict_loads, body)
        return strict_loads(body)
    except UnfitJSON as error:
        raise unfit_body(error) from None


def check_path(scope: Scope, field: str = "path") -> None:
    """Each segment of the path, as sent, must decode to UTF-8 text (a server would otherwise
    turn `%ff` into U+FFFD, and two different raw ids would reach one record), hold no NUL, and
    not be `.` or `..` (which name no record and mean something else to every proxy and file
    system between the caller and us)."""
    raw: bytes = scope.get("raw_path") or scope.get("path", "").encode()
    raw = raw.split(b"?", 1)[0]
    if b"%" not in raw and b"/." not in raw and b"\x00" not in raw:
        return  # nothing encoded, no dot segment: the common case, a single scan on the hot path
    for segment in raw.split(b"/"):
        if b"%" not in segment and segment not in (b".", b".."):
            if b"\x00" in segment:
                raise _bad_path(field, "contains a NUL character")
            continue
        decoded = unquote_to_bytes(segment)
        if decoded in (b".", b".."):
            raise _bad_path(field, f"has the segment {decoded.decode()!r}, which names no record")
        if b"\x00" in decoded:
            raise _bad_path(field, "contains a NUL character")
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_path(field, "has a percent-encoded segment that is not UTF-8 text") from None


def _bad_path(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"The path {reason}.", errors=[FieldError(field, f"the path {reason}")])
