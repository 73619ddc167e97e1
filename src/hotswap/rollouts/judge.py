"""The seam between rollouts and the analysis slice: who says whether a step is healthy.

The worker asks the judge about the current step each time it looks at a deployment for which
`lifecycle.needs_verdict` is true, then hands the judgement to `lifecycle.decide`. The judge
reads in the worker's transaction (and may store what it found there: a verdict is kept only if
the step's change commits). With health checks off, or without the analysis slice wired,
`AlwaysContinue` judges. A request's `analysis` (the policy the judge will apply) is the judge's
to check, when the deployment is drafted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hotswap.rollouts.model import Row, Verdict

if TYPE_CHECKING:
    from hotswap.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict and, for PAUSE and ROLLBACK, why (it goes into the decision log and webhooks)."""

    verdict: Verdict
    reason: str | None = None


CONTINUE = Judgement(Verdict.CONTINUE)


class Judge(Protocol):
    def check(self, analysis: Any) -> None:
        """Raise InvalidInput naming the field (`body.analysis.metrics.0.critical`) for a policy
        it cannot judge by; `analysis` is the request's object, or None."""
        ...

    async def judge(self, uow: UnitOfWork, deployment: Row, step_index: int) -> Judgement:
        """The judgement on step `step_index` of `deployment` so far (canary against baseline)."""
        ...


class AlwaysContinue:
    """Every step is healthy: steps advance when their holds are over."""

    def check(self, analysis: Any) -> None:
        return None

    async def judge(self, uow: UnitOfWork, deployment: Row, step_index: int) -> Judgement:
        return CONTINUE
