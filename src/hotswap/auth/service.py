"""Use cases for tokens and API keys."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from hotswap.auth.model import Principal, Role, canonical_subject, checked_subject
from hotswap.auth.repository import AuthRepository
from hotswap.auth.signals import TokensRevoked
from hotswap.auth.tokens import TOKEN_EXCHANGE, IssuedToken, TokenCodec
from hotswap.core.clock import Clock
from hotswap.core.errors import FieldError, InvalidInput, NotFound, Unauthorized
from hotswap.core.ids import new_id
from hotswap.core.signals import Signals
from hotswap.storage.uow import READ_ONLY, UnitOfWork

API_KEY_PREFIX = "hsk_"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewCredential:
    id: str
    name: str
    role: Role
    api_key: str  # shown once, never stored


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AuditTrail(Protocol):
    """Where the auth slice records who issued and revoked what: the audit slice's log, wired by
    the composition root. (Every other slice imports the audit log; auth comes before it, since
    the audit log records auth's principals.)"""

    async def record(
        self, uow: UnitOfWork, actor: Principal, action: str, *, target_type: str, target_id: str, summary: str
    ) -> None: ...


class AuthService:
    def __init__(
        self,
        codec: TokenCodec,
        audit: AuditTrail,
        signals: Signals[UnitOfWork],
        *,
        token_ttl: timedelta,
        server_token_ttl: timedelta,
    ) -> None:
        self.codec = codec
        self.audit = audit
        self.signals = signals
        self.token_ttl = token_ttl
        self.server_token_ttl = server_token_ttl

    def default_ttl(self, role: Role) -> timedelta:
        return self.server_token_ttl if role is Role.SERVER else self.token_ttl

    async def issue_token(
        self,
        uow: UnitOfWork,
        actor: Principal,
        *,
        subject: str,
        role: Role,
        ttl: timedelta | None = None,
    ) -> IssuedToken:
        """Sign and record a token for `subject`, stored (and signed) in its canonical form."""
        return await self._issue(uow, actor, checked_subject(subject, "body.subject"), role, ttl, None)

    async def _issue(
        self,
        uow: UnitOfWork,
        actor: Principal,
        subject: str,
        role: Role,
        ttl: timedelta | None,
        credential_id: str | None,
    ) -> IssuedToken:
        ttl = ttl or self.default_ttl(role)
        if ttl <= timedelta(0):
            raise InvalidInput(
                "A token's lifetime must be positive.", errors=[FieldError("body.ttlSeconds", "must be > 0")]
            )
        issued = self.codec.issue(subject, role, ttl)
        await AuthRepository(uow.conn).add_token(
            {
                "jti": issued.jti,
                "subject": subject,
                "role": role.value,
                "issued_at": issued.issued_at,
                "expires_at": issued.expires_at,
                "issued_by": actor.subject,
                "credential_id": credential_id,
            }
        )
        await self.audit.record(
            uow,
            actor,
            "token.issue",
            target_type="token",
            target_id=issued.jti,
            summary=f"issued a {role.value} token for {subject!r} valid until {issued.expires_at.isoformat()}",
        )
        return issued

    async def revoke_token(self, uow: UnitOfWork, actor: Principal, jti: str) -> bool:
        """Revoke a token; False when it was revoked already (nothing changes, nothing is recorded)."""
        repo = AuthRepository(uow.conn)
        if await repo.get_token(jti) is None:
            raise NotFound(f"No token with id {jti!r}.")
        if not await repo.revoke_token(jti, uow.clock.now(), actor.subject):
            return False
        await self.audit.record(
            uow, actor, "token.revoke", target_type="token", target_id=jti, summary=f"revoked token {jti}"
        )
        await self.signals.send(uow, TokensRevoked())
        return True

    async def list_tokens(
        self, uow: UnitOfWork, *, subject: str | None, include_revoked: bool, limit: int
    ) -> list[Any]:
        """Issued tokens, newest first; `subject` as written or in its canonical form (tokens issued
        before subjects were stored canonical keep the spelling they were issued with)."""
        spellings = None if subject is None else {subject.strip(), canonical_subject(subject)}
        return await AuthRepository(uow.conn).list_tokens(
            subjects=spellings, include_revoked=include_revoked, limit=limit
        )

    async def create_credential(self, uow: UnitOfWork, actor: Principal, *, name: str, role: Role) -> NewCredential:
        """An API key; its name is the subject of the tokens it is exchanged for, so it is checked
        and stored like one."""
        name = checked_subject(name, "body.name")
        credential_id = new_id("key")
        secret = secrets.token_urlsafe(32)
        await AuthRepository(uow.conn).add_credential(
            {
                "id": credential_id,
                "name": name,
                "role": role.value,
                "secret_hash": _hash_secret(secret),
                "created_at": uow.clock.now(),
                "created_by": actor.subject,
            }
        )
        await self.audit.record(
            uow,
            actor,
            "credential.create",
            target_type="credential",
            target_id=credential_id,
            summary=f"created {role.value} API key {name!r}",
        )
        return NewCredential(credential_id, name, role, f"{API_KEY_PREFIX}{credential_id}.{secret}")

    async def list_credentials(self, uow: UnitOfWork, *, include_revoked: bool, limit: int) -> list[Any]:
        """API keys (never their secrets, which are not stored), newest first."""
        return await AuthRepository(uow.conn).list_credentials(include_revoked=include_revoked, limit=limit)

    async def revoke_credential(self, uow: UnitOfWork, actor: Principal, credential_id: str) -> bool:
        """Revoke an API key and the tokens issued from it; False when it was revoked already."""
        repo = AuthRepository(uow.conn)
        if await repo.get_credential(credential_id) is None:
            raise NotFound(f"No API key with id {credential_id!r}.")
        now = uow.clock.now()
        if not await repo.revoke_credential(credential_id, now):
            return False
        # A key's tokens go with it: revoking a leaked key must lock its holder out at once.
        revoked = await repo.revoke_tokens_of_credential(credential_id, now, actor.subject)
        await self.audit.record(
            uow,
            actor,
            "credential.revoke",
            target_type="credential",
            target_id=credential_id,
            summary=f"revoked API key {credential_id} and the {revoked} token(s) issued from it",
        )
        await self.signals.send(uow, TokensRevoked())
        return True

    async def exchange_api_key(self, uow: UnitOfWork, api_key: str, ttl: timedelta | None = None) -> IssuedToken:
        """Client-credentials exchange: an API key for a short-lived bearer token."""
        invalid = Unauthorized("The API key is not valid.")
        if api_key.startswith("eyJ") and api_key.count(".") == 2:
            raise Unauthorized(
                "This is a bearer token, not an API key: send it as `Authorization: Bearer <token>` "
                "on the other routes; this one takes an API key (hsk_...)."
            )
        if not api_key.startswith(API_KEY_PREFIX) or "." not in api_key:
            raise invalid
        credential_id, _, secret = api_key[len(API_KEY_PREFIX) :].partition(".")
        row = await AuthRepository(uow.conn).get_credential(credential_id)
        if row is None or row.revoked_at is not None:
            raise invalid
        if not hmac.compare_digest(row.secret_hash, _hash_secret(secret)):
            raise invalid
        role = Role(row.role)
        # Canonical, not checked: a key named before names were checked keeps working.
        subject = canonical_subject(row.name)
        owner = Principal(subject=subject, role=role, token_id="-")
        return await self._issue(uow, owner, subject, role, ttl, credential_id)

    async def bootstrap_admin(self, uow: UnitOfWork) -> NewCredential | None:
        """On first start, create the admin API key (returned once, to be printed)."""
        if await AuthRepository(uow.conn).count_credentials() > 0:
            return None
        system = Principal(subject="system", role=Role.ADMIN, token_id="-")
        return await self.create_credential(uow, system, name="admin", role=Role.ADMIN)


def _api_key_sent() -> Unauthorized:
    # Keys (hsk_<id>.<secret>) and tokens (JWTs: three base64url parts, the first `eyJ`) look
    # nothing alike, so a key in the Authorization header is told apart without a lookup.
    return Unauthorized(
        f"This is an API key, not a bearer token: exchange it at {TOKEN_EXCHANGE} "
        '(body {"apiKey": "hsk_..."}) and send the accessToken it answers as `Authorization: Bearer <token>`.',
        extra={"tokenUrl": TOKEN_EXCHANGE.partition(" ")[2]},
        reason="api_key",
    )


def _check_record(record: Any, principal: Principal, expires: int) -> None:
    """Accept a token only as it was issued: recorded, claiming the subject, role and expiry its
    record holds, and not revoked. A valid signature proves only that the signing secret was used:
    whoever holds a leaked secret can sign a recorded token id under a higher role or a later
    expiry, and the record is what tells it apart."""
    if record is None:
        raise Unauthorized("The bearer token has been revoked or was not issued here.", reason="revoked")
    claimed = (principal.subject, principal.role.value, expires)
    if (record.subject, record.role, int(record.expires_at.timestamp())) != claimed:
        log.warning(
            "a bearer token's claims differ from its record: it was signed again, so the signing secret may "
            "have leaked",
            extra={"token_id": principal.token_id},
        )
        raise Unauthorized("The bearer token does not match the token issued under its id.", reason="forged")
    if record.revoked_at is not None:
        raise Unauthorized("The bearer token has been revoked or was not issued here.", reason="revoked")


class Authenticator:
    """Bearer token -> Principal, accepting only tokens recorded as issued, not revoked, and
    claiming what their record holds.

    A token found valid is remembered for `cache_seconds` (never past its expiry), so the hot
    routes that game servers call thousands of times a second neither verify a signature nor
    read the store per request. A revocation clears the memory at once in the revoking process
    and, through the change bus, in the others; `cache_seconds` bounds the window if a bus
    message is lost. The memory is keyed by the whole token, so an entry vouches only for the
    claims that were compared with the record: a token re-signed with other claims under the same
    id is another key, and is checked against the store.
    """

    def __init__(
        self,
        codec: TokenCodec,
        engine: AsyncEngine,
        clock: Clock,
        *,
        cache_seconds: float = 5.0,
        cache_size: int = 10_000,
    ) -> None:
        self.codec = codec
        self.engine = engine
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        # One store check per token at a time: when a cached entry expires under load, the
        # requests that arrive meanwhile wait for that check instead of each making their own.
        self._checks: dict[str, asyncio.Future[Principal]] = {}

    def forget_all(self) -> None:
        self._cache.clear()

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized(
                "A bearer token is required: send `Authorization: Bearer <token>` "
                f"(an API key is exchanged for one at {TOKEN_EXCHANGE})."
            )
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            if (token or scheme).startswith(API_KEY_PREFIX):
                raise _api_key_sent()
            raise Unauthorized("Use the Bearer scheme: `Authorization: Bearer <token>`.")
        now = self.clock.now().timestamp()
        cached = self._cache.get(token)
        if cached is not None:
            if now < cached[1]:
                return cached[0]
            del self._cache[token]
        if token.startswith(API_KEY_PREFIX):
            raise _api_key_sent()
        principal, expires = self.codec.verify(token)
        pending = self._checks.get(token)
        if pending is not None:
            return await asyncio.shield(pending)
        check = self._checks[token] = asyncio.get_running_loop().create_future()
        try:
            async with self.engine.connect() as conn:
                await conn.execution_options(**READ_ONLY)
                record = await AuthRepository(conn).get_token(principal.token_id)
            _check_record(record, principal, expires)
        except asyncio.CancelledError:
            check.cancel()  # the waiters retry on their own
            raise
        except Exception as exc:
            check.set_exception(exc)
            check.exception()  # marked retrieved: waiters re-raise it, but none has to exist
            raise
        finally:
            del self._checks[token]
        if self.cache_seconds > 0:
            self._cache[token] = (principal, min(now + self.cache_seconds, expires))
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        check.set_result(principal)
        return principal
