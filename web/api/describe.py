"""Each view of the API says what it takes and what it answers, as pydantic models
(`@operation`); /api/v1/openapi.json is built from those marks and the URL map, so the
description cannot drift from the code. With GARDE_CHECK_API_ANSWERS=1 (the tests' stacks)
every answer is checked against its model too, so every API test also checks the description.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import Flask, Response, current_app, request
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.json_schema import models_json_schema
from werkzeug.routing import IntegerConverter, Rule

from web.forms import UNSAFE_METHODS

log = logging.getLogger(__name__)
JSON = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])
PREFIX = "/api/v1"
REF = "#/components/schemas/{model}"


class Answer(BaseModel):
    """What the API answers: every field listed, nothing more (an unlisted field is drift)."""

    model_config = ConfigDict(extra="forbid")


class Error(Answer):
    """Every error: what went wrong, and for a 400 each offending field with its reason."""

    error: str
    detail: Any = None


ERRORS = {
    400: "bad input; `detail` names each offending field and the reason",
    401: "no valid API token (or session)",
    403: "this role or this user may not do that; or a write without a bearer token",
    404: "no such thing, or not one this user may see",
    409: "conflicts with the current state (another expert holds the case, it is closed)",
    413: "the body is too large",
    415: "the body is not JSON",
    429: "past the site's hourly allowance of new cases (GARDE_CASES_PER_SITE_PER_HOUR); "
    "`Retry-After` says when to try again",
    503: "Temporal or every worker is away for now: nothing was changed, and the action will "
    "not happen later; try again in a moment. (Rarely, `error` says instead that a worker took "
    "the action but it has not finished: the case shows its outcome in a moment.)",
}


@dataclass(frozen=True)
class Reply:
    """One documented answer: a JSON model, or other media types with their raw schemas."""

    description: str
    model: type[BaseModel] | None = None
    media: Mapping[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    tag: str
    summary: str
    description: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    replies: Mapping[int, Reply]
    errors: tuple[int, ...]
    public: bool


def operation(
    tag: str,
    summary: str,
    replies: Mapping[int, tuple[str, type[BaseModel]] | Reply],
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    description: str = "",
    public: bool = False,
) -> Callable[[F], F]:
    """Mark a view with what it takes and answers. Put it closest to the function, under the
    route and the role checks (their `functools.wraps` carry the mark outwards)."""

    def mark(view: F) -> F:
        view.operation = Operation(  # type: ignore[attr-defined]
            tag=tag,
            summary=summary,
            description=inspect.cleandoc(description),
            body=body,
            query=query,
            replies={
                status: r if isinstance(r, Reply) else Reply(r[0], r[1])
                for status, r in replies.items()
            },
            errors=errors,
            public=public,
        )
        return view

    return mark


def operations(app: Flask) -> Iterator[tuple[Rule, str, Operation | None]]:
    """Every API route and method with its mark (None: a route nobody described)."""
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method, getattr(view, "operation", None)


def error_statuses(view: object, op: Operation, method: str, rule: Rule) -> list[int]:
    """The documented errors: the view's own, and those every request of its kind may get:
    400 for any address with a control character (web/url_controls.py), 403 for a view kept
    to some roles (web.access.roles), 404 for an id past any row's (web/row_ids.py)."""
    found = set(op.errors) | {400}
    if not op.public:
        found.add(401)
    if getattr(view, "allowed_roles", None) is not None:
        found.add(403)
    if any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
        found.add(404)
    if method in UNSAFE_METHODS:
        found |= {403, 413, 415}
    return sorted(found)


def openapi_document(app: Flask) -> JSON:
    """The OpenAPI 3.1 document of every route under /api/v1."""
    described = [(rule, method, op) for rule, method, op in operations(app) if op is not None]
    inputs = {m for _, _, op in described for m in (op.body, op.query) if m is not None}
    outputs = {
        r.model for _, _, op in described for r in op.replies.values() if r.model is not None
    }
    outputs.add(Error)
    keys: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation") for m in sorted(inputs, key=_name)
    ]
    keys += [(m, "serialization") for m in sorted(outputs, key=_name)]
    refs, defs = models_json_schema(keys, ref_template=REF)
    schemas = defs.get("$defs", {})
    paths: JSON = {}
    for rule, method, op in described:
        path, parameters = _path(rule)
        entry: JSON = {"tags": [op.tag], "summary": op.summary}
        if op.description:
            entry["description"] = op.description
        if op.query is not None:
            parameters += _query_parameters(schemas[_schema_name(refs[(op.query, "validation")])])
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            schema = refs[(op.body, "validation")]
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
        responses: JSON = {}
        for status, reply in sorted(op.replies.items()):
            content = {media: {"schema": schema} for media, schema in reply.media.items()}
            if reply.model is not None:
                content["application/json"] = {"schema": refs[(reply.model, "serialization")]}
            responses[str(status)] = {"description": reply.description, "content": content}
        for status in error_statuses(app.view_functions[rule.endpoint], op, method, rule):
            responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
        entry["responses"] = responses
        if op.public:
            entry["security"] = []
        paths.setdefault(path, {})[method.lower()] = entry
    error = refs[(Error, "serialization")]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Garde API",
            "version": "1",
            "summary": "Teleradiology on-call orchestration: sites, experts, rosters, cases.",
            "description": 'Errors are JSON `{"error": ..., "detail": ...}`. Times are UTC in '
            "ISO 8601; inputs must carry an offset. Writes take a bearer token and a JSON body.",
        },
        "servers": [{"url": PREFIX}],
        "security": [{"bearerAuth": []}],
        "tags": sorted(({"name": t} for t in {op.tag for _, _, op in described}), key=str),
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `garde token create USERNAME`",
                }
            },
            "schemas": schemas,
            "responses": {
                str(status): {
                    "description": text,
                    "content": {"application/json": {"schema": error}},
                }
                for status, text in ERRORS.items()
            },
        },
    }


def check_answer(response: Response) -> Response:
    """In tests: an answer that its operation does not describe becomes a 500 naming the
    difference, so the test that saw it fails."""
    view = current_app.view_functions.get(request.endpoint or "")
    op: Operation | None = getattr(view, "operation", None)
    if op is None or response.direct_passthrough or response.mimetype != "application/json":
        return response
    status = response.status_code
    reply = op.replies.get(status)
    if reply is not None:
        model = reply.model
    elif request.url_rule is not None and status in error_statuses(
        view, op, request.method, request.url_rule
    ):
        model = Error
    else:
        return _drift(f"{request.method} {request.path} answered {status}, not described")
    if model is None:
        return response
    try:
        model.model_validate_json(response.get_data())
    except ValidationError as e:
        # Where and why, never the values (pydantic's text quotes them): an answer may carry
        # a patient's data, and this goes to the log.
        found = "; ".join(
            f"{'.'.join(map(str, error['loc']))}: {error['msg']}"
            for error in e.errors(include_url=False, include_input=False)
        )
        return _drift(
            f"{request.method} {request.path} answered {status} unlike its model: {found}"
        )
    return response


def _drift(problem: str) -> Response:
    log.error("the API's description drifted: %s", problem)
    body = json.dumps({"error": "answer unlike its description", "detail": problem})
    return Response(body, status=500, mimetype="application/json")


def _name(model: type[BaseModel]) -> str:
    return model.__name__


def _schema_name(ref: JSON) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def _path(rule: Rule) -> tuple[str, list[JSON]]:
    """The OpenAPI path of a Flask rule, with its path parameters."""
    parameters = []
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            schema: JSON = {"type": "integer", "minimum": 0, "maximum": converter.max}
        else:
            schema = {"type": "string"}
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": schema,
                "description": f"the {name.replace('_', ' ')}",
            }
        )
    path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
    return path.removeprefix(PREFIX) or "/", parameters


def _query_parameters(schema: JSON) -> list[JSON]:
    required = set(schema.get("required", []))
    found = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        # A query string cannot say null: an optional parameter is simply left out.
        kinds = [k for k in prop.pop("anyOf", []) if k != {"type": "null"}]
        if len(kinds) == 1:
            prop.update(kinds[0])
        elif kinds:
            prop["anyOf"] = kinds
        if prop.get("default", 0) is None:
            del prop["default"]
        description = prop.pop("description", "")
        found.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": description,
                "schema": prop,
            }
        )
    return found
