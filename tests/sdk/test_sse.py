"""The event stream parser, on bytes: however the stream is cut into chunks, the same events."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotswap.sdk._sse import Event, Parser

STREAM = (
    '\ufeffevent: snapshot\nid: 7\ndata: {"revision":7,"name":"é€😀"}\n\n'
    ": a comment, to keep the connection open\n"
    'event: heartbeat\r\ndata: {"revision":7}\r\n\r\n'
    "event:delta\rid:8\rdata:first\rdata: second\r\r"
    "data\n\n"
    "id: 9\nretry: 1500\nevent: heartbeat\n\n"
    "event: x\ndata: unfinished"
).encode()

EXPECTED = [
    Event("snapshot", '{"revision":7,"name":"é€😀"}', "7"),
    Event("heartbeat", '{"revision":7}', "7"),
    Event("delta", "first\nsecond", "8"),
    Event("message", "", "8"),
]


def parse(chunks: list[bytes]) -> tuple[list[Event], Parser]:
    parser = Parser()
    out: list[Event] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out, parser


def test_events_fields_comments_and_line_endings() -> None:
    events, parser = parse([STREAM])
    assert events == EXPECTED
    assert (parser.last_id, parser.retry) == ("9", 1500)  # an event without data is not dispatched


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_cutting_into_chunks_gives_the_same_events(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    events, _ = parse([STREAM[a:b] for a, b in itertools.pairwise(points)])
    assert events == EXPECTED


def test_byte_by_byte_with_crlf_split_between_chunks() -> None:
    events, _ = parse([bytes([b]) for b in b"event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r"])
    assert events == [Event("a", "1", None), Event("b", "2", None)]
    events, _ = parse([b"event: a\r", b"", b"\ndata: 1\r", b"\n\n"])  # an empty chunk between CR and LF
    assert events == [Event("a", "1", None)]


def test_a_line_past_the_bound_is_refused() -> None:
    parser = Parser(max_line=16)
    with pytest.raises(ValueError, match="longer than 16 bytes"):
        parser.feed(b"data: " + b"x" * 32)
