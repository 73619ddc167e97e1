"""The FastAPI app factory: mounts each slice's router on one composition root."""

from __future__ import annotations

import functools
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.responses import Response

from hotswap import __version__
from hotswap.analysis.api import router as metrics_router
from hotswap.approvals.api import router as approvals_router
from hotswap.audit.api import router as audit_router
from hotswap.auth.api import router as auth_router
from hotswap.auth.model import Permission, Principal
from hotswap.configs.api import router as configs_router
from hotswap.container import Container, build_container
from hotswap.core.clock import Clock
from hotswap.delivery.api import hot_routes
from hotswap.delivery.api import router as delivery_router
from hotswap.delivery.openapi import OPENAPI_PATHS, SERVED_EVENT_SCHEMA
from hotswap.event_templates.api import router as templates_router
from hotswap.events.api import router as events_router
from hotswap.events.engagement_api import router as event_engagement_router
from hotswap.fleet.api import router as fleet_router
from hotswap.fleet.hot import hot_routes as fleet_hot_routes
from hotswap.fleet.openapi import OPENAPI_PATHS as FLEET_OPENAPI_PATHS
from hotswap.observability.logging import configure_logging
from hotswap.players.api import router as players_router
from hotswap.rollouts.api import router as deployments_router
from hotswap.segments.api import router as segments_router
from hotswap.settings import Settings
from hotswap.storage.migrate import current_revision, head_revision
from hotswap.web.deps import require
from hotswap.web.fastpath import HotPathApp
from hotswap.web.middleware import EdgeMiddleware
from hotswap.web.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from hotswap.web.termination import on_termination
from hotswap.webhooks.api import router as webhooks_router

PROBE_PATHS = frozenset({"/health", "/ready"})  # never rate limited: load balancers poll them
PUBLIC_PATHS = PROBE_PATHS | {"/api/v1/auth/token"}
DOC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def public_paths(settings: Settings) -> Callable[[str], bool]:
    """Which paths take no bearer token. The token exchange authenticates with an API key instead."""
    public = PUBLIC_PATHS | DOC_PATHS if settings.public_docs else PUBLIC_PATHS
    return public.__contains__


_PROBLEM = {"content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
COMMON_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing, invalid, expired or revoked token", **_PROBLEM},
    403: {"description": "The token's role may not do this", **_PROBLEM},
    404: {"description": "Not found", **_PROBLEM},
    409: {"description": "Conflicts with the current state", **_PROBLEM},
    413: {"description": "Body too large", **_PROBLEM},
    415: {"description": "A body not sent as JSON (`Content-Type: application/json`)", **_PROBLEM},
    422: {"description": "Invalid input; `errors` lists each failing field", **_PROBLEM},
    429: {"description": "Rate limited; see Retry-After", **_PROBLEM},
}


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, container: Container | None = None
) -> FastAPI:
    settings = settings or Settings()
    container = container or build_container(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await container.start()
        # What exists now (modules, tables, the first snapshots) lives as long as the process:
        # take it out of the collector's sight, so full collections under load stay short.
        gc.collect()
        gc.freeze()
        try:
            with on_termination(container.streams.shutdown):
                yield
        finally:
            await container.aclose()

    app = HotPathApp(
        title="HotSwap",
        version=__version__,
        description="Live-ops configuration for online games. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        responses=COMMON_RESPONSES,
    )
    app.state.container = container
    app.state.services = container.services()
    install_problem_handlers(app)
    app.add_middleware(
        EdgeMiddleware,
        authenticator=container.authenticator,
        rate_limiter=container.rate_limiter,
        metrics=container.metrics,
        max_body_bytes=settings.max_body_bytes,
        is_public=public_paths(settings),
        is_unlimited=PROBE_PATHS.__contains__,
    )
    # In front of everything: the hot routes never reach the edge middleware or FastAPI.
    app.install_hot_path(
        routes=[
            *hot_routes(
                container.snapshots,
                container.streams,
                container.clock,
                functools.partial(container.players.cached_profile, container.uow),
            ),
            *fleet_hot_routes(container.fleet, container.uow),
        ],
        authenticator=container.authenticator,
        metrics=container.metrics,
        max_body_bytes=settings.max_body_bytes,
    )
    for router in (
        auth_router,
        configs_router,
        approvals_router,
        audit_router,
        segments_router,
        players_router,
        fleet_router,
        deployments_router,
        webhooks_router,
        metrics_router,
        templates_router,
        events_router,
        event_engagement_router,
        delivery_router,
    ):
        app.include_router(router)
    _mount_operational_routes(app, container)
    _declare_problem_schema(app)
    return app


def served_app() -> FastAPI:
    """The app as `hotswap serve` runs it (a factory the server's worker calls): settings from
    the HOTSWAP_* environment, JSON logs."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="`ok`, or what is wrong: database, migrations")


def _mount_operational_routes(app: FastAPI, c: Container) -> None:
    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["operations"],
        response_model=Readiness,
        responses={503: {"description": "Not ready; `checks` says why", "model": Readiness}},
    )
    async def ready() -> Response:
        """The database answers and its schema is at the newest migration."""
        checks: dict[str, str] = {}
        try:
            async with c.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                current = await current_revision(conn)
            checks["database"] = "ok"
            head = head_revision()
            checks["migrations"] = "ok" if current == head else f"at {current}, expected {head}"
        except Exception as exc:  # any failure to reach the store means not ready, with the reason
            checks["database"] = f"unreachable: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        body = {"status": "ready" if ok else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics(_: Annotated[Principal, Depends(require(Permission.METRICS_READ))]) -> Response:
        """Prometheus text format."""
        return Response(c.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _declare_problem_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("paths", {}).update({**OPENAPI_PATHS, **FLEET_OPENAPI_PATHS})
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["ServedEvent"] = SERVED_EVENT_SCHEMA
        components["schemas"]["Problem"] = {
            "type": "object",
            "description": "RFC 9457 problem details",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "requestId": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "pointer": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
        components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
