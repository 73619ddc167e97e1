"""Optimistic concurrency over HTTP, the same for every slice: a resource's ETag is its revision,
and `If-Match` with that ETag makes a change apply only to that revision (else 412)."""

from __future__ import annotations

from typing import Any

from fastapi import Header

from hotswap.web.problems import PROBLEM_MEDIA_TYPE


def etag(revision: int) -> str:
    return f'"{revision}"'


def expected_revision(if_match: str | None) -> int | None:
    """`"3"`, `W/"3"` or `3` name revision 3; `*` or no header means any revision. Anything
    else can match no revision, which is a 412 rather than a silent overwrite."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isdigit() and len(tag) < 19 else -1


def if_match_header(what: str) -> Any:
    """The `If-Match` header of a route that changes `what`: `Annotated[str | None, if_match_header("config")]`."""
    return Header(
        alias="If-Match",
        max_length=100,
        description=f'The {what}\'s ETag (its revision, e.g. "3"): the change applies only to that revision, else 412.',
    )


def stale_response(what: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of the 412 that a stale `If-Match` gets."""
    return {
        412: {
            "description": f"If-Match names a revision the {what} is no longer at",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    }
