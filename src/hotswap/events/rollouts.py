"""Live events as something deployments roll out (`EventRollouts` implements the rollouts
slice's `RolloutSubject` port): to players, hashed with the event's id as the seed (the
snapshot's event entry hashes `playerId` with it too, so the players a step exposes are the ones
the plan counts, and a later deployment of the event starts from the same players).

An event that is still Scheduled is rolled out from its start: the first step waits for it (a
person's promote starts it earlier), so the canary watches players who can see the event, and
nobody sees it before that step. An event that has gone live (Active, or Paused and resumed)
stays as its players see it until the first step (while the deployment waits for an approval,
say): the deployment takes over its exposure from then on. A deployment that ends without
success after exposing players pauses the event: off the air, in its own status and history."""

from __future__ import annotations

from hotswap.auth.model import Principal
from hotswap.core.environments import Environment, parse_environment
from hotswap.core.errors import Conflict, FieldError, InvalidInput, NotFound
from hotswap.events.model import KIND, EventAction, EventStatus
from hotswap.events.service import EventService
from hotswap.rollouts.model import Row, UnitKind
from hotswap.rollouts.subjects import Subject, SubjectRequest
from hotswap.storage.uow import UnitOfWork

# The statuses in which a live event may be rolled out (an ended or cancelled one may not).
DEPLOYABLE = frozenset({EventStatus.SCHEDULED, EventStatus.ACTIVE, EventStatus.PAUSED})
# An event that has gone live is served as before until the deployment's first step.
KEEPS = frozenset({EventStatus.ACTIVE, EventStatus.PAUSED})


class EventRollouts:
    kind = KIND
    name = "live event"
    unit_kinds: tuple[UnitKind, ...] = (UnitKind.PLAYERS,)

    def __init__(self, events: EventService) -> None:
        self.events = events

    def describe(self, subject_id: str) -> str:
        return f"live event {subject_id!r}"

    async def resolve(self, uow: UnitOfWork, request: SubjectRequest) -> Subject:
        """The event, row-locked: an edit or an activation at once either commits first (and is
        read here) or waits, and then finds this deployment to move (`EventStartMoved`)."""
        try:
            event = await self.events.get(uow, request.id, lock=True)
        except NotFound as exc:
            raise InvalidInput(
                f"No live event {request.id!r}.", errors=[FieldError("body.eventId", "no such live event")]
            ) from exc
        if event.status not in DEPLOYABLE:
            raise Conflict(
                f"Live event {event.id!r} is {event.status.value}: only a Scheduled, Active or Paused event "
                "can be rolled out.",
                extra={"eventStatus": event.status.value},
            )
        env = Environment(event.environment)
        if request.environment is not None and parse_environment(request.environment, "body.environment") is not env:
            raise InvalidInput(
                f"Live event {event.id!r} is in {env.value}.",
                errors=[FieldError("body.environment", f"the event is in {env.value}")],
            )
        return Subject(
            kind=KIND,
            id=event.id,
            environment=env,
            what=f"live event {event.id!r} v{event.version}",
            authors=tuple(sorted({event.created_by, event.updated_by})),
            version=str(event.version),
            seed=event.id,
            starts_at=event.start_at if event.status is EventStatus.SCHEDULED else None,
            exposed_from_creation=True,
            keeps_exposure=event.status in KEEPS,
        )

    async def succeeded(self, uow: UnitOfWork, actor: Principal, deployment: Row) -> None:
        """Nothing to do: the snapshot serves the event to whom its deployment left it."""

    async def withdrawn(self, uow: UnitOfWork, actor: Principal, deployment: Row) -> None:
        """Pause the event if it is Active: the deployment no longer decides who sees it, so the
        pause is what takes it off the air, in the event's own status and history."""
        try:
            event = await self.events.get(uow, deployment.subject)
            if event.status is EventStatus.ACTIVE:
                await self.events.act(uow, actor, deployment.subject, EventAction.PAUSE)
        except (NotFound, Conflict):
            # Gone, or no longer Active by the time it is locked: there is nothing to pause, and
            # the rollback stands. (Both are raised before the events slice writes anything.)
            return
