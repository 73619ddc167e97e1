"""The composition root: builds engines, clients and services once, from settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from hotswap.approvals.service import ApprovalService
from hotswap.audit.service import AuditLog
from hotswap.auth.service import Authenticator, AuthService
from hotswap.auth.tokens import TokenCodec
from hotswap.configs.releases import ReleaseService
from hotswap.configs.service import ConfigService
from hotswap.core.clock import Clock, SystemClock
from hotswap.observability.metrics import Metrics
from hotswap.settings import Settings
from hotswap.storage.engine import create_engine
from hotswap.storage.uow import UnitOfWorkFactory
from hotswap.web.ratelimit import RateLimiter


@dataclass
class Container:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    uow: UnitOfWorkFactory
    metrics: Metrics
    codec: TokenCodec
    authenticator: Authenticator
    audit: AuditLog
    auth: AuthService
    approvals: ApprovalService
    configs: ConfigService
    releases: ReleaseService
    rate_limiter: RateLimiter | None = None

    async def aclose(self) -> None:
        if self.rate_limiter is not None:
            close = getattr(self.rate_limiter.storage, "aclose", None)
            if close is not None:
                await close()
        await self.engine.dispose()


def build_container(settings: Settings, *, clock: Clock | None = None, engine: AsyncEngine | None = None) -> Container:
    clock = clock or SystemClock()
    engine = engine or create_engine(settings.database_url, echo=settings.database_echo)
    metrics = Metrics()
    codec = TokenCodec(settings.jwt_secret.get_secret_value(), settings.jwt_algorithm, settings.jwt_issuer, clock)
    audit = AuditLog()
    approvals = ApprovalService(audit, metrics)
    rate_limiter = (
        RateLimiter.create(
            settings.redis_url, per_token=settings.rate_limit_per_token, per_address=settings.rate_limit_per_address
        )
        if settings.rate_limit_enabled
        else None
    )
    return Container(
        settings=settings,
        clock=clock,
        engine=engine,
        uow=UnitOfWorkFactory(engine, clock),
        metrics=metrics,
        codec=codec,
        authenticator=Authenticator(codec, engine),
        audit=audit,
        auth=AuthService(
            codec,
            audit,
            token_ttl=timedelta(seconds=settings.token_ttl_seconds),
            server_token_ttl=timedelta(seconds=settings.server_token_ttl_seconds),
        ),
        approvals=approvals,
        configs=ConfigService(audit, metrics),
        releases=ReleaseService(audit, approvals, metrics),
        rate_limiter=rate_limiter,
    )
