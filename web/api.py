"""The JSON API under /api/v1 (api.md): thin views that parse, authorise, act and answer."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import select

from garde.domain import HELD_STATUSES, MODALITIES, STAFF, OfferStatus, ReportKind, Role
from garde.errors import Forbidden, NotFound
from garde.intake import CaseRequest, record_case
from garde.messages import ReportDraft
from garde.models import BillingLine, Case, Expert, Offer, Shift, Site, utcnow
from garde.registry import create_expert, create_site
from garde.validation import Fields
from rosters.eligibility import on_duty_experts
from rosters.ical import roster_calendar
from rosters.shifts import create_shift
from web import services
from web.access import (
    case_for,
    current_user,
    open_case_ids_for_expert,
    require_expert_eligible,
    roles,
    visible_cases,
)
from web.case_views import case_json, iso, latest_report, report_json
from web.openapi import openapi_document
from web.report_formats import render_report

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def body() -> Any:
    data = request.get_json(silent=True)
    if data is None and request.form:
        return request.form.to_dict()
    return data


def audit(action: str, target: str, detail: str = "") -> None:
    from garde.models import AuditEvent

    g.db.add(AuditEvent(actor=current_user().username, action=action, target=target, detail=detail))


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


# --- sites, experts, shifts, on-call ---------------------------------------------------------


@bp.post("/sites")
@roles(*STAFF)
def add_site() -> tuple[Response, int]:
    site = create_site(g.db, body())
    audit("site.create", f"site:{site.code}")
    g.db.commit()
    return jsonify(site_json(site)), 201


@bp.get("/sites")
@roles(*STAFF)
def list_sites() -> Response:
    return jsonify([site_json(s) for s in g.db.scalars(select(Site).order_by(Site.code))])


@bp.post("/experts")
@roles(*STAFF)
def add_expert() -> tuple[Response, int]:
    expert = create_expert(g.db, body())
    audit("expert.create", f"expert:{expert.code}")
    g.db.commit()
    return jsonify(expert_json(expert)), 201


@bp.get("/experts")
@roles(*STAFF)
def list_experts() -> Response:
    return jsonify([expert_json(e) for e in g.db.scalars(select(Expert).order_by(Expert.code))])


@bp.post("/shifts")
@roles(*STAFF)
def add_shift() -> tuple[Response, int]:
    shift = create_shift(g.db, body())
    audit("shift.create", f"shift:{shift.id}")
    g.db.commit()
    return jsonify(shift_json(shift)), 201


@bp.get("/shifts")
@roles(*STAFF)
def list_shifts() -> Response:
    f = Fields(request.args)
    query = select(Shift).order_by(Shift.start)
    if request.args.get("from"):
        start = f.instant("from")
        if start:
            query = query.where(Shift.end > start)
    if request.args.get("to"):
        end = f.instant("to")
        if end:
            query = query.where(Shift.start < end)
    if request.args.get("expert"):
        query = query.join(Expert).where(Expert.code == request.args["expert"])
    f.check()
    return jsonify([shift_json(s) for s in g.db.scalars(query.limit(5000))])


@bp.get("/oncall")
@roles(Role.COORDINATOR, Role.ADMIN, Role.SITE)
def oncall() -> Response:
    user = current_user()
    f = Fields(request.args)
    site_code = f.text("site", max_len=32, required=user.site_id is None)
    modality = f.one_of("modality", MODALITIES)
    at = f.instant("at") if request.args.get("at") else utcnow()
    site = user.site if user.site_id else g.db.scalar(select(Site).where(Site.code == site_code))
    if site is None and "site" not in f.errors:
        f.fail("site", f"no site has the code {site_code}")
    if user.site and site_code and site_code != user.site.code:
        raise Forbidden("a site sees only its own on-call list")
    f.check()
    assert site is not None and at is not None
    ranked = on_duty_experts(
        g.db,
        site_id=site.id,
        modality=modality,
        at=at,
        subspecialty=request.args.get("subspecialty") or None,
    )
    return jsonify(
        [
            {
                "expert": c.code,
                "name": c.name,
                "tier": c.tier,
                "load": c.load,
                "max_concurrent": c.max_concurrent,
                "reads_this_shift": c.reads_this_shift,
                "last_offer_at": iso(c.last_offer_at),
                "shift_end": iso(c.shift_end),
            }
            for c in ranked
        ]
    )


@bp.get("/experts/<code>/roster.ics")
@roles(Role.EXPERT, *STAFF)
def roster_ics(code: str) -> Response:
    expert = g.db.scalar(select(Expert).where(Expert.code == code))
    if expert is None:
        raise NotFound(f"no expert has the code {code}")
    user = current_user()
    if user.role == Role.EXPERT and user.expert_id != expert.id:
        raise Forbidden("an expert sees only their own roster")
    return Response(roster_calendar(g.db, expert), mimetype="text/calendar")


# --- cases ---------------------------------------------------------------------------------------


@bp.post("/cases")
@roles(Role.SITE)
def submit_case() -> tuple[Response, int]:
    user = current_user()
    assert user.site is not None
    case, created = record_case(g.db, user.site, CaseRequest.parse(body()))
    if created:
        audit("case.submit", f"case:{case.id}")
        g.db.commit()
    services().cases.start(case)
    g.db.refresh(case)
    return jsonify(case_json(case)), 201 if created else 200


@bp.get("/cases")
def list_cases() -> Response:
    user = current_user()
    query = visible_cases(g.db, user)
    if request.args.get("status"):
        query = query.where(Case.status == request.args["status"])
    return jsonify([case_json(c) for c in g.db.scalars(query.limit(500))])


@bp.get("/cases/<int:case_id>")
def get_case(case_id: int) -> Response:
    return jsonify(case_json(case_for(g.db, current_user(), case_id)))


@bp.get("/worklist")
@roles(Role.EXPERT)
def worklist() -> Response:
    user = current_user()
    open_ids = open_case_ids_for_expert(g.db, user)
    open_cases = g.db.scalars(select(Case).where(Case.id.in_(open_ids)).order_by(Case.id)).all()
    held = g.db.scalars(
        select(Case)
        .where(Case.assigned_expert_id == user.expert_id, Case.status.in_(HELD_STATUSES))
        .order_by(Case.id)
    ).all()
    offers = g.db.scalars(
        select(Offer)
        .where(Offer.expert_id == user.expert_id, Offer.status == OfferStatus.OPEN)
        .order_by(Offer.sent_at)
    ).all()
    return jsonify(
        {
            "offered": [
                {"case": case_json(o.case), "code": o.code, "expires_at": iso(o.expires_at)}
                for o in offers
            ],
            "open": [case_json(c) for c in open_cases],
            "held": [case_json(c) for c in held],
        }
    )


@bp.post("/cases/<int:case_id>/accept")
@roles(Role.EXPERT)
def accept(case_id: int) -> Response:
    user = current_user()
    case = _existing_case(case_id)
    require_expert_eligible(g.db, user, case)
    assert user.expert_id is not None
    services().cases.accept(case_id, user.expert_id)
    return _fresh(case)


@bp.post("/cases/<int:case_id>/decline")
@roles(Role.EXPERT)
def decline(case_id: int) -> Response:
    user = current_user()
    case = case_for(g.db, user, case_id)
    assert user.expert_id is not None
    services().cases.decline(case_id, user.expert_id)
    return _fresh(case)


@bp.post("/cases/<int:case_id>/release")
@roles(Role.EXPERT)
def release(case_id: int) -> Response:
    user = current_user()
    case = case_for(g.db, user, case_id)
    assert user.expert_id is not None
    services().cases.release(case_id, user.expert_id)
    return _fresh(case)


@bp.post("/cases/<int:case_id>/report")
@roles(Role.EXPERT)
def report(case_id: int) -> tuple[Response, int]:
    user = current_user()
    case = case_for(g.db, user, case_id)
    assert user.expert_id is not None
    draft = parse_report(body(), user.expert_id)
    services().cases.file_report(case_id, draft)
    return _fresh(case), 201


@bp.post("/cases/<int:case_id>/cancel")
@roles(Role.SITE, *STAFF)
def cancel(case_id: int) -> Response:
    user = current_user()
    case = case_for(g.db, user, case_id)
    services().cases.cancel(case_id, user.username)
    audit("case.cancel", f"case:{case_id}")
    g.db.commit()
    return _fresh(case)


@bp.post("/cases/<int:case_id>/acknowledge")
@roles(Role.SITE)
def acknowledge(case_id: int) -> Response:
    user = current_user()
    case = case_for(g.db, user, case_id)
    services().cases.acknowledge(case_id, user.username)
    return _fresh(case)


@bp.get("/cases/<int:case_id>/report")
def get_report(case_id: int) -> Response:
    case = case_for(g.db, current_user(), case_id)
    if current_user().role == Role.EXPERT and not _expert_of_case(case):
        raise Forbidden("only the experts of the case read its report")
    found = latest_report(case)
    if found is None:
        raise NotFound("no report yet")
    fmt = request.args.get("format", "json")
    if fmt == "json":
        return jsonify(report_json(found))
    return render_report(case, found, fmt)


# --- billing -------------------------------------------------------------------------------------


@bp.get("/billing/lines")
@roles(*STAFF)
def billing_lines() -> Response:
    f = Fields(request.args)
    query = select(BillingLine).order_by(BillingLine.read_at)
    if request.args.get("site"):
        query = query.join(Site, BillingLine.site_id == Site.id).where(
            Site.code == request.args["site"]
        )
    if request.args.get("month"):
        start, end = _month(f, request.args["month"])
        if start and end:
            query = query.where(BillingLine.read_at >= start, BillingLine.read_at < end)
    f.check()
    lines = [billing_json(line) for line in g.db.scalars(query)]
    if "text/csv" in request.headers.get("Accept", ""):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(BILLING_FIELDS))
        writer.writeheader()
        writer.writerows(lines)
        return Response(out.getvalue(), mimetype="text/csv")
    return jsonify(lines)


# --- helpers -------------------------------------------------------------------------------------


def parse_report(data: Any, expert_id: int) -> ReportDraft:
    f = Fields(data)
    kind = f.choice("kind", ReportKind) or ReportKind.FINAL
    draft = ReportDraft(
        expert_id=expert_id,
        kind=kind,
        findings=f.text("findings", max_len=20000),
        impression=f.text("impression", max_len=5000),
        critical=f.boolean("critical"),
    )
    f.check()
    return draft


def _existing_case(case_id: int) -> Case:
    case = g.db.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def _expert_of_case(case: Case) -> bool:
    expert_id = current_user().expert_id
    return case.assigned_expert_id == expert_id or any(
        r.expert_id == expert_id for r in case.reports
    )


def _fresh(case: Case) -> Response:
    g.db.expire_all()
    return jsonify(case_json(g.db.get_one(Case, case.id)))


def _month(f: Fields, raw: str) -> tuple[datetime | None, datetime | None]:
    from datetime import UTC

    try:
        start = datetime.strptime(raw, "%Y-%m").replace(tzinfo=UTC)
        if not 1900 <= start.year <= 2200:
            raise ValueError
    except ValueError:
        f.fail("month", "must be YYYY-MM")
        return None, None
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def site_json(site: Site) -> dict[str, Any]:
    return {
        "code": site.code,
        "name": site.name,
        "timezone": site.timezone,
        "ae_titles": site.ae_titles,
        "phone": site.phone,
        "prices": site.prices,
        "expert_share_percent": site.expert_share_percent,
    }


def expert_json(expert: Expert) -> dict[str, Any]:
    return {
        "code": expert.code,
        "name": expert.name,
        "phone": expert.phone,
        "subspecialties": expert.subspecialties,
        "modalities": expert.modalities,
        "sites": sorted(s.code for s in expert.sites),
        "max_concurrent": expert.max_concurrent,
    }


def shift_json(shift: Shift) -> dict[str, Any]:
    return {
        "id": shift.id,
        "expert": shift.expert.code,
        "start": iso(shift.start),
        "end": iso(shift.end),
        "tier": shift.tier,
    }


BILLING_FIELDS = (
    "case_id",
    "site",
    "expert",
    "modality",
    "priority",
    "time_band",
    "amount_cents",
    "expert_share_cents",
    "currency",
    "read_at",
)


def billing_json(line: BillingLine) -> dict[str, Any]:
    return {
        "case_id": line.case_id,
        "site": line.site.code,
        "expert": line.expert.code,
        "modality": line.modality,
        "priority": line.priority,
        "time_band": line.time_band,
        "amount_cents": line.amount_cents,
        "expert_share_cents": line.expert_share_cents,
        "currency": line.currency,
        "read_at": iso(line.read_at),
    }
