"""The hostile inputs the battery sends to every write route: values planted in an otherwise valid
body, whole bodies, content types and path ids. Each is raw bytes, because most of them cannot be
produced by a JSON encoder (NaN literals, lone surrogates, invalid UTF-8, nesting past any
recursion limit).

To add a case, add an entry here: every write route gets it on the next run. `refuse` says whether
a server must refuse it (4xx) wherever it is planted: true for what strict JSON decoding refuses
(not UTF-8, lone surrogates, NUL, non-finite numbers, integers past any float or 64-bit integer,
nesting past the depth limit); false for what may be legitimate somewhere (a long string in a
free-form document, a large negative number in a free-form document).
"""

from __future__ import annotations

from dataclasses import dataclass

DEPTH = 100_000


@dataclass(frozen=True, slots=True)
class Hostile:
    name: str
    json: bytes  # the JSON text (or not-quite-JSON text) put where a value goes
    refuse: bool


# Values, planted at each top-level field and at nested places of a valid body.
VALUES: tuple[Hostile, ...] = (
    Hostile("lone-surrogate", b'"\\ud800"', refuse=True),
    Hostile("nul", b'"a\\u0000b"', refuse=True),
    Hostile("NaN", b"NaN", refuse=True),
    Hostile("Infinity", b"Infinity", refuse=True),
    Hostile("-Infinity", b"-Infinity", refuse=True),
    Hostile("1e400", b"1e400", refuse=True),
    Hostile("int-400-digits", b"9" * 400, refuse=True),
    Hostile("2**64", str(2**64).encode(), refuse=True),
    Hostile("-1e300", b"-1e300", refuse=False),
    Hostile("invalid-utf8", b'"\xff\xfe"', refuse=True),
    Hostile("long-string", b'"' + b"x" * 100_000 + b'"', refuse=False),
    Hostile("deep-objects", b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, refuse=True),
    Hostile("deep-arrays", b"[" * DEPTH + b"]" * DEPTH, refuse=True),
)

# Keys (as JSON strings), added to the top-level object and to nested objects of a valid body.
KEYS: tuple[Hostile, ...] = (
    Hostile("key-lone-surrogate", b'"\\ud800"', refuse=True),
    Hostile("key-nul", b'"k\\u0000"', refuse=True),
)


@dataclass(frozen=True, slots=True)
class RawBody:
    name: str
    body: bytes | None  # None: the route's valid body, sent as is (for the content-type cases)
    content_type: str | None = "application/json"
    refuse: bool = True  # on a route that takes a body: a body that must be refused
    refuse_where_required: bool = False  # refused on a route whose body is required
    refuse_without_body: bool = False  # on a route that takes none: must be refused too


def raw_bodies(max_body_bytes: int) -> tuple[RawBody, ...]:
    too_large = b'{"a":"' + b"x" * max_body_bytes + b'"}'
    return (
        RawBody("not-json", b"{this is not json"),
        RawBody("truncated", b'{"a": [1, 2'),
        RawBody("empty", b"", refuse=False, refuse_where_required=True),
        RawBody("whitespace", b"  \n ", refuse=False, refuse_where_required=True),
        RawBody("scalar-number", b"42"),
        RawBody("scalar-string", b'"text"'),
        RawBody("scalar-true", b"true"),
        RawBody("array", b"[]"),
        RawBody("array-of-object", b"[{}]"),
        RawBody("invalid-utf8", b'{"a": "\xc3\x28 \xff"}'),
        RawBody("NaN-top", b"NaN"),
        RawBody("deep-objects", b'{"a":' * DEPTH + b"1" + b"}" * DEPTH),
        RawBody("deep-arrays", b"[" * DEPTH + b"]" * DEPTH),
        RawBody("too-large", too_large, refuse_without_body=True),
        RawBody("text/plain", None, content_type="text/plain"),
        RawBody("no-content-type", None, content_type=None),
        RawBody("form", None, content_type="application/x-www-form-urlencoded"),
    )


# Raw path segments put where a path parameter goes (percent-encoding kept as sent).
PATH_IDS: tuple[tuple[str, bytes], ...] = (
    ("pct-ff-fe", b"%ff%fe"),
    ("dotdot", b".."),
    ("dot", b"."),
    ("pct-00", b"%00"),
    ("pct-2e-2e", b"%2e%2e"),
    ("pct-surrogate", b"%ed%a0%80"),
    ("10000-chars", b"i" * 10_000),
)
