"""RFC 9457 problem details: every error leaves the API as application/problem+json."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from hotswap.core.errors import (
    PROBLEM_BASE,
    Conflict,
    FieldError,
    HotSwapError,
    InvalidInput,
    Unavailable,
    UnsupportedMediaType,
)
from hotswap.core.jsonutil import UnfitJSON
from hotswap.observability.logging import request_id_var
from hotswap.web.decoding import json_position

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("hotswap.errors")

_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "rate-limited",
}


def problem_body(
    status: int,
    title: str,
    detail: str,
    *,
    type_uri: str,
    instance: str | None,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_uri, "title": title, "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    if extra:
        # Extension members never replace the standard ones (`status` stays the HTTP status).
        for key, value in extra.items():
            body.setdefault(key, value)
    request_id = request_id_var.get()
    if request_id:
        body["requestId"] = request_id
    return body


def dumps(body: Any) -> bytes:
    """A problem document's bytes. It echoes what the client sent (a field name, a value), which
    may hold what orjson refuses to write (a lone surrogate, an integer beyond 64 bits): such
    parts are written escaped instead, so that an error never fails on its own content."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError
        return orjson.dumps(_printable(body))


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(str(key)): _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else f"an integer of {value.bit_length()} bits"
    return _printable(str(value))


def problem_response(error: HotSwapError, instance: str | None) -> Response:
    body = problem_body(
        error.status,
        error.title,
        error.detail,
        type_uri=error.type_uri,
        instance=instance,
        errors=error.errors,
        extra=error.extra,
    )
    return Response(dumps(body), status_code=error.status, headers=error.headers, media_type=PROBLEM_MEDIA_TYPE)


# SQLSTATE classes (PostgreSQL appendix A): what a failed statement says about whose fault it was.
_CLIENT_DATA = ("22", "54")  # data exception; program limit exceeded (a value too large to index)
_CONFLICT = ("23", "40")  # integrity constraint violation; transaction rollback (serialization, deadlock)
# connection; resources; operator intervention; system; a read-only standby after a failover;
# a lock not granted in time
_UNAVAILABLE = ("08", "53", "57", "58", "HV", "25006", "55P03")
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open", "disk i/o", "database or disk is full", "readonly")


def database_problem(exc: DBAPIError) -> HotSwapError | None:
    """The answer a database error deserves, by its class, or None for a fault of our own (a
    500). Only a store that cannot be reached or cannot take work now is a 503: a value it
    refused is the request's fault (422), a lost race a 409, and neither is worth a retry."""
    orig = exc.orig
    state = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    if exc.connection_invalidated or isinstance(orig, OSError | TimeoutError) or state.startswith(_UNAVAILABLE):
        return Unavailable("The database is not reachable right now.", headers={"Retry-After": "5"})
    if state.startswith(_CLIENT_DATA) or (not state and isinstance(exc, DataError)):
        return InvalidInput("A value in the request cannot be stored: " + _first_line(orig) + ".")
    if state.startswith(_CONFLICT) or isinstance(exc, IntegrityError):
        return Conflict("The change conflicts with the current state; retry.")
    if isinstance(exc, InterfaceError | OperationalError) and not state:
        message = str(orig).lower()
        if not isinstance(exc, OperationalError) or any(sign in message for sign in _SQLITE_UNAVAILABLE):
            return Unavailable("The database is not reachable right now.", headers={"Retry-After": "5"})
    return None


def _first_line(orig: BaseException | None) -> str:
    text = str(orig).split("\n", 1)[0].strip().rstrip(".")
    # The driver's message, without the `[SQL: ...]` SQLAlchemy appends and without echoing a
    # whole parameter back.
    return (text[:200] + "...") if len(text) > 200 else text or "the store refused it"


def _pointer(loc: tuple[Any, ...]) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in loc[1:]] if loc and loc[0] == "body" else []
    return "/" + "/".join(parts) if parts else ""


def validation_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        field = ".".join(str(p) for p in loc) or "body"
        pointer = _pointer(loc) if loc and loc[0] == "body" else None
        out.append(FieldError(field=field, message=str(err.get("msg", "invalid")), pointer=pointer))
    return out


def malformed_json(text: str, index: int, reason: str) -> InvalidInput:
    """A body that is not JSON, with where it breaks (not `body.<offset>`, which reads as a field)."""
    line, column = json_position(text, index)
    where = f"{reason} at line {line}, column {column}"
    return InvalidInput(
        f"The body is not valid JSON: {where}.",
        errors=[FieldError("body", f"not valid JSON: {where}", pointer="")],
        extra={"line": line, "column": column},
    )


def _request_problem(request: Request, exc: RequestValidationError) -> HotSwapError | None:
    """The body-level failures FastAPI reports as a field: not JSON at all, or not sent as JSON."""
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid" and len(loc) == 2 and isinstance(loc[1], int):
            text = exc.body if isinstance(exc.body, str) else ""
            return malformed_json(text, loc[1], str(err.get("ctx", {}).get("error", "JSON decode error")))
        if loc == ("body",) and isinstance(err.get("input"), bytes):
            # FastAPI parses a body as JSON only when its Content-Type says so; the route got bytes.
            sent = request.headers.get("content-type")
            return UnsupportedMediaType(
                "The body must be JSON sent with `Content-Type: application/json`; "
                + (f"this request's Content-Type is {sent!r}." if sent else "this request has no Content-Type."),
                errors=[FieldError("header.content-type", "must be application/json")],
            )
    return None


def _http_detail(request: Request, exc: StarletteHTTPException) -> str:
    if exc.status_code == 404 and request.scope.get("route") is None:
        return (
            f"No route {request.method} {request.url.path}. The routes and their bodies are at /docs "
            "(GET /openapi.json for the document)."
        )
    if exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
        return f"{request.method} is not allowed on {request.url.path}; it allows {exc.headers['Allow']}."
    return str(exc.detail)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_hotswap_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HotSwapError)
        return problem_response(exc, request.url.path)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        refusal = _request_problem(request, exc)
        if refusal is not None:
            return problem_response(refusal, request.url.path)
        errors = validation_errors(exc)
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5]) or "The request is not valid."
        body = problem_body(
            422, "Invalid input", detail, type_uri=PROBLEM_BASE + "validation", instance=request.url.path, errors=errors
        )
        return Response(dumps(body), status_code=422, media_type=PROBLEM_MEDIA_TYPE)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer when the body cannot even be decoded as text (not UTF-8).
            unreadable = InvalidInput(
                "The body is not valid JSON: it is not UTF-8 text.",
                errors=[FieldError("body", "not valid JSON: it is not UTF-8 text", pointer="")],
            )
            return problem_response(unreadable, request.url.path)
        slug = _HTTP_SLUGS.get(exc.status_code, "http-error")
        unknown_route = exc.status_code == 404 and request.scope.get("route") is None
        body = problem_body(
            exc.status_code,
            slug.replace("-", " ").capitalize(),
            _http_detail(request, exc),
            type_uri=PROBLEM_BASE + slug,
            instance=request.url.path,
            extra={"docs": "/docs"} if unknown_route else None,
        )
        return Response(dumps(body), status_code=exc.status_code, headers=exc.headers, media_type=PROBLEM_MEDIA_TYPE)

    async def on_integrity_error(request: Request, exc: Exception) -> Response:
        # Services turn the expected races into precise 409s; this is the net under them.
        log.warning("integrity error reached the edge: %s", exc)
        return problem_response(Conflict("The change conflicts with the current state; retry."), request.url.path)

    async def on_database_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DBAPIError)
        refusal = database_problem(exc)
        if isinstance(refusal, Unavailable):
            log.error("database error: %s", exc)
        elif isinstance(refusal, InvalidInput | Conflict):
            # The store refused a value the checks above it let through: the request is at
            # fault and nothing was written; worth a look, not a page.
            log.warning("the store refused a value: %s", exc)
        else:
            return await on_unexpected(request, exc)
        return problem_response(refusal, request.url.path)

    async def on_statement_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StatementError)
        if isinstance(exc.orig, UnfitJSON):  # the store's encoder refused a value (`storable_dumps`)
            log.warning("a JSON column refused a value: %s", exc.orig)
            field = ".".join(["value", *exc.orig.pointer.split("/")[1:]])
            refusal = InvalidInput(
                f"A value cannot be stored: {exc.orig.reason} (at {field}).",
                errors=[FieldError(field, exc.orig.reason, pointer=exc.orig.pointer)],
            )
            return problem_response(refusal, request.url.path)
        return await on_unexpected(request, exc)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        body = problem_body(
            500,
            "Internal error",
            "An unexpected error occurred; it has been logged.",
            type_uri=PROBLEM_BASE + "internal",
            instance=request.url.path,
        )
        return Response(dumps(body), status_code=500, media_type=PROBLEM_MEDIA_TYPE)

    app.add_exception_handler(HotSwapError, on_hotswap_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(IntegrityError, on_integrity_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(StatementError, on_statement_error)
    app.add_exception_handler(Exception, on_unexpected)
