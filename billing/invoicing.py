"""Monthly invoices per site and the credit notes that correct them.

A site's invoice for a month holds every line of the site priced before that month's end in
the site's zone and on no invoice yet: a line that arrives late goes on the next month's
invoice, never on an earlier one. One invoice per site and month (`period_key` is unique):
issuing again skips the sites already invoiced.

Numbers are `YYYY-NNNNNN`, one sequence per year of issue (the region's zone) shared by
invoices and credit notes, taken from `invoice_counters` in the transaction that inserts the
invoice: a failed issue rolls its number back with it, so there is never a gap, and the
counter row's lock (PostgreSQL) or the write lock (SQLite, taken by the counter's write
before anything is read) makes concurrent issues wait their turn. Nothing issued is ever
changed: the totals are summed before the insert (migration 0012's triggers refuse any
UPDATE or DELETE)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.months import month_window
from garde.db import SessionFactory, insert_for
from garde.errors import InvalidInput, NotFound
from garde.models import BillingLine, Invoice, InvoiceCounter, InvoiceLine, Site, utcnow

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(month: str) -> tuple[int, int]:
    found = MONTH.match(month)
    if found is None or not 1900 <= int(found[1]) <= 2200:
        raise InvalidInput({"month": "must be YYYY-MM"})
    return int(found[1]), int(found[2])


def month_end(month: str, timezone: str) -> datetime:
    """The first instant after `month` in `timezone`, in UTC."""
    parse_month(month)
    return month_window(month, timezone)[1]


def period_key(site_id: int, month: str) -> str:
    return f"{site_id}/{month}"


def issue_month(
    sessions: SessionFactory,
    month: str,
    *,
    by: str,
    site_code: str | None = None,
    region_timezone: str = "Europe/Paris",
) -> list[Invoice]:
    """The month's invoices newly issued, one per site with lines to invoice (or for the one
    site). A month not yet over in the site's zone is refused (for every site: when none has
    seen it end); when some sites' zones are still in it, those are skipped for now."""
    parse_month(month)
    now = utcnow()
    with sessions() as s:
        query = select(Site.id, Site.timezone).order_by(Site.code)
        if site_code is not None:
            query = query.where(Site.code == site_code)
        sites = s.execute(query).all()
    if site_code is not None and not sites:
        raise InvalidInput({"site": "no such site"})
    ended = [(site_id, zone) for site_id, zone in sites if month_end(month, zone) <= now]
    if sites and not ended:
        raise InvalidInput({"month": f"{month} is not over yet in the site's time zone"})
    issued = []
    for site_id, zone in ended:
        invoice = _issue_one(sessions, site_id, month, month_end(month, zone), by, region_timezone)
        if invoice is not None:
            issued.append(invoice)
    return issued


def _issue_one(
    sessions: SessionFactory,
    site_id: int,
    month: str,
    end: datetime,
    by: str,
    region_timezone: str,
) -> Invoice | None:
    key = period_key(site_id, month)
    try:
        with sessions() as s:  # closed without a commit, the number goes back: no gap
            # The number first: its write takes the lock before the lines are read.
            year, sequence = next_number(s, region_timezone)
            if s.scalar(select(Invoice.id).where(Invoice.period_key == key)) is not None:
                return None
            invoiced = select(InvoiceLine.invoiced_line_id).where(
                InvoiceLine.invoiced_line_id.is_not(None)
            )
            lines = list(
                s.scalars(
                    select(BillingLine)
                    .where(
                        BillingLine.site_id == site_id,
                        BillingLine.priced_at < end,
                        BillingLine.id.not_in(invoiced),
                    )
                    .order_by(BillingLine.priced_at, BillingLine.id)
                )
            )
            if not lines:
                return None
            invoice = Invoice(
                number=number(year, sequence),
                year=year,
                sequence=sequence,
                kind=INVOICE,
                site=s.get_one(Site, site_id),
                month=month,
                period_key=key,
                currency=lines[0].currency,
                total_cents=sum(line.amount_cents for line in lines),
                expert_share_cents=sum(line.expert_share_cents for line in lines),
                issued_at=utcnow(),
                issued_by=by,
                lines=[
                    InvoiceLine(
                        billing_line=line,
                        invoiced_line_id=line.id,
                        amount_cents=line.amount_cents,
                        expert_share_cents=line.expert_share_cents,
                    )
                    for line in lines
                ],
            )
            s.add(invoice)
            s.commit()
        return invoice
    except IntegrityError:
        # Issued meanwhile by another process (the same period, or one of the lines): theirs.
        with sessions() as s:
            if s.scalar(select(Invoice.id).where(Invoice.period_key == key)) is not None:
                return None
        raise


def number(year: int, sequence: int) -> str:
    return f"{year:04d}-{sequence:06d}"


def next_number(s: Session, region_timezone: str) -> tuple[int, int]:
    """The year of issue and the next number in it, taken in `s`'s transaction: committed
    with the invoice, or given back with it."""
    year = utcnow().astimezone(ZoneInfo(region_timezone)).year
    values = {"year": year, "last": 0}
    s.execute(insert_for(s, InvoiceCounter).values(values).on_conflict_do_nothing())
    last = s.execute(
        update(InvoiceCounter)
        .where(InvoiceCounter.year == year)
        .values(last=InvoiceCounter.last + 1)
        .returning(InvoiceCounter.last)
    ).scalar_one()
    return year, last


def credited(s: Session, billing_line_id: int) -> tuple[int, int]:
    """What credit notes have taken off a line so far: amount and expert share (negative)."""
    row = s.execute(
        select(
            func.coalesce(func.sum(InvoiceLine.amount_cents), 0),
            func.coalesce(func.sum(InvoiceLine.expert_share_cents), 0),
        )
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(InvoiceLine.billing_line_id == billing_line_id, Invoice.kind == CREDIT_NOTE)
    ).one()
    return int(row[0]), int(row[1])


def _share_of(amount: int, invoiced: InvoiceLine) -> int:
    """The expert's share of `amount` of a line, in the line's proportion, half up."""
    if invoiced.amount_cents == 0:
        return 0
    exact = Decimal(amount) * invoiced.expert_share_cents / invoiced.amount_cents
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def credit_note(
    s: Session,
    invoice_number: str,
    lines: Mapping[int, int | None],
    reason: str,
    by: str,
    region_timezone: str = "Europe/Paris",
) -> Invoice:
    """A credit note on `s` (the caller commits) taking back part or all (None) of lines of
    the invoice `invoice_number`: negative amounts, the expert's share in proportion (half
    up), never more than what is left of a line."""
    year, sequence = next_number(s, region_timezone)
    invoice = s.scalar(select(Invoice).where(Invoice.number == invoice_number))
    if invoice is None:
        raise NotFound(f"no invoice {invoice_number}")
    if invoice.kind != INVOICE:
        raise InvalidInput({"invoice": "is a credit note: credit the invoice it corrects"})
    errors: dict[str, str] = {}
    if not reason.strip():
        errors["reason"] = "is required"
    if not lines:
        errors["lines"] = "must name at least one billing line"
    on_invoice = {line.billing_line_id: line for line in invoice.lines}
    credits = []
    for line_id, asked in lines.items():
        field = f"lines.{line_id}"
        invoiced = on_invoice.get(line_id)
        if invoiced is None:
            errors[field] = f"billing line {line_id} is not on invoice {invoice_number}"
            continue
        taken, share_taken = credited(s, line_id)
        left = invoiced.amount_cents + taken
        share_left = invoiced.expert_share_cents + share_taken
        amount = left if asked is None else asked
        if amount <= 0 or amount > left:
            errors[field] = (
                f"billing line {line_id}: {left} cents are left to credit"
                if left > 0
                else f"billing line {line_id} is already wholly credited"
            )
            continue
        share = share_left if amount == left else min(share_left, _share_of(amount, invoiced))
        credits.append(
            InvoiceLine(
                billing_line_id=line_id,
                invoiced_line_id=None,
                amount_cents=-amount,
                expert_share_cents=-share,
            )
        )
    if errors:
        raise InvalidInput(errors)
    note = Invoice(
        number=number(year, sequence),
        year=year,
        sequence=sequence,
        kind=CREDIT_NOTE,
        site_id=invoice.site_id,
        month=invoice.month,
        period_key=None,
        currency=invoice.currency,
        total_cents=sum(c.amount_cents for c in credits),
        expert_share_cents=sum(c.expert_share_cents for c in credits),
        corrects_id=invoice.id,
        reason=reason.strip(),
        issued_at=utcnow(),
        issued_by=by,
        lines=credits,
    )
    s.add(note)
    s.flush()
    return note
