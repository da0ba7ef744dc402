"""A fresh demo has billing to show: last month's invoices issued by hand, one per site, as
PDF and CSV; an expert's statement; and a case of that history, whose workflow Temporal never
had, on the coordinator's case page and in the API."""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from garde.accounts import create_token
from garde.db import make_engine, make_session_factory, upgrade
from garde.demo import COORDINATOR_PASSWORD, SITES, load_demo_data
from garde.demo_history import READS, previous_month
from garde.models import BillingLine, Case, User
from tests.conftest import Stack, start_stack
from tests.web.test_pages import Browser


@pytest.fixture
def demo_stack(temporal_address: str, tmp_path: Path) -> Iterator[Stack]:
    """The web app on a database the demo was loaded into, as `garde up --demo` loads it. On
    SQLite only: the demo's history on PostgreSQL is tests/garde/test_demo.py's, and invoices
    on PostgreSQL tests/billing/test_invoices.py's."""
    url = f"sqlite:///{tmp_path / 'garde.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine).begin() as s:
        load_demo_data(s)
    engine.dispose()
    yield from start_stack(
        tmp_path, url, temporal_address, "garde-demo-history", twilio=False, processes=("web",)
    )


def token(stack: Stack, username: str) -> str:
    with stack.sessions.begin() as s:
        return create_token(s, s.scalars(select(User).where(User.username == username)).one())


def test_last_months_demo_reads_are_invoiced_stated_and_shown(demo_stack: Stack) -> None:
    month = previous_month(datetime.now(ZoneInfo("Europe/Paris")).date())
    admin = demo_stack.api(token(demo_stack, "admin"))
    coordinator = demo_stack.api(token(demo_stack, "coordinator"))

    issued = admin.post(f"/api/v1/invoices?month={month}")
    assert issued.status_code == 201, issued.text
    invoices = issued.json()
    assert sorted(i["site"] for i in invoices) == sorted(s.code for s in SITES)
    with demo_stack.sessions() as s:
        lines = {line.id: line for line in s.scalars(select(BillingLine))}
        assert len(lines) == READS
    invoiced = [line for i in invoices for line in i["lines"]]
    assert sorted(line["billing_line"] for line in invoiced) == sorted(lines)
    assert sum(i["total_cents"] for i in invoices) == sum(
        line.amount_cents for line in lines.values()
    )

    number = invoices[0]["number"]
    pdf = coordinator.get(f"/api/v1/invoices/{number}?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True
    ).stdout.decode()
    assert number in text and month in text
    sheet = coordinator.get(f"/api/v1/invoices/{number}?format=csv")
    cells = {cell for row in csv.reader(io.StringIO(sheet.text)) for cell in row}
    assert {str(line["case_id"]) for line in invoices[0]["lines"]} <= cells

    with demo_stack.sessions() as s:
        case = s.scalars(select(Case).where(Case.accession_number == f"DEMO-{month}-001")).one()
        reader = case.assigned_expert
        assert reader is not None
        reads = s.scalar(
            select(func.count(BillingLine.id)).where(BillingLine.expert_id == reader.id)
        )
    statement = coordinator.get(f"/api/v1/experts/{reader.code}/statements/{month}")
    assert statement.status_code == 200, statement.text
    assert statement.json()["reads"] == reads > 0

    # The case's workflow never ran in this Temporal: its record is all the pages need.
    shown = coordinator.get(f"/api/v1/cases/{case.id}")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["status"], body["accession_number"]) == ("final", f"DEMO-{month}-001")
    assert [e["status"] for e in body["timeline"]] == ["requested", "offered", "accepted", "final"]
    report = coordinator.get(f"/api/v1/cases/{case.id}/report?format=json")
    assert report.status_code == 200, report.text
    assert "(démo)" in report.json()["impression"]
    assert [v["verified"] for v in report.json()["versions"]] == [True]
    page = Browser(demo_stack).login("coordinator", COORDINATOR_PASSWORD)
    case_page = page.get(f"/coordinator/cases/{case.id}")
    assert case_page.status_code == 200
    # The offer, the timeline and the signed version, with the report's formats.
    assert reader.name in case_page.text
    assert f"/api/v1/cases/{case.id}/report?format=pdf" in case_page.text
    assert page.get(f"/api/v1/cases/{case.id}/report?format=pdf").content.startswith(b"%PDF")
