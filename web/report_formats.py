"""`GET …/report?format=`: a case's report in the format asked for, rendered by the reports
package (reports/sheet.py, pdf.py, fhir.py, hl7.py).

The HTML page and the PDF are read by people: they come in the reader's language (web/i18n.py).
JSON, FHIR and HL7 are read by machines and stay English.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from flask import Response, jsonify, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.errors import InvalidInput
from garde.models import Case, Report, ReportAcknowledgement
from reports.fhir import report_bundle
from reports.hl7 import oru_r01
from reports.pdf import sheet_pdf
from reports.sheet import ReportSheet
from web.case_views import report_document_json

FORMATS = ("json", "html", "pdf", "fhir", "hl7")


def acknowledgements(db: Session, case: Case) -> list[ReportAcknowledgement]:
    """The acknowledgements the case's versions asked for, given or owed."""
    found = select(ReportAcknowledgement).where(ReportAcknowledgement.case_id == case.id)
    return list(db.scalars(found).all())


def render_report(
    case: Case, report: Report, fmt: str, asked: Sequence[ReportAcknowledgement]
) -> Response:
    """`report` (a version of `case`'s) rendered as `fmt`, with the acknowledgements the case
    asked for (`asked`); an unknown format is a 400 naming the choices."""
    if fmt == "json":
        versions = sorted(case.reports, key=lambda r: r.version)
        return jsonify(report_document_json(report, versions, list(asked)))
    if fmt == "html":
        sheet = ReportSheet.of(case, report, asked)
        return Response(render_template("report.html", sheet=sheet), mimetype="text/html")
    if fmt == "pdf":
        return Response(
            sheet_pdf(ReportSheet.of(case, report, asked)),
            mimetype="application/pdf",
            # The case id, never the accession number: a file name travels in logs and mail.
            headers={"Content-Disposition": f'inline; filename="garde-report-{case.id}.pdf"'},
        )
    if fmt == "fhir":
        return Response(
            json.dumps(report_bundle(case, report), ensure_ascii=False),
            mimetype="application/fhir+json",
        )
    if fmt == "hl7":
        return Response(oru_r01(case, report), mimetype="application/hl7-v2")
    raise InvalidInput({"format": "must be one of " + ", ".join(FORMATS)})
