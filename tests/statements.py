"""The SQL statements an engine sends while a block runs: for the tests that hold a number of
queries (a case's load, a list, a page) to what it should be."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement `engine` sends inside the block, in order (the list is filled as they
    go: a caller may clear it between two requests)."""
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
