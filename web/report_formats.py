"""A case's report in the formats a site can take: JSON, HTML, PDF, FHIR R4 and HL7 v2 ORU.

The HTML page and the PDF are read by people: they come in the reader's language (web/i18n.py),
dates as that language writes them. JSON, FHIR and HL7 are read by machines and stay English.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from flask import Response, jsonify, render_template
from flask_babel import LazyString, get_locale, gettext, lazy_gettext
from markupsafe import escape

from garde.domain import ReportKind
from garde.errors import InvalidInput
from garde.models import Case, Report
from garde.validation import CONTROL
from web.case_views import iso, report_json

FORMATS = ("json", "html", "pdf", "fhir", "hl7")

# The title of a printed report, in the reader's language.
_KIND_TITLES: dict[str, LazyString] = {
    ReportKind.PRELIMINARY.value: lazy_gettext("Preliminary report"),
    ReportKind.FINAL.value: lazy_gettext("Final report"),
    ReportKind.ADDENDUM.value: lazy_gettext("Addendum"),
}


def render_report(case: Case, report: Report, fmt: str) -> Response:
    """The report of `case` rendered as `fmt`; an unknown format is a 400 naming the choices."""
    if fmt == "json":
        return jsonify(report_json(report))
    if fmt == "html":
        return Response(render_html(case, report), mimetype="text/html")
    if fmt == "pdf":
        return Response(
            render_pdf(case, report),
            mimetype="application/pdf",
            # The case id, never the accession number: a file name travels in logs and mail.
            headers={"Content-Disposition": f'inline; filename="garde-report-{case.id}.pdf"'},
        )
    if fmt == "fhir":
        return Response(
            json.dumps(fhir_diagnostic_report(case, report), ensure_ascii=False),
            mimetype="application/fhir+json",
        )
    if fmt == "hl7":
        return Response(hl7_oru(case, report), mimetype="application/hl7-v2")
    raise InvalidInput({"format": "must be one of " + ", ".join(FORMATS)})


@dataclass(frozen=True)
class ReportSheet:
    """What a printed report shows, prepared once for the HTML page and the PDF, in the
    reader's language."""

    language: str
    title: str
    site_name: str
    site_code: str
    modality: str
    body_part: str
    study_description: str
    accession_number: str
    requesting_physician: str
    clinical_question: str
    findings: str
    impression: str
    critical: bool
    expert_name: str
    expert_code: str
    signed_at_local: str
    signed_at_utc: str
    case_id: int

    @classmethod
    def of(cls, case: Case, report: Report) -> ReportSheet:
        zone = _zone(case.site.timezone)
        locale = get_locale()
        title = _KIND_TITLES.get(report.kind)
        return cls(
            language=str(locale or "en"),
            title=str(title) if title is not None else gettext("Report"),
            site_name=case.site.name,
            site_code=case.site.code,
            modality=case.modality,
            body_part=case.body_part,
            study_description=case.study_description,
            accession_number=case.accession_number,
            requesting_physician=case.requesting_physician,
            clinical_question=case.clinical_question,
            findings=report.findings,
            impression=report.impression,
            critical=report.critical,
            expert_name=report.expert.name,
            expert_code=report.expert.code,
            # `29 mars 2026 03:05`, `29 March 2026 03:05`: 24 h in both, as the pages write.
            signed_at_local=(
                f"{format_datetime(report.created_at.astimezone(zone), _SIGNED, locale=locale)}"
                f" ({zone.key})"
            ),
            signed_at_utc=(
                f"{format_datetime(report.created_at.astimezone(UTC), _SIGNED, locale=locale)} UTC"
            ),
            case_id=case.id,
        )

    def study_rows(self) -> list[tuple[str, str]]:
        return [
            (gettext("Site"), f"{self.site_name} ({self.site_code})"),
            (gettext("Modality"), self.modality),
            (gettext("Body part"), self.body_part),
            (gettext("Study"), self.study_description),
            (gettext("Accession number"), self.accession_number),
            (gettext("Requesting physician"), self.requesting_physician),
            (gettext("Clinical question"), self.clinical_question),
        ]

    def critical_banner(self) -> str:
        return gettext("Critical finding: the site must acknowledge this report")

    def signature(self) -> str:
        return gettext(
            "Signed by %(expert)s (%(code)s) on %(local)s, %(utc)s.",
            expert=self.expert_name,
            code=self.expert_code,
            local=self.signed_at_local,
            utc=self.signed_at_utc,
        )

    def case_line(self) -> str:
        return gettext("Garde case %(id)s.", id=self.case_id)


_SIGNED = "d MMMM y HH:mm"


# --- HTML and PDF --------------------------------------------------------------------------------


def render_html(case: Case, report: Report) -> str:
    return render_template("report.html", sheet=ReportSheet.of(case, report))


def render_pdf(case: Case, report: Report) -> bytes:
    return sheet_pdf(ReportSheet.of(case, report), report.created_at)


def sheet_pdf(sheet: ReportSheet, signed_at: datetime) -> bytes:
    """The PDF of a prepared sheet: the site's, or a share link's (web/share_pages.py), which
    may leave out what ties the report to the patient's record."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_lang(sheet.language)
    pdf.set_title(_latin1(f"{sheet.title} - {sheet.case_line().rstrip('.')}"))
    pdf.set_author(_latin1(sheet.expert_name))
    pdf.set_creator("Garde")
    pdf.set_creation_date(signed_at.astimezone(UTC))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def line(text: str, *, size: float = 10, style: str = "", height: float = 5) -> None:
        pdf.set_font("Helvetica", style=style, size=size)
        pdf.multi_cell(width, height, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line(sheet.site_name, size=11, style="B")
    line(sheet.title, size=16, style="B", height=9)
    pdf.ln(2)
    if sheet.critical:
        pdf.set_fill_color(180, 35, 24)
        pdf.set_text_color(255, 255, 255)
        pdf.set_font("Helvetica", style="B", size=11)
        pdf.multi_cell(
            width,
            8,
            _latin1(sheet.critical_banner()),
            fill=True,
            align="C",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)
    for label, value in sheet.study_rows():
        pdf.set_font("Helvetica", style="B", size=10)
        pdf.cell(45, 6, _latin1(label))
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(width - 45, 6, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    line(gettext("Findings"), size=12, style="B", height=7)
    line(sheet.findings)
    pdf.ln(3)
    line(gettext("Impression"), size=12, style="B", height=7)
    line(sheet.impression, style="B")
    pdf.ln(6)
    line(sheet.signature(), size=9)
    line(sheet.case_line(), size=8)
    return bytes(pdf.output())


_LATIN1_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u2022": "-",
        "\u2264": "<=",
        "\u2265": ">=",
        "\u2192": "->",
        "\u0153": "oe",
        "\u0152": "OE",
    }
)


def _latin1(text: str) -> str:
    """Text the PDF core fonts can draw.

    The core fonts ship with every PDF reader but cover Latin-1 only; French fits, and the
    few typographic signs beyond it get a look-alike rather than making the render fail.
    """
    text = text.translate(_LATIN1_LOOKALIKES)
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        base = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
        out.append(base or "?")
    return "".join(out)


# --- FHIR R4 -------------------------------------------------------------------------------------

_FHIR_TITLES = {
    ReportKind.PRELIMINARY.value: "Preliminary report",
    ReportKind.FINAL.value: "Final report",
    ReportKind.ADDENDUM.value: "Addendum",
}
_FHIR_STATUS = {
    ReportKind.PRELIMINARY.value: "preliminary",
    ReportKind.FINAL.value: "final",
    ReportKind.ADDENDUM.value: "appended",
}


def fhir_diagnostic_report(case: Case, report: Report) -> dict[str, object]:
    """A FHIR R4 DiagnosticReport; the case holds no patient, so it names no subject."""
    text = f"Findings:\n{report.findings}\n\nImpression:\n{report.impression}\n"
    resource: dict[str, object] = {
        "resourceType": "DiagnosticReport",
        "id": f"garde-report-{report.id}",
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "ACSN",
                            "display": "Accession ID",
                        }
                    ]
                },
                "system": f"urn:garde:site:{case.site.code}:accession",
                "value": case.accession_number,
            }
        ],
        "status": _FHIR_STATUS.get(report.kind, "final"),
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "RAD",
                        "display": "Radiology",
                    }
                ]
            }
        ],
        "code": {"text": case.study_description},
        "issued": _fhir_instant(report.created_at),
        "performer": [_practitioner(report)],
        "resultsInterpreter": [_practitioner(report)],
        "conclusion": report.impression,
        "presentedForm": [
            {
                "contentType": "text/plain; charset=utf-8",
                "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                "title": f"{_FHIR_TITLES.get(report.kind, 'Report')}: {case.study_description}",
                "creation": _fhir_instant(report.created_at),
            }
        ],
        "text": {
            "status": "generated",
            "div": (
                '<div xmlns="http://www.w3.org/1999/xhtml">'
                f"<p><b>Findings</b></p><p>{_xhtml_lines(report.findings)}</p>"
                f"<p><b>Impression</b></p><p>{_xhtml_lines(report.impression)}</p>"
                "</div>"
            ),
        },
    }
    if report.critical:
        resource["conclusionCode"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "AA",
                        "display": "Critical abnormal",
                    }
                ]
            }
        ]
    return resource


def _practitioner(report: Report) -> dict[str, object]:
    return {
        "identifier": {"system": "urn:garde:expert", "value": report.expert.code},
        "display": report.expert.name,
    }


def _fhir_instant(value: datetime) -> str:
    found = iso(value.astimezone(UTC).replace(microsecond=0))
    assert found is not None
    return found


def _xhtml_lines(text: str) -> str:
    return "<br/>".join(str(escape(line)) for line in text.splitlines())


# --- HL7 v2.5 ORU^R01 ----------------------------------------------------------------------------

_HL7_ESCAPES = str.maketrans(
    {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}
)
_HL7_RESULT_STATUS = {
    ReportKind.PRELIMINARY.value: "P",
    ReportKind.FINAL.value: "F",
    ReportKind.ADDENDUM.value: "C",
}
_LOINC_FINDINGS = "59776-5^Procedure findings Narrative^LN"
_LOINC_IMPRESSION = "19005-8^Radiology Imaging study [Impression] (narrative)^LN"


def hl7_escape(text: str) -> str:
    """A value safe inside an HL7 field: delimiters escaped, line breaks made spaces, and
    control characters (MLLP frames messages with 0x0B and 0x1C) dropped: input refuses them,
    but a row stored before it did may hold some."""
    flat = " ".join(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return CONTROL.sub("", flat).translate(_HL7_ESCAPES)


def hl7_oru(case: Case, report: Report) -> str:
    """An HL7 v2.5 ORU^R01: MSH, PID, OBR, then one OBX per line of findings and impression.

    The case holds no patient identity, so PID carries a set id and nothing else.
    """
    status = _HL7_RESULT_STATUS.get(report.kind, "F")
    reported = _hl7_time(report.created_at)
    code, name = hl7_escape(report.expert.code), hl7_escape(report.expert.name)
    segments = [
        _segment(
            "MSH",
            {
                2: "^~\\&",
                3: "GARDE",
                4: "GARDE",
                6: hl7_escape(case.site.code),
                7: reported,
                9: "ORU^R01^ORU_R01",
                10: f"GARDE-R{report.id}",
                11: "P",
                12: "2.5",
                18: "UNICODE UTF-8",
            },
        ),
        _segment("PID", {1: "1"}),
        _segment(
            "OBR",
            {
                1: "1",
                2: hl7_escape(case.accession_number),  # placer order number
                3: hl7_escape(case.accession_number),  # filler order number
                4: f"^{hl7_escape(case.study_description)}",
                7: _hl7_time(case.requested_at),
                13: hl7_escape(case.clinical_question),
                16: f"^{hl7_escape(case.requesting_physician)}",
                22: reported,
                24: "RAD",
                25: status,
                32: f"{code}&{name}",  # an NDL: the interpreter in subcomponents
            },
        ),
    ]
    set_id = 0
    for sub_id, (observation, text) in enumerate(
        ((_LOINC_FINDINGS, report.findings), (_LOINC_IMPRESSION, report.impression)), start=1
    ):
        abnormal = "AA" if report.critical and observation == _LOINC_IMPRESSION else ""
        for text_line in text.splitlines() or [""]:
            set_id += 1
            obx = {
                1: str(set_id),
                2: "TX",
                3: observation,
                4: str(sub_id),
                5: hl7_escape(text_line),
                8: abnormal,
                11: status,
                14: reported,
                16: f"{code}^{name}",  # an XCN: the observer in components
            }
            segments.append(_segment("OBX", obx))
    return "\r".join(segments) + "\r"


def _segment(name: str, fields: dict[int, str]) -> str:
    """One segment from its numbered fields; the fields not given are left empty."""
    # MSH-1 is the field separator itself: the text after "MSH|" starts with MSH-2.
    first = 2 if name == "MSH" else 1
    return "|".join([name, *(fields.get(n, "") for n in range(first, max(fields) + 1))])


def _hl7_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
