"""Subjects: the one spelling they are stored in, how two are compared, and what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.auth.model import SUBJECT_MAX_LENGTH, canonical_subject, checked_subject, same_subject
from hotswap.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("alice", "alice"),
        ("Alice", "alice"),
        ("ALICE", "alice"),
        ("\uff21\uff2c\uff29\uff23\uff25", "alice"),  # fullwidth letters
        ("  Alice  ", "alice"),
        ("Alice \t  Smith", "alice smith"),
        ("alice\u00a0smith", "alice smith"),  # a no-break space is a space
        ("Stra\u00dfe", "strasse"),  # case folding, not lower-casing
        ("A\u030angstr\u00f6m", "\u00e5ngstr\u00f6m"),  # a decomposed letter is composed
        ("\ufb01ona", "fiona"),  # a ligature is its letters
        ("gs-eu-1", "gs-eu-1"),
    ],
)
def test_a_subject_has_one_canonical_spelling(written: str, canonical: str) -> None:
    assert canonical_subject(written) == canonical


@given(st.text(max_size=40))
def test_the_canonical_spelling_is_its_own_canonical_spelling(text: str) -> None:
    once = canonical_subject(text)
    assert canonical_subject(once) == once


@pytest.mark.parametrize(
    ("a", "b"),
    [("Alice", "alice"), ("ALICE", "alice"), ("\uff41lice", "Alice"), ("Alice Smith", "alice  smith"), ("x", "x")],
)
def test_two_spellings_of_one_subject_are_the_same_subject(a: str, b: str) -> None:
    assert same_subject(a, b)
    assert same_subject(b, a)


@pytest.mark.parametrize(("a", "b"), [("olivia", "olivia2"), ("alice", "alicia"), ("alice", "al ice"), ("a-b", "a_b")])
def test_different_subjects_stay_different(a: str, b: str) -> None:
    assert not same_subject(a, b)


def test_a_checked_subject_is_stored_canonical() -> None:
    assert checked_subject("  Alice  Smith ", "body.subject") == "alice smith"


@pytest.mark.parametrize(
    "subject",
    [
        "ali\x00ce",  # NUL
        "alice\n",  # a line feed, even where trimming would drop it
        "ali\x1bce",  # escape
        "ali\u200bce",  # zero-width space: prints as "alice"
        "\u202eecila",  # right-to-left override
        "ali\u00adce",  # soft hyphen
        "alice\u2028",  # line separator
        "ali\ud800ce",  # a lone surrogate
        "ali\ue000ce",  # private use
    ],
)
def test_a_subject_with_a_control_or_invisible_character_is_refused(subject: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        checked_subject(subject, "body.name")
    assert caught.value.status == 422
    assert [e.field for e in caught.value.errors] == ["body.name"]
    assert "control or invisible" in caught.value.detail


@pytest.mark.parametrize("subject", ["", "   ", "\u3000"])
def test_an_empty_subject_is_refused(subject: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        checked_subject(subject, "body.subject")
    assert [(e.field, e.message) for e in caught.value.errors] == [("body.subject", "must not be empty")]


def test_a_subject_too_long_once_normalized_is_refused() -> None:
    # 150 characters as written, 300 once "ß" is folded to "ss": more than the columns hold.
    with pytest.raises(InvalidInput) as caught:
        checked_subject("\u00df" * 150, "body.subject")
    assert [e.field for e in caught.value.errors] == ["body.subject"]
    assert str(SUBJECT_MAX_LENGTH) in caught.value.detail
    assert checked_subject("A" * SUBJECT_MAX_LENGTH, "body.subject") == "a" * SUBJECT_MAX_LENGTH
