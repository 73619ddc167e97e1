"""The shared kernel: clock, errors, ids, canonical JSON, pagination cursors."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.core.clock import Clock, ManualClock, SystemClock
from hotswap.core.errors import (
    PROBLEM_BASE,
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    HotSwapError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from hotswap.core.ids import new_id
from hotswap.core.jsonutil import canonical_bytes, checksum
from hotswap.core.pagination import MAX_LIMIT, check_limit, decode_cursor, encode_cursor, invalid_cursor

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=6)


# -- clock ----------------------------------------------------------------------------------


def test_manual_clock_stands_still_until_advanced() -> None:
    clock = ManualClock(START)
    assert clock.now() == START
    assert clock.now() == START
    clock.advance(timedelta(minutes=90))
    assert clock.now() == START + timedelta(minutes=90)


def test_manual_clock_set_jumps_to_an_instant() -> None:
    clock = ManualClock(START)
    later = datetime(2027, 1, 1, tzinfo=UTC)
    clock.set(later)
    assert clock.now() == later


def test_manual_clock_defaults_to_a_fixed_aware_instant() -> None:
    assert ManualClock().now() == datetime(2026, 1, 1, tzinfo=UTC)


def test_manual_clock_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))
    clock = ManualClock(START)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 1, 1))
    assert clock.now() == START


def test_system_clock_is_timezone_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_both_clocks_satisfy_the_protocol() -> None:
    clocks: list[Clock] = [SystemClock(), ManualClock(START)]
    assert all(isinstance(c.now(), datetime) for c in clocks)


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_cls", "status", "slug"),
    [
        (HotSwapError, 500, "internal"),
        (InvalidInput, 422, "validation"),
        (BadRequest, 400, "bad-request"),
        (Unauthorized, 401, "unauthorized"),
        (Forbidden, 403, "forbidden"),
        (NotFound, 404, "not-found"),
        (Conflict, 409, "conflict"),
        (PayloadTooLarge, 413, "payload-too-large"),
        (RateLimited, 429, "rate-limited"),
        (Unavailable, 503, "unavailable"),
    ],
)
def test_each_error_carries_its_http_status_and_problem_type(
    error_cls: type[HotSwapError], status: int, slug: str
) -> None:
    error = error_cls("something happened")
    assert isinstance(error, HotSwapError)
    assert error.status == status
    assert error.slug == slug
    assert error.type_uri == f"urn:hotswap:problem:{slug}"
    assert error.type_uri.startswith(PROBLEM_BASE)
    assert error.title
    assert error.detail == "something happened"
    assert str(error) == "something happened"


def test_error_keeps_field_errors_headers_and_extra_members() -> None:
    errors = (FieldError("body.name", "required"), FieldError("body.data", "bad", pointer="/data"))
    error = Conflict("taken", errors=errors, headers={"Retry-After": "5"}, extra={"pendingReleaseId": "rel_1"})
    assert error.errors == list(errors)
    assert error.headers == {"Retry-After": "5"}
    assert error.extra == {"pendingReleaseId": "rel_1"}


def test_error_defaults_are_empty_and_not_shared_between_instances() -> None:
    first, second = NotFound("a"), NotFound("b")
    assert first.errors == []
    assert first.headers == {}
    assert first.extra == {}
    first.errors.append(FieldError("x", "y"))
    first.extra["k"] = 1
    assert second.errors == []
    assert second.extra == {}


def test_error_copies_caller_mappings() -> None:
    headers = {"X-A": "1"}
    error = RateLimited("slow down", headers=headers)
    headers["X-B"] = "2"
    assert error.headers == {"X-A": "1"}


def test_unauthorized_has_a_default_detail_and_a_bearer_challenge() -> None:
    error = Unauthorized()
    assert error.detail == "A valid bearer token is required."
    assert error.headers == {"WWW-Authenticate": 'Bearer realm="hotswap"'}


def test_unauthorized_keeps_explicit_headers() -> None:
    error = Unauthorized("nope", headers={"X-Reason": "expired"})
    assert error.detail == "nope"
    assert error.headers == {"X-Reason": "expired"}


def test_field_error_as_dict_includes_pointer_only_when_set() -> None:
    assert FieldError("body.name", "required").as_dict() == {"field": "body.name", "message": "required"}
    assert FieldError("body.data.a", "too big", pointer="/a").as_dict() == {
        "field": "body.data.a",
        "message": "too big",
        "pointer": "/a",
    }
    # An empty pointer addresses the whole document and is still reported.
    assert FieldError("body.data", "bad", pointer="").as_dict()["pointer"] == ""


# -- ids ------------------------------------------------------------------------------------


def test_new_id_is_prefixed_url_safe_and_unique() -> None:
    ids = {new_id("cfg") for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        assert re.fullmatch(r"cfg_[0-9a-f]{32}", value)


def test_new_id_uses_the_given_prefix() -> None:
    assert new_id("tok").startswith("tok_")
    assert new_id("key").startswith("key_")


# -- canonical JSON -------------------------------------------------------------------------


def test_canonical_bytes_sort_keys_at_every_level_without_whitespace() -> None:
    value = {"b": 1, "a": {"z": [3, {"y": 1, "x": 2}], "m": None}}
    assert canonical_bytes(value) == b'{"a":{"m":null,"z":[3,{"x":2,"y":1}]},"b":1}'


def test_canonical_bytes_keep_list_order() -> None:
    assert canonical_bytes([2, 1]) != canonical_bytes([1, 2])


def test_checksum_format_is_sha256_hex() -> None:
    value = checksum({"a": 1})
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", value)
    # Pinned: replicas on any version must agree on this value for the same payload.
    assert value == "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"


def test_checksum_distinguishes_json_types() -> None:
    assert checksum({"a": 1}) != checksum({"a": True})
    assert checksum({"a": 1}) != checksum({"a": 1.0})
    assert checksum({"a": 1}) != checksum({"a": "1"})


@given(json_objects)
def test_checksum_is_independent_of_key_order(value: dict[str, Any]) -> None:
    def reorder(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: reorder(v[k]) for k in reversed(list(v))}
        if isinstance(v, list):
            return [reorder(x) for x in v]
        return v

    reordered = reorder(value)
    assert canonical_bytes(reordered) == canonical_bytes(value)
    assert checksum(reordered) == checksum(value)
    assert orjson.loads(canonical_bytes(value)) == value


@given(json_objects, json_objects)
def test_checksum_differs_when_canonical_form_differs(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert (checksum(a) == checksum(b)) == (canonical_bytes(a) == canonical_bytes(b))


# -- pagination -----------------------------------------------------------------------------


def test_cursor_round_trips_and_is_url_safe_without_padding() -> None:
    position = {"seq": 41, "at": "2026-06-01T12:00:00+00:00", "id": "ver_ab/+?"}
    cursor = encode_cursor(position)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert decode_cursor(cursor) == position


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_any_position_round_trips_through_a_cursor(position: dict[str, Any]) -> None:
    assert decode_cursor(encode_cursor(position)) == position


def _assert_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(cursor)
    assert caught.value.status == 422
    assert [e.field for e in caught.value.errors] == ["query.cursor"]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "a",  # impossible base64 length
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
        base64.urlsafe_b64encode(b"[1,2]").decode().rstrip("="),  # JSON, but not an object
        base64.urlsafe_b64encode(b'"seq"').decode().rstrip("="),
        base64.urlsafe_b64encode(b"7").decode().rstrip("="),
        "é",
    ],
)
def test_malformed_cursor_is_invalid_input_on_the_cursor_field(cursor: str) -> None:
    _assert_invalid_cursor(cursor)


@given(st.text(max_size=40))
def test_decode_cursor_returns_an_object_or_raises_invalid_input(cursor: str) -> None:
    # Whatever a client sends, the only failure is the 422 on the cursor field, never a 500.
    error: InvalidInput | None = None
    try:
        value = decode_cursor(cursor)
    except InvalidInput as exc:
        error = exc
    if error is None:
        assert isinstance(value, dict)
    else:
        assert [e.field for e in error.errors] == ["query.cursor"]


def test_invalid_cursor_error_names_the_cursor_field() -> None:
    error = invalid_cursor()
    assert isinstance(error, InvalidInput)
    assert error.errors == [FieldError("query.cursor", "malformed cursor")]


@pytest.mark.parametrize("limit", [1, 2, MAX_LIMIT - 1, MAX_LIMIT])
def test_check_limit_accepts_the_inclusive_range(limit: int) -> None:
    check_limit(limit)


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, 10_000])
def test_check_limit_refuses_out_of_range(limit: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_limit(limit)
    assert caught.value.errors == [FieldError("query.limit", f"must be 1..{MAX_LIMIT}")]


def test_max_limit_is_500() -> None:
    assert MAX_LIMIT == 500
