"""HTTP routes for deployments. Thin: parse, call, commit, render."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from hotswap.auth.model import Permission, Principal
from hotswap.core.errors import FieldError, InvalidInput
from hotswap.core.pagination import check_limit, cursor_instant, cursor_str, encode_cursor
from hotswap.fleet.service import FleetService
from hotswap.rollouts.model import Action, Plan, Status, covers_everyone
from hotswap.rollouts.schemas import ActionBody, DeploymentCreate, DeploymentRead, RollbackBody
from hotswap.rollouts.service import DeploymentService
from hotswap.rollouts.views import deployment_view, page_targets, plan_of
from hotswap.storage.uow import UnitOfWork, UnitOfWorkFactory
from hotswap.web.deps import UowDep, require, service
from hotswap.web.schemas import PageRead

router = APIRouter(prefix="/api/v1", tags=["deployments"])

Deployments = Annotated[DeploymentService, Depends(service(DeploymentService))]
Fleet = Annotated[FleetService, Depends(service(FleetService))]
Transactions = Annotated[UnitOfWorkFactory, Depends(service(UnitOfWorkFactory))]


@dataclass(frozen=True, slots=True)
class _Routes:
    """What the deployment routes use: the services, and a fresh read after a commit."""

    deployments: DeploymentService
    fleet: FleetService
    transactions: UnitOfWorkFactory

    async def committed_view(self, deployment_id: str) -> DeploymentRead:
        """The deployment as just committed, read in a transaction of its own."""
        async with self.transactions(read_only=True) as read:
            row = await self.deployments.get(read, deployment_id)
            return await deployment_view(read, self.deployments, self.fleet, row, plan_of(row))


def _routes(deployments: Deployments, fleet: Fleet, transactions: Transactions) -> _Routes:
    return _Routes(deployments, fleet, transactions)


Routes = Annotated[_Routes, Depends(_routes)]
Reader = Annotated[Principal, Depends(require(Permission.FLEET_READ))]
Writer = Annotated[Principal, Depends(require(Permission.DEPLOYMENT_WRITE))]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post(
    "/deployments",
    status_code=status.HTTP_201_CREATED,
    response_model=DeploymentRead,
    responses={200: {"description": "A dry run: the plan, nothing stored", "model": DeploymentRead}},
)
async def create_deployment(
    body: DeploymentCreate,
    actor: Writer,
    uow: UowDep,
    routes: Routes,
    response: Response,
    dry_run: Annotated[bool, Query(alias="dryRun")] = False,
) -> DeploymentRead:
    """Start a deployment (in Production it waits for approval), or with `?dryRun=true` return its
    plan (steps, expected times, servers per step) and store nothing."""
    created = await routes.deployments.create(uow, actor, body.command(), dry_run=dry_run)
    if created.dry_run:
        response.status_code = status.HTTP_200_OK
        return await deployment_view(uow, routes.deployments, routes.fleet, created.row, created.plan, dry_run=True)
    await uow.commit()
    response.headers["Location"] = f"/api/v1/deployments/{created.row.id}"
    return await routes.committed_view(created.row.id)


@router.get("/deployments", response_model=PageRead[DeploymentRead])
async def list_deployments(
    _: Reader,
    uow: UowDep,
    deployments: Deployments,
    fleet: Fleet,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    config: Annotated[str | None, Query(max_length=200)] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> PageRead[DeploymentRead]:
    """Newest first. Each deployment without its steps' server counts, applied counts and log (see
    GET /api/v1/deployments/{id}); its warnings are judged now, as there."""
    check_limit(limit)
    after = None
    if cursor is not None:
        after = (cursor_instant(cursor, "at"), cursor_str(cursor, "id"))
    rows = await deployments.page(
        uow, status=status_.value if status_ else None, config=config, after=after, limit=limit + 1
    )
    page = rows[:limit]
    registered = await page_targets(uow, fleet, page)
    items = [
        await deployment_view(uow, deployments, fleet, row, plan_of(row), detail=False, registered=registered)
        for row in page
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor({"at": last.created_at.isoformat(), "id": last.id})
    return PageRead(items=items, next_cursor=next_cursor)


@router.get("/deployments/{deployment_id}", response_model=DeploymentRead)
async def get_deployment(
    deployment_id: str, _: Reader, uow: UowDep, fleet: Fleet, deployments: Deployments
) -> DeploymentRead:
    row = await deployments.get(uow, deployment_id)
    return await deployment_view(uow, deployments, fleet, row, plan_of(row))


async def _act(
    routes: _Routes,
    uow: UnitOfWork,
    actor: Principal,
    deployment_id: str,
    action: Action,
    reason: str | None,
    to_step: int | None = None,
) -> DeploymentRead:
    await routes.deployments.act(uow, actor, deployment_id, action, reason=reason, to_step=to_step)
    await uow.commit()
    return await routes.committed_view(deployment_id)


@router.post("/deployments/{deployment_id}/pause", response_model=DeploymentRead)
async def pause(
    deployment_id: str, actor: Writer, uow: UowDep, routes: Routes, body: ActionBody | None = None
) -> DeploymentRead:
    """Stop advancing; what is exposed stays exposed (and watched)."""
    return await _act(routes, uow, actor, deployment_id, Action.PAUSE, body.reason if body else None)


@router.post("/deployments/{deployment_id}/resume", response_model=DeploymentRead)
async def resume(
    deployment_id: str, actor: Writer, uow: UowDep, routes: Routes, body: ActionBody | None = None
) -> DeploymentRead:
    return await _act(routes, uow, actor, deployment_id, Action.RESUME, body.reason if body else None)


@router.post("/deployments/{deployment_id}/promote", response_model=DeploymentRead)
async def promote(
    deployment_id: str,
    actor: Writer,
    uow: UowDep,
    routes: Routes,
    body: ActionBody | None = None,
    to: Annotated[float | None, Query(gt=0, le=100, description="Go to the first step exposing this percent")] = None,
    to_step: Annotated[int | None, Query(alias="toStep", ge=0, le=1000)] = None,
) -> DeploymentRead:
    """The next step now (a gate's way on), `?to=100` straight to everyone, or `?toStep=N`. At the
    last step it finishes the deployment (a BlueGreen deployment is finalized this way)."""
    if to is not None and to_step is not None:
        raise InvalidInput("Give `to` or `toStep`, not both.", errors=[FieldError("query.to", "conflicts with toStep")])
    if to is not None or to_step is not None:
        row = await routes.deployments.get(uow, deployment_id)
        plan = plan_of(row)
        if to is not None:
            to_step = _step_for_percentage(plan, to)
        if to_step == plan.last and row.step == plan.last:
            to_step = None  # at the last step already: promoting finishes the deployment
    return await _act(routes, uow, actor, deployment_id, Action.PROMOTE, body.reason if body else None, to_step)


@router.post("/deployments/{deployment_id}/rollback", response_model=DeploymentRead)
async def rollback(
    deployment_id: str, actor: Writer, uow: UowDep, routes: Routes, body: RollbackBody | None = None
) -> DeploymentRead:
    """Every unit back on the previous version, in one snapshot revision."""
    return await _act(routes, uow, actor, deployment_id, Action.ROLLBACK, body.reason if body else None)


@router.post("/deployments/{deployment_id}/cancel", response_model=DeploymentRead)
async def cancel(
    deployment_id: str, actor: Writer, uow: UowDep, routes: Routes, body: ActionBody | None = None
) -> DeploymentRead:
    return await _act(routes, uow, actor, deployment_id, Action.CANCEL, body.reason if body else None)


def _step_for_percentage(plan: Plan, percentage: float) -> int:
    """The first step whose widest grant reaches `percentage` (100: the step that covers all)."""
    for step in plan.steps:
        if percentage >= 100 and covers_everyone(step.exposure):
            return step.index
        # Grants of named units (a BlueGreen preview, named servers) say nothing of a share.
        shares = [g.percentage for g in step.exposure if g.units is None]
        if percentage < 100 and max(shares, default=0) >= percentage:
            return step.index
    return plan.last
