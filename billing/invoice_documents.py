"""An invoice or a credit note as a billing document (billing.documents), in its site's
language: the web's catalogue through Flask-Babel, forced to the site's language (outside an
application context, English). Dates are the site's, amounts as money in that language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from flask_babel import LazyString, force_locale, gettext, lazy_gettext, lazy_pgettext

from billing.documents import Column, Document
from billing.invoicing import CREDIT_NOTE
from garde.models import Invoice

# A line's band as its documents (invoices, statements) name it, mid-sentence.
BAND_WORDS: dict[str, LazyString] = {
    "day": lazy_gettext("day"),
    "night": lazy_gettext("night"),
    "sunday": lazy_pgettext("time band", "Sunday"),
    "holiday": lazy_gettext("public holiday"),
    "stat": lazy_gettext("stat"),
}


def money(cents: int, currency: str, language: str) -> str:
    return f"{format_decimal(cents / 100, '#,##0.00', locale=language)} {currency}"


def _day(at: datetime, timezone: str, language: str) -> str:
    return format_date(at.astimezone(ZoneInfo(timezone)).date(), "medium", locale=language)


def invoice_document(invoice: Invoice, corrects: Invoice | None = None) -> Document:
    """`corrects`: the invoice a credit note corrects."""
    site = invoice.site
    language = site.language if site.language in ("fr", "en") else "en"
    with force_locale(language):
        return _document(invoice, corrects, language)


def _document(invoice: Invoice, corrects: Invoice | None, language: str) -> Document:
    site = invoice.site
    zone = site.timezone
    credit = invoice.kind == CREDIT_NOTE
    title = (
        gettext("Credit note %(number)s", number=invoice.number)
        if credit
        else gettext("Invoice %(number)s", number=invoice.number)
    )
    heading = [
        (gettext("Number"), invoice.number),
        (gettext("Issued on"), _day(invoice.issued_at, zone, language)),
        (gettext("Site"), f"{site.name} ({site.code})"),
        (gettext("Month"), invoice.month),
    ]
    if credit:
        heading.append((gettext("Corrects invoice"), corrects.number if corrects else ""))
        heading.append((gettext("Reason"), invoice.reason))
    rows = []
    for item in invoice.lines:
        line = item.billing_line
        band = str(BAND_WORDS.get(line.time_band, line.time_band))
        if "stat" in line.bands:
            band += " + " + str(BAND_WORDS["stat"])
        if line.kind == "cancellation":
            band = gettext("cancellation")
        rows.append(
            [
                _day(line.priced_at, zone, language),
                str(line.case_id),
                line.modality,
                band,
                "" if line.tariff_version is None else f"v{line.tariff_version}",
                money(item.amount_cents, invoice.currency, language),
            ]
        )
    return Document(
        title=title,
        language=language,
        issued_at=invoice.issued_at,
        heading=heading,
        columns=[
            Column(gettext("Date"), 28),
            Column(gettext("Case"), 18, numeric=True),
            Column(gettext("Modality"), 20),
            Column(gettext("Band"), 40),
            Column(gettext("Tariff"), 16),
            Column(gettext("Amount"), 30, numeric=True),
        ],
        rows=rows,
        totals=[
            (gettext("Lines"), str(len(rows))),
            (gettext("Total"), money(invoice.total_cents, invoice.currency, language)),
        ],
        notes=[gettext("Dates in the site's time zone (%(zone)s).", zone=zone)],
    )
