"""targeting.jsvalues: JavaScript's value conversions, as conditions use them."""

from __future__ import annotations

import math

import pytest

from hotswap.targeting import jsvalues as js
from hotswap.targeting.conditions import compile_condition


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12", 12.0),
        (" 12 ", 12.0),
        ("-1.5", -1.5),
        ("+.5", 0.5),
        ("1.", 1.0),
        ("1e3", 1000.0),
        ("1.5E-1", 0.15),
        ("", 0.0),
        ("0x1f", 31.0),
        ("-Infinity", -math.inf),
    ],
)
def test_numeric_strings_read_as_javascript_reads_them(text: str, number: float) -> None:
    assert js.to_number(text) == number


@pytest.mark.parametrize("text", ["1.2.3", "e5", "1e", ".", "+", "1 2", "12px", "1_000"])
def test_other_strings_are_nan(text: str) -> None:
    assert math.isnan(js.to_number(text))


@pytest.mark.parametrize("tail", ["x", ".x", "e1x", "ex"])
def test_a_long_run_of_digits_then_anything_else_reads_in_one_pass(tail: str) -> None:
    # Read in one pass, whatever the length: a pattern that can split the digits two ways takes
    # time quadratic in their number on Python's backtracking `re`.
    digits = "1" * 100_000
    assert math.isnan(js.to_number(digits + tail))
    assert not compile_condition({"level": {"$gt": 5}})({"level": digits + tail})
    assert compile_condition({"level": {"$gt": 5}})({"level": digits})  # a number too large: Infinity
