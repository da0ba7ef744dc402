"""A report rendered for the site: HTML, PDF, FHIR DiagnosticReport and HL7 v2 ORU^R01; the
HTML and the PDF in the reader's language."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask, Response
from flask_babel import Babel
from sqlalchemy.orm import Session

from garde.db import make_engine, make_session_factory, upgrade
from garde.errors import InvalidInput
from garde.models import Case, Expert, Report, Site
from web.report_formats import hl7_escape, render_report

FINDINGS = "Hyperdense MCA sign | left ^ side.\nNo mass effect & no ~ shift.\nC:\\path ≥ 3 mm"
IMPRESSION = "Acute left MCA occlusion <script>alert(1)</script>"


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'garde.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()


def reader(language: str) -> Iterator[Flask]:
    """The web package's own templates and catalogue, without the services the whole app
    needs, for a reader of `language`."""
    app = Flask("web")
    Babel(app, locale_selector=lambda: language, default_translation_directories="translations")
    with app.test_request_context():
        yield app


@pytest.fixture
def app() -> Iterator[Flask]:
    yield from reader("en")


@pytest.fixture
def french() -> Iterator[Flask]:
    yield from reader("fr")


def pdf_text(data: bytes) -> str:
    """The words a PDF shows, as poppler's `pdftotext` reads them (Debian's poppler-utils,
    installed by `make system-packages`), lines joined by spaces."""
    tool = shutil.which("pdftotext")
    if tool is None:
        if os.environ.get("GARDE_REQUIRE_DICOM_TOOLS") or os.environ.get("GARDE_REQUIRE_BROWSER"):
            pytest.fail("pdftotext is missing: run `make system-packages`")
        pytest.skip("pdftotext (Debian poppler-utils) is not installed: `make system-packages`")
    shown = subprocess.run(
        [tool, "-enc", "UTF-8", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()
    return " ".join(shown.split())


def make_case(session: Session, *, kind: str = "final", critical: bool = True) -> Case:
    site = Site(code="CH-T", name="Centre hospitalier Test", timezone="Europe/Paris")
    expert = Expert(code="DR-A", name="Dr Alice Aubrac", phone="+33600000001", modalities=["CT"])
    case = Case(
        site=site,
        accession_number="ACC|42^7",
        modality="CT",
        body_part="HEAD",
        study_description="CT head without contrast",
        priority="stat",
        clinical_question="Sudden aphasia, onset 1 h",
        requesting_physician="Dr Urgences",
        callback_phone="+33465710001",
        status="final",
        offer_timeout_s=180,
        accept_within_s=600,
        report_within_s=1800,
        requested_at=datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
    )
    session.add_all([site, expert, case])
    session.flush()
    session.add(
        Report(
            case_id=case.id,
            expert_id=expert.id,
            request_key="r1",
            kind=kind,
            findings=FINDINGS,
            impression=IMPRESSION,
            critical=critical,
            created_at=datetime(2026, 3, 29, 1, 5, tzinfo=UTC),
        )
    )
    session.commit()
    session.refresh(case)
    return case


def render(case: Case, fmt: str) -> Response:
    return render_report(case, case.reports[-1], fmt)


def test_hl7_escapes_delimiters_and_orders_segments(session: Session, app: Flask) -> None:
    response = render(make_case(session), "hl7")
    assert response.mimetype == "application/hl7-v2"
    message = response.get_data(as_text=True)
    assert "\n" not in message and message.endswith("\r")
    segments = message.rstrip("\r").split("\r")
    assert [s[:3] for s in segments] == ["MSH", "PID", "OBR"] + ["OBX"] * 4
    assert segments[0].startswith("MSH|^~\\&|GARDE|GARDE||CH-T|20260329010500+0000||ORU^R01^")
    msh = segments[0].split("|")
    assert msh[11] == "2.5"  # MSH-12: field 1 is the separator itself
    assert segments[1] == "PID|1"
    obr = segments[2].split("|")
    assert obr[2] == obr[3] == "ACC\\F\\42\\S\\7"
    assert obr[4] == "^CT head without contrast"
    assert obr[25] == "F"
    obx = [s.split("|") for s in segments[3:]]
    assert [o[1] for o in obx] == ["1", "2", "3", "4"]
    assert obx[0][5] == "Hyperdense MCA sign \\F\\ left \\S\\ side."
    assert obx[1][5] == "No mass effect \\T\\ no \\R\\ shift."
    assert obx[2][5] == "C:\\E\\path ≥ 3 mm"
    assert obx[3][3].startswith("19005-8^") and obx[3][8] == "AA"  # critical impression
    assert all(len(o) == 17 and o[11] == "F" for o in obx)


def test_hl7_escape_turns_line_breaks_into_spaces() -> None:
    assert hl7_escape("a\r\nb\rc|d") == "a b c\\F\\d"


def test_hl7_escape_drops_control_characters_a_row_stored_earlier_may_hold() -> None:
    """0x0B and 0x1C frame a message over MLLP: inside a field they would cut it."""
    assert hl7_escape("SDH\x0b\x1c\x1d\x00\tleft") == "SDH\tleft"


def test_hl7_marks_a_preliminary_report(session: Session, app: Flask) -> None:
    message = render(make_case(session, kind="preliminary"), "hl7").get_data(as_text=True)
    obr = message.split("\r")[2].split("|")
    assert obr[25] == "P"


def test_fhir_resource_is_a_diagnostic_report_with_the_conclusion(
    session: Session, app: Flask
) -> None:
    response = render(make_case(session), "fhir")
    assert response.mimetype == "application/fhir+json"
    resource = json.loads(response.get_data(as_text=True))
    assert resource["resourceType"] == "DiagnosticReport"
    assert resource["status"] == "final"
    assert resource["conclusion"] == IMPRESSION
    assert resource["code"] == {"text": "CT head without contrast"}
    assert resource["identifier"][0]["value"] == "ACC|42^7"
    assert resource["identifier"][0]["type"]["coding"][0]["code"] == "ACSN"
    assert resource["issued"] == "2026-03-29T01:05:00Z"
    assert resource["conclusionCode"][0]["coding"][0]["code"] == "AA"
    text = base64.b64decode(resource["presentedForm"][0]["data"]).decode()
    assert FINDINGS in text and IMPRESSION in text
    assert "<script>" not in resource["text"]["div"]
    assert "subject" not in resource  # the case holds no patient


def test_fhir_status_follows_the_report_kind(session: Session, app: Flask) -> None:
    response = render(make_case(session, kind="preliminary", critical=False), "fhir")
    resource = json.loads(response.get_data(as_text=True))
    assert resource["status"] == "preliminary"
    assert "conclusionCode" not in resource


def test_pdf_is_a_real_pdf(session: Session, app: Flask) -> None:
    response = render(make_case(session), "pdf")
    assert response.mimetype == "application/pdf"
    data = response.get_data()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert "ACC" not in response.headers["Content-Disposition"]


def test_html_is_a_standalone_page_with_the_report_escaped(session: Session, app: Flask) -> None:
    response = render(make_case(session), "html")
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>") and '<html lang="en">' in page
    for shown in (
        "Centre hospitalier Test",
        "CT head without contrast",
        "ACC|42^7",
        "Dr Urgences",
        "Dr Alice Aubrac",
        "29 March 2026 03:05 (Europe/Paris)",  # signed at 01:05 UTC, after the clocks went forward
        "29 March 2026 01:05 UTC",
        "Critical finding",
    ):
        assert shown in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_html_shows_no_banner_without_a_critical_finding(session: Session, app: Flask) -> None:
    page = render(make_case(session, critical=False), "html").get_data(as_text=True)
    assert "Critical finding" not in page


def test_json_is_the_report_itself(session: Session, app: Flask) -> None:
    body = render(make_case(session), "json").get_json()
    assert body["impression"] == IMPRESSION and body["expert"] == "DR-A"


def test_unknown_format_is_invalid_input(session: Session, app: Flask) -> None:
    with pytest.raises(InvalidInput) as raised:
        render(make_case(session), "docx")
    assert raised.value.fields == {"format": "must be one of json, html, pdf, fhir, hl7"}


def test_the_pdf_draws_the_report_in_english_for_an_english_reader(
    session: Session, app: Flask
) -> None:
    text = pdf_text(render(make_case(session), "pdf").get_data())
    for shown in ("Final report", "Findings", "Impression", "Accession number", "Signed by"):
        assert shown in text
    assert "29 March 2026 03:05 (Europe/Paris)" in text


def test_a_french_reader_gets_the_html_report_in_french(session: Session, french: Flask) -> None:
    page = render(make_case(session), "html").get_data(as_text=True)
    assert '<html lang="fr">' in page
    for shown in (
        "<h1>Compte rendu définitif</h1>",
        "<h2>Résultats</h2>",
        "<h2>Conclusion</h2>",
        "Région anatomique",
        "Résultat critique",
        "Signé par Dr Alice Aubrac (DR-A) le 29 mars 2026 03:05 (Europe/Paris)",
        "Dossier Garde",
    ):
        assert shown in page
    assert "Findings" not in page and "Signed by" not in page and "March" not in page


def test_a_french_reader_gets_the_pdf_report_in_french(session: Session, french: Flask) -> None:
    data = render(make_case(session, kind="preliminary"), "pdf").get_data()
    text = pdf_text(data)
    for shown in (
        "Compte rendu préliminaire",
        "Résultats",
        "Conclusion",
        "Numéro d'examen",
        "Résultat critique",
        "Signé par Dr Alice Aubrac (DR-A) le 29 mars 2026 03:05 (Europe/Paris)",
    ):
        assert shown in text, text
    assert "Findings" not in text and "Signed by" not in text
    assert b"/Lang (fr)" in data or b"/Lang(fr)" in data


def test_machines_read_english_whoever_asks(session: Session, french: Flask) -> None:
    """FHIR and HL7 are read by a hospital's systems, not by the person who fetched them."""
    resource = json.loads(render(make_case(session), "fhir").get_data(as_text=True))
    assert resource["presentedForm"][0]["title"].startswith("Final report: ")
