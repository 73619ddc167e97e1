"""The canary judge: the rollouts slice's `Judge`, from the deployment's metrics.

Each look evaluates the deployment's policy (`AnalysisService.look`) and turns the outcome into
what the worker does:

| outcome | judgement |
| --- | --- |
| FAILED | ROLLBACK, with the failing metrics' explanations as the reason |
| INCONCLUSIVE, ERROR | PAUSE ("hold and alert": the pause fires the webhooks), with the reasons |
| PENDING | HOLD: the step does not advance; after twice the step's hold, PAUSE (too little data to decide) |
| SUCCESSFUL | CONTINUE |

Choices made here:
- Once a person resumes a deployment the judge paused, warnings in that step no longer pause
  it (the person has decided); a FAILED verdict still rolls it back.
- A deployment with no metric sample at all is not judged (CONTINUE) unless its `analysis`
  sets `requireMetrics`: teams that report no metrics keep plain timed steps. Once any sample
  arrives, the whole policy applies, and data that stops is an ERROR.
- A step without an evaluation period (a Direct deployment) has nothing to wait for: PENDING
  continues.
- Every look's verdict is stored with its numbers when it differs from the last stored one, or
  at least every `STORE_EVERY`, so the history explains each decision without a row per poll.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hotswap.analysis.repository import MetricsRepository
from hotswap.analysis.service import AnalysisService, Look, analysis_options, check_analysis
from hotswap.analysis.verdicts import LookVerdict, Outcome
from hotswap.rollouts import codec
from hotswap.rollouts.judge import CONTINUE, Judgement
from hotswap.rollouts.model import Row, Verdict
from hotswap.storage.uow import UnitOfWork

STORE_EVERY = timedelta(minutes=1)


class MetricsJudge:
    def __init__(self, analysis: AnalysisService) -> None:
        self.analysis = analysis

    def check(self, analysis: Any) -> None:
        check_analysis(analysis)

    async def judge(self, uow: UnitOfWork, deployment: Row, step_index: int) -> Judgement:
        look = await self.analysis.look(uow, deployment)
        _, require = analysis_options(deployment.spec)
        if not look.reported and not require:
            return CONTINUE  # nothing reported: plain timed steps, nothing to store
        judgement = await self._judgement(uow, deployment, step_index, look)
        await self._store(uow, deployment, step_index, look.verdict)
        outcome = look.verdict.outcome.value
        uow.after_commit(lambda: self.analysis.metrics.judge_verdicts.labels(outcome).inc())
        return judgement

    async def _judgement(self, uow: UnitOfWork, row: Row, step_index: int, look: Look) -> Judgement:
        verdict = look.verdict
        outcome = verdict.outcome
        if outcome is Outcome.SUCCESSFUL:
            return CONTINUE
        if outcome is Outcome.FAILED:
            return Judgement(Verdict.ROLLBACK, _reason(verdict, Outcome.FAILED))
        if outcome in (Outcome.INCONCLUSIVE, Outcome.ERROR):
            if await self._resumed_by_a_person(uow, row):
                return CONTINUE
            return Judgement(Verdict.PAUSE, _reason(verdict, Outcome.INCONCLUSIVE, Outcome.ERROR))
        step = codec.plan_from_json(row.plan).steps[step_index]  # PENDING
        hold = step.hold or timedelta(0)
        if hold <= timedelta(0):
            return CONTINUE
        started = row.step_started_at or row.created_at
        waited = uow.clock.now() - started
        if waited > 2 * hold and not await self._resumed_by_a_person(uow, row):
            return Judgement(
                Verdict.PAUSE,
                f"too little data to judge step {step.index} ({step.name}) after {_minutes(waited)}: "
                f"{verdict.explanation}",
            )
        return Judgement(Verdict.HOLD, verdict.explanation)

    async def _resumed_by_a_person(self, uow: UnitOfWork, row: Row) -> bool:
        """Whether, in the current step, a person resumed the deployment after the judge paused it."""
        entries = await self.analysis.deployments.decisions(uow, row.id)
        started = row.step_started_at
        return any(
            e.action == "resume" and e.actor != "worker" and (started is None or e.at >= started) for e in entries
        )

    async def _store(self, uow: UnitOfWork, row: Row, step: int, verdict: LookVerdict) -> None:
        repo = MetricsRepository(uow.conn)
        now = uow.clock.now()
        last = await repo.last_verdict(row.id)
        changed = last is None or last.outcome != verdict.outcome.value or last.step != step
        if changed or now - last.at >= STORE_EVERY:
            await repo.add_verdict(row.id, step, now, verdict.outcome.value, verdict.explanation, verdict.to_json())


def _reason(verdict: LookVerdict, *outcomes: Outcome) -> str:
    parts = [m.explanation for m in verdict.metrics if m.outcome in outcomes]
    if verdict.sample_ratio is not None and verdict.sample_ratio.mismatch:
        parts.insert(0, f"sample-ratio mismatch: {verdict.sample_ratio.explanation}")
    return "; ".join(parts) or verdict.explanation


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
