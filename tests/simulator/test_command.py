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
