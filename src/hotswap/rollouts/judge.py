"""The seam between rollouts and the analysis slice: who says whether a step is healthy.

The worker asks the judge about the current step each time it looks at a deployment for which
`lifecycle.needs_verdict` is true, then hands the judgement to `lifecycle.decide`. The judge
reads in the worker's transaction (and may store what it found there: a verdict is kept only if
the step's change commits). With health checks off, or without the analysis slice wired,
`AlwaysContinue` judges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hotswap.rollouts.model import Verdict

if TYPE_CHECKING:
    from hotswap.rollouts.repository import Row
    from hotswap.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict and, for PAUSE and ROLLBACK, why (it goes into the decision log and webhooks)."""

    verdict: Verdict
    reason: str | None = None


CONTINUE = Judgement(Verdict.CONTINUE)


class Judge(Protocol):
    async def judge(self, uow: UnitOfWork, deployment: Row, step_index: int) -> Judgement:
        """The judgement on step `step_index` of `deployment` so far (canary against baseline)."""
        ...


class AlwaysContinue:
    """Every step is healthy: steps advance when their holds are over."""

    async def judge(self, uow: UnitOfWork, deployment: Row, step_index: int) -> Judgement:
        return CONTINUE
