"""A report version in every format, each checked by the format's own validator, with
hostile text in every free-text field: HL7 delimiters and escape sequences, CR/LF, HTML, an
HTML entity, Latin letters beyond ASCII, Cyrillic, Greek, CJK and a right-to-left word.

The case, site, expert, report and acknowledgement are model objects in memory: no
database. Codes (site, expert) stay plain: the registry refuses anything but
[A-Za-z0-9_.-] in them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from xml.etree import ElementTree

import pytest
from fhir.resources.R4B.bundle import Bundle
from flask import Flask, Response
from flask_babel import Babel
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message

from garde.errors import InvalidInput
from garde.models import Case, Expert, Report, ReportAcknowledgement, Site, Study
from garde.validation import CONTROL
from reports.fhir import report_bundle
from reports.hl7 import oru_r01
from reports.pdf import REPLACEMENT, sheet_pdf
from reports.sheet import ReportSheet
from reports.signing import Content
from web.report_formats import render_report

RTL = "שלום"
HOSTILE = (
    "a|b^c~d\\e&f \\F\\ \\.br\\ <script>alert(1)</script> &amp;\r\n"
    f"Œuvre œ é ß Ж Ω 漢字 {RTL}\nlast line"
)
SIGNED = datetime(2026, 3, 29, 1, 5, tzinfo=UTC)  # 03:05 in Paris, after the clocks went forward


def make_case(
    *,
    kind: str = "final",
    category: int | None = 1,
    text: str = HOSTILE,
    discrepancy: str | None = "major",
    study_uid: str | None = "1.2.826.0.1.3680043.8.498.1",
) -> Case:
    """A case of one version (two for an addendum), each signed as reports/signing.py
    signs; every free-text field holding `text`."""
    site = Site(code="CH-T", name=f"Centre hospitalier {text}", timezone="Europe/Paris")
    expert = Expert(code="DR-A", name=f"Dr Zoé Lœwy {text}", phone="+33600000001")
    case = Case(
        id=42,
        site=site,
        accession_number="ACC|42^7&1~2\\3",
        study_instance_uid=study_uid,
        modality="CT",
        body_part="HEAD",
        study_description=f"CT head {text}",
        priority="stat",
        clinical_question=f"Aphasia {text}",
        requesting_physician=f"Dr Urgences {text}",
        callback_phone="+33465710001",
        status="final",
        offer_timeout_s=180,
        accept_within_s=600,
        report_within_s=1800,
        requested_at=datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
    )
    kinds = ["final", "addendum"] if kind == "addendum" else [kind]
    previous: str | None = None
    for version, this in enumerate(kinds, start=1):
        report = Report(
            id=version,
            case_id=case.id,
            version=version,
            expert=expert,
            kind=this,
            template=None,
            technique=f"Technique {text}",
            findings=f"Findings {text}",
            impression=f"Impression {text}",
            recommendations=f"Recommendations {text}",
            critical_category=category,
            critical=category in (1, 2),
            discrepancy=discrepancy,
            created_at=SIGNED,
            previous_sha256=previous,
            sha256="",
        )
        report.sha256 = Content.of(report, expert.code).sha256()
        previous = report.sha256
        case.reports.append(report)
    return case


def shown(case: Case) -> Report:
    return case.reports[-1]


def lines(text: str) -> list[str]:
    return text.splitlines()


# --- FHIR ----------------------------------------------------------------------------------------


def references(value: Any) -> list[str]:
    """Every `reference` in a resource tree."""
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def test_the_fhir_bundle_validates_as_r4_and_resolves_every_reference() -> None:
    """fhir.resources 8.x's default models are R5; its `R4B` package is the FHIR R4 line
    that loads with pydantic 2 (the R4-only 6.x does not). R4B changed nothing of these
    resources from R4."""
    case = make_case()
    bundle = report_bundle(case, shown(case))
    Bundle.model_validate(bundle)
    json.dumps(bundle, ensure_ascii=False)  # JSON as it goes on the wire
    urls = [e["fullUrl"] for e in bundle["entry"]]
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert bundle["type"] == "collection"
    assert kinds == [
        "DiagnosticReport",
        "ServiceRequest",
        "ImagingStudy",
        "Practitioner",
        "Organization",
    ]
    refs = references(bundle)
    assert refs and set(refs) <= set(urls)
    report, request, study, expert, site = (e["resource"] for e in bundle["entry"])
    assert report["basedOn"] == [{"reference": urls[1]}]
    assert report["imagingStudy"] == [{"reference": urls[2]}]
    assert report["performer"][0]["reference"] == urls[3]
    assert report["resultsInterpreter"][0]["reference"] == urls[3]
    assert request["requester"]["reference"] == urls[4]
    assert study["identifier"][0]["value"] == "urn:oid:1.2.826.0.1.3680043.8.498.1"
    assert expert["name"][0]["text"] == case.reports[0].expert.name
    assert site["name"] == case.site.name
    assert "subject" not in report  # the case holds no patient
    assert request["subject"]["extension"][0]["valueCode"] == "masked"


def test_the_fhir_report_carries_the_text_the_signature_and_the_critical_category() -> None:
    case = make_case()
    report = report_bundle(case, shown(case))["entry"][0]["resource"]
    assert report["status"] == "final"
    assert report["meta"] == {"versionId": "1"}
    assert report["conclusion"] == f"Impression {HOSTILE}"
    accession, digest = report["identifier"]
    assert accession["value"] == "ACC|42^7&1~2\\3"
    assert accession["type"]["coding"][0]["code"] == "ACSN"
    assert digest == {"system": "urn:garde:report:sha256", "value": shown(case).sha256}
    assert report["extension"] == [{"url": "urn:garde:fhir:discrepancy", "valueCode": "major"}]
    codings = report["conclusionCode"][0]["coding"]
    assert codings[0] == {
        "system": "urn:garde:acr-critical-category",
        "code": "1",
        "display": "Immediate",
    }
    assert codings[1]["code"] == "AA"
    text = base64.b64decode(report["presentedForm"][0]["data"]).decode()
    for section in ("Technique", "Findings", "Impression", "Recommendations"):
        assert f"{section}:\n{section} {HOSTILE}\n" in text
    div = Text.of(report["text"]["div"])
    assert div.tags.isdisjoint({"script"}) and "<script>alert(1)</script>" in div.text


@pytest.mark.parametrize(
    ("kind", "status"),
    [("preliminary", "preliminary"), ("final", "final"), ("addendum", "appended")],
)
def test_the_fhir_status_follows_the_kind(kind: str, status: str) -> None:
    case = make_case(kind=kind, category=3, discrepancy=None, study_uid=None)
    bundle = report_bundle(case, shown(case))
    Bundle.model_validate(bundle)
    report = bundle["entry"][0]["resource"]
    assert report["status"] == status
    assert report["conclusionCode"][0]["coding"][1]["code"] == "A"  # category 3: abnormal
    assert "imagingStudy" not in report and "extension" not in report
    assert "ImagingStudy" not in [e["resource"]["resourceType"] for e in bundle["entry"]]
    if kind == "addendum":
        digests = {i["system"]: i["value"] for i in report["identifier"][1:]}
        assert digests["urn:garde:report:previous-sha256"] == case.reports[0].sha256


def test_the_fhir_bundle_names_no_category_nor_empty_section_it_does_not_have() -> None:
    case = make_case(category=None, text="plain")
    report = shown(case)
    report.technique = report.recommendations = ""
    resource = report_bundle(case, report)["entry"][0]["resource"]
    assert "conclusionCode" not in resource
    text = base64.b64decode(resource["presentedForm"][0]["data"]).decode()
    assert "Technique" not in text and "Recommendations" not in text


def test_the_imaging_study_is_the_one_received_when_the_request_named_none() -> None:
    case = make_case(study_uid=None)
    at = datetime(2026, 3, 29, 0, 40, tzinfo=UTC)
    case.studies.append(
        Study(
            study_instance_uid="1.2.3.4",
            study_date=at.date(),
            first_arrival_at=at,
            last_arrival_at=at,
            series_count=3,
            instance_count=250,
        )
    )
    bundle = report_bundle(case, shown(case))
    Bundle.model_validate(bundle)
    study = bundle["entry"][2]["resource"]
    assert study["identifier"][0]["value"] == "urn:oid:1.2.3.4"
    assert (study["numberOfSeries"], study["numberOfInstances"]) == (3, 250)
    assert study["started"] == "2026-03-29"  # the study's date: when it arrived is not


def test_control_characters_a_row_stored_before_input_refused_them_never_reach_the_bundle() -> None:
    """FHIR strings and XHTML refuse them."""
    case = make_case(text="SDH\x0b left\x1c\x00 8 mm\x85")
    bundle = report_bundle(case, shown(case))
    Bundle.model_validate(bundle)
    report = bundle["entry"][0]["resource"]
    ElementTree.fromstring(report["text"]["div"])  # well-formed XML
    assert not CONTROL.search(json.dumps(bundle, ensure_ascii=False))
    assert not CONTROL.search(base64.b64decode(report["presentedForm"][0]["data"]).decode())


# --- HL7 v2.5 ------------------------------------------------------------------------------------


def unescape(value: str) -> str:
    """What a receiver reads from an HL7 value: the escape sequences of the delimiters."""
    names = {"F": "|", "S": "^", "T": "&", "R": "~", "E": "\\"}
    return re.sub(r"\\([FSTRE])\\", lambda m: names[m[1]], value)


def parsed(message: str) -> Message:
    """hl7apy parses the message strictly, and the ORU_R01 structure of v2.5 validates."""
    assert "\x0b" not in message and "\x1c" not in message and "\n" not in message
    found = parse_message(message, find_groups=True, validation_level=VALIDATION_LEVEL.STRICT)
    found.validate()
    return found


def observations(message: Message) -> list[Any]:
    order = message.oru_r01_patient_result.oru_r01_order_observation
    return [o.obx for o in order.oru_r01_observation]


def test_the_hl7_message_parses_and_every_text_reads_back_as_written() -> None:
    case = make_case()
    report = shown(case)
    message = parsed(oru_r01(case, report))
    msh = message.msh
    assert msh.msh_9.to_er7() == "ORU^R01^ORU_R01" and msh.msh_12.to_er7() == "2.5"
    assert msh.msh_10.to_er7() == "GARDE-42-1"
    assert msh.msh_18.to_er7() == "UNICODE UTF-8"
    obr = message.oru_r01_patient_result.oru_r01_order_observation.obr
    assert unescape(obr.obr_2.to_er7()) == case.accession_number
    assert unescape(obr.obr_4.ce_2.to_er7()) == " ".join(lines(case.study_description))
    assert unescape(obr.obr_13.to_er7()) == " ".join(lines(case.clinical_question))
    assert unescape(obr.obr_16.xcn_2.to_er7()) == " ".join(lines(case.requesting_physician))
    assert unescape(obr.obr_32.ndl_1.cnn_2.to_er7()) == " ".join(lines(report.expert.name))
    assert obr.obr_25.to_er7() == "F"
    read: dict[str, list[str]] = {}
    for obx in observations(message):
        if obx.obx_2.to_er7() == "TX":
            read.setdefault(obx.obx_3.ce_1.to_er7(), []).append(unescape(obx.obx_5.to_er7()))
    loinc = {"55111-9": "technique", "59776-5": "findings", "19005-8": "impression"}
    loinc["18783-1"] = "recommendations"
    assert set(read) == set(loinc)
    for code, name in loinc.items():
        assert read[code] == lines(getattr(report, name)), name


def test_the_hl7_message_codes_the_category_the_discrepancy_and_the_digest() -> None:
    case = make_case()
    coded = {
        obx.obx_3.ce_1.to_er7(): obx
        for obx in observations(parsed(oru_r01(case, shown(case))))
        if obx.obx_2.to_er7() != "TX"
    }
    assert coded["GARDE-ACR"].obx_5.to_er7() == "1^Immediate^L"
    assert coded["GARDE-ACR"].obx_8.to_er7() == "AA"
    assert coded["GARDE-DISCREPANCY"].obx_5.to_er7() == "major^Major^L"
    assert coded["GARDE-SHA256"].obx_5.to_er7() == shown(case).sha256


@pytest.mark.parametrize(("kind", "status"), [("preliminary", "P"), ("addendum", "C")])
def test_the_hl7_result_status_follows_the_kind(kind: str, status: str) -> None:
    case = make_case(kind=kind, category=None, discrepancy=None)
    message = parsed(oru_r01(case, shown(case)))
    assert message.oru_r01_patient_result.oru_r01_order_observation.obr.obr_25.to_er7() == status
    assert all(o.obx_11.to_er7() == status for o in observations(message))
    assert not any(o.obx_3.ce_1.to_er7() == "GARDE-ACR" for o in observations(message))


def test_mllp_framing_characters_stored_before_input_refused_them_never_reach_the_message() -> None:
    """0x0B starts and 0x1C ends a message over MLLP: inside a field they would cut it."""
    case = make_case(text="SDH\x0b left\x1c\x1d\x00 8 mm\x85")
    message = oru_r01(case, shown(case))
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", message)
    parsed(message)


# --- HTML and PDF (in the reader's language) -----------------------------------------------------


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


class Text(HTMLParser):
    """The text a browser shows of a page, and the tags it opens."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @classmethod
    def of(cls, page: str) -> Text:
        parser = cls()
        parser.feed(page)
        parser.close()
        return parser


def acknowledgement(case: Case, **given: Any) -> ReportAcknowledgement:
    return ReportAcknowledgement(
        case_id=case.id,
        report=shown(case),
        reason="critical",
        category=1,
        requested_at=SIGNED,
        due_at=datetime(2026, 3, 29, 1, 20, tzinfo=UTC),
        **given,
    )


def render(case: Case, fmt: str, asked: list[ReportAcknowledgement] | None = None) -> Response:
    return render_report(case, shown(case), fmt, asked or [])


def test_the_html_page_shows_every_field_as_text_never_as_markup(app: Flask) -> None:
    case = make_case()
    response = render(case, "html")
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>") and '<html lang="en">' in page
    shown_ = Text.of(page)
    assert "script" not in shown_.tags
    text = shown_.text
    for field in (
        case.site.name,
        case.study_description,
        case.accession_number,
        case.requesting_physician,
        case.clinical_question,
    ):
        assert field in text, field
    for section in ("Technique", "Findings", "Impression", "Recommendations"):
        assert f"{section} {HOSTILE}" in text
    for words in (
        "ACR category 1: immediate",
        "Critical finding: the site must acknowledge this report",
        "Discrepancy with the preliminary report: major",
        f"Signed by {case.reports[0].expert.name} (DR-A) on 29 March 2026 03:05 (Europe/Paris)",
        "29 March 2026 01:05 UTC",
        f"Version 1, SHA-256 {shown(case).sha256}",
        "Signature verified",
    ):
        assert words in text, words


def test_the_html_page_leaves_out_what_the_report_does_not_have(app: Flask) -> None:
    case = make_case(category=None, discrepancy=None, text="plain")
    shown(case).technique = shown(case).recommendations = ""
    shown(case).sha256 = Content.of(shown(case), "DR-A").sha256()
    text = Text.of(render(case, "html").get_data(as_text=True)).text
    for absent in ("Technique", "Recommendations", "ACR category", "Critical", "Discrepancy"):
        assert absent not in text
    assert "Findings plain" in text and "acknowledge" not in text


def test_a_category_3_finding_is_shown_without_asking_for_an_acknowledgement(app: Flask) -> None:
    case = make_case(category=3)
    text = Text.of(render(case, "html").get_data(as_text=True)).text
    assert "ACR category 3: significant" in text
    assert "the site must acknowledge" not in text


def test_a_changed_byte_shows_the_signature_failing(app: Flask) -> None:
    case = make_case()
    shown(case).findings += "."
    text = Text.of(render(case, "html").get_data(as_text=True)).text
    assert "Signature check failed: this text is not the one signed." in text
    assert "Signature verified" not in text


def test_the_acknowledgement_shows_who_when_and_how(app: Flask) -> None:
    case = make_case()
    given = acknowledgement(
        case,
        acknowledged_at=datetime(2026, 3, 29, 1, 12, tzinfo=UTC),
        acknowledged_by="Dr Nuit",
        acknowledged_via="sms",
    )
    text = Text.of(render(case, "html", [given]).get_data(as_text=True)).text
    assert (
        "Acknowledged by Dr Nuit by SMS on 29 March 2026 03:12 (Europe/Paris),"
        " 29 March 2026 01:12 UTC." in text
    )


def test_an_acknowledgement_owed_shows_when_it_is_due(app: Flask) -> None:
    case = make_case()
    text = Text.of(render(case, "html", [acknowledgement(case)]).get_data(as_text=True)).text
    assert "Awaiting acknowledgement by the site, due 29 March 2026 03:20 (Europe/Paris)" in text


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


def test_the_pdf_gives_back_every_script_the_font_draws(app: Flask) -> None:
    """DejaVu Sans draws Latin, Greek, Cyrillic and Hebrew: they come back as text. It has
    no CJK ideograph: those are drawn as U+FFFD, and the render does not fail. pdftotext
    gives a right-to-left word in the order it is drawn (visual), or in reading order."""
    case = make_case()
    acked = acknowledgement(
        case,
        acknowledged_at=datetime(2026, 3, 29, 1, 12, tzinfo=UTC),
        acknowledged_by="Zoé",
        acknowledged_via="voice",
    )
    response = render(case, "pdf", [acked])
    assert response.mimetype == "application/pdf"
    assert "ACC" not in response.headers["Content-Disposition"]
    data = response.get_data()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    text = pdf_text(data)
    for words in (
        "Centre hospitalier a|b^c~d\\e&f \\F\\ \\.br\\ <script>alert(1)</script> &amp;",
        "Dr Zoé Lœwy",
        "Œuvre œ é ß Ж Ω",
        "ACC|42^7&1~2\\3",
        "Final report",
        "ACR category 1: immediate",
        "Critical finding acknowledged by Zoé on 29 March 2026 03:12 (Europe/Paris)",
        "Technique",
        "Recommendations",
        "Discrepancy with the preliminary report: major",
        "29 March 2026 03:05 (Europe/Paris)",
        shown(case).sha256,
        "Signature verified",
        "Acknowledged by Zoé by phone on 29 March 2026 03:12 (Europe/Paris)",
    ):
        assert words in text, words
    assert f"{REPLACEMENT}{REPLACEMENT}" in text and "漢" not in text
    assert RTL in text or RTL[::-1] in text


def test_a_pdf_of_a_long_report_runs_over_pages(app: Flask) -> None:
    case = make_case(text="\n".join(f"Ligne {n} œ" for n in range(150)))
    data = sheet_pdf(ReportSheet.of(case, shown(case)))
    text = pdf_text(data)
    assert "Ligne 149 œ" in text and data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") > 1


def test_unknown_format_is_invalid_input(app: Flask) -> None:
    with pytest.raises(InvalidInput) as raised:
        render(make_case(), "docx")
    assert raised.value.fields == {"format": "must be one of json, html, pdf, fhir, hl7"}


def test_json_is_the_report_with_its_versions(app: Flask) -> None:
    case = make_case(kind="addendum")
    body = render(case, "json").get_json()
    assert body["impression"] == f"Impression {HOSTILE}" and body["signed_by"] == "DR-A"
    assert [v["verified"] for v in body["versions"]] == [True, True]


def test_machines_read_english_whoever_asks(french: Flask) -> None:
    """FHIR and HL7 are read by a hospital's systems, not by the person who fetched them."""
    case = make_case()
    bundle = json.loads(render(case, "fhir").get_data(as_text=True))
    report = bundle["entry"][0]["resource"]
    assert report["presentedForm"][0]["title"].startswith("Final report: ")
    assert "Findings:" in base64.b64decode(report["presentedForm"][0]["data"]).decode()


def test_a_french_reader_gets_the_html_report_in_french(french: Flask) -> None:
    page = render(make_case(text="texte"), "html").get_data(as_text=True)
    assert '<html lang="fr">' in page
    for words in (
        "<h1>Compte rendu définitif</h1>",
        "<h2>Résultats</h2>",
        "<h2>Conclusion</h2>",
        "Région anatomique",
        "Résultat critique",
        "Signé par Dr Zoé Lœwy texte (DR-A) le 29 mars 2026 03:05 (Europe/Paris)",
        "Dossier Garde",
    ):
        assert words in page, words
    assert "Signed by" not in page and "March" not in page


def test_a_french_reader_gets_the_pdf_report_in_french(french: Flask) -> None:
    data = render(make_case(kind="preliminary", text="texte"), "pdf").get_data()
    text = pdf_text(data)
    for words in (
        "Compte rendu préliminaire",
        "Résultats",
        "Conclusion",
        "Numéro d'examen",
        "Résultat critique",
        "Signé par Dr Zoé Lœwy texte (DR-A) le 29 mars 2026 03:05 (Europe/Paris)",
    ):
        assert words in text, text
    assert "Signed by" not in text
    assert b"/Lang (fr)" in data or b"/Lang(fr)" in data
