"""Monthly invoices and credit notes (billing/invoicing.py, web/api/invoices.py): a site's
month cut in its zone, late lines carried to the next invoice, issued once, numbered without
gap or duplicate under concurrent issues, immutable, corrected by credit notes; PDF read back
through `pdftotext`, CSV through the `csv` module. Lines are written straight to the database:
no case needs to run its course."""

from __future__ import annotations

import csv
import io
import secrets
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from billing.invoicing import CREDIT_NOTE, INVOICE, credit_note, issue_month
from garde.accounts import create_token
from garde.db import SessionFactory
from garde.domain import Role
from garde.errors import InvalidInput
from garde.models import BillingLine, Case, Expert, Invoice, InvoiceCounter, utcnow
from garde.registry import create_site
from tests.conftest import Region, Stack, add_login
from tests.phones import mobile

ACCENTED = "Hôpital Émile-Roux"


class Books:
    """A site of its own with an expert, and billing lines written as the worker writes them."""

    def __init__(
        self, sessions: SessionFactory, name: str = ACCENTED, timezone: str = "Europe/Paris"
    ) -> None:
        self.sessions = sessions
        tag = secrets.token_hex(3).upper()
        with sessions.begin() as s:
            site = create_site(
                s,
                {
                    "code": f"INV-{tag}",
                    "name": name,
                    "timezone": timezone,
                    "language": "fr",
                    "prices": {"CT": 9000},
                },
            )
            expert = Expert(
                code=f"DR-INV-{tag}", name="Dr Inv", phone=mobile(), modalities=["CT"], sites=[site]
            )
            s.add(expert)
            s.flush()
            self.site_id, self.code, self.expert_id = site.id, site.code, expert.id
            self.tariff_id = site.tariffs[0].id

    def line(self, priced_at: datetime, amount: int = 9000, share: int = 6300) -> int:
        with self.sessions.begin() as s:
            case = Case(
                site_id=self.site_id,
                accession_number="ACC-" + secrets.token_hex(4),
                modality="CT",
                body_part="HEAD",
                study_description="CT head",
                priority="urgent",
                clinical_question="Headache",
                requesting_physician="Dr Test",
                callback_phone="+33471000000",
                status="final",
                offer_timeout_s=300,
                accept_within_s=1200,
                report_within_s=3600,
                escalation=["primary"],
            )
            s.add(case)
            s.flush()
            line = BillingLine(
                case_id=case.id,
                site_id=self.site_id,
                expert_id=self.expert_id,
                kind="read",
                modality="CT",
                priority="urgent",
                time_band="day",
                bands=[],
                parts=[{"what": "base", "cents": amount}],
                amount_cents=amount,
                expert_share_cents=share,
                currency="EUR",
                tariff_id=self.tariff_id,
                tariff_version=1,
                priced_at=priced_at,
                read_at=priced_at,
            )
            s.add(line)
            s.flush()
            return line.id

    def issue(self, month: str) -> list[Invoice]:
        return issue_month(self.sessions, month, by="test", site_code=self.code)


def at(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


def sequences(invoices: list[Invoice]) -> list[int]:
    return sorted(i.sequence for i in invoices)


def counter(sessions: SessionFactory) -> int:
    year = utcnow().astimezone(ZoneInfo("Europe/Paris")).year
    with sessions() as s:
        found = s.get(InvoiceCounter, year)
        return 0 if found is None else found.last


def billed(invoice: Invoice) -> list[int]:
    return [item.billing_line_id for item in invoice.lines]


def next_month() -> str:
    today = utcnow().astimezone(ZoneInfo("Europe/Paris")).date()
    return f"{today.replace(day=28) + timedelta(days=5):%Y-%m}"


def test_a_month_is_cut_in_the_site_zone_issued_once_and_late_lines_carry_forward(
    sessions: SessionFactory,
) -> None:
    books = Books(sessions)
    august = books.line(at("2026-08-15T10:00"))  # never invoiced: carried into September
    september_last = books.line(at("2026-09-30T21:30"))  # 23:30 on 30 September in Paris
    october_first = books.line(at("2026-09-30T22:30"))  # 00:30 on 1 October in Paris
    october_last = books.line(at("2026-10-31T22:30"))  # 23:30 on 31 October in Paris
    books.line(at("2026-10-31T23:30"))  # 00:30 on 1 November in Paris
    empty = Books(sessions, name="CH sans lecture")

    before = counter(sessions)
    [september] = books.issue("2026-09")
    assert (september.kind, september.month) == (INVOICE, "2026-09")
    assert september.site_id == books.site_id
    assert billed(september) == [august, september_last]
    assert (september.total_cents, september.expert_share_cents) == (18000, 12600)
    assert september.number == f"{september.year}-{september.sequence:06d}"
    assert september.sequence == before + 1
    assert september.period_key == f"{books.site_id}/2026-09"

    # Again: nothing new, and no number taken. A site without lines gets no invoice.
    assert books.issue("2026-09") == []
    assert empty.issue("2026-09") == []
    assert counter(sessions) == before + 1

    # A line priced in September that arrived after September's invoice goes on October's.
    late = books.line(at("2026-09-20T09:00"))
    [october] = books.issue("2026-10")
    assert billed(october) == [late, october_first, october_last]
    assert october.sequence == before + 2

    # A month not yet over in the site's zone is refused, naming the month.
    with pytest.raises(InvalidInput) as refused:
        books.issue(next_month())
    assert "month" in refused.value.fields
    with pytest.raises(InvalidInput) as bad:
        books.issue("2026-13")
    assert "month" in bad.value.fields


def test_a_month_is_cut_in_each_site_own_zone(sessions: SessionFactory) -> None:
    """The same instant, 03:30 UTC on 1 October: still September in Martinique."""
    paris = Books(sessions)
    martinique = Books(sessions, name="CHU de Martinique", timezone="America/Martinique")
    in_paris = paris.line(at("2026-10-01T03:30"))
    in_martinique = martinique.line(at("2026-10-01T03:30"))
    assert paris.issue("2026-09") == []
    [september] = martinique.issue("2026-09")
    assert billed(september) == [in_martinique]
    [october] = paris.issue("2026-10")
    assert billed(october) == [in_paris]


def test_concurrent_issues_take_consecutive_numbers_without_gap_or_duplicate(
    sessions: SessionFactory,
) -> None:
    sites = [Books(sessions, name=f"CH {n}") for n in range(4)]
    for books in sites:
        books.line(at("2026-08-10T10:00"))
        books.line(at("2026-09-10T10:00"))
    before = counter(sessions)
    start = threading.Barrier(len(sites))
    issued: list[Invoice] = []
    failures: list[BaseException] = []

    def issue(books: Books) -> None:
        try:
            start.wait()
            for month in ("2026-08", "2026-09"):
                issued.extend(books.issue(month))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            failures.append(e)

    threads = [threading.Thread(target=issue, args=(b,)) for b in sites]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sequences(issued) == list(range(before + 1, before + 9))
    assert len({i.number for i in issued}) == 8
    assert counter(sessions) == before + 8


def test_a_credit_note_takes_back_part_or_all_of_a_line_never_more(
    sessions: SessionFactory,
) -> None:
    books = Books(sessions)
    first = books.line(at("2026-07-03T10:00"), 9000, 6300)
    second = books.line(at("2026-07-04T10:00"), 12000, 8400)
    other = Books(sessions).line(at("2026-07-04T10:00"))
    [invoice] = books.issue("2026-07")
    before = counter(sessions)

    with sessions.begin() as s:
        note = credit_note(s, invoice.number, {first: 3333}, "Examen facturé deux fois", "test")
        number = note.number
    with sessions() as s:
        note = s.scalars(select(Invoice).where(Invoice.number == number)).one()
        assert (note.kind, note.corrects_id, note.site_id) == (
            CREDIT_NOTE,
            invoice.id,
            books.site_id,
        )
        assert (note.month, note.period_key, note.reason) == (
            "2026-07",
            None,
            "Examen facturé deux fois",
        )
        # 3333 of 9000 with a share of 6300: 2333.1, half up 2333.
        assert [(i.billing_line_id, i.amount_cents, i.expert_share_cents) for i in note.lines] == [
            (first, -3333, -2333)
        ]
        assert (note.total_cents, note.expert_share_cents) == (-3333, -2333)
        assert note.sequence == before + 1

    # The rest of the first line and the whole second: all that is left, share included.
    with sessions.begin() as s:
        rest = credit_note(s, invoice.number, {first: None, second: None}, "Annulé", "test")
        assert [(i.amount_cents, i.expert_share_cents) for i in rest.lines] == [
            (-5667, -3967),
            (-12000, -8400),
        ]
        assert rest.sequence == before + 2

    # Nothing is left of the first line; the other site's line is not on this invoice; a
    # reason is required. Refused, with no number taken.
    for lines, reason, field in (
        ({first: 1}, "encore", f"lines.{first}"),
        ({other: None}, "autre", f"lines.{other}"),
        ({second: None}, " ", "reason"),
    ):
        with pytest.raises(InvalidInput) as refused, sessions.begin() as s:
            credit_note(s, invoice.number, lines, reason, "test")
        assert field in refused.value.fields
    assert counter(sessions) == before + 2


def test_issued_invoices_and_their_lines_cannot_change(sessions: SessionFactory) -> None:
    books = Books(sessions)
    books.line(at("2026-06-03T10:00"))
    [invoice] = books.issue("2026-06")
    for statement in (
        f"UPDATE invoices SET total_cents = 0 WHERE id = {invoice.id}",
        f"DELETE FROM invoices WHERE id = {invoice.id}",
        f"UPDATE invoice_lines SET amount_cents = 0 WHERE invoice_id = {invoice.id}",
        f"DELETE FROM invoice_lines WHERE invoice_id = {invoice.id}",
    ):
        with pytest.raises(DBAPIError, match="immutable"), sessions.begin() as s:
            s.execute(text(statement))
    with sessions() as s:
        assert s.get_one(Invoice, invoice.id).total_cents == 9000


# --- through the API --------------------------------------------------------------------------


def _site_login(stack: Stack, code: str) -> str:
    with stack.sessions.begin() as s:
        user = add_login(s, f"site-{secrets.token_hex(3)}", Role.SITE, site_code=code)
        return create_token(s, user)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / f"{secrets.token_hex(4)}.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode()


def test_the_api_issues_lists_serves_pdf_and_csv_and_credits(
    shared_region: Region, tmp_path: Path
) -> None:
    stack = shared_region.stack
    books = Books(stack.sessions)
    first = books.line(at("2026-05-10T08:00"), 9000, 6300)
    books.line(at("2026-05-31T21:59"), 12000, 8400)  # 23:59 on 31 May in Paris
    Books(stack.sessions).line(at("2026-05-11T08:00"))  # another site, not asked for
    admin = stack.api(shared_region.admin_token)
    coordinator = stack.api(shared_region.coordinator_token)
    own = stack.api(_site_login(stack, books.code))
    other = stack.api(shared_region.site_token)

    r = admin.post(f"/api/v1/invoices?month=2026-05&site={books.code}")
    assert r.status_code == 201, r.text
    [invoice] = r.json()
    number = invoice["number"]
    assert (invoice["site"], invoice["month"], invoice["total_cents"]) == (
        books.code,
        "2026-05",
        21000,
    )
    assert [line["amount_cents"] for line in invoice["lines"]] == [9000, 12000]
    again = admin.post(f"/api/v1/invoices?month=2026-05&site={books.code}")
    assert (again.status_code, again.json()) == (200, [])

    assert admin.post("/api/v1/invoices?month=2026-5").json()["detail"].keys() == {"month"}
    assert coordinator.post(f"/api/v1/invoices?month=2026-05&site={books.code}").status_code == 403

    listed = coordinator.get(f"/api/v1/invoices?site={books.code}&month=2026-05").json()
    assert [i["number"] for i in listed] == [number]
    mine = own.get("/api/v1/invoices").json()
    assert [i["number"] for i in mine] == [number]
    assert mine[0]["expert_share_cents"] is None
    assert other.get(f"/api/v1/invoices?site={books.code}").json() == []
    assert other.get(f"/api/v1/invoices/{number}").status_code == 404

    pdf = own.get(f"/api/v1/invoices/{number}?format=pdf")
    assert pdf.status_code == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert f"{number}.pdf" in pdf.headers["Content-Disposition"]
    words = pdf_text(pdf.content, tmp_path)
    assert number in words and ACCENTED in words
    assert "90,00 EUR" in words and "120,00 EUR" in words and "210,00 EUR" in words
    assert "31 mai 2026" in words  # the last line's day in Paris, in French

    got = coordinator.get(f"/api/v1/invoices/{number}?format=csv")
    assert got.headers["Content-Type"].startswith("text/csv")
    assert f"{number}.csv" in got.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(got.text)))
    assert len(rows) == 3
    assert [row[-1] for row in rows[1:]] == ["90,00 EUR", "120,00 EUR"]

    body: dict[str, Any] = {"lines": [{"billing_line": first, "amount_cents": 9001}], "reason": "x"}
    refused = admin.post(f"/api/v1/invoices/{number}/credit-notes", json=body)
    assert refused.status_code == 400 and f"lines.{first}" in refused.json()["detail"]
    body = {"lines": [{"billing_line": first}], "reason": "Examen refait à tort"}
    assert coordinator.post(f"/api/v1/invoices/{number}/credit-notes", json=body).status_code == 403
    r = admin.post(f"/api/v1/invoices/{number}/credit-notes", json=body)
    assert r.status_code == 201, r.text
    note = r.json()
    assert (note["kind"], note["corrects"], note["total_cents"]) == ("credit_note", number, -9000)
    year, sequence = number.split("-")
    assert note["number"].startswith(f"{year}-") and int(note["number"][5:]) > int(sequence)
    words = pdf_text(own.get(f"/api/v1/invoices/{note['number']}?format=pdf").content, tmp_path)
    assert note["number"] in words and number in words and "Examen refait à tort" in words
    assert "-90,00 EUR" in words
