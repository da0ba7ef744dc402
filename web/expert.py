"""The pages of an expert radiologist: the worklist, taking a case, reading and reporting it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select
from werkzeug.wrappers.response import Response

from garde.critical import ack_within
from garde.domain import HELD_STATUSES, CaseStatus, OfferStatus, ReportKind, Role
from garde.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from garde.models import Case, Expert, ExpertMacro, Offer, User
from garde.protocols import protocols
from reports import exam_templates
from web import display, report_chain, services
from web.access import (
    Sight,
    case_for,
    current_user,
    open_case_ids_for_expert,
    recently_reported,
    roles,
    sight,
    with_timelines,
)
from web.case_views import latest_report
from web.inputs import parse_decline_reason, parse_report
from web.live_events import live_page
from web.reasons import translated
from web.regulation_inputs import parse_refusal, parse_validation
from web.study_view import studies_shown

bp = Blueprint("expert", __name__, url_prefix="/expert")

# Régulation: held before the scan, the case is decided on, not yet read.
BEFORE_SCAN = (CaseStatus.TO_VALIDATE, CaseStatus.VALIDATED)
# What the expert is told once a report is filed, by its kind.
FILED = {
    ReportKind.PRELIMINARY: lazy_gettext("Preliminary report filed and sent to the site."),
    ReportKind.FINAL: lazy_gettext("Final report filed and sent to the site."),
    ReportKind.ADDENDUM: lazy_gettext("Addendum report filed and sent to the site."),
}
display.install(bp)
report_chain.install(bp)


@bp.get("/")
@roles(Role.EXPERT)
@live_page
def worklist() -> str:
    user = current_user()
    me = _expert_id(user)
    offers = g.db.scalars(
        select(Offer)
        .where(Offer.expert_id == me, Offer.status == OfferStatus.OPEN.value)
        .order_by(Offer.sent_at)
    ).all()
    offered = {o.case_id for o in offers}
    open_ids = [i for i in open_case_ids_for_expert(g.db, user) if i not in offered]
    # Each list with what its rows show (images, timeline) loaded at once, not case by case.
    open_cases = g.db.scalars(
        with_timelines(select(Case).where(Case.id.in_(open_ids)).order_by(Case.requested_at))
    ).all()
    held = g.db.scalars(
        with_timelines(
            select(Case)
            .where(Case.assigned_expert_id == me, Case.status.in_(HELD_STATUSES))
            .order_by(Case.requested_at)
        )
    ).all()
    reported = g.db.scalars(with_timelines(recently_reported(g.db, user))).all()
    return render_template(
        "expert/worklist.html", offers=offers, open_cases=open_cases, held=held, reported=reported
    )


@bp.post("/cases/<int:case_id>/accept")
@roles(Role.EXPERT)
def accept(case_id: int) -> Response:
    user = current_user()
    me = _expert_id(user)
    # Not case_for: a case taken a moment ago is no longer visible, and deserves "taken", not 404.
    found = g.db.get(Case, case_id)
    if found is None:
        raise NotFound(f"no case {case_id}")
    try:
        services().cases.accept(found.id, me)
    except (Forbidden, Unavailable) as e:
        flash(_("Case #%(id)s: %(reason)s.", id=found.id, reason=translated(e.message)), "error")
        return redirect(url_for("expert.worklist"))
    except Conflict:
        g.db.refresh(found)
        if found.status == CaseStatus.CANCELLED:
            flash(_("Case #%(id)s was cancelled by the site.", id=found.id), "error")
        else:
            flash(_("Case #%(id)s was already taken by another expert.", id=found.id), "error")
        return redirect(url_for("expert.worklist"))
    flash(_("Case #%(id)s is yours.", id=found.id), "info")
    return redirect(url_for("expert.case", case_id=found.id))


@bp.post("/cases/<int:case_id>/decline")
@roles(Role.EXPERT)
def decline(case_id: int) -> Response:
    user = current_user()
    found = case_for(g.db, user, case_id)
    try:
        reason = parse_decline_reason(request.form)
        services().cases.decline(found.id, _expert_id(user), reason)
    except InvalidInput as e:
        flash(
            _(
                "Not declined: the reason %(reason)s.",
                reason=e.fields.get("reason", "is not valid"),
            ),
            "error",
        )
        return redirect(url_for("expert.case", case_id=found.id))
    except Conflict:
        flash(_("Case #%(id)s is closed.", id=found.id), "info")
    else:
        flash(_("Case #%(id)s declined; it goes to the next expert.", id=found.id), "info")
    return redirect(url_for("expert.worklist"))


@bp.get("/cases/<int:case_id>")
@roles(Role.EXPERT)
@live_page
def case(case_id: int) -> str:
    return _case_page(case_for(g.db, current_user(), case_id))


@bp.post("/cases/<int:case_id>/report")
@roles(Role.EXPERT)
def report(case_id: int) -> Response | tuple[str, int]:
    user = current_user()
    found = case_for(g.db, user, case_id)
    values = request.form.to_dict()
    try:
        draft = parse_report(values, _expert_id(user))
        if draft.discrepancy is None and _owes_discrepancy(found, draft.kind):
            raise InvalidInput(
                {"discrepancy": "is required on a final report after a preliminary one"}
            )
        services().cases.file_report(found.id, draft)
    except InvalidInput as e:
        return _case_page(found, values, e.fields), 400
    except (Conflict, Forbidden, Unavailable) as e:
        # The typed report is kept on the page: it must never be lost to a refusal.
        flash(_("The report was not filed: %(reason)s.", reason=translated(e.message)), "error")
        return _case_page(found, values), e.status
    flash(str(FILED[draft.kind]), "info")
    return redirect(url_for("expert.case", case_id=found.id))


@bp.post("/cases/<int:case_id>/validate")
@roles(Role.EXPERT)
def validate(case_id: int) -> Response | tuple[str, int]:
    """Régulation: the holder validates the indication with a protocol; the site is told."""
    user = current_user()
    found = case_for(g.db, user, case_id)
    values = request.form.to_dict()
    try:
        services().cases.validate(found.id, parse_validation(g.db, values, _expert_id(user)))
    except InvalidInput as e:
        return _case_page(found, decision=values, errors=e.fields), 400
    except (Conflict, Forbidden, Unavailable) as e:
        flash(_("Not validated: %(reason)s.", reason=translated(e.message)), "error")
        return _case_page(found, decision=values), e.status
    flash(_("Case #%(id)s validated; the site is told the protocol.", id=found.id), "info")
    return redirect(url_for("expert.case", case_id=found.id))


@bp.post("/cases/<int:case_id>/refuse")
@roles(Role.EXPERT)
def refuse(case_id: int) -> Response | tuple[str, int]:
    """Régulation: the holder refuses the indication; the site is told the reason."""
    user = current_user()
    found = case_for(g.db, user, case_id)
    values = request.form.to_dict()
    try:
        services().cases.refuse(found.id, parse_refusal(values, _expert_id(user)))
    except InvalidInput as e:
        return _case_page(found, decision=values, errors=e.fields), 400
    except (Conflict, Forbidden, Unavailable) as e:
        flash(_("Not refused: %(reason)s.", reason=translated(e.message)), "error")
        return _case_page(found, decision=values), e.status
    flash(_("Case #%(id)s refused; the site is told why.", id=found.id), "info")
    return redirect(url_for("expert.worklist"))


@bp.post("/cases/<int:case_id>/release")
@roles(Role.EXPERT)
def release(case_id: int) -> Response:
    user = current_user()
    found = case_for(g.db, user, case_id)
    try:
        services().cases.release(found.id, _expert_id(user))
    except (Conflict, Forbidden) as e:
        flash(_("Case #%(id)s: %(reason)s.", id=found.id, reason=translated(e.message)), "error")
        return redirect(url_for("expert.case", case_id=found.id))
    flash(_("Case #%(id)s released; it goes back to routing.", id=found.id), "info")
    return redirect(url_for("expert.worklist"))


def _expert_id(user: User) -> int:
    assert user.expert_id is not None, "an expert login always has an expert"
    return user.expert_id


def _owes_discrepancy(case: Case, kind: ReportKind) -> bool:
    """A final after a preliminary says how they differ (the form asks; the API may omit it)."""
    return kind is ReportKind.FINAL and any(r.kind == ReportKind.PRELIMINARY for r in case.reports)


def _writing(case: Case, expert: Expert) -> dict[str, Any]:
    """What the report form offers: every exam template in both languages for this case (the
    page's script fills the sections with the one chosen), the one that fits the case, and
    the expert's own macros."""
    texts = {
        t.name: {
            lang: exam_templates.render(t.name, lang, case) for lang in exam_templates.LANGUAGES
        }
        for t in exam_templates.CATALOGUE
    }
    suggested = exam_templates.suggest(
        case.modality, case.body_part, case.study_description, case.clinical_question
    )
    return {
        "exam_templates": exam_templates.CATALOGUE,
        "template_texts": texts,
        "suggested": suggested.name if suggested else "",
        # The expert's language first; the form switches to the other.
        "template_language": expert.language
        if expert.language in exam_templates.LANGUAGES
        else "fr",
        "macros": g.db.scalars(
            select(ExpertMacro).where(ExpertMacro.expert_id == expert.id).order_by(ExpertMacro.name)
        ).all(),
        "owes_discrepancy": _owes_discrepancy(case, ReportKind.FINAL),
        # What categories 1 and 2 give this site to acknowledge, in seconds.
        "ack_within": {
            n: ack_within(case.site.critical_ack_within_s, n).total_seconds() for n in (1, 2)
        },
    }


def _preliminary_text(case: Case, kinds: list[str]) -> dict[str, Any]:
    """The form for the final starts from the preliminary's text and category: the expert
    corrects it rather than types it again. Empty otherwise (an addendum is a new text)."""
    last = latest_report(case)
    if ReportKind.FINAL.value not in kinds or last is None or last.kind != ReportKind.PRELIMINARY:
        return {}
    return {
        "kind": ReportKind.FINAL.value,
        "template": last.template or "",
        "technique": last.technique,
        "findings": last.findings,
        "impression": last.impression,
        "recommendations": last.recommendations,
        "critical_category": str(last.critical_category or ""),
    }


def _deciding(case: Case, values: dict[str, Any]) -> dict[str, Any]:
    """What the validation form offers: the active protocols for the case's modality first,
    the others apart; the one picked (or the only one that fits) chosen."""
    library = protocols(g.db, active_only=True)
    fitting = [p for p in library if p.modality == case.modality]
    if "protocol" not in values and len(fitting) == 1:
        values = {**values, "protocol": fitting[0].code}
    return {
        "fitting_protocols": fitting,
        "other_protocols": [p for p in library if p.modality != case.modality],
        "decision": values,
    }


def _case_page(
    case: Case,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    decision: dict[str, Any] | None = None,
) -> str:
    user = current_user()
    me = _expert_id(user)
    full = sight(g.db, user, case) is not Sight.SUMMARY
    status = CaseStatus(case.status)
    final = latest_report(case)
    wrote_final = final is not None and final.kind == ReportKind.FINAL and final.expert_id == me
    held = case.assigned_expert_id == me and status.is_held
    kinds: list[str] = []
    if held and status not in BEFORE_SCAN:
        kinds = [ReportKind.PRELIMINARY.value, ReportKind.FINAL.value]
    elif status is CaseStatus.FINAL and wrote_final:
        kinds = [ReportKind.ADDENDUM.value]
    offer = g.db.scalar(
        select(Offer).where(
            Offer.case_id == case.id,
            Offer.expert_id == me,
            Offer.status == OfferStatus.OPEN.value,
        )
    )
    return render_template(
        "expert/case.html",
        case=case,
        tz=case.site.timezone,
        offer=offer,
        held=held,
        deciding=held and status is CaseStatus.TO_VALIDATE,
        can_take=case.assigned_expert_id is None and status.is_open,
        # An expert only offered the case, or free to take it, sees what the offer SMS says.
        full=full,
        report_kinds=kinds,
        reports=case.reports if full else [],
        studies=studies_shown(g.db, services().settings, case, user) if full else [],
        values=_preliminary_text(case, kinds) if values is None else values,
        errors=errors or {},
        **(_writing(case, user.expert) if kinds and user.expert else {}),
        **(_deciding(case, decision or {}) if held and status is CaseStatus.TO_VALIDATE else {}),
    )
