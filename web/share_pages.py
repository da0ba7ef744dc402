"""Share links on the pages (garde/shares.py): the public page a doctor in town opens at
/share/TOKEN (the case's final report and a link to open the study in a viewer, no login,
never indexed), and on the case pages the share form, the case's links with their access
counts and revoke buttons (site, holding expert) and, for a coordinator, every access.

The page answers 404 alike for a token unknown, expired or revoked, as its DICOMweb root
does (web/dicomweb_access.py): a link never tells what it was. A use of a link that was
real is recorded all the same, refused or not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers.response import Response as Redirect

from dicom.deidentify import new_uid
from garde.domain import STAFF, ReportKind, Role
from garde.errors import Conflict, Forbidden, InvalidInput, NotFound
from garde.models import Case, Report, ShareLink, Study, User
from garde.shares import (
    FORBIDDEN,
    ShareSummary,
    case_shares,
    create_share,
    described,
    dicomweb_root,
    find_share,
    is_live,
    may_revoke,
    may_share,
    page_url,
    record_access,
    revoke,
    share_key,
)
from reports.pdf import sheet_pdf
from reports.sheet import ReportSheet
from web import services
from web.access import case_for, current_user, roles
from web.audit import audit
from web.reasons import translated
from web.study_view import viewer_url

bp = Blueprint("shares", __name__)

# What the share form offers, in days.
EXPIRY_DAYS = (1, 7, 30)
# Search engines and link previews must neither keep nor follow a share page.
NOINDEX = {"X-Robots-Tag": "noindex, nofollow, noarchive"}
GONE = "this link is unknown, has expired or was revoked"


@bp.get("/share/<token>")
def page(token: str) -> tuple[str, int, dict[str, str]]:
    share = _live(token, "page")
    case = g.db.get_one(Case, share.case_id)
    study = g.db.get_one(Study, share.study_id)
    settings = services().settings
    root = dicomweb_root(settings.public_url, token)
    study_uid = study.study_instance_uid
    if share.deidentify:
        study_uid = new_uid(share_key(share, settings.secret_key), study_uid)
    report = _final_report(case)
    shown = render_template(
        "shares/page.html",
        sheet=_sheet(case, report, share.deidentify) if report else None,
        dicomweb_root=root,
        pdf_url=url_for("shares.report_pdf", token=token),
        viewer_url=viewer_url(settings, study_uid, root),
        expires_at=share.expires_at,
        deidentified=share.deidentify,
        tz=case.site.timezone,
    )
    record_access(g.db, share, "page", 200, request.remote_addr)
    return shown, 200, NOINDEX


@bp.get("/share/<token>/report.pdf")
def report_pdf(token: str) -> Response:
    """The page's report as the site's PDF; 404 while there is no final report."""
    share = _live(token, "report")
    case = g.db.get_one(Case, share.case_id)
    report = _final_report(case)
    if report is None:
        record_access(g.db, share, "report", 404, request.remote_addr)
        raise NotFound("no final report yet")
    pdf = sheet_pdf(_sheet(case, report, share.deidentify))
    record_access(g.db, share, "report", 200, request.remote_addr)
    return Response(
        pdf,
        mimetype="application/pdf",
        # The case id, never the accession number: a file name travels in mail.
        headers={
            "Content-Disposition": f'inline; filename="garde-report-{case.id}.pdf"',
            **NOINDEX,
        },
    )


@bp.post("/cases/<int:case_id>/share")
@roles(Role.SITE, Role.EXPERT)
def create(case_id: int) -> tuple[str, int] | Redirect:
    """The case page's share form: the new link shown once, on a page of its own."""
    user = current_user()
    case = case_for(g.db, user, case_id)
    if not may_share(case, user):
        raise Forbidden(FORBIDDEN)
    try:
        days = _days(request.form.get("days", ""))
        link, token = create_share(
            g.db, case, user, int(timedelta(days=days).total_seconds()), _checked("deidentify")
        )
    except (InvalidInput, Conflict) as e:
        flash(_("No link made: %(reason)s.", reason=translated(e.message)), "error")
        return _back_to(case, user)
    audit("share.create", f"case:{case.id}", described(link))
    g.db.commit()
    settings = services().settings
    shown = render_template(
        "shares/created.html",
        case=case,
        link=link,
        url=page_url(settings.public_url, token),
        dicomweb_root=dicomweb_root(settings.public_url, token),
        back=_case_url(case, user),
        tz=case.site.timezone,
    )
    return shown, 201


@bp.post("/shares/<int:share_id>/revoke")
@roles(Role.SITE, Role.EXPERT, *STAFF)
def revoke_link(share_id: int) -> Redirect:
    user = current_user()
    share = g.db.get(ShareLink, share_id)
    if share is None:
        raise NotFound(f"no share link {share_id}")
    case = case_for(g.db, user, share.case_id)
    revoke(g.db, share, user)
    audit("share.revoke", f"case:{case.id}", f"share:{share.id}")
    g.db.commit()
    flash(_("Link revoked: it opens nothing from now on."), "info")
    return _back_to(case, user)


@dataclass(frozen=True)
class SharePanel:
    """What a case page shows of the case's links to this user."""

    may_share: bool
    links: list[ShareSummary]
    revocable: set[int]
    expiry_days: tuple[int, ...] = EXPIRY_DAYS


@bp.app_context_processor
def share_helpers() -> dict[str, Any]:
    return {"share_panel": share_panel}


def share_panel(case: Case) -> SharePanel:
    """The case's links as this user sees them: coordinators every link with its accesses;
    the site and the holding expert the live ones, to share more or revoke; another expert
    only the live ones they made (to revoke them once the case is no longer theirs)."""
    user = current_user()
    staff = Role(user.role) in STAFF
    sharing = may_share(case, user)
    links = case_shares(g.db, case.id, with_accesses=staff)
    if not staff:
        mine = [link for link in links if link.share.created_by_id == user.id]
        links = [link for link in (links if sharing else mine) if link.live]
    return SharePanel(
        may_share=sharing,
        links=links,
        revocable={link.share.id for link in links if may_revoke(link.share, case, user)},
    )


def _live(token: str, what: str) -> ShareLink:
    """The link if live; else 404, the same for a token unknown, expired or revoked (a use of
    a real link is recorded all the same)."""
    share = find_share(g.db, token)
    if share is None:
        raise NotFound(GONE)
    if not is_live(share):
        record_access(g.db, share, what, 404, request.remote_addr)
        raise NotFound(GONE)
    return share


def _final_report(case: Case) -> Report | None:
    finals = [r for r in case.reports if r.kind == ReportKind.FINAL]
    return finals[-1] if finals else None


def _sheet(case: Case, report: Report, deidentified: bool) -> ReportSheet:
    """The report as the site's printed report shows it; through a de-identified link,
    without what ties it to the patient's record (the accession number, the requesting
    physician, the clinical question, free text that may name the patient)."""
    sheet = ReportSheet.of(case, report)
    # The acknowledgement is between the site and Garde: the doctor in town reads the
    # finding's category, never that the site "must acknowledge" it.
    banner = sheet.banner and dataclasses.replace(sheet.banner, note=None)
    sheet = dataclasses.replace(sheet, banner=banner, acknowledgement=None)
    if not deidentified:
        return sheet
    hidden = _("de-identified")
    return dataclasses.replace(
        sheet, accession_number=hidden, requesting_physician=hidden, clinical_question=hidden
    )


def _days(given: str) -> int:
    if given not in {str(d) for d in EXPIRY_DAYS}:
        choices = ", ".join(str(d) for d in EXPIRY_DAYS)
        raise InvalidInput({"days": f"must be one of {choices}"})
    return int(given)


def _checked(name: str) -> bool:
    return request.form.get(name, "") in ("true", "on", "1")


def _case_url(case: Case, user: User) -> str:
    role = Role(user.role)
    if role is Role.SITE:
        return url_for("site.case", case_id=case.id)
    if role is Role.EXPERT:
        return url_for("expert.case", case_id=case.id)
    return url_for("coordinator.case", case_id=case.id)


def _back_to(case: Case, user: User) -> Redirect:
    return redirect(_case_url(case, user) + "#shares")
