"""Invoices and credit notes (billing/invoicing.py): issued by an admin (or the monthly
schedule), read by the coordinators and by each site, its own only, as JSON, PDF or CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from flask import Response, g, jsonify, request
from pydantic import AfterValidator, Field, RootModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.documents import document_csv, document_pdf
from billing.invoice_documents import invoice_document
from billing.invoicing import credit_note, issue_month, parse_month
from garde.domain import STAFF, Role
from garde.errors import InvalidInput, NotFound
from garde.models import Invoice, Site, User
from garde.validation import Input, text, validated
from web import services
from web.access import current_user, roles
from web.api import body, bp
from web.api.describe import Answer, Reply, operation
from web.audit import audit
from web.case_views import iso

# A billing document's other forms, besides JSON (invoices here, statements).
DOCUMENTS = {
    "application/pdf": {"type": "string", "contentMediaType": "application/pdf"},
    "text/csv": {"type": "string"},
}


def _month(raw: str) -> str:
    try:
        parse_month(raw)
    except InvalidInput:
        raise ValueError("must be YYYY-MM") from None
    return raw


Month = Annotated[
    str,
    text(7),
    AfterValidator(_month),
    Field(
        description="YYYY-MM, the month in the site's time zone",
        json_schema_extra={"pattern": r"^\d{4}-\d{2}$"},
    ),
]


class IssueQuery(Input):
    month: Month
    site: Annotated[str | None, text(32, description="only this site (its code)")] = None


class InvoicesQuery(Input):
    site: Annotated[str | None, text(32, description="a site's code")] = None
    month: Month | None = None


class InvoiceQuery(Input):
    format: Literal["json", "pdf", "csv"] = "json"


class CreditedLine(Input):
    billing_line: int = Field(description="the id of a billing line on the invoice")
    amount_cents: int | None = Field(
        None, gt=0, description="how much to credit; absent: all that is left of the line"
    )


def _once_each(lines: list[CreditedLine]) -> list[CreditedLine]:
    ids = [line.billing_line for line in lines]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"billing line {', '.join(map(str, twice))} is given twice")
    if not lines:
        raise ValueError("must name at least one billing line")
    return lines


class CreditNoteInput(Input):
    """Lines of the invoice to credit, wholly or in part, and why."""

    lines: Annotated[list[CreditedLine], AfterValidator(_once_each)]
    reason: Annotated[str, text(500, description="why the invoice is corrected")]


class InvoiceLineAnswer(Answer):
    billing_line: int
    case_id: int
    kind: str = Field(examples=["read", "cancellation"])
    modality: str
    time_band: str
    tariff_version: int | None
    priced_at: datetime
    amount_cents: int = Field(description="negative on a credit note")


class InvoiceAnswer(Answer):
    number: str = Field(examples=["2026-000042"])
    kind: Literal["invoice", "credit_note"]
    site: str
    month: str
    currency: str
    total_cents: int
    expert_share_cents: int | None = Field(description="staff only; null for a site")
    corrects: str | None = Field(description="a credit note: the invoice it corrects")
    reason: str
    issued_at: datetime
    issued_by: str
    lines: list[InvoiceLineAnswer]


class Invoices(RootModel[list[InvoiceAnswer]]):
    """Invoices and credit notes by number."""


@bp.post("/invoices")
@roles(Role.ADMIN)
@operation(
    "billing",
    "Issue a month's invoices, one per site with lines to invoice (admin)",
    {
        201: ("the invoices issued", Invoices),
        200: ("nothing new to invoice: every site already invoiced or without lines", Invoices),
    },
    query=IssueQuery,
    description="""
        The monthly schedule does the same on the 1st at 02:00 in the region's zone. A site's
        invoice holds its lines priced before the month's end in its zone and on no invoice
        yet; a site already invoiced for the month is skipped. 400 for a month not yet over.
    """,
)
def issue() -> tuple[Response, int]:
    given = validated(IssueQuery, request.args)
    found = issue_month(
        services().sessions,
        given.month,
        by=current_user().username,
        site_code=given.site,
        region_timezone=services().settings.region_timezone,
    )
    for invoice in found:
        audit("invoice.issue", f"invoice:{invoice.number}", given.month)
    g.db.commit()
    return jsonify([_json(g.db, i, True) for i in found]), 201 if found else 200


@bp.get("/invoices")
@roles(Role.SITE, *STAFF)
@operation(
    "billing",
    "Invoices and credit notes (coordinator, admin; a site its own)",
    {200: ("by number", Invoices)},
    query=InvoicesQuery,
)
def list_invoices() -> Response:
    given = validated(InvoicesQuery, request.args)
    user = current_user()
    query = _visible(user).order_by(Invoice.year, Invoice.sequence)
    if given.site:
        query = query.where(Site.code == given.site)
    if given.month:
        query = query.where(Invoice.month == given.month)
    staff = user.role != Role.SITE
    return jsonify([_json(g.db, i, staff) for i in g.db.scalars(query)])


@bp.get("/invoices/<number>")
@roles(Role.SITE, *STAFF)
@operation(
    "billing",
    "An invoice or a credit note as JSON, PDF or CSV (coordinator, admin; a site its own)",
    {
        200: Reply(
            "the document, in the site's language for PDF and CSV",
            InvoiceAnswer,
            media=DOCUMENTS,
        )
    },
    query=InvoiceQuery,
    errors=(404,),
)
def get_invoice(number: str) -> Response:
    fmt = validated(InvoiceQuery, request.args).format
    user = current_user()
    invoice = g.db.scalar(_visible(user).where(Invoice.number == number))
    if invoice is None:
        raise NotFound(f"no invoice {number}")
    if fmt == "json":
        return jsonify(_json(g.db, invoice, user.role != Role.SITE))
    document = invoice_document(invoice, _corrected(g.db, invoice))
    name = f"garde-{invoice.kind.replace('_', '-')}-{invoice.number}"
    if fmt == "pdf":
        return Response(
            document_pdf(document),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
        )
    return Response(
        document_csv(document),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@bp.post("/invoices/<number>/credit-notes")
@roles(Role.ADMIN)
@operation(
    "billing",
    "Correct an invoice by a credit note (admin)",
    {201: ("the credit note", InvoiceAnswer)},
    body=CreditNoteInput,
    errors=(404,),
    description="""
        Each line is credited by `amount_cents`, or wholly; never more than what is left of
        it after earlier credit notes (400 naming the line). The expert's share is credited
        in the same proportion, rounded half up. Numbered in the invoices' sequence.
    """,
)
def credit(number: str) -> tuple[Response, int]:
    given = validated(CreditNoteInput, body())
    note = credit_note(
        g.db,
        number,
        {line.billing_line: line.amount_cents for line in given.lines},
        given.reason,
        current_user().username,
        services().settings.region_timezone,
    )
    audit("invoice.credit_note", f"invoice:{note.number}", f"corrects {number}")
    g.db.commit()
    return jsonify(_json(g.db, note, True)), 201


def _visible(user: User) -> Any:
    query = select(Invoice).join(Site, Site.id == Invoice.site_id)
    if user.role == Role.SITE:
        query = query.where(Invoice.site_id == user.site_id)
    return query


def _corrected(db: Session, invoice: Invoice) -> Invoice | None:
    return None if invoice.corrects_id is None else db.get(Invoice, invoice.corrects_id)


def _json(db: Session, invoice: Invoice, staff: bool) -> dict[str, Any]:
    corrected = _corrected(db, invoice)
    return {
        "number": invoice.number,
        "kind": invoice.kind,
        "site": invoice.site.code,
        "month": invoice.month,
        "currency": invoice.currency,
        "total_cents": invoice.total_cents,
        "expert_share_cents": invoice.expert_share_cents if staff else None,
        "corrects": corrected.number if corrected else None,
        "reason": invoice.reason,
        "issued_at": iso(invoice.issued_at),
        "issued_by": invoice.issued_by,
        "lines": [
            {
                "billing_line": item.billing_line_id,
                "case_id": item.billing_line.case_id,
                "kind": item.billing_line.kind,
                "modality": item.billing_line.modality,
                "time_band": item.billing_line.time_band,
                "tariff_version": item.billing_line.tariff_version,
                "priced_at": iso(item.billing_line.priced_at),
                "amount_cents": item.amount_cents,
            }
            for item in invoice.lines
        ],
    }
