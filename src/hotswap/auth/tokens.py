"""Signing and verifying JWT bearer tokens (PyJWT)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from hotswap.auth.model import Principal, Role
from hotswap.core.clock import Clock
from hotswap.core.errors import Unauthorized
from hotswap.core.ids import new_id

# Where an API key becomes a bearer token; the errors about a token point there.
TOKEN_EXCHANGE = "POST /api/v1/auth/token"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    subject: str
    role: Role
    issued_at: datetime
    expires_at: datetime


class TokenCodec:
    def __init__(self, secret: str, algorithm: str, issuer: str, clock: Clock) -> None:
        self._secret = secret
        self._algorithm = algorithm
        self._issuer = issuer
        self._clock = clock

    def issue(self, subject: str, role: Role, ttl: timedelta) -> IssuedToken:
        now = self._clock.now().replace(microsecond=0)
        expires = now + ttl
        jti = new_id("tok")
        claims = {
            "sub": subject,
            "role": role.value,
            "jti": jti,
            "iss": self._issuer,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        token = jwt.encode(claims, self._secret, algorithm=self._algorithm)
        return IssuedToken(token, jti, subject, role, now, expires)

    def decode(self, token: str) -> Principal:
        return self.verify(token)[0]

    def verify(self, token: str) -> tuple[Principal, int]:
        """Verify signature, algorithm, issuer and time claims against the injected clock; the
        principal and the token's expiry (epoch seconds)."""
        try:
            # Only our configured algorithm is accepted: `alg: none` and algorithm confusion fail here.
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                options={
                    "require": ["exp", "iat", "sub", "jti", "role"],
                    # The time claims are checked below, on the injected clock (PyJWT reads the system's).
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"The bearer token is not valid: {exc}.") from exc
        now = self._clock.now().timestamp()
        if not isinstance(claims.get("exp"), int):
            raise Unauthorized("The bearer token has no valid expiry (exp).")
        if claims["exp"] <= now:
            expired = datetime.fromtimestamp(claims["exp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            raise Unauthorized(
                f"The bearer token expired at {expired}. Get a new one: exchange your API key at "
                f"{TOKEN_EXCHANGE}, or ask an admin (`hotswap token create`).",
                extra={"expiredAt": expired, "tokenUrl": TOKEN_EXCHANGE.partition(" ")[2]},
                reason="expired",
            )
        if isinstance(claims.get("nbf"), int) and claims["nbf"] > now + 30:
            raise Unauthorized("The bearer token is not valid yet.")
        if not isinstance(claims.get("iat"), int) or claims["iat"] > now + 30:
            raise Unauthorized("The bearer token was issued in the future.")
        try:
            role = Role(claims["role"])
        except ValueError as exc:
            raise Unauthorized("The bearer token names an unknown role.") from exc
        return Principal(subject=str(claims["sub"]), role=role, token_id=str(claims["jti"])), int(claims["exp"])
