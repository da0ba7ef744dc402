"""The JSON API under /api/v1 (api.md): one module per resource, thin views that parse,
authorise, act and answer. Its OpenAPI description is served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from web.openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def body() -> Any:
    """The JSON body, or the form fields of a form post."""
    data = request.get_json(silent=True)
    if data is None and request.form:
        return request.form.to_dict()
    return data


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


# The resources register their routes on `bp` when imported.
from web.api import (  # noqa: E402, F401
    billing,
    calendars,
    cases,
    coverage,
    overrides,
    registry,
    rosters,
    rotations,
    swaps,
)
