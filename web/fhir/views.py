"""The FHIR interactions Garde serves: create and read a ServiceRequest, read and search its
Task, read the DiagnosticReport; all three resources of one case share the case's id.

Who reads: the site its own cases, coordinators and admins every case, an expert the cases
they hold or held (one rule with the API: web.access.record_for); a case one may not see is
not found. Only a site orders.
"""

from __future__ import annotations

import re

from flask import Response, g, request

from garde.domain import Role
from garde.errors import InvalidInput, NotFound
from garde.models import Case
from web import services
from web.access import Sight, current_user, record_for, roles, sight, visible_cases
from web.api import body
from web.case_views import latest_report
from web.fhir import answer, bp
from web.fhir.capability import capability_statement
from web.fhir.resources import diagnostic_report, search_bundle, service_request, task
from web.fhir.service_requests import read_order
from web.submission import per_site, submit_case

FOCUS = re.compile(r"^(?:ServiceRequest/)?(\d{1,18})$")


@bp.get("/metadata")
def metadata() -> Response:
    return answer(capability_statement(_base()))


@bp.post("/ServiceRequest")
@roles(Role.SITE)
@per_site
def create_service_request() -> Response:
    """201 with the new order's ServiceRequest and its Location; the same order again (its
    PLAC identifier) answers 200 with the ServiceRequest made the first time."""
    site = current_user().site
    assert site is not None, "a site login always has a site"
    request_, order = read_order(body(), site)
    submitted = submit_case(site, request_, order)
    g.db.refresh(submitted.case)
    location = f"{_base()}/ServiceRequest/{submitted.case.id}"  # FHIR's: absolute, at the base
    return answer(
        service_request(submitted.case), 201 if submitted.created else 200, Location=location
    )


@bp.get("/ServiceRequest/<int:case_id>")
def read_service_request(case_id: int) -> Response:
    return answer(service_request(record_for(g.db, current_user(), case_id)))


@bp.get("/Task/<int:case_id>")
def read_task(case_id: int) -> Response:
    return answer(task(record_for(g.db, current_user(), case_id)))


@bp.get("/Task")
def search_tasks() -> Response:
    """`focus=ServiceRequest/ID`: the Task of that order, if this user reads it; none else."""
    found = FOCUS.match(request.args.get("focus", "").strip())
    if found is None:
        raise InvalidInput({"focus": "must name the order: focus=ServiceRequest/ID"})
    user = current_user()
    case = g.db.scalar(visible_cases(g.db, user).where(Case.id == int(found.group(1))))
    if case is None or sight(g.db, user, case) is Sight.SUMMARY:
        return answer(search_bundle([], _base()))
    return answer(search_bundle([task(case)], _base()))


@bp.get("/DiagnosticReport/<int:case_id>")
def read_diagnostic_report(case_id: int) -> Response:
    case = record_for(g.db, current_user(), case_id)
    report = latest_report(case)
    if report is None:
        raise NotFound(f"no report yet for case {case_id}")
    return answer(diagnostic_report(case, report))


def _base() -> str:
    return services().settings.public_url + bp.url_prefix  # type: ignore[operator]
