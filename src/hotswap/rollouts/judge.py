"""The seam between rollouts and the analysis slice: who says whether a step is healthy.

The worker asks the judge about the current step each time it looks at a deployment for which
`lifecycle.needs_verdict` is true, then hands the verdict to `lifecycle.decide`. Until the
analysis slice exists (or when a deployment has health checks off), `AlwaysContinue` judges.
"""

from __future__ import annotations

from typing import Protocol

from hotswap.rollouts.model import Verdict


class Judge(Protocol):
    async def judge(self, deployment_id: str, step_index: int) -> Verdict:
        """The verdict on step `step_index` of deployment `deployment_id` so far (canary against
        baseline metrics since the step started). May read metrics; must not change anything."""
        ...


class AlwaysContinue:
    """Every step is healthy: steps advance when their holds are over."""

    async def judge(self, deployment_id: str, step_index: int) -> Verdict:
        return Verdict.CONTINUE
