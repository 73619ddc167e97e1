"""Signing and verifying bearer tokens, with time judged by the injected clock."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import orjson
import pytest

from hotswap.auth.model import Role
from hotswap.auth.tokens import TokenCodec
from hotswap.core.clock import ManualClock
from hotswap.core.errors import Unauthorized

START = datetime(2026, 6, 1, 12, 0, 30, 123456, tzinfo=UTC)
SECRET = "unit-test-secret-0123456789-0123456789"
# HS512 wants a key of at least 64 bytes; PyJWT warns (an error here) on a shorter one.
LONG_SECRET = "unit-test-secret-for-sha512-" + "0123456789" * 4
ISSUER = "hotswap"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def codec(clock: ManualClock) -> TokenCodec:
    return TokenCodec(SECRET, "HS256", ISSUER, clock)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> dict[str, Any]:
    value = orjson.loads(b64url_decode(token.split(".")[1]))
    assert isinstance(value, dict)
    return value


def valid_claims(clock: ManualClock, **changes: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    claims: dict[str, Any] = {
        "sub": "bob",
        "role": "viewer",
        "jti": "tok_abc",
        "iss": ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def assert_rejected(codec: TokenCodec, token: str, match: str = "not valid") -> Unauthorized:
    with pytest.raises(Unauthorized, match=match) as caught:
        codec.decode(token)
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")
    return caught.value


# -- issue and decode -----------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_issued_token_decodes_to_its_principal(codec: TokenCodec, role: Role) -> None:
    issued = codec.issue("bob", role, timedelta(hours=1))
    principal = codec.decode(issued.token)
    assert principal.subject == "bob"
    assert principal.role is role
    assert principal.token_id == issued.jti


def test_issued_token_records_its_times_from_the_clock(codec: TokenCodec) -> None:
    issued = codec.issue("bob", Role.OPERATOR, timedelta(hours=2))
    # Whole seconds: JWT times are integers, and the record must match the token exactly.
    assert issued.issued_at == START.replace(microsecond=0)
    assert issued.expires_at == START.replace(microsecond=0) + timedelta(hours=2)
    claims = claims_of(issued.token)
    assert claims["iat"] == claims["nbf"] == int(issued.issued_at.timestamp())
    assert claims["exp"] == int(issued.expires_at.timestamp())
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "bob"
    assert claims["role"] == "operator"
    assert claims["jti"] == issued.jti
    assert re.fullmatch(r"tok_[0-9a-f]{32}", issued.jti)


def test_each_token_gets_its_own_id(codec: TokenCodec) -> None:
    first = codec.issue("bob", Role.VIEWER, timedelta(hours=1))
    second = codec.issue("bob", Role.VIEWER, timedelta(hours=1))
    assert first.jti != second.jti
    assert first.token != second.token


def test_token_header_names_the_configured_algorithm(clock: ManualClock) -> None:
    codec = TokenCodec(LONG_SECRET, "HS512", ISSUER, clock)
    token = codec.issue("bob", Role.VIEWER, timedelta(hours=1)).token
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    assert codec.decode(token).subject == "bob"


# -- expiry by the injected clock ----------------------------------------------------------


def test_token_is_valid_until_its_last_second(codec: TokenCodec, clock: ManualClock) -> None:
    issued = codec.issue("bob", Role.VIEWER, timedelta(hours=2))
    clock.set(issued.expires_at - timedelta(seconds=1))
    assert codec.decode(issued.token).subject == "bob"


def test_token_expires_exactly_at_exp(codec: TokenCodec, clock: ManualClock) -> None:
    issued = codec.issue("bob", Role.VIEWER, timedelta(hours=2))
    clock.set(issued.expires_at)
    assert_rejected(codec, issued.token, match="expired")


def test_token_is_rejected_after_the_clock_moves_past_its_lifetime(codec: TokenCodec, clock: ManualClock) -> None:
    issued = codec.issue("bob", Role.VIEWER, timedelta(minutes=5))
    clock.advance(timedelta(minutes=4))
    codec.decode(issued.token)
    clock.advance(timedelta(minutes=2))
    assert_rejected(codec, issued.token, match="expired")


def test_expiry_ignores_the_real_time(clock: ManualClock) -> None:
    # A token that expired long ago by the wall clock is still valid for a clock set in the past.
    clock.set(datetime(2001, 1, 1, tzinfo=UTC))
    codec = TokenCodec(SECRET, "HS256", ISSUER, clock)
    token = codec.issue("bob", Role.VIEWER, timedelta(hours=1)).token
    assert codec.decode(token).subject == "bob"


def test_issue_time_is_judged_on_the_clock_not_the_real_time(clock: ManualClock) -> None:
    # A clock set in the future (a schedule tested ahead of time) still accepts its own tokens.
    clock.set(datetime(2101, 1, 1, tzinfo=UTC))
    codec = TokenCodec(SECRET, "HS256", ISSUER, clock)
    assert codec.decode(codec.issue("bob", Role.VIEWER, timedelta(hours=1)).token).subject == "bob"
    now = int(clock.now().timestamp())
    assert_rejected(codec, sign(valid_claims(clock, iat=now + 31)), match="issued in the future")


def test_token_not_yet_valid_is_rejected_beyond_clock_skew(codec: TokenCodec, clock: ManualClock) -> None:
    now = int(clock.now().timestamp())
    assert codec.decode(sign(valid_claims(clock, nbf=now + 30))).subject == "bob"
    assert_rejected(codec, sign(valid_claims(clock, nbf=now + 31)), match="not valid yet")


def test_token_without_nbf_is_accepted(codec: TokenCodec, clock: ManualClock) -> None:
    assert codec.decode(sign(valid_claims(clock, nbf=None))).role is Role.VIEWER


def test_token_from_another_issuer_is_rejected(codec: TokenCodec, clock: ManualClock) -> None:
    assert_rejected(codec, sign(valid_claims(clock, iss="someone-else")))
    assert_rejected(codec, sign(valid_claims(clock, iss=None)))


# -- forged and tampered tokens ------------------------------------------------------------


def test_token_signed_with_another_secret_is_rejected(codec: TokenCodec, clock: ManualClock) -> None:
    other = TokenCodec("another-secret-0123456789-0123456789", "HS256", ISSUER, clock)
    assert_rejected(codec, other.issue("bob", Role.ADMIN, timedelta(hours=1)).token)


def test_token_with_a_broken_signature_is_rejected(codec: TokenCodec) -> None:
    token = codec.issue("bob", Role.VIEWER, timedelta(hours=1)).token
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    assert_rejected(codec, f"{header}.{payload}.{flipped}")
    assert_rejected(codec, f"{header}.{payload}.")


def test_alg_none_token_is_rejected(codec: TokenCodec, clock: ManualClock) -> None:
    header = b64url(orjson.dumps({"alg": "none", "typ": "JWT"}))
    payload = b64url(orjson.dumps(valid_claims(clock, role="admin")))
    assert_rejected(codec, f"{header}.{payload}.")
    assert_rejected(codec, f"{header}.{payload}")


@pytest.mark.parametrize("alg", ["None", "NONE"])
def test_alg_none_spelled_otherwise_is_rejected(codec: TokenCodec, clock: ManualClock, alg: str) -> None:
    header = b64url(orjson.dumps({"alg": alg, "typ": "JWT"}))
    payload = b64url(orjson.dumps(valid_claims(clock)))
    assert_rejected(codec, f"{header}.{payload}.")


def test_token_signed_with_another_hmac_algorithm_is_rejected(clock: ManualClock) -> None:
    # Same secret, different algorithm: only the configured one is accepted.
    codec = TokenCodec(LONG_SECRET, "HS256", ISSUER, clock)
    assert codec.decode(sign(valid_claims(clock), LONG_SECRET)).subject == "bob"
    assert_rejected(codec, sign(valid_claims(clock), LONG_SECRET, algorithm="HS512"))
    assert_rejected(codec, sign(valid_claims(clock), LONG_SECRET, algorithm="HS384"))


def test_tampered_payload_is_rejected(codec: TokenCodec) -> None:
    token = codec.issue("bob", Role.VIEWER, timedelta(hours=1)).token
    header, payload, signature = token.split(".")
    claims = orjson.loads(b64url_decode(payload))
    claims["role"] = "admin"
    forged = b64url(orjson.dumps(claims))
    assert_rejected(codec, f"{header}.{forged}.{signature}")


def test_tampered_expiry_is_rejected(codec: TokenCodec, clock: ManualClock) -> None:
    token = codec.issue("bob", Role.VIEWER, timedelta(minutes=1)).token
    header, payload, signature = token.split(".")
    claims = orjson.loads(b64url_decode(payload))
    claims["exp"] += 10 * 365 * 24 * 3600
    clock.advance(timedelta(hours=1))
    assert_rejected(codec, f"{header}.{b64url(orjson.dumps(claims))}.{signature}")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c", "Bearer x.y.z", "ey.ey.ey"])
def test_garbage_is_rejected(codec: TokenCodec, garbage: str) -> None:
    assert_rejected(codec, garbage)


# -- claims ---------------------------------------------------------------------------------


def test_unknown_role_is_rejected_even_when_signed(codec: TokenCodec, clock: ManualClock) -> None:
    assert_rejected(codec, sign(valid_claims(clock, role="superuser")), match="unknown role")


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "jti", "role"])
def test_token_missing_a_required_claim_is_rejected(codec: TokenCodec, clock: ManualClock, claim: str) -> None:
    assert_rejected(codec, sign(valid_claims(clock, **{claim: None})))
