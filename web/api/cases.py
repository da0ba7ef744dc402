"""Cases: the read request, the worklist, what experts, sites and coordinators do to a case,
and its report in every format."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Response, g, jsonify, request
from sqlalchemy import select

from garde.domain import HELD_STATUSES, STAFF, CaseStatus, OfferStatus, Role
from garde.errors import NotFound
from garde.intake import CaseRequest
from garde.messages import Acknowledgement, ScanDone
from garde.models import Case, Offer
from garde.validation import Input, choice, validated
from web import services
from web.access import (
    case_for,
    current_user,
    open_case_ids_for_expert,
    recently_reported,
    record_for,
    roles,
    sight,
    sights,
    visible_cases,
    with_timelines,
)
from web.api import body, bp
from web.api.case_models import Case as CaseAnswer
from web.api.case_models import Cases, ReportDocument, Worklist
from web.api.describe import Reply, operation
from web.audit import audit
from web.case_views import case_json, iso, latest_report
from web.inputs import (
    DeclineInput,
    PriorityInput,
    ReassignmentInput,
    ReportInput,
    parse_decline_reason,
    parse_priority_change,
    parse_reassignment,
    parse_report,
)
from web.regulation_inputs import RefusalInput, ValidationInput, parse_refusal, parse_validation
from web.report_formats import acknowledgements, render_report
from web.submission import per_site, submit_case


class CaseQuery(Input):
    status: Annotated[CaseStatus | None, choice(description="only cases in this status")] = None


class ReportQuery(Input):
    format: Literal["json", "html", "pdf", "fhir", "hl7"] = "json"


@bp.post("/cases")
@roles(Role.SITE)
@per_site
@operation(
    "cases",
    "Request a read (site)",
    {
        201: ("the new case", CaseAnswer),
        200: ("the case this site already requested with this accession number", CaseAnswer),
    },
    body=CaseRequest,
    errors=(429,),
    description="""
        The same accession number again from the same site answers 200 with the existing
        case. The case is recorded before its routing starts: when Temporal is away it is
        still answered 201, and routing starts when it is back.
    """,
)
def submit() -> tuple[Response, int]:
    """201 with the case, even when Temporal is away: routing starts when it is back."""
    user = current_user()
    assert user.site is not None
    submitted = submit_case(user.site, CaseRequest.parse(body(), user.site))
    g.db.refresh(submitted.case)
    return _answer(submitted.case), 201 if submitted.created else 200


@bp.get("/cases")
@operation(
    "cases",
    "The cases this user may see, newest first; at most 500",
    {200: ("the cases", Cases)},
    query=CaseQuery,
)
def list_cases() -> Response:
    user = current_user()
    query = visible_cases(g.db, user)
    status = validated(CaseQuery, request.args).status
    if status is not None:
        query = query.where(Case.status == status)
    rows = g.db.scalars(query.limit(500)).all()
    seen = sights(g.db, user, rows)
    return jsonify([case_json(c, seen[c.id], user.expert_id) for c in rows])


@bp.get("/cases/<int:case_id>")
@operation(
    "cases",
    "One case, with its timeline, service levels and report, as this user may see it",
    {200: ("the case", CaseAnswer)},
    errors=(403, 404),
)
def get_case(case_id: int) -> Response:
    return _answer(case_for(g.db, current_user(), case_id))


@bp.get("/worklist")
@roles(Role.EXPERT)
@operation(
    "cases",
    "An expert's worklist (expert)",
    {200: ("offered, open, held and recently reported cases", Worklist)},
)
def worklist() -> Response:
    user = current_user()
    open_ids = open_case_ids_for_expert(g.db, user)
    open_cases = g.db.scalars(
        with_timelines(select(Case).where(Case.id.in_(open_ids)).order_by(Case.id))
    ).all()
    held = g.db.scalars(
        with_timelines(
            select(Case)
            .where(Case.assigned_expert_id == user.expert_id, Case.status.in_(HELD_STATUSES))
            .order_by(Case.id)
        )
    ).all()
    offers = g.db.scalars(
        select(Offer)
        .where(Offer.expert_id == user.expert_id, Offer.status == OfferStatus.OPEN)
        .order_by(Offer.sent_at)
    ).all()
    offered = g.db.scalars(
        with_timelines(select(Case).where(Case.id.in_([o.case_id for o in offers])))
    ).all()
    reported = g.db.scalars(recently_reported(g.db, user)).all()
    seen = sights(g.db, user, [*offered, *open_cases, *held, *reported])

    def shown(case: Case) -> dict[str, Any]:
        return case_json(case, seen[case.id], user.expert_id)

    by_id = {c.id: c for c in offered}
    return jsonify(
        {
            "offered": [
                {"case": shown(by_id[o.case_id]), "code": o.code, "expires_at": iso(o.expires_at)}
                for o in offers
            ],
            "open": [shown(c) for c in open_cases],
            "held": [shown(c) for c in held],
            "reported": [shown(c) for c in reported],
        }
    )


@bp.post("/cases/<int:case_id>/accept")
@roles(Role.EXPERT)
@operation(
    "cases",
    "Take the case (expert)",
    {200: ("the case after it", CaseAnswer)},
    errors=(404, 409, 503),
    description="403 when this expert may not take it (not on duty, not credentialed for the site, wrong modality); 409 when another expert holds it.",
)
def accept(case_id: int) -> Response:
    """The workflow decides: 403 when this expert may not take it, 409 when taken."""
    case = g.db.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    services().cases.accept(case_id, _expert_id())
    return _fresh(case)


@bp.post("/cases/<int:case_id>/decline")
@roles(Role.EXPERT)
@operation(
    "cases",
    "Decline an offer (expert); the case goes on to the next expert at once",
    {200: ("the case after it", CaseAnswer)},
    body=DeclineInput,
    errors=(404, 409, 503),
)
def decline(case_id: int) -> Response:
    case = case_for(g.db, current_user(), case_id)
    reason = parse_decline_reason(body())
    services().cases.decline(case_id, _expert_id(), reason)
    return _fresh(case)


@bp.post("/cases/<int:case_id>/release")
@roles(Role.EXPERT)
@operation(
    "cases",
    "Give a held case back to routing (expert)",
    {200: ("the case after it", CaseAnswer)},
    errors=(404, 409, 503),
)
def release(case_id: int) -> Response:
    case = case_for(g.db, current_user(), case_id)
    services().cases.release(case_id, _expert_id())
    return _fresh(case)


@bp.post("/cases/<int:case_id>/report")
@roles(Role.EXPERT)
@operation(
    "cases",
    "File a report (the expert holding the case)",
    {201: ("the case after it", CaseAnswer)},
    body=ReportInput,
    errors=(404, 409, 503),
)
def report(case_id: int) -> tuple[Response, int]:
    case = case_for(g.db, current_user(), case_id)
    draft = parse_report(body(), _expert_id())
    services().cases.file_report(case_id, draft)
    return _fresh(case), 201


@bp.post("/cases/<int:case_id>/validate")
@roles(Role.EXPERT)
@operation(
    "cases",
    "Validate the indication with a protocol (régulation: the expert holding the case)",
    {200: ("the case after it", CaseAnswer)},
    body=ValidationInput,
    errors=(404, 409, 503),
    description="""
        The site is told the protocol to scan with; the report is then due from the scan.
        403 when this expert does not hold the case; 409 when it is not to be validated.
    """,
)
def validate(case_id: int) -> Response:
    case = case_for(g.db, current_user(), case_id)
    services().cases.validate(case_id, parse_validation(g.db, body(), _expert_id()))
    return _fresh(case)


@bp.post("/cases/<int:case_id>/refuse")
@roles(Role.EXPERT)
@operation(
    "cases",
    "Refuse the indication, saying why (régulation: the expert holding the case)",
    {200: ("the case after it, refused and closed", CaseAnswer)},
    body=RefusalInput,
    errors=(404, 409, 503),
    description="""
        The site is told the reason. 403 when this expert does not hold the case; 409 when
        it is not to be validated.
    """,
)
def refuse(case_id: int) -> Response:
    case = case_for(g.db, current_user(), case_id)
    services().cases.refuse(case_id, parse_refusal(body(), _expert_id()))
    return _fresh(case)


@bp.post("/cases/<int:case_id>/scanned")
@roles(Role.SITE)
@operation(
    "cases",
    "The scan is done (régulation: the site of a validated case)",
    {200: ("the case after it", CaseAnswer)},
    errors=(404, 409, 503),
    description="""
        The report is due from now, and the expert who validated the case is told to read
        it (or it goes up the ladder again when the site reroutes after the scan). The first
        images' arrival marks it as well. 409 when the case is not validated.
    """,
)
def scanned(case_id: int) -> Response:
    user = current_user()
    case = case_for(g.db, user, case_id)
    services().cases.scanned(case_id, ScanDone(by=user.username, via="site"))
    audit("case.scanned", f"case:{case_id}")
    g.db.commit()
    return _fresh(case)


@bp.post("/cases/<int:case_id>/cancel")
@roles(Role.SITE, *STAFF)
@operation(
    "cases",
    "Cancel the case (site before any report, coordinator, admin)",
    {200: ("the case after it", CaseAnswer)},
    errors=(404, 409, 503),
)
def cancel(case_id: int) -> Response:
    user = current_user()
    case = case_for(g.db, user, case_id)
    services().cases.cancel(case, user.username)
    audit("case.cancel", f"case:{case_id}")
    g.db.commit()
    return _fresh(case)


@bp.post("/cases/<int:case_id>/acknowledge")
@roles(Role.SITE)
@operation(
    "cases",
    "Acknowledge a critical finding or a major discrepancy (site): every version waiting",
    {200: ("the case after it", CaseAnswer)},
    errors=(404, 409, 503),
)
def acknowledge(case_id: int) -> Response:
    """409 naming why when nothing waits for an acknowledgement."""
    user = current_user()
    case = case_for(g.db, user, case_id)
    services().cases.acknowledge(g.db, case.id, Acknowledgement(user.username, "api"))
    audit("case.acknowledge", f"case:{case_id}", "api")
    g.db.commit()
    return _fresh(case)


@bp.post("/cases/<int:case_id>/reassign")
@roles(*STAFF)
@operation(
    "cases",
    "Give the case to a named expert (coordinator, admin)",
    {200: ("the case after it", CaseAnswer)},
    body=ReassignmentInput,
    errors=(404, 409, 503),
    description="403 when that expert is not eligible and `force` is not set; 409 when the case is closed. The previous holder and open offers are told.",
)
def reassign(case_id: int) -> Response:
    """To a named expert; `force` assigns even an ineligible one, its reason audited."""
    user = current_user()
    case = case_for(g.db, user, case_id)
    data = body()
    change = parse_reassignment(g.db, data, user.username)
    services().cases.reassign(case_id, change)
    detail = f"to {data['expert']}"
    if change.force:
        detail += f", forced: {change.reason}"
    audit("case.reassign", f"case:{case_id}", detail)
    g.db.commit()
    return _fresh(case)


@bp.post("/cases/<int:case_id>/priority")
@roles(Role.SITE, *STAFF)
@operation(
    "cases",
    "Change the priority (site, coordinator, admin); deadlines count again from the request",
    {200: ("the case after it", CaseAnswer)},
    body=PriorityInput,
    errors=(404, 409, 503),
)
def change_priority(case_id: int) -> Response:
    """The site's promise for the new priority; deadlines count from the request time."""
    user = current_user()
    case = case_for(g.db, user, case_id)
    change = parse_priority_change(case, body(), user.username)
    services().cases.change_priority(case_id, change)
    audit("case.priority", f"case:{case_id}", f"{case.priority} to {change.priority}")
    g.db.commit()
    return _fresh(case)


@bp.get("/cases/<int:case_id>/report")
@operation(
    "cases",
    "The report (the site, the experts who held the case, coordinator, admin)",
    {
        200: Reply(
            "the final report, else the newest preliminary one, in the format asked for",
            ReportDocument,
            media={
                "text/html": {"type": "string"},
                "application/pdf": {"type": "string", "contentMediaType": "application/pdf"},
                "application/fhir+json": {
                    "type": "object",
                    "description": (
                        "a FHIR R4 Bundle (type collection): the DiagnosticReport first, then"
                        " the ServiceRequest, ImagingStudy, Practitioner and Organization it"
                        " references by their urn:uuid fullUrl (reports/fhir.py)"
                    ),
                },
                "application/hl7-v2": {
                    "type": "string",
                    "description": "an HL7 v2.5 ORU^R01 message, segments separated by CR",
                },
            },
        )
    },
    query=ReportQuery,
    errors=(403, 404),
)
def get_report(case_id: int) -> Response:
    case = record_for(g.db, current_user(), case_id)
    found = latest_report(case)
    if found is None:
        raise NotFound("no report yet")
    fmt = validated(ReportQuery, request.args).format
    return render_report(case, found, fmt, acknowledgements(g.db, case))


def _expert_id() -> int:
    expert_id = current_user().expert_id
    assert expert_id is not None, "an expert login always has an expert"
    return expert_id


def _answer(case: Case) -> Response:
    """The case as this user may see it (web.access.Sight)."""
    user = current_user()
    return jsonify(case_json(case, sight(g.db, user, case), user.expert_id))


def _fresh(case: Case) -> Response:
    """The case as the workflow's writes left it: everything this request read is read again
    when next used, but the login (no workflow changes a user's row)."""
    user = current_user()
    for loaded in list(g.db.identity_map.values()):
        if loaded is not user:
            g.db.expire(loaded)
    return _answer(case)
