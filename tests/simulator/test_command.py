"""`hotswap simulate`: a scenario end to end from the command line, with plain output."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner, Result

from hotswap.cli import app
from hotswap.settings import Settings


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # Only what the command sets reaches the embedded server, whatever the shell exports.
    for name in Settings.model_fields:
        monkeypatch.delenv(f"HOTSWAP_{name.upper()}", raising=False)
    return CliRunner()


def said(result: Result) -> str:
    """Everything printed, with rich's box drawing and line wrapping folded into single spaces."""
    return " ".join(result.output.replace("│", " ").replace("┃", " ").split())


def test_the_crashy_scenario_runs_end_to_end_and_is_rolled_back(runner: CliRunner) -> None:
    result = runner.invoke(app, ["simulate", "crashy-balance-patch", "--no-live", "--seed", "3"])
    assert result.exit_code == 0, result.output
    text = said(result)
    assert "warming up: 7,000 players on 13 servers, 1.0.0 live" in text
    assert "simulator create → Running" in text
    assert re.search(r"worker rollback step \d → RolledBack: crash rate \S+ on canary vs \S+ on baseline", text)
    assert "final status RolledBack" in text
    assert "rolled back by worker" in text
    assert "RolledBack ('crash rate' in the reason): met" in text


def test_an_unknown_scenario_is_exit_code_2_with_the_choices(runner: CliRunner) -> None:
    result = runner.invoke(app, ["simulate", "no-such-scenario", "--no-live"])
    assert result.exit_code == 2
    text = said(result)
    assert "scenario error: no scenario named 'no-such-scenario'" in text
    assert "slow-burn-churn" in text


def test_a_remote_run_needs_a_token(runner: CliRunner) -> None:
    result = runner.invoke(app, ["simulate", "healthy-balance-patch", "--url", "http://127.0.0.1:9", "--no-live"])
    assert result.exit_code == 2
    assert "--url needs --token" in said(result)


def test_without_a_terminal_the_run_is_plain_lines_and_the_final_tables_once(runner: CliRunner) -> None:
    # The live view asked for (the default), but the output is captured, as in `... | cat`.
    result = runner.invoke(app, ["simulate", "crashy-balance-patch", "--seed", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "hotswap simulate crashy-balance-patch" not in result.output  # no frame of the live view
    assert "simulator create → Running" in said(result)  # the plain lines instead
    assert [line.strip() for line in lines].count("Arms") == 1
    assert sum(1 for line in lines if line.strip().startswith("Judge")) == 1
    summary = [line for line in lines if "Summary: crashy-balance-patch" in line]
    assert len(summary) == 1
    assert summary[0].strip() == "Summary: crashy-balance-patch"  # on a line of its own, not after a border
    assert lines.index(summary[0]) > 0
    assert not re.search(r"[┘┛╯]", lines[lines.index(summary[0]) - 1])  # the line before is a plain line


def test_the_explanations_read_as_sentences_with_units(runner: CliRunner) -> None:
    result = runner.invoke(app, ["simulate", "crashy-balance-patch", "--no-live"])  # the scenario's own seed
    text = said(result)
    assert "keep waiting: not enough data yet for crash, complaint, session_duration, engagement" in text
    assert "need more data" not in text
    duration = re.search(r"session duration (\S+ \S+) on canary vs (\S+ \S+) on baseline", text)
    assert duration is not None, text
    assert all(re.fullmatch(r"\d+(\.\d)? (s|min|h)", level) for level in duration.groups()), duration.groups()
    assert re.search(r"canary [\d,]+ [\d,]+ [\d.]+% \S+ \d+ \d+\.\d min", text)  # the arms' column agrees
