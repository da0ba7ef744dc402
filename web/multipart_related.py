"""The parts of a multipart/related body (RFC 2387, what STOW-RS posts), each read as a stream
while the body is read: a part is never held whole in memory. python-multipart finds the
boundaries and headers (werkzeug's parser takes form-data only: it wants each part's
Content-Disposition, which a multipart/related part does not carry)."""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from typing import BinaryIO

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError

CHUNK = 1 << 20


class BrokenBody(Exception):
    """The body is not a multipart message, or ends inside a part."""


class _Events:
    """What the parser found in what it was given, in order: ("part", headers), ("data",
    bytes), ("end", None) for each part."""

    def __init__(self, body: BinaryIO, boundary: str) -> None:
        self._body = body
        self._queue: deque[tuple[str, object]] = deque()
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[str, str] = {}
        self._ended = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._headers.clear,
                "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
                "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
                "on_header_end": self._header_end,
                "on_headers_finished": lambda: self._queue.append(("part", dict(self._headers))),
                "on_part_data": lambda data, start, end: self._queue.append(
                    ("data", bytes(data[start:end]))
                ),
                "on_part_end": lambda: self._queue.append(("end", None)),
            },
        )

    def _header_end(self) -> None:
        name = self._field.decode("latin-1").strip().lower()
        self._headers[name] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def next(self) -> tuple[str, object] | None:
        """The next event, reading the body as needed; None at its end."""
        while not self._queue:
            if self._ended:
                return None
            chunk = self._body.read(CHUNK)
            if not chunk:
                self._ended = True
                continue
            try:
                self._parser.write(chunk)
            except MultipartParseError as e:
                raise BrokenBody("not a multipart message with the boundary it names") from e
        return self._queue.popleft()


class Part(io.RawIOBase):
    """One part: its headers (names in lower case) and its content, read as a stream."""

    def __init__(self, headers: dict[str, str], events: _Events) -> None:
        super().__init__()
        self.headers = headers
        self._events = events
        self._left = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._left and not self._ended:
            event = self._events.next()
            if event is None:
                raise BrokenBody("the body ends inside a part")
            kind, value = event
            if kind == "data":
                assert isinstance(value, bytes)
                self._left = memoryview(value)
            elif kind == "end":
                self._ended = True
        out = memoryview(buffer).cast("B")
        n = min(len(out), len(self._left))
        out[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def drain(self) -> None:
        """Read what is left of the part (what its reader did not want)."""
        while self.read(CHUNK):
            pass


def parts(body: BinaryIO, boundary: str) -> Iterator[Part]:
    """The parts of `body`, in order; each must be read (or left: it is drained) before the
    next is taken. BrokenBody when the body is not what it says."""
    events = _Events(body, boundary)
    while (event := events.next()) is not None:
        kind, headers = event
        if kind == "part":
            assert isinstance(headers, dict)
            part = Part(headers, events)
            yield part
            part.drain()
