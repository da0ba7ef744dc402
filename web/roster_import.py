"""Shifts imported from an expert's calendar file or a spreadsheet: upload, preview (a dry
run: what would be created, changed and refused, each with its reason), then confirm, written
all or nothing. The confirmation carries the same file back, so nothing is kept between."""

from __future__ import annotations

from base64 import b64decode, b64encode
from collections.abc import Mapping
from pathlib import PurePath
from typing import Annotated, Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers.response import Response

from garde.domain import STAFF, Tier
from garde.errors import InvalidInput
from garde.models import Expert
from garde.validation import Input, choice, text, validated
from rosters.importing import CALENDAR, CSV, ImportReport, import_shifts
from web import display
from web.access import roles
from web.audit import audit
from web.roster_changes import roster_changed
from web.roster_pages import active_experts, local_day, region_zone

bp = Blueprint("roster_import", __name__, url_prefix="/coordinator")
display.install(bp)


class ImportForm(Input):
    """Whose file it is (a calendar's expert) and the tier of its shifts, else the file's."""

    expert: Annotated[str | None, text(32)] = None
    tier: Annotated[Tier | None, choice()] = None


@bp.route("/import", methods=["GET", "POST"])
@roles(*STAFF)
def import_file() -> str | Response | tuple[str, int]:
    """Upload, preview (a dry run: what would be created, changed, refused), then confirm:
    the confirmation carries the same file back and is written all or nothing."""
    if request.method == "GET":
        return _import_page({})
    values = request.form.to_dict()
    upload = request.files.get("file")
    errors: dict[str, str] = {}
    body, filename = _uploaded(upload, values, errors)
    content_type = IMPORT_TYPES.get(PurePath(filename).suffix.lower(), "")
    if body and not content_type:
        errors["file"] = "must be a calendar (.ics) or a spreadsheet (.csv) file"
    expert, tier = _expert_and_tier(values, errors)
    if errors:
        return _import_page(values, errors), 400
    confirm = values.get("confirm") == "1"
    try:
        report = import_shifts(
            g.db,
            expert=expert,
            tier=tier,
            content_type=content_type,
            body=body,
            dry_run=not confirm,
        )
    except InvalidInput as e:
        g.db.rollback()
        return _import_page(values, e.fields), 400
    if not report.written:
        g.db.rollback()
        kept = {**values, "filename": filename, "content": b64encode(body).decode()}
        return _import_page(kept, report=report, confirming=confirm)
    audit(
        "shift.import",
        f"expert:{expert.code}" if expert else "region",
        f"{filename}: {len(report.created)} created, {len(report.changed)} changed",
    )
    roster_changed("shifts imported")
    flash(
        _(
            "Imported %(file)s: %(created)s shifts created, %(changed)s changed, "
            "%(unchanged)s already there.",
            file=filename,
            created=len(report.created),
            changed=len(report.changed),
            unchanged=len(report.unchanged),
        ),
        "info",
    )
    first = min((i.start for i in report.created + report.changed if i.start), default=None)
    return redirect(
        url_for("roster.grid", start=local_day(first, region_zone()) if first else None)
    )


IMPORT_TYPES = {".ics": CALENDAR, ".ical": CALENDAR, ".csv": CSV}


def _uploaded(
    upload: FileStorage | None, values: Mapping[str, str], errors: dict[str, str]
) -> tuple[bytes, str]:
    """The file and its name: uploaded now, or carried back by the preview's confirmation."""
    if upload is not None and upload.filename:
        return upload.read(), upload.filename
    if values.get("content"):
        try:
            return b64decode(values["content"], validate=True), values.get("filename", "")
        except ValueError:
            errors["file"] = "was damaged on the way back; choose it again"
            return b"", ""
    errors["file"] = "is required: a calendar (.ics) or a spreadsheet (.csv) file"
    return b"", ""


def _expert_and_tier(
    values: Mapping[str, Any], errors: dict[str, str]
) -> tuple[Expert | None, Tier | None]:
    try:
        form = validated(ImportForm, values)
    except InvalidInput as e:
        errors.update(e.fields)
        return None, None
    if form.expert is None:
        return None, form.tier
    expert = g.db.scalar(select(Expert).where(Expert.code == form.expert))
    if expert is None:
        errors["expert"] = f"no expert has the code {form.expert}"
    return expert, form.tier


def _import_page(
    values: Mapping[str, Any],
    errors: dict[str, str] | None = None,
    report: ImportReport | None = None,
    confirming: bool = False,
) -> str:
    return render_template(
        "coordinator/import.html",
        values=values,
        errors=errors or {},
        report=report,
        confirming=confirming,
        experts=active_experts(),
        tiers=[t.value for t in Tier],
        zone=region_zone(),
    )
