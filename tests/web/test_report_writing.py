"""Writing a report: the exam templates and the one suggested for a case, the expert's own
macros, the report form, and what was signed as the case pages show it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from flask import Blueprint, Flask, render_template_string
from flask_babel import Babel
from sqlalchemy import select

from garde.errors import InvalidInput
from garde.models import Expert, ExpertMacro, Report, ReportAcknowledgement
from reports import exam_templates
from reports.signing import Content
from tests.conftest import Region
from tests.web.test_pages import Browser, coordinator, flashes
from web import display, report_chain
from web.inputs import parse_report

MACROS = "/expert/settings/macros"


def test_every_exam_template_has_its_sections_in_french_and_english() -> None:
    case = SimpleNamespace(
        modality="CT", body_part="HEAD", study_description="TDM cérébrale sans injection"
    )
    assert set(exam_templates.NAMES) == {
        "ct_head_trauma",
        "ct_head_stroke",
        "ct_angio_pe",
        "ct_angio_aorta",
        "ct_abdomen_pelvis",
        "ct_spine",
        "mr_brain_stroke",
        "radiograph",
    }
    for name in exam_templates.NAMES:
        for language in ("fr", "en"):
            sections = exam_templates.render(name, language, case)
            assert list(sections) == list(exam_templates.SECTIONS)
            for section in ("technique", "findings", "impression"):
                assert len(sections[section]) > 20, (name, language, section)
        french = exam_templates.render(name, "fr", case)
        assert french != exam_templates.render(name, "en", case)
    head = exam_templates.render("ct_head_trauma", "fr", case)
    assert "Absence d'hémorragie intra- ou extra-axiale" in head["findings"]
    assert (
        "No intra- or extra-axial haemorrhage"
        in exam_templates.render("ct_head_trauma", "en", case)["findings"]
    )


@pytest.mark.parametrize(
    ("modality", "texts", "expected"),
    [
        ("CT", ("HEAD", "CT head without contrast", "Fall on anticoagulants"), "ct_head_trauma"),
        ("CT", ("Crâne", "TDM cérébrale", "chute de sa hauteur"), "ct_head_trauma"),
        ("CT", ("HEAD", "TDM cérébrale", "déficit brachial, suspicion d'AVC"), "ct_head_stroke"),
        ("CT", ("CHEST", "Angioscanner thoracique", "suspicion d'EP"), "ct_angio_pe"),
        ("CT", ("CHEST", "Angioscanner aorte", "douleur, dissection ?"), "ct_angio_aorta"),
        ("CT", ("ABDOMEN", "TDM abdomino-pelvienne", "douleur FID"), "ct_abdomen_pelvis"),
        ("CT", ("SPINE", "TDM rachis cervical", "AVP"), "ct_spine"),
        ("MR", ("BRAIN", "IRM encéphale", "aphasie brutale"), "mr_brain_stroke"),
        ("DX", ("WRIST", "Poignet F+P", "chute"), "radiograph"),
    ],
)
def test_the_template_suggested_fits_the_case(
    modality: str, texts: tuple[str, ...], expected: str
) -> None:
    found = exam_templates.suggest(modality, *texts)
    assert found is not None and found.name == expected


def test_no_template_is_suggested_where_none_fits() -> None:
    assert exam_templates.suggest("CT", "KNEE", "TDM genou", "") is None
    assert exam_templates.suggest("US", "ABDOMEN", "Échographie", "") is None


def test_a_report_names_a_known_template_or_is_refused_naming_the_field() -> None:
    given = {"findings": "f", "impression": "i", "template": "ct_head_trauma"}
    assert parse_report(given, 1).template == "ct_head_trauma"
    with pytest.raises(InvalidInput) as refused:
        parse_report({**given, "template": "ct_knee"}, 1)
    assert "is not an exam template" in refused.value.fields["template"]


# What was signed: the include's rendering, on versions built in memory (the database refuses
# to change a stored one, which is the point).


@pytest.fixture
def pages() -> Iterator[Flask]:
    app = Flask("web")
    Babel(app, locale_selector=lambda: "en", default_translation_directories="translations")
    helpers = Blueprint("helpers", __name__)
    display.install(helpers)
    report_chain.install(helpers)
    app.register_blueprint(helpers)
    with app.test_request_context():
        yield app


def signed(version: int, kind: str, previous: Report | None, **fields: object) -> Report:
    expert = Expert(code="DR-A", name="Dr Alice Aubrac")
    report = Report(
        id=version,
        case_id=7,
        version=version,
        expert=expert,
        kind=kind,
        template=None,
        technique="",
        findings=f"findings {version}",
        impression=f"impression {version}",
        recommendations="",
        critical_category=fields.get("critical_category"),
        critical=fields.get("critical_category") in (1, 2),
        discrepancy=fields.get("discrepancy"),
        created_at=datetime(2026, 3, 29, 1, version, tzinfo=UTC),
        previous_sha256=previous.sha256 if previous else None,
    )
    report.sha256 = Content.of(report, expert.code).sha256()
    return report


def shown(versions: list[report_chain.SignedVersion], contents: bool = True) -> str:
    page = render_template_string(
        '{% import "report_chain.html" as chain with context %}'
        "{{ chain.versions(signed, 'Europe/Paris', contents) }}",
        signed=versions,
        contents=contents,
    )
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_chain_shows_each_signed_version_verified(pages: Flask) -> None:
    first = signed(1, "preliminary", None)
    final = signed(2, "final", first, critical_category=1, discrepancy="major")
    due = datetime(2026, 3, 29, 1, 17, tzinfo=UTC)
    asked = ReportAcknowledgement(
        report_id=2, reason="critical", category=1, requested_at=due, due_at=due
    )
    versions = report_chain.signed_versions([final, first], [asked])
    assert [v.verified for v in versions] == [True, True]
    text = shown(versions)
    assert "Version 1" in text and "Version 2" in text
    assert text.count("✓ verified") == 2 and "Does not verify" not in text
    assert f"{final.sha256[:12]}…" in text
    assert f'title="{final.sha256}"' in render_template_string(
        '{% import "report_chain.html" as chain with context %}{{ chain.versions(s, "UTC") }}',
        s=versions,
    )
    assert "Signed by Dr Alice Aubrac (DR-A)" in text
    assert "Critical category 1 — immediate" in text
    assert "Major discrepancy with the preliminary report" in text
    assert "pending until 29 Mar 03:17 CEST" in text

    asked.acknowledged_at = due - timedelta(minutes=5)
    asked.acknowledged_by = "Dr Urgences"
    asked.acknowledged_via = "sms"
    text = shown(versions, contents=False)
    assert "Acknowledged (critical finding) by Dr Urgences, 29 Mar 03:12 CEST" in text
    assert "via SMS reply" in text
    assert "findings 2" not in text  # the coordinator's page: the signature, not the text


def test_a_changed_version_does_not_verify_nor_any_after_it(pages: Flask) -> None:
    first = signed(1, "preliminary", None)
    final = signed(2, "final", first, discrepancy="none")
    addendum = signed(3, "addendum", final)
    final.findings = "findings 2, changed after signing"
    versions = report_chain.signed_versions([first, final, addendum], [])
    assert [v.verified for v in versions] == [True, False, True]
    # The addendum still follows the final's stored digest; dropping the final breaks it.
    assert [v.verified for v in report_chain.signed_versions([first, addendum], [])] == [
        True,
        False,
    ]
    text = shown(versions)
    assert text.count("Does not verify") == 1 and text.count("✓ verified") == 2


# The pages, against the real web app.


def macro_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="macro-(\d+)"', page)]


def test_an_expert_keeps_macros_of_their_own(region: Region) -> None:
    alice = Browser(region.stack).login(region.experts["alice"].username)
    bruno = Browser(region.stack).login(region.experts["bruno"].username)
    assert f'href="{MACROS}"' in alice.get("/expert/settings").text
    body = "Kystes biliaires simples du foie,\nsans caractère évolutif."
    r = alice.submit(MACROS, MACROS, {"name": "kystes", "body": body})
    assert r.status_code == 302, r.text
    page = alice.get(MACROS).text
    assert html.escape(body, quote=False) in page
    assert "Macro “kystes” added." in flashes(page)
    (macro_id,) = macro_ids(page)

    # The same name twice is refused, naming the field; what was typed stays.
    r = alice.submit(MACROS, MACROS, {"name": "kystes", "body": "autre texte"})
    assert r.status_code == 400
    assert "Name is already the name of another of your macros" in html.unescape(r.text)
    assert "autre texte" in r.text

    # Another expert neither sees it nor changes nor deletes it.
    assert "kystes" not in bruno.get(MACROS).text
    edit = f"{MACROS}/{macro_id}"
    assert bruno.submit(MACROS, edit, {"name": "x", "body": "y"}).status_code == 404
    assert bruno.submit(MACROS, edit + "/delete", {}).status_code == 404
    # Bruno may have a macro of the same name.
    assert bruno.submit(MACROS, MACROS, {"name": "kystes", "body": "b"}).status_code == 302

    assert alice.submit(MACROS, edit, {"name": "foie", "body": body}).status_code == 302
    with region.stack.sessions() as s:
        mine = s.scalars(select(ExpertMacro).where(ExpertMacro.id == macro_id)).one()
        assert (mine.name, mine.body) == ("foie", body)
    assert alice.submit(MACROS, edit + "/delete", {}).status_code == 302
    assert macro_ids(alice.get(MACROS).text) == []
    assert "kystes" in bruno.get(MACROS).text


def test_the_form_files_a_final_after_a_preliminary_with_its_discrepancy(region: Region) -> None:
    case = region.submit(clinical_question="Chute de sa hauteur sous anticoagulant")
    alice = Browser(region.stack).login(region.experts["alice"].username)
    assert alice.submit(MACROS, MACROS, {"name": "neg", "body": "Pas d'autre anomalie."}).ok
    path = f"/expert/cases/{case['id']}"
    assert alice.submit("/expert/", path + "/accept", {}).status_code == 302
    page = alice.get(path).text
    assert re.search(r'<option value="ct_head_trauma" selected>[^<]*suggested', page)
    assert 'data-body="Pas d&#39;autre anomalie."' in page
    assert "data-templates='{" in page and "js/report_form.js" in page
    assert 'name="discrepancy"' not in page  # no preliminary yet
    assert "within its deadline (here 15 min and 1 h 00)" in html.unescape(page)

    prelim = {
        "kind": "preliminary",
        "template": "ct_head_trauma",
        "technique": "TDM sans injection.",
        "findings": "Hématome sous-dural aigu gauche de 8 mm.",
        "impression": "HSD aigu gauche.",
        "critical_category": "3",
    }
    assert alice.submit(path, path + "/report", prelim).status_code == 302

    final = {
        **prelim,
        "kind": "final",
        "findings": "Hématome sous-dural aigu gauche de 12 mm, effet de masse.",
        "recommendations": "Avis neurochirurgical.",
        "critical_category": "1",
    }
    # The discrepancy is required on the final; the error keeps everything typed.
    r = alice.submit(path, path + "/report", final)
    assert r.status_code == 400
    page = html.unescape(r.text)
    assert "Discrepancy is required on a final report after a preliminary one" in page
    for typed in (final["findings"], final["technique"], final["recommendations"]):
        assert typed in page
    assert 'value="1" checked' in r.text and 'id="template" value="ct_head_trauma"' in r.text

    r = alice.submit(path, path + "/report", {**final, "discrepancy": "major"})
    assert r.status_code == 302, r.text
    region.wait_status(case["id"], "final")
    with region.stack.sessions() as s:
        stored = s.scalars(
            select(Report).where(Report.case_id == case["id"]).order_by(Report.version)
        ).all()
        assert [(r.kind, r.critical_category, r.discrepancy) for r in stored] == [
            ("preliminary", 3, None),
            ("final", 1, "major"),
        ]
        assert stored[1].recommendations == "Avis neurochirurgical."
        assert stored[1].template == "ct_head_trauma"

    for browser, page_path in (
        (alice, path),
        (Browser(region.stack).login(region.site_username), f"/site/cases/{case['id']}"),
    ):
        text = html.unescape(browser.get(page_path).text)
        assert text.count("✓ verified") == 2, page_path
        assert "Major discrepancy with the preliminary report" in text
        assert "Critical category 1 — immediate" in text
        assert "Avis neurochirurgical." in text
    # The coordinator sees what was signed, not the clinical text.
    text = html.unescape(coordinator(region.stack).get(f"/coordinator/cases/{case['id']}").text)
    assert text.count("✓ verified") == 2 and "Major discrepancy" in text
    assert "Avis neurochirurgical." not in text
