"""FHIR R4 under /fhir: a RIS orders a read with a ServiceRequest and follows its Task to the
DiagnosticReport (views.py); the CapabilityStatement at /fhir/metadata says what is served.

For machines, as the API: every resource but the CapabilityStatement takes the bearer token
of a Garde login (the session cookie counts for nothing here, so no page can act through it).
Answers are `application/fhir+json`, each resource checked by its fhir.resources R4B model on
the way out; every error is an OperationOutcome whose issues name the FHIRPath at fault.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from flask import Blueprint, Response, request
from flask_limiter import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from garde.errors import GardeError, InvalidInput, NotAuthenticated
from web.access import bearer_token
from web.login_limits import seconds_until_retry

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

MEDIA_TYPE = "application/fhir+json"
# OperationOutcome.issue.code (FHIR's IssueType) for each HTTP status Garde answers.
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    429: "throttled",
    503: "transient",
}


def answer(resource: dict[str, Any], status: int = 200, **headers: str) -> Response:
    """`resource` as FHIR JSON, once its R4B model has read it (a wrong one is a bug, a 500)."""
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    body = model.model_dump_json(exclude_none=True)
    return Response(body, status, headers, mimetype=MEDIA_TYPE)


@bp.before_request
def bearer_only() -> None:
    """Everything but the CapabilityStatement needs a bearer token."""
    if request.endpoint != "fhir.metadata" and bearer_token() is None:
        raise NotAuthenticated("FHIR takes a bearer token: Authorization: Bearer TOKEN")


@bp.errorhandler(GardeError)
def garde_error(e: GardeError) -> Response:
    if isinstance(e, InvalidInput):
        return outcome(e.status, [(path, f"{path}: {reason}") for path, reason in e.fields.items()])
    return outcome(e.status, [(None, e.message)])


@bp.errorhandler(RateLimitExceeded)
def too_many(e: RateLimitExceeded) -> Response:
    response = outcome(429, [(None, str(e.description))])
    response.headers["Retry-After"] = str(seconds_until_retry())
    return response


@bp.errorhandler(HTTPException)
def http_error(e: HTTPException) -> Response:
    return outcome(e.code or 500, [(None, str(e.description))])


def outcome(status: int, issues: list[tuple[str | None, str]]) -> Response:
    """An OperationOutcome with one error issue per (FHIRPath or None, what is wrong)."""
    code = ISSUE_CODES.get(status, "processing")
    resource = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": code, "diagnostics": diagnostics}
            | ({"expression": [path]} if path else {})
            for path, diagnostics in issues
        ],
    }
    response = answer(resource, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="garde"'
    return response


from web.fhir import views  # noqa: E402, F401  (registers the routes on bp)
