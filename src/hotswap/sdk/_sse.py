"""A Server-Sent Events parser (the WHATWG "event stream interpretation"), fed bytes as they come.

Lines end in CRLF, LF or CR, and a chunk may end between the CR and the LF of one line break,
or inside a UTF-8 character: lines are cut from bytes, then decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Event", "Parser"]

_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Event:
    event: str  # "message" when the stream named none
    data: str
    id: str | None  # the last event id seen so far on the stream


class Parser:
    def __init__(self, max_line: int = 256 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # how far the buffer is known to hold no line break
        self._skip_lf = False  # the last chunk ended in CR: an LF starting the next belongs to it
        self._first = True
        self._max_line = max_line
        self._event = ""
        self._data: list[str] = []
        self.last_id: str | None = None
        self.retry: int | None = None  # milliseconds, when the server sent `retry:`

    def feed(self, chunk: bytes) -> list[Event]:
        """The events completed by this chunk, in order."""
        if not chunk:  # nothing: in particular, not the LF a pending CR waits for
            return []
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        buffer = self._buffer
        buffer += chunk
        out: list[Event] = []
        start = 0
        while True:
            found = _EOL.search(buffer, max(start, self._scanned))
            if found is None:
                break
            line = bytes(buffer[start : found.start()])
            start = found.end()
            if found.group() == b"\r" and start == len(buffer):
                self._skip_lf = True
            self._line(line.decode("utf-8", errors="replace"), out)
        del buffer[:start]
        self._scanned = len(buffer)
        if len(buffer) > self._max_line:
            raise ValueError(f"an event stream line longer than {self._max_line} bytes")
        return out

    def _line(self, line: str, out: list[Event]) -> None:
        if self._first:
            self._first = False
            line = line.removeprefix(_BOM)
        if not line:
            if self._data:
                out.append(Event(self._event or "message", "\n".join(self._data), self.last_id))
            self._event = ""
            self._data = []
            return
        if line.startswith(":"):  # a comment (servers send them to keep a connection open)
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            if "\0" not in value:
                self.last_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
