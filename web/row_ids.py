"""Ids in URLs: a number no row can have is a 404, never a database overflow and a 500."""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, Map, ValidationError

# Every id column is an `integer`: 32 bits on PostgreSQL (SQLite would take 64).
LARGEST_ID = 2**31 - 1


class RowId(IntegerConverter):
    """`<int:…>` bounded to what an id column holds. Past it, 404 at once: a mere mismatch
    would say 405 where the same path takes another method (`GET …/report` beside `POST`)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", LARGEST_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        try:
            number: int = super().to_python(value)
        except ValidationError:
            raise NotFound(f"no id is larger than {LARGEST_ID}") from None
        return number
