"""The terminal's side of a run: the live view on a terminal, plain lines and the final tables once
anywhere else (a pipe, a file, CI), whatever was asked for."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from hotswap.container import Container, build_container
from hotswap.core.clock import Clock
from hotswap.settings import Settings
from hotswap.simulator import load_scenario
from hotswap.simulator.console import embedded_settings, run_embedded
from hotswap.storage import migrate


def _run_on(console: Console, tmp_path: Path) -> str:
    scenario = load_scenario("crashy-balance-patch").scaled(0.1)  # the display is under test, not the verdict
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotswap.db'}"
    migrate.upgrade(url)
    settings = Settings(**embedded_settings(scenario, url))

    def make(clock: Clock) -> Container:
        return build_container(settings, clock=clock)

    run_embedded(scenario, make, speed=1e9, live=True, console=console)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


@pytest.mark.parametrize("terminal", [True, False])
def test_the_live_view_is_only_for_a_terminal(terminal: bool, tmp_path: Path) -> None:
    out = _run_on(Console(file=io.StringIO(), force_terminal=terminal, width=120, color_system=None), tmp_path)
    framed = "hotswap simulate crashy-balance-patch" in out  # the live view's panel
    assert framed is terminal
    assert ("simulator create → Running" in out) is not terminal  # the plain lines
    summary = [line for line in out.splitlines() if "Summary: crashy-balance-patch" in line]
    assert len(summary) == 1
    assert summary[0].strip().endswith("Summary: crashy-balance-patch")
