"""The judge seam: until the analysis slice exists, every step is healthy."""

from __future__ import annotations

from hotswap.rollouts.judge import AlwaysContinue, Judge
from hotswap.rollouts.model import Verdict


async def test_always_continue_says_continue_for_any_step() -> None:
    judge: Judge = AlwaysContinue()  # satisfies the protocol
    assert await judge.judge("dep_1", 0) is Verdict.CONTINUE
    assert await judge.judge("dep_2", 7) is Verdict.CONTINUE


def test_verdicts_are_the_three_the_worker_understands() -> None:
    assert [v.value for v in Verdict] == ["continue", "hold", "rollback"]
