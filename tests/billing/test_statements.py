"""An expert's monthly statement: the sums by band and site with credit notes taken off (pure),
the month cut in the expert's own zone (pure and in the database), the API's access rules and
its PDF (through `pdftotext`) and CSV (through `csv`) in the expert's language, and the
expert's page of their last twelve months."""

from __future__ import annotations

import csv
import io
import itertools
import re
import secrets
import subprocess
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.invoicing import parse_month
from billing.months import month_of, month_window
from billing.statements import (
    Entry,
    EntryKind,
    Tally,
    compose,
    expert_statement,
    months_back,
)
from garde.db import SessionFactory
from garde.errors import Conflict, InvalidInput
from garde.models import BillingLine, Case, Expert, Invoice, InvoiceLine, Site, utcnow
from garde.registry import create_site
from tests.conftest import Region
from tests.phones import mobile
from tests.web.test_pages import Browser

# 23:30 UTC on 31 October 2026: 00:30 on 1 November in Paris, 19:30 on 31 October in Martinique.
LATE = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
# Credit notes made here are numbered in a year no invoice of the tests is issued in.
CREDIT_YEAR = 2099
_credit_numbers = itertools.count(secrets.randbelow(10**5) * 10)


def entry(
    at: datetime,
    share: int,
    band: str = "day",
    site: str = "CHA",
    kind: EntryKind = EntryKind.READ,
    currency: str = "EUR",
) -> Entry:
    return Entry(
        at=at,
        kind=kind,
        case_id=secrets.randbelow(10**6),
        site=site,
        site_name=f"CH {site}",
        modality="CT",
        band=band,
        stat=False,
        share_cents=share,
        currency=currency,
        reference="2026-000042" if kind is EntryKind.CREDIT else "",
    )


def an_expert(timezone: str = "Europe/Paris") -> Expert:
    return Expert(code="DR-T", name="Dr Test", language="fr", timezone=timezone)


# Pure: the month and the sums.


def test_a_line_at_23_30_utc_on_31_october_is_novembers_in_paris_octobers_in_martinique() -> None:
    assert month_of(LATE, "Europe/Paris") == "2026-11"
    assert month_of(LATE, "America/Martinique") == "2026-10"
    start, end = month_window("2026-11", "Europe/Paris")
    assert start <= LATE < end
    assert start == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # CET, after the October change
    start, end = month_window("2026-10", "America/Martinique")
    assert start <= LATE < end
    assert end == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def test_sums_by_band_and_site_count_reads_and_take_credit_notes_off() -> None:
    day = datetime(2026, 3, 2, 10, tzinfo=UTC)
    statement = compose(
        an_expert(),
        "2026-03",
        [
            entry(day.replace(day=9), 2000, "night", site="CHB"),
            entry(day, 1000, "day"),
            entry(day.replace(day=8), 1500, "sunday"),
            entry(day.replace(day=3), 3000, "holiday"),
            entry(day.replace(day=4), 500, "day", kind=EntryKind.CANCELLATION),
            entry(day.replace(day=20), -2000, "night", site="CHB", kind=EntryKind.CREDIT),
        ],
    )
    assert statement.total == Tally(reads=4, share_cents=6000)
    assert statement.by_band == {
        "day": Tally(1, 1500),  # a cancellation fee is money, not a read
        "night": Tally(1, 0),  # read, then wholly credited: the read stays done
        "sunday": Tally(1, 1500),
        "holiday": Tally(1, 3000),
    }
    assert list(statement.by_band) == ["day", "night", "sunday", "holiday"]
    assert statement.by_site == {"CHA": Tally(3, 6000), "CHB": Tally(1, 0)}
    assert [e.at.day for e in statement.entries] == [2, 3, 4, 8, 9, 20]
    assert statement.entries[-1].share_cents == -2000


def test_an_empty_month_lists_every_band_at_zero() -> None:
    statement = compose(an_expert(), "2026-03", [])
    assert statement.total == Tally()
    assert statement.by_band == dict.fromkeys(("day", "night", "sunday", "holiday"), Tally())
    assert statement.currency == "EUR"


def test_a_month_read_in_two_currencies_is_refused_not_summed() -> None:
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    with pytest.raises(Conflict, match="several currencies"):
        compose(an_expert(), "2026-03", [entry(at, 100), entry(at, 100, currency="CHF")])


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "2026-1", "26-01", "2026/01", "", "x"])
def test_a_month_is_yyyy_mm(bad: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_month(bad)
    assert refused.value.fields == {"month": "must be YYYY-MM"}


def test_months_back_cross_the_new_year() -> None:
    assert months_back("2026-02", 4) == ["2026-02", "2026-01", "2025-12", "2025-11"]


# The database: lines and credit notes of an expert, by the month of their zone.


def billed(
    s: Session,
    site: Site,
    expert: Expert,
    at: datetime,
    share: int,
    band: str = "day",
    stat: bool = False,
) -> BillingLine:
    """A final case and its billing line, as the case workflow leaves them."""
    case = Case(
        site_id=site.id,
        accession_number="ACC-" + secrets.token_hex(6),
        modality="CT",
        body_part="HEAD",
        study_description="CT head",
        priority="stat" if stat else "urgent",
        clinical_question="Headache",
        requesting_physician="Dr Test",
        callback_phone="+33471000000",
        status="final",
        assigned_expert_id=expert.id,
        offer_timeout_s=300,
        accept_within_s=1200,
        report_within_s=3600,
        escalation=["primary"],
    )
    s.add(case)
    s.flush()
    line = BillingLine(
        case_id=case.id,
        site_id=site.id,
        expert_id=expert.id,
        kind="read",
        modality="CT",
        priority=case.priority,
        time_band=band,
        bands=[b for b in (band, "stat" if stat else "") if b and b != "day"],
        parts=[{"what": "base", "cents": share * 10 // 7}],
        amount_cents=share * 10 // 7,
        expert_share_cents=share,
        currency="EUR",
        priced_at=at,
        read_at=at,
    )
    s.add(line)
    s.flush()
    return line


def credited(s: Session, line: BillingLine, share: int, at: datetime) -> Invoice:
    """A credit note issued at `at` taking `share` of the line's expert share back."""
    sequence = next(_credit_numbers)
    note = Invoice(
        number=f"{CREDIT_YEAR}-{sequence:06d}",
        year=CREDIT_YEAR,
        sequence=sequence,
        kind="credit_note",
        site_id=line.site_id,
        month=month_of(line.priced_at, "Europe/Paris"),
        period_key=None,
        currency="EUR",
        total_cents=-share * 10 // 7,
        expert_share_cents=-share,
        reason="read twice by mistake",
        issued_at=at,
        issued_by="test",
        lines=[
            InvoiceLine(
                billing_line_id=line.id,
                invoiced_line_id=None,
                amount_cents=-share * 10 // 7,
                expert_share_cents=-share,
            )
        ],
    )
    s.add(note)
    s.flush()
    return note


def expert_in(s: Session, timezone: str, name: str = "Dr Test", language: str = "fr") -> Expert:
    expert = Expert(
        code="DR-" + secrets.token_hex(4).upper(),
        name=name,
        phone=mobile(),
        language=language,
        timezone=timezone,
    )
    s.add(expert)
    s.flush()
    return expert


def test_the_statement_takes_the_experts_lines_of_their_zones_month_and_its_credit_notes(
    sessions: SessionFactory,
) -> None:
    with sessions.begin() as s:
        site = create_site(s, {"code": "st-" + secrets.token_hex(4), "name": "CH Statements"})
        paris = expert_in(s, "Europe/Paris")
        martinique = expert_in(s, "America/Martinique")
        other = expert_in(s, "Europe/Paris")
        late_paris = billed(s, site, paris, LATE, 7000, "night")
        billed(s, site, martinique, LATE, 6300, "night", stat=True)
        billed(s, site, other, LATE, 9900)  # another expert's
        billed(s, site, paris, datetime(2026, 11, 30, 23, 0, tzinfo=UTC), 100)  # 1 December
        # A credit note issued in November (Paris) of October's UTC line.
        credited(s, late_paris, 2500, datetime(2026, 11, 3, 9, tzinfo=UTC))
        # One issued on 1 December, 00:10 in Paris: December's.
        credited(s, late_paris, 1000, datetime(2026, 11, 30, 23, 10, tzinfo=UTC))
    with sessions() as s:
        paris_row, martinique_row = s.get_one(Expert, paris.id), s.get_one(Expert, martinique.id)
        november = expert_statement(s, paris_row, "2026-11")
        assert november.total == Tally(reads=1, share_cents=7000 - 2500)
        assert [(e.kind, e.share_cents, e.band) for e in november.entries] == [
            (EntryKind.READ, 7000, "night"),
            (EntryKind.CREDIT, -2500, "night"),
        ]
        assert november.entries[1].reference.startswith(f"{CREDIT_YEAR}-")
        assert november.by_site == {site.code: Tally(1, 4500)}
        assert expert_statement(s, paris_row, "2026-10").total == Tally()
        december = expert_statement(s, paris_row, "2026-12")
        assert december.total == Tally(reads=1, share_cents=100 - 1000)

        october = expert_statement(s, martinique_row, "2026-10")
        assert october.total == Tally(reads=1, share_cents=6300)
        assert october.entries[0].stat
        assert expert_statement(s, martinique_row, "2026-11").total == Tally()


# The API and the page, over real HTTP.

MONTH = "2025-03"


def lines_of(region: Region, expert: str, *shares: int, at: datetime | None = None) -> None:
    """Billing lines of the region's `expert` at its site, in MONTH unless `at` says."""
    when = at or datetime(2025, 3, 14, 21, 30, tzinfo=UTC)
    with region.stack.sessions.begin() as s:
        site = s.scalars(select(Site).where(Site.code == region.site)).one()
        who = s.get_one(Expert, region.experts[expert].id)
        for share in shares:
            billed(s, site, who, when, share, "night")


def test_an_expert_reads_their_own_statement_not_anothers_coordinators_read_any(
    region: Region,
) -> None:
    lines_of(region, "alice", 7000, 5345)
    alice, bruno = region.experts["alice"], region.experts["bruno"]
    path = f"/api/v1/experts/{alice.code}/statements/{MONTH}"

    own = region.stack.api(alice.token).get(path)
    assert own.status_code == 200, own.text
    body = own.json()
    assert (body["expert"], body["month"], body["timezone"]) == (alice.code, MONTH, "Europe/Paris")
    assert (body["reads"], body["share_cents"], body["currency"]) == (2, 12345, "EUR")
    assert body["by_band"]["night"] == {"reads": 2, "share_cents": 12345}
    assert body["by_band"]["day"] == {"reads": 0, "share_cents": 0}
    assert body["by_site"] == {region.site: {"reads": 2, "share_cents": 12345}}
    assert [e["share_cents"] for e in body["entries"]] == [7000, 5345]

    coordinator = region.stack.api(region.coordinator_token).get(path)
    assert coordinator.status_code == 200 and coordinator.json() == body
    assert region.stack.api(region.admin_token).get(path).status_code == 200

    # Another expert's statement is not there for an expert; a site may not ask at all.
    assert region.stack.api(bruno.token).get(path).status_code == 404
    theirs = region.stack.api(alice.token).get(f"/api/v1/experts/{bruno.code}/statements/{MONTH}")
    assert theirs.status_code == 404
    assert region.stack.api(region.site_token).get(path).status_code == 403
    nobody = region.stack.api(region.coordinator_token).get(
        "/api/v1/experts/NOBODY/statements/2025-03"
    )
    assert nobody.status_code == 404

    for bad in ("2025-13", "2025-3", "march"):
        r = region.stack.api(alice.token).get(f"/api/v1/experts/{alice.code}/statements/{bad}")
        assert r.status_code == 400, r.text
        assert r.json()["detail"] == {"month": "must be YYYY-MM"}
    r = region.stack.api(alice.token).get(path, params={"format": "xml"})
    assert r.status_code == 400 and "format" in r.json()["detail"]


def test_the_pdf_and_csv_are_in_the_experts_language_with_their_name_and_total(
    region: Region,
) -> None:
    alice = region.experts["alice"]
    with region.stack.sessions.begin() as s:
        expert = s.get_one(Expert, alice.id)
        expert.name, expert.language = "Dr Éloïse Lefèvre-Müller", "fr"
    lines_of(region, "alice", 7000, 5345)
    path = f"/api/v1/experts/{alice.code}/statements/{MONTH}"
    # Asked by an English-speaking coordinator: the statement is the expert's, in French.
    api = region.stack.api(region.coordinator_token)

    pdf = api.get(path, params={"format": "pdf"}, headers={"Accept-Language": "en"})
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert f"garde-statement-{alice.code}-{MONTH}.pdf" in pdf.headers["Content-Disposition"]
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf.content, capture_output=True, check=True
    ).stdout.decode()
    assert "Dr Éloïse Lefèvre-Müller" in text
    assert "mars 2025" in text  # the month in French
    assert re.search(r"123,45\s+EUR", text), text  # the total share, written the French way
    assert "Europe/Paris" in text

    answer = api.get(path, params={"format": "csv"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text)))
    header, lines = rows[0], rows[1:]
    assert len(header) == 6 and len(lines) == 2
    assert [line[-1] for line in lines] == ["70,00 EUR", "53,45 EUR"]
    assert all(line[0].startswith("14 mars 2025 22:30") for line in lines)  # Paris time
    assert {line[1] for line in lines} == {region.site}


def test_the_experts_page_lists_twelve_months_with_their_share_and_downloads(
    region: Region,
) -> None:
    alice = region.experts["alice"]
    now = utcnow()
    lines_of(region, "alice", 1234, at=now)
    month = month_of(now, "Europe/Paris")
    browser = Browser(region.stack).login(alice.username)
    settings = browser.get("/expert/settings")
    assert 'href="/expert/statements"' in settings.text

    page = browser.get("/expert/statements")
    assert page.status_code == 200, page.text
    months = re.findall(r'<tr id="month-(\d{4}-\d{2})">', page.text)
    assert months == months_back(months[0], 12) and month in months
    row = page.text.split(f'<tr id="month-{month}">', 1)[1].split("</tr>", 1)[0]
    assert "12.34 EUR" in row
    links = re.findall(r'href="([^"]+format=(?:pdf|csv))"', row)
    assert len(links) == 2
    for link in links:
        download = browser.get(link.replace("&amp;", "&"))
        assert download.status_code == 200
        assert download.headers["Content-Type"].split(";")[0] in ("application/pdf", "text/csv")

    # Another expert's page is their own: alice's month is not on it.
    bruno = Browser(region.stack).login(region.experts["bruno"].username)
    theirs = bruno.get("/expert/statements").text
    other_row = theirs.split(f'<tr id="month-{month}">', 1)[1].split("</tr>", 1)[0]
    assert "12.34 EUR" not in other_row
