"""targeting.regex: user-written patterns on RE2, which cannot backtrack, and what it refuses.

Nothing here is timed. That hostile patterns cost little is shown by the engine's guarantee:
the compiled matcher is an RE2 program, whose matching time is linear in the text (at most the
program's size in steps per byte), and a 100,000-character near-miss runs to its answer.
"""

from __future__ import annotations

import pytest
import re2

from hotswap.targeting.conditions import compile_condition
from hotswap.targeting.regex import PatternError, compile_pattern, pattern_problem

# Each takes exponential (or high polynomial) time on a backtracking engine against a near-miss.
BACKTRACKING = ["^(a|a)*$", "^(a|aa)+$", "^a*a*a*a*a*a*a*a*a*a*a*a*$", "^(a{1,30}){1,30}$", "^(a+)+$"]
NEAR_MISS = "a" * 100_000 + "b"


@pytest.mark.parametrize("source", BACKTRACKING)
def test_backtracking_patterns_compile_to_small_re2_programs(source: str) -> None:
    pattern = compile_pattern(source)
    assert isinstance(pattern.regexp, re2._re2.RE2)
    # Matching visits each byte once per program instruction at most: a bound on the steps.
    assert pattern.regexp.ProgramSize() <= 2000


@pytest.mark.parametrize("source", BACKTRACKING)
@pytest.mark.parametrize("ignore_case", [False, True])
def test_a_long_near_miss_runs_to_its_answer(source: str, ignore_case: bool) -> None:
    search = compile_pattern(source, ignore_case=ignore_case).search
    assert search(NEAR_MISS) is False
    assert search("a" * 30) is True
    assert search("A" * 30) is ignore_case


def test_search_finds_a_match_anywhere() -> None:
    search = compile_pattern("(Mobile|Tablet)").search
    assert search("Mozilla/5.0 (iPhone) Mobile Safari")
    assert not search("Mozilla/5.0 (Windows NT 10.0)")
    assert not search("mobile")
    assert compile_pattern("(mobile|tablet)", ignore_case=True).search("iPad TABLET")
    assert compile_pattern("^é$", ignore_case=True).search("É")
    assert compile_pattern("").search("")


def test_what_differs_from_pythons_re_is_what_javascript_does_too() -> None:
    assert not compile_pattern("^a$").search("a\n")  # `$` is the end of the text, not a last newline
    assert not compile_pattern("^\\d$").search("\u0663")  # `\d` is ASCII digits (Python's re: any Nd)
    assert compile_pattern("\\w+").search("x_1")


def test_javascripts_unicode_escapes_are_respelled() -> None:
    assert compile_pattern("^caf\\u00e9$").search("café")
    assert compile_pattern("^[\\u0041-\\u005A]+$").search("HOTSWAP")
    assert compile_pattern("^\\uD83D\\uDE00$").search("\U0001f600")  # a surrogate pair is one character
    assert compile_pattern("^\\\\u0041$").search("\\u0041")  # an escaped backslash, then text
    assert not compile_pattern("^\\\\u0041$").search("A")
    assert compile_pattern("\\u00E9", ignore_case=True).search("É")


def test_a_lone_surrogate_in_the_text_is_no_match_rather_than_an_error() -> None:
    assert compile_pattern("x").search("a\ud800x")
    assert not compile_pattern("^a$").search("a\ud800")


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("(a)\\1", "back-references such as \\1"),
        ("(?P<n>a)(?P=n)", "back-references such as (?P=name)"),
        ("(?<n>a)\\k<n>", "back-references such as \\k"),
        ("x(?=y)", "look-arounds such as (?=...)"),
        ("x(?!y)", "look-arounds such as (?!...)"),
        ("(?<=y)x", "look-arounds such as (?<=...)"),
        ("(?<!y)x", "look-arounds such as (?<!...)"),
        ("(?>a+)b", "(?>"),
        ("(unclosed", "missing )"),
        ("a{1001}", "invalid repetition size"),
        ("\\Z", "invalid escape sequence: \\Z"),
    ],
)
def test_what_re2_cannot_run_is_refused_saying_why(source: str, words: str) -> None:
    problem = pattern_problem(source)
    assert problem is not None
    assert words in problem
    assert "RE2" in problem
    assert "no back-references or look-arounds" in problem
    with pytest.raises(PatternError):
        compile_pattern(source, ignore_case=True)


def test_compiled_once() -> None:
    assert compile_pattern("^(a|a)*$") is compile_pattern("^(a|a)*$")
    assert compile_pattern("^a", ignore_case=True) is not compile_pattern("^a")


@pytest.mark.parametrize("source", ["(a)\\1", "x(?=y)", "(unclosed"])
def test_a_condition_whose_pattern_re2_cannot_run_matches_nothing(source: str) -> None:
    for op in ("$regex", "$regexi"):
        matches = compile_condition({"name": {op: source}})
        assert not matches({"name": "aa"})
        assert not matches({"name": "xy"})
        assert compile_condition({"name": {"$not": {op: source}}})({"name": "aa"})


@pytest.mark.parametrize("source", BACKTRACKING)
def test_a_condition_with_a_backtracking_pattern_answers_a_near_miss(source: str) -> None:
    matches = compile_condition({"nick": {"$regex": source}})
    assert not matches({"nick": NEAR_MISS})
    assert matches({"nick": "a" * 30})
    assert matches({"nick": ["a" * 30]})  # an array is matched as its JavaScript string, "aaa..."
    assert compile_condition({"n": {"$regex": "^1\\.5$"}})({"n": 1.5})  # other values as JavaScript's String()


def test_a_pattern_whose_program_is_too_large_is_refused() -> None:
    # Linear in the text times the program: a 61,000-instruction program is refused, so the
    # worst a stored pattern costs on the player query stays bounded.
    problem = pattern_problem(r"(\p{L}|b)*a\p{L}{50}$")
    assert problem is not None
    assert "61,001 instructions" in problem
    assert pattern_problem(r"^[a-z0-9._-]+@example\.com$") is None
