"""The pages of an emergency site: its cases, a new read request, following one case."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from werkzeug.wrappers.response import Response

from garde.acknowledgements import pending, pending_in
from garde.domain import CaseStatus, Priority, ReportKind, Role
from garde.errors import Conflict, Forbidden, InvalidInput, Unavailable
from garde.intake import CaseRequest
from garde.messages import Acknowledgement, ScanDone
from garde.models import Case, Report, Site
from garde.vocabulary import MODALITIES
from web import display, services
from web.access import case_for, current_user, roles, visible_cases
from web.audit import audit
from web.body_limits import large_body
from web.case_views import deliveries, latest_report
from web.image_upload import Uploaded, upload
from web.inputs import parse_priority_change
from web.live_events import live_page
from web.login_limits import seconds_until_retry
from web.reasons import translated
from web.study_view import studies_shown
from web.submission import per_site, submit_case

bp = Blueprint("site", __name__, url_prefix="/site")
display.install(bp)

LIST_LIMIT = 200


@bp.get("/cases")
@roles(Role.SITE)
@live_page
def cases() -> str:
    rows = g.db.scalars(visible_cases(g.db, current_user()).limit(LIST_LIMIT)).all()
    waiting = pending_in(g.db, [c.id for c in rows])
    owed = {c.id: owed_reason([r for r in waiting if r.case_id == c.id]) for c in rows}
    return render_template("site/cases.html", cases=rows, site=_site(), limit=LIST_LIMIT, owed=owed)


@bp.route("/cases/new", methods=["GET", "POST"])
@roles(Role.SITE)
@per_site
def new_case() -> str | Response | tuple[str, int]:
    site = _site()
    if request.method == "GET":
        return _request_form({"callback_phone": site.phone})
    values = request.form.to_dict()
    try:
        parsed = CaseRequest.parse(values, site)
    except InvalidInput as e:
        return _request_form(values, e.fields), 400
    submitted = submit_case(site, parsed)
    if not submitted.created:
        flash(_("This accession number was already sent: here is its case."), "info")
    if not submitted.routing:
        flash(_("The request is recorded. Routing to an expert will start shortly."), "warning")
    return redirect(url_for("site.case", case_id=submitted.case.id))


@bp.get("/cases/<int:case_id>")
@roles(Role.SITE)
@live_page
def case(case_id: int) -> str:
    return _case_page(case_for(g.db, current_user(), case_id))


@bp.post("/cases/<int:case_id>/images")
@roles(Role.SITE)
@large_body
def upload_images(case_id: int) -> str | tuple[str, int]:
    """DICOM files or .zip archives of them, through the checks every image passes; the case
    page again, saying what was kept and what was refused."""
    found = case_for(g.db, current_user(), case_id)
    files = [f for f in request.files.getlist("files") if f.filename]
    if not files:
        flash(_("Choose the images to send: DICOM files, or a .zip of them."), "error")
        return _case_page(found), 400
    done = upload(_site().id, found.id, files)
    audit("case.images", f"case:{found.id}", f"{done.stored} new, {len(done.refused)} refused")
    g.db.commit()  # and the page reads the studies as the upload linked them
    return _case_page(found, done)


def _case_page(found: Case, uploaded: Uploaded | None = None) -> str:
    report = latest_report(found)
    return render_template(
        "site/case.html",
        case=found,
        uploaded=uploaded,
        tz=found.site.timezone,
        report=report,
        studies=studies_shown(g.db, services().settings, found, current_user()),
        addenda=[r for r in found.reports if r.kind == ReportKind.ADDENDUM],
        deliveries=deliveries(found),
        is_open=CaseStatus(found.status).is_open,
        owed=owed_reason(pending(g.db, found.id)),
        # Régulation: validated, the scan is the site's to do and to say.
        to_scan=found.status == CaseStatus.VALIDATED and found.scanned_at is None,
    )


@bp.post("/cases/<int:case_id>/cancel")
@roles(Role.SITE)
def cancel(case_id: int) -> Response | tuple[str, int]:
    user = current_user()
    found = case_for(g.db, user, case_id)
    try:
        services().cases.cancel(found, user.username)
    except (Conflict, Unavailable) as e:
        flash(_("Not cancelled: %(reason)s.", reason=translated(e.message)), "error")
        return _case_page(found), e.status
    audit("case.cancel", f"case:{found.id}")
    g.db.commit()
    flash(_("Cancellation sent. The expert, if any, is told."), "info")
    return redirect(url_for("site.case", case_id=found.id))


@bp.post("/cases/<int:case_id>/scanned")
@roles(Role.SITE)
def scanned(case_id: int) -> Response | tuple[str, int]:
    """Régulation: the technologist did the scan; the case goes on to its reading."""
    user = current_user()
    found = case_for(g.db, user, case_id)
    try:
        services().cases.scanned(found.id, ScanDone(by=user.username, via="site"))
    except (Conflict, Forbidden, Unavailable) as e:
        flash(_("Not marked as scanned: %(reason)s.", reason=translated(e.message)), "error")
        return _case_page(found), e.status
    audit("case.scanned", f"case:{found.id}")
    g.db.commit()
    flash(_("Scan done: the case goes on to its reading."), "info")
    return redirect(url_for("site.case", case_id=found.id))


@bp.post("/cases/<int:case_id>/priority")
@roles(Role.SITE)
def change_priority(case_id: int) -> Response:
    """The site's promise for the new priority; deadlines count from the request time."""
    user = current_user()
    found = case_for(g.db, user, case_id)
    try:
        change = parse_priority_change(found, request.form, user.username)
        services().cases.change_priority(found.id, change)
    except (InvalidInput, Conflict, Unavailable) as e:
        flash(_("Priority not changed: %(reason)s.", reason=translated(e.message)), "error")
    else:
        audit("case.priority", f"case:{found.id}", f"{found.priority} to {change.priority}")
        g.db.commit()
        flash(
            _(
                "The case is now %(priority)s; its deadlines follow.",
                priority=display.word(change.priority, "priority"),
            ),
            "info",
        )
    return redirect(url_for("site.case", case_id=found.id))


@bp.post("/cases/<int:case_id>/acknowledge")
@roles(Role.SITE)
def acknowledge(case_id: int) -> Response:
    """Every version of the case that waits for the site's acknowledgement, acknowledged."""
    user = current_user()
    found = case_for(g.db, user, case_id)
    owed = owed_reason(pending(g.db, found.id))
    try:
        recorded = services().cases.acknowledge(
            g.db, found.id, Acknowledgement(user.username, "web")
        )
    except Conflict:
        flash(_("Nothing waits for an acknowledgement on this case."), "info")
    except Unavailable as e:
        flash(_("Not acknowledged: %(reason)s.", reason=translated(e.message)), "error")
    else:
        audit("case.acknowledge", f"case:{found.id}", "web")
        g.db.commit()
        if recorded and owed == "discrepancy":
            flash(_("Major discrepancy acknowledged."), "info")
        elif recorded:
            flash(_("Critical finding acknowledged."), "info")
        else:
            flash(_("Acknowledgement sent; this page shows it once it is recorded."), "info")
    return redirect(url_for("site.case", case_id=found.id))


def _site() -> Site:
    site = current_user().site
    assert site is not None, "a site login always has a site"
    return site


@bp.errorhandler(RateLimitExceeded)
def too_many_cases(e: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
    """The form again with what was typed, saying why nothing was sent and until when."""
    flash(_("Not sent: %(reason)s.", reason=e.description), "error")
    return _request_form(request.form.to_dict()), 429, {"Retry-After": str(seconds_until_retry())}


def _request_form(values: dict[str, Any], errors: dict[str, str] | None = None) -> str:
    return render_template(
        "site/new_case.html",
        values=values,
        errors=errors or {},
        modalities=MODALITIES,
        priorities=[p.value for p in Priority],
        regulation=_site().regulation,
    )


def owed_reason(waiting: Sequence[Report]) -> str | None:
    """Why the site must acknowledge these waiting versions (garde.acknowledgements.pending),
    as their acknowledgement rows say it: "critical" when one carries a category 1 or 2
    finding, else "discrepancy" (a major one); None when nothing waits."""
    if any(r.critical_category in (1, 2) for r in waiting):
        return "critical"
    return "discrepancy" if waiting else None
