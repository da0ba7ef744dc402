"""The JSON API under /api/v1 (api.md): one module per resource, thin views that parse,
authorise, act and answer. Its OpenAPI description is served at /api/v1/openapi.json.

It is for machines: writes need a bearer token and a JSON body. A browser riding on the session
cookie may read (the case page polls a case) but not write, so no other site's form can act
in a logged-in user's name; the pages post their own forms, which carry a CSRF token.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from garde.errors import Forbidden, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from web.access import bearer_token
from web.api.describe import Reply, check_answer, openapi_document, operation
from web.forms import UNSAFE_METHODS

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Far above any request of the API (a report is at most 25 000 characters), far below memory.
MAX_BODY_BYTES = 1024 * 1024
# The API's bodies nest two or three levels; deeper is an attack on the parser.
MAX_DEPTH = 32
# What a browser form can send across sites without asking (no CORS preflight).
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


@bp.before_request
def machines_write() -> None:
    """Writes with a bearer token only, and never as a form."""
    if request.method not in UNSAFE_METHODS:
        return
    if g.get("user") is not None and bearer_token() is None:
        raise Forbidden(
            "the API takes writes with a bearer token (Authorization: Bearer TOKEN), "
            "not the session cookie; in the browser, use the pages' forms"
        )
    if request.mimetype in FORM_TYPES:
        raise _not_json()


def body() -> Any:
    """The JSON body (None when there is none), bounded in size and depth, so that no body
    can reach the parser's recursion limit or the database's and give a 500."""
    raw = request.get_data(cache=True)
    if not raw:
        return None
    if not request.is_json:
        raise _not_json()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"the body is over {MAX_BODY_BYTES} bytes",
            {"body": f"must be at most {MAX_BODY_BYTES} bytes"},
        )
    too_deep = InvalidInput({"body": f"must nest at most {MAX_DEPTH} levels"})
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise too_deep from None
    except ValueError:
        raise InvalidInput({"body": "is not valid JSON"}) from None
    if _deeper_than(data, MAX_DEPTH):
        raise too_deep
    return data


def _not_json() -> UnsupportedMediaType:
    found = request.mimetype or "no Content-Type"
    return UnsupportedMediaType(
        "the API takes JSON: send Content-Type application/json",
        {"Content-Type": f"must be application/json, not {found}"},
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _deeper_than(data: Any, limit: int) -> bool:
    """Walked with a list, not recursion: the walk itself must not be the overflow."""
    todo = [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if depth > limit:
                return True
            todo.extend((item, depth + 1) for item in value)
    return False


@bp.after_request
def described(response: Response) -> Response:
    if current_app.extensions["garde"].settings.check_api_answers:
        return check_answer(response)
    return response


@bp.get("/openapi.json")
@operation(
    "meta",
    "This description (OpenAPI 3.1)",
    {200: Reply("the OpenAPI document", media={"application/json": {"type": "object"}})},
    public=True,
)
def openapi() -> Response:
    return jsonify(openapi_document(current_app))


# The resources register their routes on `bp` when imported.
from web.api import (  # noqa: E402, F401
    billing,
    calendars,
    case_studies,
    cases,
    coverage,
    invoices,
    overrides,
    protocols,
    registry,
    rosters,
    rotations,
    shares,
    statements,
    study_holds,
    swaps,
    tariffs,
    users,
)
