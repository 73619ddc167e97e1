"""The terminal's side, on hand-made frames: what the live view and the summary show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from hotswap.simulator import Frame, SimulationResult, TickRecord, load_scenario
from hotswap.simulator.run import decisions
from hotswap.simulator.view import PlainLog, clock, render, summary

AT = datetime(2026, 6, 1, 18, 40, tzinfo=UTC)
REASON = "crash rate 4.0% on canary vs 2.0% on baseline (+100%): above the critical +10%, roll back"
DEPLOYMENT: dict[str, Any] = {
    "id": "dep_1",
    "status": "RolledBack",
    "step": 0,
    "reason": REASON,
    "steps": [
        {"index": i, "name": f"canary {p}%", "exposure": [{"percentage": p}], "startedAt": "2026-06-01T18:20:00Z"}
        for i, p in enumerate((10, 30, 50, 100))
    ],
    "log": [
        {"at": "2026-06-01T18:20:00Z", "actor": "simulator", "action": "create", "toStatus": "Running"},
        {"at": "2026-06-01T18:20:00Z", "actor": "worker", "action": "advance", "toStatus": "Running", "toStep": 0},
        {"at": "2026-06-01T18:40:00Z", "actor": "worker", "action": "rollback", "toStatus": "RolledBack",
         "fromStep": 0, "toStep": 0, "reason": REASON},
    ],
}  # fmt: skip
ARM = {
    "players": 700, "sessions": 1500, "crashRate": 0.04, "playerChurnRate": None, "playerComplaints": 1,
    "avgSessionDuration": "PT7M", "avgSessionDurationSeconds": 420.0, "engagement": 62.0, "fps": {"p50": 60.0},
    "networkLatency": {"p50": 45.0},
}  # fmt: skip
CRASH = {"metric": "crash", "outcome": "Failed", "explanation": REASON}
METRICS: dict[str, Any] = {
    "outcome": "Failed",
    "explanation": "roll back: crash failed",
    "judged": True,
    "arms": {"canary": ARM, "baseline": ARM | {"crashRate": 0.02}},
    "metrics": [CRASH],
}


def record(elapsed: timedelta = timedelta(minutes=20)) -> TickRecord:
    explanation = "roll back: crash failed"
    return TickRecord(AT, elapsed, "RolledBack", 0, 10.0, "Failed", explanation, 6000, 600, 300, 8, 0, 9000)


def shown(renderable: Any) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return " ".join(console.export_text().replace("│", " ").split())


def test_the_clock_counts_from_the_deployment() -> None:
    assert clock(timedelta(minutes=75)) == "+1:15"
    assert clock(timedelta(minutes=-12)) == "-0:12"
    assert clock(timedelta(0)) == "+0:00"


def test_the_live_view_shows_steps_arms_verdicts_and_decisions() -> None:
    text = shown(render(Frame(load_scenario("crashy-balance-patch"), record(), DEPLOYMENT, METRICS)))
    assert "18:40 (+0:20) RolledBack step 0 (10%) · 6,000 players online, 600 on 2.0.0 · 9,000 samples" in text
    assert "0 canary 10% 10% 18:20 ✗ RolledBack" in text
    assert "1 canary 30% 30% · waiting" in text
    assert "canary 700 1,500 4.00% – 1 7.0 min 62.0 60.0 45.0" in text
    assert "baseline 700 1,500 2.00%" in text
    assert "Judge: roll back: crash failed" in text
    assert f"crash Failed {REASON}" in text
    assert f"18:40 worker rollback {REASON}" in text


def test_warming_up_shows_the_players_before_any_deployment() -> None:
    warm = TickRecord(AT, timedelta(minutes=-5), None, None, 0.0, None, None, 6000, 0, 300, 8, 0, 2000)
    text = shown(render(Frame(load_scenario("crashy-balance-patch"), warm, None, None)))
    assert "(-0:05) warming up · 6,000 players online" in text


async def test_plain_lines_say_each_decision_once_at_its_own_time() -> None:
    console = Console(width=300, record=True, color_system=None)
    plain = PlainLog(console, load_scenario("crashy-balance-patch"))
    frame = Frame(load_scenario("crashy-balance-patch"), record(), DEPLOYMENT, METRICS)
    await plain.on_frame(frame)
    await plain.on_frame(frame)
    lines = console.export_text().splitlines()
    assert lines[0] == "18:38 (+0:18) warming up: 7,000 players on 13 servers, 1.0.0 live"
    assert lines[1:4] == [
        "18:20 (+0:00) simulator create → Running",
        "18:20 (+0:00) worker advance step 0 → Running",
        f"18:40 (+0:20) worker rollback step 0 → RolledBack: {REASON}",
    ]
    assert lines[4] == "18:40 (+0:20) judge: Failed (roll back: crash failed)"
    assert len(lines) == 5  # the second frame has nothing new


def test_the_summary_says_who_rolled_back_why_and_whether_it_was_expected() -> None:
    scenario = load_scenario("crashy-balance-patch")
    verdict = {"step": 0, "at": "2026-06-01T18:40:00Z", "explanation": "roll back: crash failed",
               "outcome": "Failed", "detail": {"metrics": [CRASH]}}  # fmt: skip
    result = SimulationResult(
        scenario=scenario.name, deployment_id="dep_1", status="RolledBack", step=0, percentage=10.0, reached=10.0,
        reason=REASON, log=tuple(decisions(DEPLOYMENT)), history=(record(),), metrics=METRICS,
        deployment=DEPLOYMENT, verdicts=(verdict,), simulated=timedelta(minutes=20), samples=9000,
        expectation=scenario.expect,
    )  # fmt: skip
    assert result.met_expectation is True
    text = shown(summary(result, 4.2))
    assert "deployment dep_1 (10% → 30% → 50% → 100%)" in text
    assert "final status RolledBack" in text
    assert "exposure reached 10% (ended on step 0, 10%)" in text
    assert "rolled back by worker at 18:40" in text
    assert f"why {REASON}" in text
    assert "real time 4.2 s" in text
    assert "expected RolledBack ('crash rate' in the reason): met" in text
    assert "Judge's last verdict, step 0 at 18:40: roll back: crash failed" in text
