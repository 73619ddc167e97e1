"""The repository stands alone: a clone with nothing beside it builds, tests and explains itself.

- No tracked file reads or points at anything outside the repository (a user has only the clone).
- Comments, docstrings and docs state a rule itself, never the document or ticket it came from
  ("at most 4 events at once", not a reference the reader cannot open).
- Vendored data keeps its licence beside it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()

# Directories of text we write (vendored data and lock files are not ours to reword).
CHECKED = ("src", "tests", "sdk", "bench", "scripts", "deploy", "docs", "scenarios", ".ci")
CHECKED_FILES = ("README.md", "CHANGELOG.md", "Makefile", "pyproject.toml")
SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".sh", ".ini", ".cfg", ".txt", ".json", ""}
VENDORED = ("tests/targeting/data/",)

OUTSIDE = re.compile(r"\.\./shared|(?<![\w-])shared/(?:seeds|conformance|DESIGN|STYLE)")
CITATION = re.compile(
    r"\b(?:seeds? ?0\d\d|(?<!-)seeds? \d\b|issues?[ -]#?\d+\b|seed's|the seeds\b"
    r"|seed (?:requests?|bod(?:y|ies)|states|says|asks)\b|which the seed\b"
    r"|(?:the|an?) (?:\w+ )?issue (?:is silent|says|asks))|\(the \w+ issue\)|seed_\d{3}",
    re.IGNORECASE,
)


def _cannot(why: str) -> NoReturn:
    """A skip on a laptop; a failure where CI asks for the tools (HOTSWAP_TEST_REQUIRE_TOOLS=1)."""
    if os.environ.get("HOTSWAP_TEST_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{why}, and HOTSWAP_TEST_REQUIRE_TOOLS=1 requires it", pytrace=False)
    pytest.skip(why)


def _tracked() -> list[Path]:
    git = shutil.which("git")
    if git is None:
        _cannot("git is not installed: the tracked files can't be listed")
    try:
        out = subprocess.run([git, "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout  # noqa: S603
    except subprocess.CalledProcessError:
        _cannot("not a git checkout: the tracked files can't be listed")
    files = []
    for name in out.splitlines():
        path = ROOT / name
        if name.startswith(VENDORED) or path.resolve() == THIS or not path.is_file():
            continue
        if (name.split("/")[0] in CHECKED or name in CHECKED_FILES) and path.suffix in SUFFIXES:
            files.append(path)
    return files


def _hits(pattern: re.Pattern[str]) -> list[str]:
    hits = []
    for path in _tracked():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    return hits


def test_no_file_reaches_outside_the_repository() -> None:
    assert _hits(OUTSIDE) == []


def test_comments_state_the_rule_not_where_it_came_from() -> None:
    assert _hits(CITATION) == []


@pytest.mark.parametrize(
    "line",
    [
        "# seed 002: at most 4 events at once",
        '"""Seed 000\'s name for `strategy`."""',
        "(issue 7) the calendar pages",
        "see issue #12",
        "as in the seeds",
        "path = '../shared/conformance/growthbook-cases.json'",
        "choices where the issue is silent:",
        "a JSON object (as in the seed requests)",
        "SEED_000 = {",
        "def test_seed_004_quick_start():",
        "the issue-3 target (3x)",
        "Targets (the analysis issue): at most",
        "complaints, which the seed states as a share",
    ],
)
def test_the_checks_see_what_they_look_for(line: str) -> None:
    assert CITATION.search(line) or OUTSIDE.search(line)


@pytest.mark.parametrize(
    "line",
    [
        "hashSeed: the same seed exposes the same units",
        "rng = default_rng(seed)",
        "hashed with the event's id as the seed",
        "a shared kernel",
        "the operations runbook",
        "--seed 7",
    ],
)
def test_the_checks_leave_ordinary_words_alone(line: str) -> None:
    assert not CITATION.search(line)
    assert not OUTSIDE.search(line)


def test_vendored_data_keeps_its_licence_and_source() -> None:
    data = ROOT / "tests" / "targeting" / "data"
    assert (data / "growthbook-cases.json").is_file()
    assert "MIT" in (data / "LICENSE-growthbook-cases.txt").read_text()
    assert "github.com/growthbook/growthbook" in (data / "README.md").read_text()


def test_the_project_has_a_licence_and_a_changelog() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
