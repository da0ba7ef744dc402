"""An expert's monthly statement: their share of every line priced in the month and of every
credit note issued in it, with the reads and the share by time band and by site.

The month is cut in the expert's own zone (Expert.timezone), not the sites': it is their
account of their month, wherever they read from. The arithmetic is pure (`compose`, over
`Entry` rows); `expert_statement` and `recent_statements` read the rows from the database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.analytics import BANDS
from billing.invoicing import CREDIT_NOTE, parse_month
from billing.months import month_of, month_window
from garde.errors import Conflict
from garde.models import BillingLine, Expert, Invoice, InvoiceLine


class EntryKind(StrEnum):
    READ = "read"
    CANCELLATION = "cancellation"  # a fee for a case cancelled after acceptance
    CREDIT = "credit"  # a credit note taking back (part of) a line: a negative share


@dataclass(frozen=True)
class Entry:
    """One row of a statement: a billing line at its priced instant, or a credit note's line
    at the credit note's issue."""

    at: datetime
    kind: EntryKind
    case_id: int
    site: str  # the site's code
    site_name: str
    modality: str
    band: str  # day, night, sunday or holiday (BillingLine.time_band)
    stat: bool  # a stat read: its surcharge adds to the band's
    share_cents: int
    currency: str
    reference: str = ""  # the credit note's number


@dataclass(frozen=True)
class Tally:
    """Reads counted, and the share: a credit note changes the money, not the reads done."""

    reads: int = 0
    share_cents: int = 0

    def plus(self, entry: Entry) -> Tally:
        counted = 1 if entry.kind is EntryKind.READ else 0
        return Tally(self.reads + counted, self.share_cents + entry.share_cents)


@dataclass(frozen=True)
class Statement:
    expert: str  # the expert's code
    expert_name: str
    language: str
    timezone: str
    month: str  # YYYY-MM in `timezone`
    currency: str
    entries: tuple[Entry, ...]
    total: Tally
    by_band: Mapping[str, Tally]  # every band of BANDS, in that order
    by_site: Mapping[str, Tally] = field(default_factory=dict)  # site codes in order


def months_back(month: str, count: int) -> list[str]:
    """`month` and the `count - 1` before it, newest first."""
    year, number = parse_month(month)
    index = year * 12 + number - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index, index - count, -1)]


def compose(expert: Expert, month: str, entries: Iterable[Entry]) -> Statement:
    """The statement of `expert`'s `month` from its entries, in time order. One currency per
    statement: a month read for sites billing in two is refused (409), not summed."""
    rows = tuple(sorted(entries, key=lambda e: (e.at, e.case_id, e.kind)))
    currencies = sorted({e.currency for e in rows})
    if len(currencies) > 1:
        raise Conflict(f"{month}'s lines are in several currencies: {', '.join(currencies)}")
    total = Tally()
    by_band = dict.fromkeys(BANDS, Tally())
    by_site: dict[str, Tally] = {}
    for entry in rows:
        total = total.plus(entry)
        by_band[entry.band] = by_band.get(entry.band, Tally()).plus(entry)
        by_site[entry.site] = by_site.get(entry.site, Tally()).plus(entry)
    return Statement(
        expert=expert.code,
        expert_name=expert.name,
        language=expert.language,
        timezone=expert.timezone,
        month=month,
        currency=currencies[0] if currencies else "EUR",
        entries=rows,
        total=total,
        by_band=by_band,
        by_site=dict(sorted(by_site.items())),
    )


def expert_statement(session: Session, expert: Expert, month: str) -> Statement:
    start, end = month_window(month, expert.timezone)
    return compose(expert, month, entries_between(session, expert.id, start, end))


def recent_statements(session: Session, expert: Expert, last: str, count: int) -> list[Statement]:
    """The statements of the `count` months up to `last`, newest first, from one read of the
    rows."""
    months = months_back(last, count)
    start, _ = month_window(months[-1], expert.timezone)
    _, end = month_window(months[0], expert.timezone)
    by_month: dict[str, list[Entry]] = {m: [] for m in months}
    for entry in entries_between(session, expert.id, start, end):
        by_month[month_of(entry.at, expert.timezone)].append(entry)
    return [compose(expert, m, by_month[m]) for m in months]


def entries_between(
    session: Session, expert_id: int, start: datetime, end: datetime
) -> Sequence[Entry]:
    """The expert's lines priced in [start, end), and the credit notes of their lines issued
    then."""
    lines = session.scalars(
        select(BillingLine).where(
            BillingLine.expert_id == expert_id,
            BillingLine.priced_at >= start,
            BillingLine.priced_at < end,
        )
    )
    credits = session.execute(
        select(InvoiceLine, Invoice)
        .join(Invoice, InvoiceLine.invoice_id == Invoice.id)
        .join(BillingLine, InvoiceLine.billing_line_id == BillingLine.id)
        .where(
            Invoice.kind == CREDIT_NOTE,
            BillingLine.expert_id == expert_id,
            Invoice.issued_at >= start,
            Invoice.issued_at < end,
        )
    )
    return [_line_entry(line) for line in lines] + [
        _credit_entry(credited, note) for credited, note in credits
    ]


def _line_entry(line: BillingLine) -> Entry:
    return Entry(
        at=line.priced_at,
        kind=EntryKind(line.kind),
        case_id=line.case_id,
        site=line.site.code,
        site_name=line.site.name,
        modality=line.modality,
        band=line.time_band,
        stat="stat" in line.bands,
        share_cents=line.expert_share_cents,
        currency=line.currency,
    )


def _credit_entry(credited: InvoiceLine, note: Invoice) -> Entry:
    """The credited line as the note takes it back: on the note's day, its share negative."""
    return replace(
        _line_entry(credited.billing_line),
        at=note.issued_at,
        kind=EntryKind.CREDIT,
        share_cents=credited.expert_share_cents,
        currency=note.currency,
        reference=note.number,
    )
