"""Control characters in an address (its path or query) are refused with a 400 naming the
parameter. Bodies are checked field by field (garde.validation); an address carries
codes and ids to look up, never text, and PostgreSQL refuses a NUL even in a query (a 500)."""

from __future__ import annotations

from flask import Flask, request

from garde.errors import InvalidInput
from garde.validation import CONTROL, CONTROL_REASON


def install(app: Flask) -> None:
    @app.before_request
    def refuse_control_characters() -> None:
        given = [*(request.view_args or {}).items(), *request.args.items(multi=True)]
        bad = {name: CONTROL_REASON for name, value in given if CONTROL.search(str(value))}
        if bad:
            raise InvalidInput(bad)
