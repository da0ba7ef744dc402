"""The one place where Garde errors become HTTP answers: JSON for the API, pages elsewhere."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from flask_limiter import RateLimitExceeded
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers.response import Response as BaseResponse

from garde.errors import GardeError, NotAuthenticated
from web.login_limits import seconds_until_retry

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith(
        ("/api/", "/dicomweb/", "/sms/", "/healthz", "/metrics", "/temporal-codec/")
    )


def register(app: Flask) -> None:
    @app.errorhandler(GardeError)
    def garde_error(e: GardeError) -> tuple[Response, int] | BaseResponse | tuple[str, int]:
        if wants_json():
            return jsonify({"error": e.message, "detail": e.detail}), e.status
        if isinstance(e, NotAuthenticated):
            return redirect(url_for("auth.login", next=request.path))
        return render_template("error.html", error=e), e.status

    @app.errorhandler(RateLimitExceeded)
    def too_many(e: RateLimitExceeded) -> tuple[Response | str, int, dict[str, str]]:
        """Past a rate limit: 429 naming the limit, and when to try again."""
        retry = {"Retry-After": str(seconds_until_retry())}
        if wants_json():
            return jsonify({"error": "too many requests", "detail": e.description}), 429, retry
        return render_template("error.html", error=e), 429, retry

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[Response, int] | tuple[str, int]:
        status = e.code or 500
        if request.path.startswith("/fhir/"):  # no FHIR route matched: its clients read this
            from web.fhir import outcome

            return outcome(status, [(None, str(e.description))]), status
        if wants_json():
            return jsonify({"error": e.name.lower(), "detail": e.description}), status
        return render_template("error.html", error=e), status

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> tuple[Response, int] | tuple[str, int]:
        # The type and the stack only: exception texts may quote patient data.
        stack = "".join(traceback.format_tb(e.__traceback__))
        log.error(
            "unhandled %s on %s %s\n%s", type(e).__name__, request.method, request.url_rule, stack
        )
        if wants_json():
            return jsonify({"error": "internal error", "detail": None}), 500
        return render_template("error.html", error=None), 500
